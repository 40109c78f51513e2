"""Almanac members' cores and the replicated machine under skewed clocks, crashes and lost
proposals (a seeded harness): ticks are gap-free, each observed by a strict majority of distinct
members, never go back for any observer, and keep coming while a majority runs. A machine that
commits on a minority is caught."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest

from coalition.services.almanac import AlmanacCore, AlmanacMachine, AlmanacTick, Observe
from pymosaik.primitives import SecretKey, encode

CADENCE = 1_000


class MinorityMachine(AlmanacMachine):
    """Broken: commits a tick on the first observation."""

    def _observe(self, obs: Observe):  # type: ignore[no-untyped-def]
        result = super()._observe(obs)
        if result.ok and not result.ticks and self._pending:
            tick = AlmanacTick(self.next_seq, tuple(sorted(self._pending.items())))
            self._history.append(tick)
            self.next_seq += 1
            self._pending = {}
        return result


@dataclass
class Campaign:
    seed: int
    n: int
    machine_cls: type[AlmanacMachine] = AlmanacMachine

    def run(self, seconds: int = 120) -> tuple[list[str], int]:
        rng = random.Random(self.seed)
        keys = [SecretKey(rng.randbytes(32)) for _ in range(self.n)]
        skew = [rng.randint(-2_000, 2_000) for _ in range(self.n)]  # each member's clock offset
        cores = [AlmanacCore(k, CADENCE) for k in keys]
        replicas = [self.machine_cls([k.peer_id for k in keys]) for _ in range(self.n)]
        down: set[int] = set()
        seen: list[list[AlmanacTick]] = [[] for _ in range(self.n)]  # what each observer read
        majority_up_ms = 0
        for now in range(0, seconds * 1_000, 50):
            if rng.random() < 0.01:  # crashes and restarts (a restarted core starts afresh)
                i = rng.randrange(self.n)
                if i in down:
                    down.discard(i)
                    cores[i] = AlmanacCore(keys[i], CADENCE)
                elif len(down) + 1 < self.n:
                    down.add(i)
            if len(down) * 2 < self.n:
                majority_up_ms += 50
            for i in range(self.n):
                if i in down:
                    continue
                for obs in cores[i].step(replicas[i], now + skew[i]):
                    if rng.random() < 0.1:
                        continue  # lost with a leader change
                    results = [r.apply(encode(obs)) for r in replicas]
                    assert len(set(results)) == 1, "replicas diverged"
            for i, r in enumerate(replicas):
                latest = r.latest()
                if latest is not None and (not seen[i] or seen[i][-1] != latest):
                    seen[i].append(latest)
        ticks = list(replicas[0]._history)
        out: list[str] = []
        committee = {k.peer_id.bytes for k in keys}
        if [t.seq for t in ticks] != list(range(1, len(ticks) + 1)):
            out.append("ticks are not gap-free from 1")
        for t in ticks:
            members = [m for m, _ in t.observed_at]
            if len(set(members)) != len(members) or not set(members) <= committee:
                out.append(f"tick {t.seq} has duplicate or foreign observers")
            if len(set(members)) * 2 <= self.n:
                out.append(f"tick {t.seq} was observed by a minority")
        for i, ts in enumerate(seen):
            if any(b.seq <= a.seq for a, b in itertools.pairwise(ts)):
                out.append(f"observer {i} saw the Almanac go back")
        # progress: about one tick per cadence while a majority ran (loss and skew slow it)
        if len(ticks) < majority_up_ms // CADENCE // 3:
            out.append(f"only {len(ticks)} ticks in {majority_up_ms // 1000} s of majority")
        return out, len(ticks)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("n", [3, 5])
def test_ticks_are_gap_free_majority_observed_and_keep_coming(seed: int, n: int) -> None:
    violations, ticks = Campaign(seed, n).run()
    assert violations == []
    assert ticks > 20


def test_a_machine_committing_on_a_minority_is_caught() -> None:
    caught = sum(bool(Campaign(s, 5, MinorityMachine).run(30)[0]) for s in range(5))
    assert caught == 5
