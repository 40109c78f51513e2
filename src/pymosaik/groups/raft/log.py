"""Log entries, snapshots and the persistent hard state (canonical Wire types)."""

from __future__ import annotations

from enum import IntEnum

from ...primitives import Wire


class EntryKind(IntEnum):
    #: An application command for the state machine.
    COMMAND = 0
    #: The empty entry a new leader appends so it can commit in its own term (§8).
    NOOP = 1


class LogEntry(Wire, frozen=True):
    """One replicated log entry: the leader's term when it was appended, and a payload."""

    term: int
    kind: EntryKind
    data: bytes


class Snapshot(Wire, frozen=True):
    """State machine image covering every entry up to and including ``index``."""

    index: int
    term: int
    data: bytes


class HardState(Wire, frozen=True):
    """What a node must remember across a crash: current term and its vote in that term.

    ``repair_term``/``repair_index``: after dropping a damaged log suffix, the last
    term and index the log had before (0 when whole). Until the log is again at
    least that up to date the member votes as if it still held the lost entries
    and does not campaign (docs/spec/raft.md, "Damaged storage").
    """

    term: int = 0
    voted_for: bytes | None = None
    repair_term: int = 0
    repair_index: int = 0
