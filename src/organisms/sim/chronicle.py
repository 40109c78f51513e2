"""Seeded campaigns over Chronicle committees: members' `ChronicleSignCore`s and replicas.

Each seed draws 3 or 5 members, crashes and restarts, 15 % of proposals lost with leader
changes and an operator appending at random for 60 s, then a 20 s quiet tail. Checkers:

- ``order``     sealed entries carry seq 0, 1, 2, … and each links its predecessor's digest;
- ``quorum``    every sealed entry carries verified signatures of a strict majority;
- ``no-fork``   every replica holds the same sealed prefix;
- ``progress``  every append is sealed by the end of the quiet tail.
"""

from __future__ import annotations

from coalition.identity import ZERO_ID
from coalition.services.chronicle import Append, ChronicleMachine, ChronicleSignCore
from coalition.services.chronicle_log import ChronicleEntry, Other
from pymosaik.primitives import SecretKey, UniqueId, encode
from pymosaik.sim.rng import seeded

from .result import SeedResult

COALITION = UniqueId.hash("chronicle campaign")
RUN_S = 60
TAIL_S = 20


class _SkippingMachine(ChronicleMachine):
    """Broken: seals every third entry without a majority, past unsealed predecessors."""

    def _has_majority(self, entry: ChronicleEntry) -> bool:
        return True if entry.seq % 3 == 2 else super()._has_majority(entry)


BROKEN = {"chronicle-skips": "quorum"}


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    rng = seeded(seed)
    res = SeedResult(seed)
    n = rng.choice([3, 5])
    machine_cls = _SkippingMachine if broken == "chronicle-skips" else ChronicleMachine
    keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
    operator = SecretKey(rng.randbytes(32))
    committee = [k.peer_id for k in keys]
    replicas = [machine_cls(COALITION, committee, [operator.peer_id]) for _ in range(n)]
    cores = [ChronicleSignCore(k, resend_ms=1_000) for k in keys]
    down: set[int] = set()
    appended = 0

    def commit(cmd: bytes) -> None:
        if len({r.apply(cmd) for r in replicas}) != 1:
            res.add("no-fork", "replicas answered a command differently")

    for now in range(0, (RUN_S + TAIL_S) * 1_000, 50):
        tail = now >= RUN_S * 1_000
        if not tail and rng.random() < 0.01:
            i = rng.randrange(n)
            if i in down:
                down.discard(i)
                cores[i] = ChronicleSignCore(keys[i], resend_ms=1_000)
            elif len(down) + 1 < n:
                down.add(i)
                res.stats["crashes"] += 1
        elif tail:
            down.clear()
        if not tail and now < (RUN_S - 10) * 1_000 and rng.random() < 0.05:
            commit(encode(Append.signed(operator, Other("event", b"%d" % appended), now)))
            appended += 1
        for i in range(n):
            if i in down:
                continue
            for cmd in cores[i].step(replicas[i], now):
                if not tail and rng.random() < 0.15:
                    res.stats["lost"] += 1
                    continue
                commit(encode(cmd))
    m = replicas[0]
    sealed = m.entries[: m.sealed]
    res.stats["sealed"] += len(sealed)
    prev = ZERO_ID
    for i, e in enumerate(sealed):
        if e.seq != i or e.prev != prev:
            res.add("order", f"entry {i} is out of order or does not link its predecessor")
        prev = e.digest()
        if not e.has_quorum(committee):
            res.add("quorum", f"entry {i} sealed without a verified majority")
    if any(r.entries[: r.sealed] != sealed for r in replicas[1:]):
        res.add("no-fork", "replicas hold different sealed prefixes")
    if m.sealed != appended:
        res.add("progress", f"{appended - m.sealed} of {appended} entries never sealed")
    return res
