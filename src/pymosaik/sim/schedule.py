"""Fault schedules: a seeded sequence of phases, each stressing one thing.

Every simulator's run is bootstrap, a few fault phases drawn by :func:`draw_phases`
(each of a kind the simulator names, with the link faults in force during it), then
a calm convergence phase. The Raft phase kinds are chosen so that each D5 bug has a
schedule that provokes it:

* ``VOTE_CRASH`` splits the followers into two halves that meet only through the
  leader, crashes the leader briefly, then crashes each voter right after it grants
  a vote and restarts it at once — with ``volatile_vote`` the old leader forgets its
  vote and grants both halves' candidates of the same term (two leaders in a term);
* ``CHURN`` crashes leaders right after they append client commands (before they
  send); ``FIGURE8`` does so to every leader and restarts the previously crashed
  node at each crash, which rotates leadership through stale logs — the Raft
  figure-8 pattern: with ``any_term_commit`` a leader commits an old-term entry by
  counting replicas and a later leader overwrites it;
* ``ISOLATE_REJOIN`` cuts one follower off for several election timeouts in an
  otherwise calm network, then reconnects it — with ``no_prevote`` its inflated
  term deposes the healthy leader (the availability property below).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Generic, TypeVar

from ..groups.raft.config import RaftConfig
from .network import LinkFaults


class PhaseKind(Enum):
    CALM = "calm"
    LOSSY = "lossy"
    PARTITION = "partition"
    CRASH = "crash"
    LEADER_CRASH = "leader-crash"
    ISOLATE_REJOIN = "isolate-rejoin"
    VOTE_CRASH = "vote-crash"
    CHURN = "churn"
    FIGURE8 = "figure8"


_WEIGHTS = {
    PhaseKind.CALM: 1,
    PhaseKind.LOSSY: 2,
    PhaseKind.PARTITION: 2,
    PhaseKind.CRASH: 2,
    PhaseKind.LEADER_CRASH: 2,
    PhaseKind.ISOLATE_REJOIN: 2,
    PhaseKind.VOTE_CRASH: 2,
    PhaseKind.CHURN: 1,
    PhaseKind.FIGURE8: 2,
}


K = TypeVar("K", bound=Enum)


@dataclass(frozen=True, slots=True)
class Phase(Generic[K]):
    kind: K
    start_ms: int
    duration_ms: int
    faults: LinkFaults

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


def draw_phases(
    rng: random.Random,
    weights: Mapping[K, int],
    start_ms: int,
    *,
    duration: Callable[[K], int],
    faults: Callable[[K], LinkFaults],
) -> list[Phase[K]]:
    """Three to six back-to-back phases from ``start_ms``, kinds drawn by ``weights``."""
    phases: list[Phase[K]] = []
    kinds = list(weights)
    shares = [weights[k] for k in kinds]
    t = start_ms
    for _ in range(rng.randint(3, 6)):
        kind = rng.choices(kinds, shares)[0]
        length = duration(kind)
        phases.append(Phase(kind, t, length, faults(kind)))
        t += length
    return phases


@dataclass(frozen=True, slots=True)
class Plan:
    config: RaftConfig
    phases: tuple[Phase[PhaseKind], ...]
    #: Per-node clock rate (skew) and offset.
    clocks: tuple[tuple[float, int], ...]
    end_ms: int
    #: Clients stop issuing operations at this time so the cluster can settle.
    quiet_ms: int


def make_plan(rng: random.Random, nodes: int, config: RaftConfig) -> Plan:
    """Draw one seed's schedule."""
    if rng.random() < 0.5:
        # Tighter elections: more split votes, more concurrent candidates.
        config = replace(config, election_jitter_ms=rng.choice([50, 100, 200]))
    if rng.random() < 0.4:
        # Small snapshot threshold: compaction and InstallSnapshot on most runs.
        config = replace(config, snapshot_threshold=rng.randint(8, 40))
        if rng.random() < 0.5:
            # Tiny chunks: InstallSnapshot arrives in many pieces, out of order under faults.
            config = replace(config, snapshot_chunk_bytes=rng.choice([32, 64, 256]))
    if rng.random() < 0.3:
        config = replace(config, max_entries_per_append=rng.randint(1, 4))
    clocks = tuple((rng.uniform(0.97, 1.03), rng.randint(0, 10**9)) for _ in range(nodes))
    election = config.election_timeout_ms + config.election_jitter_ms

    def duration(kind: PhaseKind) -> int:
        if kind is PhaseKind.ISOLATE_REJOIN:
            return 1000 + 4 * election + 4000
        return rng.randint(4000, 12000)

    start = config.bootstrap_delay_ms + election + 1500
    phases = draw_phases(
        rng, _WEIGHTS, start, duration=duration, faults=lambda kind: _faults(rng, kind)
    )
    t = phases[-1].end_ms
    settle = 2 * election + 8000
    phases.append(Phase(PhaseKind.CALM, t, settle, LinkFaults()))
    end = t + settle
    return Plan(config, tuple(phases), clocks, end, end - 5000)


def _faults(rng: random.Random, kind: PhaseKind) -> LinkFaults:
    if kind is PhaseKind.LOSSY:
        return LinkFaults(
            loss=rng.uniform(0.05, 0.3),
            duplicate=rng.uniform(0.02, 0.2),
            min_delay_ms=1,
            max_delay_ms=rng.randint(50, 400),
        )
    if kind in (PhaseKind.PARTITION, PhaseKind.CRASH, PhaseKind.LEADER_CRASH):
        return LinkFaults(
            loss=rng.choice([0.0, 0.02]),
            duplicate=rng.choice([0.0, 0.05]),
            max_delay_ms=rng.randint(5, 100),
        )
    if kind is PhaseKind.VOTE_CRASH:
        return LinkFaults(loss=rng.uniform(0.0, 0.3), max_delay_ms=rng.randint(20, 120))
    if kind in (PhaseKind.CHURN, PhaseKind.FIGURE8):
        return LinkFaults(max_delay_ms=rng.randint(5, 60))
    return LinkFaults(max_delay_ms=20)
