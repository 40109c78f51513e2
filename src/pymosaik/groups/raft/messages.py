"""Raft protocol messages (mosaik `raft/protocol.rs`) as canonical Wire structs.

Differences from mosaik's wire types, all for safety or catch-up:

* ``AppendEntries``/``AppendEntriesResponse`` carry a ``seq`` the leader uses to
  confirm its leadership for linearizable (read-index) queries, and the response
  has an ``accepted`` flag separate from the ``vote``, so an in-sync observer
  (``Abstained``) is told apart from a lagging follower;
* ``RequestVote``/``RequestVoteResponse`` carry ``prevote``;
* ``ForwardCommandAck`` carries the leader's term so a follower can tell its own
  command from a different one that later won the same index;
* ``InstallSnapshot`` stands in for mosaik's distributed state sync.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from ...primitives import DEFAULT_MAX_SIZE, Wire, decode, encode
from .log import LogEntry

#: Largest raft frame accepted from a peer.
MAX_MESSAGE_SIZE: Final = DEFAULT_MAX_SIZE


class Vote(IntEnum):
    """mosaik's three-valued vote."""

    GRANTED = 0
    DENIED = 1
    #: Not a yes, not a no: observers and non-committee members answer this.
    ABSTAINED = 2


class AppendEntries(Wire, frozen=True, tag="ae"):
    term: int
    leader: bytes
    prev_index: int
    prev_term: int
    entries: tuple[LogEntry, ...]
    leader_commit: int
    seq: int


class AppendEntriesResponse(Wire, frozen=True, tag="aer"):
    term: int
    vote: Vote
    #: The follower's log matched at ``prev_index`` and now holds the entries.
    accepted: bool
    #: If accepted: the verified match index. Otherwise: where to resume (the
    #: leader should send from ``last_index + 1``).
    last_index: int
    seq: int


class RequestVote(Wire, frozen=True, tag="rv"):
    term: int
    candidate: bytes
    last_index: int
    last_term: int
    #: A pre-vote asks "would you vote for me in ``term``?" without changing anyone's term.
    prevote: bool


class RequestVoteResponse(Wire, frozen=True, tag="rvr"):
    term: int
    vote: Vote
    prevote: bool


class InstallSnapshot(Wire, frozen=True, tag="is"):
    """One chunk of the leader's snapshot: ``data`` is bytes ``offset..`` of it."""

    term: int
    leader: bytes
    index: int
    snapshot_term: int
    data: bytes
    seq: int
    #: Where ``data`` starts in the whole snapshot (chunks keep frames under the limit).
    offset: int = 0
    #: The last chunk: the follower installs once it holds every byte.
    done: bool = True


class InstallSnapshotResponse(Wire, frozen=True, tag="isr"):
    term: int
    last_index: int
    seq: int
    #: Bytes of the snapshot at the leader's ``index`` held so far (send from there
    #: next); 0 once installed, or when the follower holds none of it.
    received: int = 0


class ForwardCommand(Wire, frozen=True, tag="fc"):
    commands: tuple[bytes, ...]
    #: Set when the follower wants the assigned indices back.
    request_id: int | None


class ForwardCommandAck(Wire, frozen=True, tag="fca"):
    request_id: int
    #: Leader term the indices were assigned in; 0 means "not leader, not appended".
    term: int
    first: int
    last: int


class ForwardQuery(Wire, frozen=True, tag="fq"):
    query: bytes
    request_id: int


class ForwardQueryResponse(Wire, frozen=True, tag="fqr"):
    request_id: int
    ok: bool
    result: bytes
    position: int


Message = (
    AppendEntries
    | AppendEntriesResponse
    | RequestVote
    | RequestVoteResponse
    | InstallSnapshot
    | InstallSnapshotResponse
    | ForwardCommand
    | ForwardCommandAck
    | ForwardQuery
    | ForwardQueryResponse
)

#: Messages that carry a term and take part in term comparison.
TermMessage = (
    AppendEntries
    | AppendEntriesResponse
    | RequestVote
    | RequestVoteResponse
    | InstallSnapshot
    | InstallSnapshotResponse
)


def encode_message(message: Message) -> bytes:
    return encode(message)


def decode_message(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Message:
    """Strictly decode one raft frame; raises ``DecodeError`` on anything else."""
    return decode(data, Message, max_size=max_size)  # type: ignore[arg-type]
