"""The log storage interface the Raft core calls synchronously.

Persistence rule: the core may call any mutating method during a step; nothing it
produced in that step (messages, applied results, client answers) may leave the
node before :meth:`LogStorage.sync` has returned. The core never calls ``sync``
in a step: ``RaftNode.take_ready()`` hands out the outputs with ``persist`` set,
the driver calls ``sync`` (the asyncio driver in the group's disk thread, while
nobody else touches the store) and then ``RaftNode.advance()``, and only then
acts on them. Implementations may buffer writes until ``sync`` (the SQLite store
commits one transaction per step), so a crash loses the whole step or nothing.

Integrity rule: a durable store checksums every record and verifies it on read
(:mod:`.integrity`); the core calls :meth:`LogStorage.scan` when it starts and
repairs what it finds (docs/spec/raft.md, "Damaged storage").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..raft.log import HardState, LogEntry, Snapshot
from .integrity import Damage


class LogStorage(Protocol):
    """Durable (or, for tests, in-memory) home of hard state, log and snapshot.

    Indices start at 1; index 0 is the empty-log sentinel with term 0. After
    compaction the log holds ``first_index() .. last_index()`` and the snapshot
    covers everything before.
    """

    def hard_state(self) -> HardState: ...

    def set_hard_state(self, state: HardState) -> None: ...

    def snapshot(self) -> Snapshot | None: ...

    def first_index(self) -> int:
        """Index of the first entry still in the log (snapshot index + 1)."""
        ...

    def last_index(self) -> int:
        """Index of the last entry (the snapshot index when the log is empty)."""
        ...

    def term_at(self, index: int) -> int | None:
        """Term of entry ``index``; the snapshot's term at its index; ``None`` if unknown."""
        ...

    def entries(self, low: int, high: int) -> list[LogEntry]:
        """Entries ``low..high`` inclusive, all within ``first_index()..last_index()``."""
        ...

    def append(self, entries: Sequence[LogEntry]) -> None:
        """Append after ``last_index()``."""
        ...

    def truncate_from(self, index: int) -> None:
        """Drop entries ``index..`` (``index`` must be above the snapshot)."""
        ...

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Record ``snapshot`` and drop the entries it covers.

        If the log holds ``snapshot.index`` with ``snapshot.term`` the suffix after
        it is kept, otherwise the whole log is discarded (InstallSnapshot).
        """
        ...

    def sync(self) -> None:
        """Make every prior write durable."""
        ...

    def scan(self) -> Damage | None:
        """Verify the snapshot and every entry; the first damaged record, if any.

        Reads that meet a damaged record raise
        :class:`~.integrity.StorageCorruptionError` instead (after rolling back the
        unsynced writes: the step that read it is void, as in a crash). A store
        whose hard state is damaged refuses to open.
        """
        ...

    def discard_log(self) -> None:
        """Forget the snapshot and every entry (a damaged snapshot); keep the hard state."""
        ...

    def close(self) -> None: ...
