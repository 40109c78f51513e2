"""Durable log storage in SQLite (the embedded default, D5).

WAL journal with ``synchronous=FULL``: writes of one Raft step go into one
transaction that :meth:`SqliteStorage.sync` commits, so a commit batch costs one
fsync and a crash loses either the whole step or nothing. Hard state and the
snapshot are stored canonically encoded in a small key/value table.

Every row carries a CRC-32C (:mod:`.integrity`) checked on every read: SQLite's
own integrity check covers its page structure, not the bytes of a value, so a
flipped byte inside an entry would otherwise be applied silently. The file's
``user_version`` is the format: 0 (before checksums) is migrated in place on
open, trusting the rows it finds (they were never protected; there is nothing
to check them against); a version newer than this code's is refused.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final, TypeVar

from ...primitives import DecodeError, Wire, decode, encode
from ..raft.log import EntryKind, HardState, LogEntry, Snapshot
from .integrity import Damage, Record, StorageCorruptionError, entry_checksum, record_checksum

_log = logging.getLogger(__name__)
_T = TypeVar("_T", bound=Wire)

#: ``PRAGMA user_version`` of the current format (1: checksummed rows).
FORMAT_VERSION: Final = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    idx INTEGER PRIMARY KEY,
    term INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    data BLOB NOT NULL,
    crc INTEGER NOT NULL
);
"""


class StorageFormatError(Exception):
    """The file was written by a newer format than this code reads."""


class _SnapshotAt(Wire, frozen=True):
    """The snapshot's index and term, kept apart: where the log ended if the image is damaged."""

    index: int
    term: int


class _HardStateV0(Wire, frozen=True):
    """The hard state as format 0 stored it (before the repair fields)."""

    term: int = 0
    voted_for: bytes | None = None


#: Upper bounds (seconds) of the commit-latency histogram's buckets (Prometheus ``le``).
SYNC_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class SyncStats:
    """How long each durable commit (one fsync of the WAL) took: a cumulative histogram."""

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.buckets = [0] * len(SYNC_BUCKETS)

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total_s += seconds
        for i, bound in enumerate(SYNC_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1

    def as_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "sum_s": round(self.total_s, 6),
            "buckets": dict(zip((str(b) for b in SYNC_BUCKETS), self.buckets, strict=True)),
        }


