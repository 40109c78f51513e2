"""The pure core of a composite organism's member: what to observe, when to apply.

A composite's decisions must rest on committed state, not on what one leader happened to hold
in memory: otherwise every item seen by a leader that then lost office (observed but never
cited), and every item that arrived while no leader was known, is lost. So every member runs
this core against its own replica:

* each member buffers what its own subscriptions saw (``seen``), stamped with the clock tick
  current when it arrived, until the committed log holds an observation of that commit;
* the leader proposes ``Observe`` for every buffered item past the last observed commit —
  after an election the new leader carries on from its own buffer, so nothing the old leader
  missed is lost;
* the leader proposes ``Apply`` for the last closed tick citing every pointer the *machine*
  holds as observed and not yet cited (``CompositeState.citable``): what the old leader
  observed is applied by the new one.

Stall policies (book, "Composition — partial evidence vs stall"): ``PARTIAL`` applies at window
close with whatever evidence came; ``STALL`` waits until every spanned member contributed.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from pymosaik.primitives import UniqueId

from .evidence import MEMORY_PER_MEMBER, EvidencePointer

__all__ = ["ApplyCmd", "CompositeCore", "CompositeState", "ObserveCmd", "StallPolicy"]

#: Items one member may hold unobserved per spanned member (a leaderless stretch).
BUFFER_PER_MEMBER: Final = MEMORY_PER_MEMBER


class StallPolicy(enum.Enum):
    PARTIAL = "partial"
    STALL = "stall"


class CompositeState(Protocol):
    """What the core reads of its replica (deterministic, committed state only)."""

    @property
    def last_tick(self) -> int:
        """The last tick an Apply was committed for (−1 before the first)."""
        ...

    def last_observed(self, member: UniqueId) -> int | None:
        """The highest commit of ``member`` the log holds an observation of."""
        ...

    def citable(self) -> Iterable[EvidencePointer]:
        """Observed pointers no Apply cited yet, in (member, commit) order."""
        ...


@dataclass(frozen=True)
class ObserveCmd:
    pointer: EvidencePointer


@dataclass(frozen=True)
class ApplyCmd:
    tick: int
    pointers: tuple[EvidencePointer, ...]


CompositeCmd = ObserveCmd | ApplyCmd


@dataclass(frozen=True)
class _Seen:
    commit: int
    digest: UniqueId
    tick: int


class CompositeCore:
    """One member's side. Inputs: ``seen``, ``clock``, ``failed``; output: ``step``."""

    def __init__(self, spanned: Sequence[UniqueId], policy: StallPolicy) -> None:
        self.spanned = frozenset(spanned)
        self.policy = policy
        self.tick: int | None = None
        self._buffer: dict[UniqueId, deque[_Seen]] = {m: deque() for m in self.spanned}
        self._early: list[tuple[UniqueId, int, UniqueId]] = []  # seen before the first tick
        self._proposed: set[tuple[UniqueId, int]] = set()
        self._applying: int | None = None
        self.dropped = 0  # items pushed out of a full buffer before anyone observed them

    def seen(self, member: UniqueId, commit: int, digest: UniqueId) -> None:
        """An item this member's subscription to ``member`` delivered (commit = its seq)."""
        if member not in self.spanned:
            return
        if self.tick is None:
            self._early.append((member, commit, digest))
            return
        buf = self._buffer[member]
        if buf and commit <= buf[-1].commit:
            return  # a replayed frame
        buf.append(_Seen(commit, digest, self.tick))
        if len(buf) > BUFFER_PER_MEMBER:
            buf.popleft()
            self.dropped += 1

    def clock(self, tick: int) -> None:
        if self.tick is not None and tick <= self.tick:
            return
        self.tick = tick
        early, self._early = self._early, []
        for member, commit, digest in early:
            self.seen(member, commit, digest)

    def failed(self, cmd: CompositeCmd) -> None:
        """A proposal was not committed (no leader, a leader change): it may be made again."""
        if isinstance(cmd, ObserveCmd):
            self._proposed.discard((cmd.pointer.member, cmd.pointer.commit))
        elif self._applying == cmd.tick:
            self._applying = None

    def step(self, state: CompositeState, leader: bool) -> list[CompositeCmd]:
        out: list[CompositeCmd] = []
        for member, buf in self._buffer.items():
            last = state.last_observed(member)
            while buf and last is not None and buf[0].commit <= last:
                self._proposed.discard((member, buf.popleft().commit))
        if not leader:
            self._proposed.clear()
            self._applying = None
            return out
        for member in sorted(self._buffer):
            for s in self._buffer[member]:
                if (member, s.commit) not in self._proposed:
                    self._proposed.add((member, s.commit))
                    out.append(ObserveCmd(EvidencePointer(member, s.tick, s.commit, s.digest)))
        if self._applying is not None and self._applying <= state.last_tick:
            self._applying = None
        if self.tick is None or self._applying is not None:
            return out
        closed = self.tick - 1
        if closed <= state.last_tick:
            return out
        cited = _prefixes(state.citable(), closed)
        if not cited:
            return out
        if self.policy is StallPolicy.STALL and {p.member for p in cited} != self.spanned:
            return out  # hold the evidence; a later window may complete it
        self._applying = closed
        out.append(ApplyCmd(closed, cited))
        return out


def _prefixes(citable: Iterable[EvidencePointer], closed: int) -> tuple[EvidencePointer, ...]:
    """Per member, the citable pointers in commit order up to the first from a later tick.

    Two leaders may stamp one member's consecutive commits out of tick order (each stamps what
    it saw when it saw it); citing a prefix keeps every member's items in commit order.
    """
    out: list[EvidencePointer] = []
    stopped: set[UniqueId] = set()
    for p in sorted(citable, key=lambda p: (p.member, p.commit)):
        if p.member in stopped:
            continue
        if p.clock_event > closed:
            stopped.add(p.member)
            continue
        out.append(p)
    return tuple(out)
