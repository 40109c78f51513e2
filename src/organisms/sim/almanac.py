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

from .committee import Committee, Member
from .result import SeedResult

CADENCE_MS = 1_000
RUN_S = 120
#: How often members step (and the churn rolls its dice).
STEP_MS = 50


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


class _Almanac(Committee[AlmanacCore]):
    """Members step on skewed clocks; every replica applies each observation that arrives."""

    def __init__(self, seed: int, broken: str | None) -> None:
        rng = seeded(seed)
        n = rng.choice([3, 5])
        machine_cls = _MinorityMachine if broken == "almanac-minority" else AlmanacMachine
        keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
        skew = [rng.randint(-2_000, 2_000) for _ in range(n)]
        super().__init__(seed, rng, keys, lambda k: AlmanacCore(k, CADENCE_MS), offsets=skew)
        self.replicas = [machine_cls([k.peer_id for k in keys]) for _ in range(n)]
        self.seen: list[list[int]] = [[] for _ in range(n)]
        self.majority_ms = 0

    def faults(self) -> None:
        self.churn()
        if self.down * 2 < self.n:
            self.majority_ms += STEP_MS

    def step(self, member: Member[AlmanacCore]) -> None:
        """``member`` steps on its skewed clock; its observations reach every replica."""
        if member.core is None or not member.up:
            return
        for obs in member.core.step(self.replicas[member.index], self.local(member)):
            if self.rng.random() < 0.1:
                self.stats["lost"] += 1
                continue
            if len({r.apply(encode(obs)) for r in self.replicas}) != 1:
                self.violation(
                    "diverged", f"replicas answered an observation differently at {self.now}"
                )

    def watch(self) -> None:
        for i, r in enumerate(self.replicas):
            latest = r.latest()
            seen = self.seen[i]
            if latest is not None and (not seen or seen[-1] != latest.seq):
                if seen and latest.seq <= seen[-1]:
                    self.violation(
                        "monotonic", f"replica {i} went from tick {seen[-1]} to {latest.seq}"
                    )
                seen.append(latest.seq)

    def run(self) -> SeedResult:
        for member in self.members:
            self.boot(member)
        # Started in this order, the periodic events keep it at every shared instant.
        self.every(STEP_MS, self.faults)
        for member in self.members:
            self.every(STEP_MS, self.step, member)
        self.every(STEP_MS, self.watch)
        self.run_until(RUN_S * 1_000 - 1)
        self.final_checks()
        return self.result()

    def final_checks(self) -> None:
        ticks = list(self.replicas[0]._history)
        self.stats["ticks"] += len(ticks)
        committee = {m.key.peer_id.bytes for m in self.members}
        if [t.seq for t in ticks] != list(range(1, len(ticks) + 1)):
            self.violation("gap-free", "ticks do not run 1, 2, 3, …")
        for t in ticks:
            members = [m for m, _ in t.observed_at]
            if len(set(members)) != len(members) or not set(members) <= committee:
                self.violation("majority", f"tick {t.seq} has duplicate or foreign observers")
            elif len(members) * 2 <= self.n:
                self.violation(
                    "majority", f"tick {t.seq} was observed by {len(members)} of {self.n}"
                )
        if len(ticks) < self.majority_ms // CADENCE_MS // 3:
            self.violation(
                "progress", f"{len(ticks)} ticks in {self.majority_ms // 1000} s of majority"
            )


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    return _Almanac(seed, broken).run()