class SqliteStorage:
    """A Raft log in one SQLite file; reopening the file recovers everything synced.

    Opening raises :class:`StorageCorruptionError` when the hard state is damaged and
    :class:`StorageFormatError` for a file from a newer version.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self.sync_stats = SyncStats()
        self._db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > FORMAT_VERSION:
            raise StorageFormatError(
                f"{self._path} has storage format {version}; this version reads up to "
                f"{FORMAT_VERSION}"
            )
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if version < FORMAT_VERSION and "log" in tables:
            self._migrate_v0()
        else:
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        self._load()

    def _load(self) -> None:
        """Read the hard state, snapshot and log bounds as the file holds them (synced)."""
        self._in_tx = False
        self._hard = HardState()
        self._snapshot: Snapshot | None = None
        self._snapshot_damage: Damage | None = None
        meta = {k: (bytes(v), crc) for k, v, crc in self._db.execute("SELECT k, v, crc FROM meta")}
        if "hard" in meta:
            self._hard = self._decode_meta("hard", *meta["hard"], Record.HARD_STATE, HardState)
        if "snapshot" in meta:
            try:
                self._snapshot = self._decode_meta(
                    "snapshot", *meta["snapshot"], Record.SNAPSHOT, Snapshot
                )
            except StorageCorruptionError as exc:
                # Repairable (the core drops it and catches up): report it from scan(),
                # with where the snapshot ended if its separate summary is intact.
                self._snapshot_damage = exc.damage
                with contextlib.suppress(StorageCorruptionError, KeyError):
                    at = self._decode_meta(
                        "snapshot_at", *meta["snapshot_at"], Record.SNAPSHOT, _SnapshotAt
                    )
                    self._snapshot_damage = replace(exc.damage, index=at.index, term=at.term)
        self._offset = self._snapshot.index if self._snapshot else 0
        self._offset_term = self._snapshot.term if self._snapshot else 0
        row = self._db.execute("SELECT MAX(idx) FROM log").fetchone()
        self._last = max(self._offset, row[0] or 0)
        if "hard" not in meta and self._last > 0:
            # Entries are only ever written after a term was: a lost hard state, not a new log.
            detail = "missing while the log holds entries"
            raise StorageCorruptionError(Damage(Record.HARD_STATE, 0, detail, self._path))

    def _migrate_v0(self) -> None:
        """Format 0 → 1 in one transaction: add and fill the checksum columns."""
        db = self._db
        db.execute("BEGIN")
        db.execute("ALTER TABLE meta ADD COLUMN crc INTEGER NOT NULL DEFAULT 0")
        db.execute("ALTER TABLE log ADD COLUMN crc INTEGER NOT NULL DEFAULT 0")
        for key, value in db.execute("SELECT k, v FROM meta").fetchall():
            raw = bytes(value)
            if key == "hard":
                old = decode(raw, _HardStateV0)
                raw = encode(HardState(old.term, old.voted_for))
            elif key == "snapshot":
                snap = decode(raw, Snapshot)
                at = encode(_SnapshotAt(snap.index, snap.term))
                db.execute(
                    "INSERT INTO meta (k, v, crc) VALUES ('snapshot_at', ?, ?)",
                    (at, record_checksum("snapshot_at", at)),
                )
            db.execute(
                "UPDATE meta SET v = ?, crc = ? WHERE k = ?", (raw, record_checksum(key, raw), key)
            )
        rows = db.execute("SELECT idx, term, kind, data FROM log").fetchall()
        db.executemany(
            "UPDATE log SET crc = ? WHERE idx = ?",
            [(entry_checksum(i, LogEntry(t, EntryKind(k), bytes(d))), i) for i, t, k, d in rows],
        )
        db.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        db.execute("COMMIT")
        _log.info("%s: migrated to storage format %d (%d entries)", self._path, 1, len(rows))

    def _decode_meta(self, key: str, raw: bytes, crc: int, record: Record, kind: type[_T]) -> _T:
        if record_checksum(key, raw) != crc:
            raise StorageCorruptionError(Damage(record, 0, "checksum mismatch", self._path))
        try:
            return decode(raw, kind)
        except DecodeError as exc:  # a checksum that matches bytes we cannot read
            raise StorageCorruptionError(
                Damage(record, 0, f"undecodable: {exc}", self._path)
            ) from None

    def _write(self, sql: str, params: Sequence[object] = ()) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True
        self._db.execute(sql, params)

    def _put_meta(self, key: str, value: bytes) -> None:
        self._write(
            "INSERT OR REPLACE INTO meta (k, v, crc) VALUES (?, ?, ?)",
            (key, value, record_checksum(key, value)),
        )

    def _damaged(self, index: int, detail: str) -> StorageCorruptionError:
        """A read met a damaged entry: void the step that read it (roll back) and say so."""
        if self._in_tx:
            self._db.execute("ROLLBACK")
            self._load()  # the cached bounds and hard state must forget the step too
        return StorageCorruptionError(Damage(Record.ENTRY, index, detail, self._path))

    def _entry(self, index: int, row: Sequence[object] | None) -> LogEntry:
        checked = _verified(index, row)
        if isinstance(checked, str):
            raise self._damaged(index, checked)
        return checked

    def hard_state(self) -> HardState:
        return self._hard

    def set_hard_state(self, state: HardState) -> None:
        self._put_meta("hard", encode(state))
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
        row = self._db.execute(
            "SELECT term, kind, data, crc FROM log WHERE idx = ?", (index,)
        ).fetchone()
        return self._entry(index, row).term

    def entries(self, low: int, high: int) -> list[LogEntry]:
        if low <= self._offset or high > self._last:
            raise IndexError(f"entries {low}..{high} outside {self.first_index()}..{self._last}")
        rows = self._db.execute(
            "SELECT idx, term, kind, data, crc FROM log WHERE idx BETWEEN ? AND ? ORDER BY idx",
            (low, high),
        ).fetchall()
        out = []
        for expected, (index, *row) in enumerate(rows, start=low):
            if index != expected:
                raise self._damaged(expected, "missing")
            out.append(self._entry(index, row))
        if len(out) != high - low + 1:
            raise self._damaged(low + len(out), "missing")
        return out

    def append(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True
        start = self._last + 1
        self._db.executemany(
            "INSERT INTO log (idx, term, kind, data, crc) VALUES (?, ?, ?, ?, ?)",
            [
                (start + i, e.term, int(e.kind), e.data, entry_checksum(start + i, e))
                for i, e in enumerate(entries)
            ],
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
        self._put_meta("snapshot", encode(snapshot))
        self._put_meta("snapshot_at", encode(_SnapshotAt(snapshot.index, snapshot.term)))
        self._snapshot = snapshot
        self._snapshot_damage = None
        self._offset = snapshot.index
        self._offset_term = snapshot.term

    def scan(self) -> Damage | None:
        if self._snapshot_damage is not None:
            return self._snapshot_damage
        expected = self._offset + 1
        cursor = self._db.execute(
            "SELECT idx, term, kind, data, crc FROM log WHERE idx > ? ORDER BY idx", (self._offset,)
        )
        for index, *row in cursor:
            checked = _verified(index, row) if index == expected else "missing"
            if isinstance(checked, str):
                return Damage(Record.ENTRY, expected, checked, self._path)
            expected += 1
        return None

    def discard_log(self) -> None:
        self._write("DELETE FROM log")
        self._write("DELETE FROM meta WHERE k IN ('snapshot', 'snapshot_at')")
        self._snapshot = self._snapshot_damage = None
        self._offset = self._offset_term = self._last = 0

    def sync(self) -> None:
        if self._in_tx:
            started = time.perf_counter()
            self._db.execute("COMMIT")
            self.sync_stats.observe(time.perf_counter() - started)
            self._in_tx = False

    def close(self) -> None:
        """Close without committing: unsynced writes are lost, like in a crash."""
        if self._in_tx:
            self._db.execute("ROLLBACK")
            self._in_tx = False
        self._db.close()


def _verified(index: int, row: Sequence[object] | None) -> LogEntry | str:
    """The entry stored at ``index`` as (term, kind, data, crc), or what is wrong with it."""
    if row is None:
        return "missing"
    term, kind, data, crc = row
    try:
        entry = LogEntry(int(term), EntryKind(int(kind)), bytes(data))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return f"unreadable row (kind {kind!r})"
    if entry_checksum(index, entry) != crc:
        return "checksum mismatch"
    return entry
