"""Chronicle members' signing cores and the replicated machine under crashes, lost proposals
and an operator appending at random (a seeded harness): entries seal strictly in order, each
sealed entry carries verified signatures from a strict majority, the chain never forks (every
entry links its predecessor's digest, every replica holds the same sealed prefix), and sealing
keeps up while a majority runs. A machine that seals out of order is caught."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from coalition.identity import ZERO_ID
from coalition.services.chronicle import Append, ChronicleMachine, ChronicleSignCore
from coalition.services.chronicle_log import ChronicleEntry, Other
from pymosaik.primitives import PeerId, SecretKey, UniqueId, encode

COALITION = UniqueId.hash("chronicle campaign")


class SkippingMachine(ChronicleMachine):
    """Broken: seals an entry with a majority even when an earlier one has none."""

    def _has_majority(self, entry: ChronicleEntry) -> bool:
        return True if entry.seq % 3 == 2 else super()._has_majority(entry)


@dataclass
class Campaign:
    seed: int
    n: int
    machine_cls: type[ChronicleMachine] = ChronicleMachine

    def run(self, seconds: int = 60) -> tuple[list[str], int]:
        rng = random.Random(self.seed)
        keys = [SecretKey(rng.randbytes(32)) for _ in range(self.n)]
        operator = SecretKey(rng.randbytes(32))
        committee: list[PeerId] = [k.peer_id for k in keys]
        replicas = [
            self.machine_cls(COALITION, committee, [operator.peer_id]) for _ in range(self.n)
        ]
        cores = [ChronicleSignCore(k, resend_ms=1_000) for k in keys]
        down: set[int] = set()
        appended = 0
        majority_ms = 0

        def commit(cmd: bytes) -> None:
            results = {r.apply(cmd) for r in replicas}
            assert len(results) == 1, "replicas diverged"

        for now in range(0, seconds * 1_000, 50):
            if rng.random() < 0.01:
                i = rng.randrange(self.n)
                if i in down:
                    down.discard(i)
                    cores[i] = ChronicleSignCore(keys[i], resend_ms=1_000)
                elif len(down) + 1 < self.n:
                    down.add(i)
            if len(down) * 2 < self.n:
                majority_ms += 50
            if now < (seconds - 10) * 1_000 and rng.random() < 0.05:
                commit(encode(Append.signed(operator, Other("event", b"%d" % appended), now)))
                appended += 1
            for i in range(self.n):
                if i in down:
                    continue
                for cmd in cores[i].step(replicas[i], now):
                    if rng.random() < 0.15:
                        continue  # lost with a leader change
                    commit(encode(cmd))
        if len(down) * 2 >= self.n:  # let the quiet tail run with everyone back
            down.clear()
        for now in range(seconds * 1_000, (seconds + 20) * 1_000, 50):
            for i in range(self.n):
                for cmd in cores[i].step(replicas[i], now):
                    commit(encode(cmd))
        return self.check(replicas, committee, appended), replicas[0].sealed

    def check(
        self, replicas: list[ChronicleMachine], committee: list[PeerId], appended: int
    ) -> list[str]:
        out: list[str] = []
        m = replicas[0]
        sealed = m.entries[: m.sealed]
        prev = ZERO_ID
        for i, e in enumerate(sealed):
            if e.seq != i:
                out.append(f"entry {i} carries seq {e.seq}")
            if e.prev != prev:
                out.append(f"entry {i} does not link its predecessor: the chain forks")
            prev = e.digest()
            if not e.has_quorum(committee):
                out.append(f"entry {i} sealed without a verified majority")
        if any(r.entries[: r.sealed] != sealed for r in replicas[1:]):
            out.append("replicas hold different sealed prefixes")
        if m.sealed != appended:
            out.append(f"{appended - m.sealed} of {appended} entries never sealed")
        return out


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("n", [3, 5])
def test_entries_seal_in_order_by_majority_and_never_fork(seed: int, n: int) -> None:
    violations, sealed = Campaign(seed, n).run()
    assert violations == []
    assert sealed > 20


def test_a_machine_sealing_past_an_unsealed_entry_is_caught() -> None:
    caught = sum(bool(Campaign(s, 5, SkippingMachine).run(20)[0]) for s in range(5))
    assert caught == 5
