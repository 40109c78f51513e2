"""Consensus configuration: timings, the D5 safety switches, membership and committee.

Timings default to mosaik's `ConsensusConfig` (D8). The three `unsafe_*`-style
switches exist only so the deterministic simulator can show that each D5 fix is
load-bearing; production code must leave them all ``False``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Final

from ...primitives import UniqueId, encode

#: A node's identity inside a group: the raw 32 bytes of its PeerId in production,
#: any short byte string in tests and the simulator.
NodeId = bytes

#: mosaik caps the voting committee at five members.
MAX_COMMITTEE: Final = 5


class PreferenceKind(Enum):
    NORMAL = "normal"
    RELUCTANT = "reluctant"
    OBSERVER = "observer"


@dataclass(frozen=True, slots=True)
class LeadershipPreference:
    """How eagerly a node seeks leadership (mosaik `LeadershipPreference`).

    ``Reluctant`` multiplies election timeouts (and the bootstrap delay) by
    ``factor``; ``Observer`` never stands for election and never counts towards a
    quorum — it replicates the log and answers with ``Abstained``.
    """

    kind: PreferenceKind = PreferenceKind.NORMAL
    factor: int = 1

    @classmethod
    def normal(cls) -> LeadershipPreference:
        return cls(PreferenceKind.NORMAL, 1)

    @classmethod
    def reluctant(cls, factor: int = 3) -> LeadershipPreference:
        if factor < 1:
            raise ValueError("reluctance factor must be >= 1")
        return cls(PreferenceKind.RELUCTANT, factor)

    @classmethod
    def observer(cls) -> LeadershipPreference:
        return cls(PreferenceKind.OBSERVER, 1)

    @property
    def is_observer(self) -> bool:
        return self.kind is PreferenceKind.OBSERVER


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Group-wide consensus parameters (all members must agree), in milliseconds."""

    heartbeat_interval_ms: int = 500
    heartbeat_jitter_ms: int = 150
    max_missed_heartbeats: int = 10
    election_timeout_ms: int = 2000
    election_jitter_ms: int = 500
    bootstrap_delay_ms: int = 3000
    forward_timeout_ms: int = 2000
    query_timeout_ms: int = 2000
    #: Most log entries carried by one AppendEntries.
    max_entries_per_append: int = 64
    #: Take a snapshot and compact the log every this many applied entries (0: never).
    snapshot_threshold: int = 1024
    #: Largest InstallSnapshot chunk; keeps frames under the transport's limit. A
    #: local knob (followers accept any chunking), so not part of the GroupId.
    snapshot_chunk_bytes: int = 1 << 20
    #: D5 switch — keep term and vote in memory only, as mosaik does (UNSAFE).
    volatile_vote: bool = False
    #: D5 switch — commit any entry a quorum holds, whatever its term; no leader
    #: no-op on election, as mosaik does (UNSAFE: Raft figure 8).
    any_term_commit: bool = False
    #: D5 switch — no pre-vote and no leader stickiness, as mosaik does (UNSAFE for
    #: availability: a rejoining node with an inflated term deposes a healthy leader).
    no_prevote: bool = False
    #: Test switch — a member that dropped a damaged log suffix votes with what is
    #: left, as if it had never held the lost entries (UNSAFE: it can elect a
    #: leader without an entry it helped commit; docs/spec/raft.md).
    vote_while_repairing: bool = False

    @classmethod
    def loopback(cls, **overrides: int | bool) -> RaftConfig:
        """Tight timings for groups whose members share one host (tests, local demos).

        Elections settle in well under a second on loopback; a group spread
        over real networks keeps the defaults.
        """
        base = cls(
            heartbeat_interval_ms=50,
            heartbeat_jitter_ms=10,
            election_timeout_ms=300,
            election_jitter_ms=150,
            bootstrap_delay_ms=100,
            forward_timeout_ms=1000,
            query_timeout_ms=1000,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.heartbeat_interval_ms <= 0 or self.election_timeout_ms <= 0:
            raise ValueError("intervals must be positive")
        if not 0 <= self.heartbeat_jitter_ms < self.heartbeat_interval_ms:
            raise ValueError("heartbeat jitter must be in [0, heartbeat_interval)")
        if self.election_jitter_ms < 0 or self.bootstrap_delay_ms < 0:
            raise ValueError("jitter and bootstrap delay must be >= 0")
        if self.heartbeat_interval_ms >= self.election_timeout_ms:
            raise ValueError("heartbeat interval must be shorter than the election timeout")
        if self.max_entries_per_append < 1:
            raise ValueError("max_entries_per_append must be >= 1")
        if self.snapshot_threshold < 0:
            raise ValueError("snapshot_threshold must be >= 0")
        if self.snapshot_chunk_bytes < 1:
            raise ValueError("snapshot_chunk_bytes must be >= 1")

    @property
    def unsafe(self) -> bool:
        """True when any D5 safety fix is switched off."""
        return (
            self.volatile_vote
            or self.any_term_commit
            or self.no_prevote
            or self.vote_while_repairing
        )

    def digest(self) -> UniqueId:
        """Fingerprint of the parameters every member must share (feeds the GroupId)."""
        return UniqueId.from_parts(
            b"raft-config|",
            encode(
                (
                    self.heartbeat_interval_ms,
                    self.heartbeat_jitter_ms,
                    self.max_missed_heartbeats,
                    self.election_timeout_ms,
                    self.election_jitter_ms,
                    self.bootstrap_delay_ms,
                    self.forward_timeout_ms,
                    self.query_timeout_ms,
                    self.max_entries_per_append,
                    self.snapshot_threshold,
                    self.volatile_vote,
                    self.any_term_commit,
                    self.no_prevote,
                )
            ),
        )

    def election_timeout(self, rng: random.Random, preference: LeadershipPreference) -> int:
        """A fresh randomised election timeout, scaled for reluctant nodes."""
        base = self.election_timeout_ms + rng.randint(0, self.election_jitter_ms)
        return base * preference.factor

    def heartbeat_delay(self, rng: random.Random) -> int:
        """Leader heartbeat period: the interval minus a random jitter."""
        return self.heartbeat_interval_ms - rng.randint(0, self.heartbeat_jitter_ms)


def choose_committee(candidates: Iterable[NodeId]) -> tuple[NodeId, ...]:
    """Pick the voting committee: at most five, odd-sized when more than two.

    Deterministic (sorted by id) so every member computes the same committee from
    the same membership, which is what makes any two majorities intersect.
    """
    ordered = sorted(set(candidates))
    size = min(MAX_COMMITTEE, len(ordered))
    if size > 2 and size % 2 == 0:
        size -= 1
    return tuple(ordered[:size])


@dataclass(frozen=True, slots=True)
class Membership:
    """The known members of a group and which of them form the voting committee.

    ``voters`` is the committee: quorums are majorities of it. ``members`` also
    holds non-voting followers (non-observers beyond the committee cap) and
    observers; they all receive the log.
    """

    voters: tuple[NodeId, ...]
    members: tuple[NodeId, ...]
    observers: frozenset[NodeId] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.voters:
            raise ValueError("a group needs at least one voter")
        if len(self.voters) > MAX_COMMITTEE:
            raise ValueError(f"the committee holds at most {MAX_COMMITTEE} voters")
        if len(set(self.voters)) != len(self.voters):
            raise ValueError("duplicate voter")
        if not set(self.voters) <= set(self.members):
            raise ValueError("every voter must be a member")
        if self.observers & set(self.voters):
            raise ValueError("observers never vote")

    @classmethod
    def of(cls, preferences: Mapping[NodeId, LeadershipPreference]) -> Membership:
        """Membership from every member's leadership preference."""
        observers = frozenset(n for n, p in preferences.items() if p.is_observer)
        voters = choose_committee(n for n in preferences if n not in observers)
        return cls(voters=voters, members=tuple(sorted(preferences)), observers=observers)

    @classmethod
    def uniform(cls, nodes: Iterable[NodeId]) -> Membership:
        """Membership where every node has the ``Normal`` preference."""
        return cls.of({n: LeadershipPreference.normal() for n in nodes})

    @property
    def quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def is_voter(self, node: NodeId) -> bool:
        return node in self.voters
