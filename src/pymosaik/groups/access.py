"""Who may bond to a group as what, and what a bonded non-voter may send (sans-IO).

The group secret proves only that a peer knows the group; when the secret
derives from public configuration, everyone does. `GroupAccess` therefore
names, on top of ``require_ticket`` (which every bond must pass):

* ``voters`` — what a listed member must present (the link already proves it
  holds a listed PeerId; a ticket adds who authorised that seat);
* ``observers`` — who may bond as a non-voting learner and so read the log;
* ``forwarders`` — which observers may put commands into the log by
  forwarding them to the leader (voters always may: they are the committee).

Each is ``True`` (open), ``False`` (closed) or a ticket policy. Anything but
the open default enters the GroupId, so members that disagree never bond.

`refusal` is the message gate every member applies to a non-voter's Raft
messages *before* the core sees them: an observer only acknowledges
replication, asks the leader to read, and — with a writer ticket — forwards
commands. It never leads or campaigns, so its AppendEntries, InstallSnapshot
and vote requests are dropped, and so is any message that would raise our
term (an observer could otherwise depose every leader at will).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from ..primitives import UniqueId, unique_id
from ..tickets import (
    NEVER,
    AllOf,
    Expiration,
    InvalidTicketError,
    PeerIdentity,
    Require,
    Ticket,
    TicketRequirement,
    TicketValidator,
)
from .raft.messages import (
    AppendEntriesResponse,
    ForwardCommand,
    ForwardQuery,
    InstallSnapshotResponse,
    Message,
)

__all__ = [
    "NOT_A_VOTER",
    "NOT_A_WRITER",
    "TERM_FROM_NON_VOTER",
    "Gate",
    "GroupAccess",
    "TicketPolicy",
    "refusal",
    "requirement_parts",
]

#: What ``join(require_ticket=...)`` accepts: one validator or requirement, or several (all).
TicketPolicy = TicketValidator | TicketRequirement | Sequence[TicketValidator | TicketRequirement]
#: ``True``: every peer that passes ``require_ticket``; ``False``: nobody; else tickets.
Gate = bool | TicketPolicy

#: Refusal reasons (`Group.refused` counts them per reason).
NOT_A_WRITER: Final = "forwarded command without a writer ticket"
NOT_A_VOTER: Final = "a message only a voter may send (lead, campaign, relay)"
TERM_FROM_NON_VOTER: Final = "higher term from a non-voter"

_VOTERS: Final = unique_id("mosaik.groups.access.voters.v1")
_OBSERVERS: Final = unique_id("mosaik.groups.access.observers.v1")
_FORWARDERS: Final = unique_id("mosaik.groups.access.forwarders.v1")
_CLOSED: Final = unique_id("mosaik.groups.access.closed.v1")


def requirement_parts(policy: TicketPolicy | None) -> tuple[TicketRequirement, ...]:
    """A policy as a tuple of requirements (all must pass); None: no requirement."""
    if policy is None:
        return ()
    parts = tuple(policy) if isinstance(policy, list | tuple) else (policy,)
    return tuple(p if isinstance(p, TicketRequirement) else Require(p) for p in parts)


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A gate as data: closed, or the requirements that must all pass (none: open)."""

    closed: bool
    parts: tuple[TicketRequirement, ...]

    @classmethod
    def of(cls, gate: Gate) -> _Resolved:
        if isinstance(gate, bool):
            return cls(not gate, ())
        return cls(False, requirement_parts(gate))

    @property
    def is_open(self) -> bool:
        return not self.closed and not self.parts

    def signature(self, tag: UniqueId) -> UniqueId | None:
        if self.is_open:
            return None
        if self.closed:
            return tag.derive(_CLOSED.bytes)
        return tag.derive(AllOf(*self.parts).signature().bytes)

    def evaluate(
        self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int
    ) -> Expiration | None:
        if self.closed:
            return None
        if not self.parts:
            return NEVER
        try:
            expires = AllOf(*self.parts).evaluate(tickets, peer, now_ms)
        except InvalidTicketError:
            return None
        return None if expires.is_expired(now_ms) else expires


@dataclass(frozen=True, slots=True)
class GroupAccess:
    """Per-role bond rules of one group (defaults: mosaik's — any observer, any forward)."""

    voters: TicketPolicy | None = None
    observers: Gate = True
    forwarders: Gate = True

    def signatures(self) -> list[UniqueId]:
        """What enters the GroupId: one tagged id per non-default role rule."""
        sigs = [
            _Resolved.of(self.voters if self.voters is not None else True).signature(_VOTERS),
            _Resolved.of(self.observers).signature(_OBSERVERS),
            _Resolved.of(self.forwarders).signature(_FORWARDERS),
        ]
        return [s for s in sigs if s is not None]

    def admit_voter(
        self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int
    ) -> Expiration | None:
        """Until when a listed member may hold a bond (None: refuse)."""
        gate = _Resolved.of(self.voters if self.voters is not None else True)
        return gate.evaluate(tickets, peer, now_ms)

    def admit_observer(
        self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int
    ) -> Expiration | None:
        """Until when a non-member may replicate the log (None: refuse)."""
        return _Resolved.of(self.observers).evaluate(tickets, peer, now_ms)

    def admit_forwarder(
        self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int
    ) -> Expiration | None:
        """Until when an observer's forwarded commands may reach the log (None: never)."""
        return _Resolved.of(self.forwarders).evaluate(tickets, peer, now_ms)


def refusal(message: Message, *, may_write: bool, term: int) -> str | None:
    """Why a bonded *non-voter*'s ``message`` must not reach the core (None: let it).

    ``may_write``: the sender's writer ticket is valid now; ``term``: ours.
    """
    if isinstance(message, ForwardQuery):
        return None
    if isinstance(message, ForwardCommand):
        return None if may_write else NOT_A_WRITER
    if isinstance(message, AppendEntriesResponse | InstallSnapshotResponse):
        return TERM_FROM_NON_VOTER if message.term > term else None
    return NOT_A_VOTER
