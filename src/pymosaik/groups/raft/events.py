"""What a Raft step produces: messages to send, applied entries, and events.

A driver loops: feed inputs (``receive``/``tick``/``submit``/``query``), then call
``RaftNode.take_ready()``, make the storage durable if ``Ready.persist`` (the
asyncio driver does it in a worker thread), call ``RaftNode.advance()``, and only
then act on the :class:`Ready` — send its messages, hand results to waiting
clients — and sleep until ``next_deadline()``. ``RaftNode.ready()`` does the
three calls in one (a blocking sync), for tests and in-memory use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .config import NodeId
from .log import EntryKind
from .messages import Message


class Role(Enum):
    FOLLOWER = "follower"
    #: Asking for pre-votes; the term has not been raised yet.
    PRECANDIDATE = "precandidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class Consistency(Enum):
    #: Read the local state machine, possibly stale.
    WEAK = "weak"
    #: Linearizable: answered by the leader after confirming its leadership.
    STRONG = "strong"


@dataclass(frozen=True, slots=True)
class Outgoing:
    to: NodeId
    message: Message


@dataclass(frozen=True, slots=True)
class Applied:
    """A committed entry applied to the local state machine."""

    index: int
    term: int
    kind: EntryKind
    command: bytes
    result: bytes


@dataclass(frozen=True, slots=True)
class RoleChanged:
    role: Role
    term: int


@dataclass(frozen=True, slots=True)
class LeaderChanged:
    leader: NodeId | None
    term: int


@dataclass(frozen=True, slots=True)
class CommitAdvanced:
    index: int


@dataclass(frozen=True, slots=True)
class CommandAssigned:
    """The leader put the request's commands at ``first..last`` in ``term`` (mosaik `feed`)."""

    request: int
    term: int
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class CommandCommitted:
    """Every command of the request committed at its assigned index (mosaik `execute`)."""

    request: int
    first: int
    last: int
    results: tuple[bytes, ...]


class FailReason(Enum):
    #: No leader known or the node is campaigning; nothing was sent.
    OFFLINE = "offline"
    #: The leader did not acknowledge in time.
    TIMEOUT = "timeout"
    #: The node asked was not the leader.
    REJECTED = "rejected"
    #: A different entry committed at an assigned index.
    LOST = "lost"
    #: The outcome can no longer be observed here (a snapshot covered it).
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """The request did not commit as assigned.

    ``maybe_applied`` is False only when the commands never left this node; otherwise
    they may still be (or have been) committed, and a client must treat the outcome
    as unknown.
    """

    request: int
    reason: FailReason
    maybe_applied: bool


@dataclass(frozen=True, slots=True)
class QueryAnswered:
    request: int
    result: bytes
    position: int


@dataclass(frozen=True, slots=True)
class QueryFailed:
    request: int
    reason: FailReason


@dataclass(frozen=True, slots=True)
class CommitConflict:
    """A leader asked this node to overwrite a committed entry: a safety violation.

    Impossible with every D5 fix on; the node refuses and reports it.
    """

    index: int


Event = (
    RoleChanged
    | LeaderChanged
    | CommitAdvanced
    | CommandAssigned
    | CommandCommitted
    | CommandFailed
    | QueryAnswered
    | QueryFailed
    | CommitConflict
)


@dataclass(slots=True)
class Ready:
    """Outputs of the steps since the last ``take_ready()``: act on them after ``advance()``.

    ``persist``: the steps wrote to storage, so ``storage.sync()`` must return
    before ``advance()`` (the messages, results and events rest on those writes).
    """

    messages: list[Outgoing] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    persist: bool = False

    def __bool__(self) -> bool:
        return bool(self.messages or self.applied or self.events or self.persist)
