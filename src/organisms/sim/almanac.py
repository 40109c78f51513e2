"""Seeded campaigns over Almanac committees: members' `AlmanacCore`s and replicated machines.

Each seed draws 3 or 5 members with clocks skewed by up to ±2 s, crashes and restarts (a
restarted core starts afresh), and observations lost with leader changes (10 %), for 120
simulated seconds. Checkers:

- ``gap-free``   ticks run 1, 2, 3, … on every replica;
- ``majority``   each tick is observed by a strict majority of distinct committee members;
- ``monotonic``  no replica ever sees the Almanac go back;
- ``progress``   ticks keep coming while a majority runs (at least a third of the cadence).
"""

from __future__ import annotations

from coalition.services.almanac import AlmanacCore, AlmanacMachine, AlmanacTick, Observe
from pymosaik.primitives import SecretKey, encode
from pymosaik.sim.rng import seeded

from .result import SeedResult

CADENCE_MS = 1_000
RUN_S = 120


class _MinorityMachine(AlmanacMachine):
    """Broken: commits a tick on its first observation."""

    def _observe(self, obs: Observe):  # type: ignore[no-untyped-def]
        result = super()._observe(obs)
        if result.ok and not result.ticks and self._pending:
            tick = AlmanacTick(self.next_seq, tuple(sorted(self._pending.items())))
            self._history.append(tick)
            self.next_seq += 1
            self._pending = {}
        return result


BROKEN = {"almanac-minority": "majority"}


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    rng = seeded(seed)
    res = SeedResult(seed)
    n = rng.choice([3, 5])
    machine_cls = _MinorityMachine if broken == "almanac-minority" else AlmanacMachine
    keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
    skew = [rng.randint(-2_000, 2_000) for _ in range(n)]
    cores = [AlmanacCore(k, CADENCE_MS) for k in keys]
    replicas = [machine_cls([k.peer_id for k in keys]) for _ in range(n)]
    down: set[int] = set()
    seen: list[list[int]] = [[] for _ in range(n)]
    majority_ms = 0
    for now in range(0, RUN_S * 1_000, 50):
        if rng.random() < 0.01:
            i = rng.randrange(n)
            if i in down:
                down.discard(i)
                cores[i] = AlmanacCore(keys[i], CADENCE_MS)
                res.stats["restarts"] += 1
            elif len(down) + 1 < n:
                down.add(i)
                res.stats["crashes"] += 1
        if len(down) * 2 < n:
            majority_ms += 50
        for i in range(n):
            if i in down:
                continue
            for obs in cores[i].step(replicas[i], now + skew[i]):
                if rng.random() < 0.1:
                    res.stats["lost"] += 1
                    continue
                results = {r.apply(encode(obs)) for r in replicas}
                if len(results) != 1:
                    res.add("diverged", f"replicas answered an observation differently at {now}")
        for i, r in enumerate(replicas):
            latest = r.latest()
            if latest is not None and (not seen[i] or seen[i][-1] != latest.seq):
                if seen[i] and latest.seq <= seen[i][-1]:
                    res.add(
                        "monotonic", f"replica {i} went from tick {seen[i][-1]} to {latest.seq}"
                    )
                seen[i].append(latest.seq)
    ticks = list(replicas[0]._history)
    res.stats["ticks"] += len(ticks)
    committee = {k.peer_id.bytes for k in keys}
    if [t.seq for t in ticks] != list(range(1, len(ticks) + 1)):
        res.add("gap-free", "ticks do not run 1, 2, 3, …")
    for t in ticks:
        members = [m for m, _ in t.observed_at]
        if len(set(members)) != len(members) or not set(members) <= committee:
            res.add("majority", f"tick {t.seq} has duplicate or foreign observers")
        elif len(members) * 2 <= n:
            res.add("majority", f"tick {t.seq} was observed by {len(members)} of {n}")
    if len(ticks) < majority_ms // CADENCE_MS // 3:
        res.add("progress", f"{len(ticks)} ticks in {majority_ms // 1000} s of majority")
    return res
