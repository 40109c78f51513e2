"""Durable log storage in SQLite (the embedded default, D5).

WAL journal with ``synchronous=FULL``: writes of one Raft step go into one
transaction that :meth:`SqliteStorage.sync` commits, so a commit batch costs one
fsync and a crash loses either the whole step or nothing. Hard state and the
snapshot are stored canonically encoded in a small key/value table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ...primitives import decode, encode
from ..raft.log import EntryKind, HardState, LogEntry, Snapshot

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    idx INTEGER PRIMARY KEY,
    term INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    data BLOB NOT NULL
);
"""


class SqliteStorage:
    """A Raft log in one SQLite file; reopening the file recovers everything synced."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._in_tx = False
        self._hard = HardState()
        self._snapshot: Snapshot | None = None
        for key, value in self._db.execute("SELECT k, v FROM meta"):
            if key == "hard":
                self._hard = decode(value, HardState)
            elif key == "snapshot":
                self._snapshot = decode(value, Snapshot)
        self._offset = self._snapshot.index if self._snapshot else 0
        self._offset_term = self._snapshot.term if self._snapshot else 0
        row = self._db.execute("SELECT MAX(idx) FROM log").fetchone()
        self._last = max(self._offset, row[0] or 0)

    def _write(self, sql: str, params: Sequence[object] = ()) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True
        self._db.execute(sql, params)

    def hard_state(self) -> HardState:
        return self._hard

    def set_hard_state(self, state: HardState) -> None:
        self._write("INSERT OR REPLACE INTO meta (k, v) VALUES ('hard', ?)", (encode(state),))
        self._hard = state

    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._last

    def term_at(self, index: int) -> int | None:
        if index == self._offset:
            return self._offset_term
        if index < self._offset or index > self._last:
            return None
        row = self._db.execute("SELECT term FROM log WHERE idx = ?", (index,)).fetchone()
        return None if row is None else int(row[0])

    def entries(self, low: int, high: int) -> list[LogEntry]:
        if low <= self._offset or high > self._last:
            raise IndexError(f"entries {low}..{high} outside {self.first_index()}..{self._last}")
        rows = self._db.execute(
            "SELECT term, kind, data FROM log WHERE idx BETWEEN ? AND ? ORDER BY idx", (low, high)
        ).fetchall()
        return [LogEntry(int(t), EntryKind(int(k)), bytes(d)) for t, k, d in rows]

    def append(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True
        start = self._last + 1
        self._db.executemany(
            "INSERT INTO log (idx, term, kind, data) VALUES (?, ?, ?, ?)",
            [(start + i, e.term, int(e.kind), e.data) for i, e in enumerate(entries)],
        )
        self._last += len(entries)

    def truncate_from(self, index: int) -> None:
        if index <= self._offset:
            raise IndexError(f"cannot truncate at {index}: compacted up to {self._offset}")
        self._write("DELETE FROM log WHERE idx >= ?", (index,))
        self._last = min(self._last, index - 1)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.index < self._offset:
            raise ValueError(f"snapshot at {snapshot.index} is older than {self._offset}")
        keep_suffix = snapshot.index <= self._last and self.term_at(snapshot.index) == snapshot.term
        if keep_suffix:
            self._write("DELETE FROM log WHERE idx <= ?", (snapshot.index,))
        else:
            self._write("DELETE FROM log")
            self._last = snapshot.index
        self._write(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('snapshot', ?)", (encode(snapshot),)
        )
        self._snapshot = snapshot
        self._offset = snapshot.index
        self._offset_term = snapshot.term

    def sync(self) -> None:
        if self._in_tx:
            self._db.execute("COMMIT")
            self._in_tx = False

    def close(self) -> None:
        """Close without committing: unsynced writes are lost, like in a crash."""
        if self._in_tx:
            self._db.execute("ROLLBACK")
            self._in_tx = False
        self._db.close()
