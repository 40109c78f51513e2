"""Checksummed storage: a flipped byte in an entry, the snapshot or the hard state is caught.

The flips are made in the SQLite file itself, as a failing disk would: SQLite's own
integrity check still passes (it covers pages, not the bytes of a value).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from pymosaik.groups.raft import EntryKind, HardState, LogEntry, Snapshot
from pymosaik.groups.storage import Damage, Record, SqliteStorage, StorageCorruptionError
from pymosaik.groups.storage.sqlite import FORMAT_VERSION, StorageFormatError


def entry(term: int, data: bytes) -> LogEntry:
    return LogEntry(term, EntryKind.COMMAND, data)


def flip_byte(path: Path, needle: bytes, offset: int = 0) -> None:
    """Flip one bit of the byte at ``offset`` inside the only occurrence of ``needle``."""
    raw = bytearray(path.read_bytes())
    assert raw.count(needle) == 1, f"{needle!r} occurs {raw.count(needle)} times"
    raw[raw.index(needle) + offset] ^= 0x04
    path.write_bytes(bytes(raw))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def written(path: Path, snapshot: bool = False) -> None:
    store = SqliteStorage(path)
    store.set_hard_state(HardState(3, b"voted-for-n2"))
    store.append([entry(1, b"payload-%d" % i) for i in range(1, 7)])
    if snapshot:
        store.save_snapshot(Snapshot(2, 1, b"snapshot-image"))
    store.sync()
    store.close()


def test_a_flipped_entry_byte_is_caught_on_read_and_by_scan(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    written(path)
    flip_byte(path, b"payload-4", offset=3)
    store = SqliteStorage(path)
    assert store.scan() == Damage(Record.ENTRY, 4, "checksum mismatch", str(path))
    assert store.entries(1, 3) == [entry(1, b"payload-%d" % i) for i in range(1, 4)]
    with pytest.raises(StorageCorruptionError) as caught:
        store.entries(2, 5)
    assert caught.value.damage.index == 4
    assert "damaged entry at index 4" in str(caught.value)
    with pytest.raises(StorageCorruptionError):
        store.term_at(4)
    assert store.term_at(5) == 1
    store.close()


def test_a_read_of_a_damaged_entry_rolls_back_the_step(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    written(path)
    flip_byte(path, b"payload-5")
    store = SqliteStorage(path)
    store.set_hard_state(HardState(9, None))  # a step's writes, not yet synced
    store.append([entry(9, b"unsynced")])
    with pytest.raises(StorageCorruptionError):
        store.entries(5, 5)
    assert (store.hard_state(), store.last_index()) == (HardState(3, b"voted-for-n2"), 6)
    store.sync()
    store.close()
    assert SqliteStorage(path).hard_state() == HardState(3, b"voted-for-n2")


def test_a_flipped_term_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = SqliteStorage(path)
    store.set_hard_state(HardState(77, None))
    store.append([entry(77, b"a"), entry(77, b"b")])
    store.sync()
    store.close()
    with sqlite3.connect(path) as db:  # the term column, as a flipped bit would change it
        db.execute("UPDATE log SET term = 69 WHERE idx = 2")
    again = SqliteStorage(path)
    assert again.scan() == Damage(Record.ENTRY, 2, "checksum mismatch", str(path))


def test_a_missing_entry_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    written(path)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM log WHERE idx = 3")
    store = SqliteStorage(path)
    assert store.scan() == Damage(Record.ENTRY, 3, "missing", str(path))
    with pytest.raises(StorageCorruptionError):
        store.entries(1, 6)


def test_a_damaged_snapshot_is_reported_by_scan(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    written(path, snapshot=True)
    flip_byte(path, b"snapshot-image", offset=2)
    store = SqliteStorage(path)
    damage = store.scan()
    assert damage == Damage(Record.SNAPSHOT, 2, "checksum mismatch", str(path), term=1)
    assert store.snapshot() is None
    store.discard_log()
    store.sync()
    store.close()
    clean = SqliteStorage(path)
    assert clean.scan() is None
    assert (clean.snapshot(), clean.first_index(), clean.last_index()) == (None, 1, 0)
    assert clean.hard_state() == HardState(3, b"voted-for-n2")


def test_a_damaged_hard_state_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    written(path)
    flip_byte(path, b"voted-for-n2", offset=6)
    with pytest.raises(StorageCorruptionError) as caught:
        SqliteStorage(path)
    assert caught.value.damage.record is Record.HARD_STATE
    assert str(path) in str(caught.value)


def test_a_lost_hard_state_beside_a_log_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    written(path)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM meta WHERE k = 'hard'")
    with pytest.raises(StorageCorruptionError, match=r"hard state .* missing"):
        SqliteStorage(path)


def test_a_format_0_file_is_migrated_and_then_checked(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the schema and encodings before checksums
        db.executescript(
            "CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);"
            "CREATE TABLE log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL,"
            " kind INTEGER NOT NULL, data BLOB NOT NULL);"
        )
        db.execute("INSERT INTO meta VALUES ('hard', ?)", (msgspec.msgpack.encode([4, b"n3"]),))
        db.executemany(
            "INSERT INTO log VALUES (?, ?, 0, ?)", [(1, 2, b"old-one"), (2, 4, b"old-two")]
        )
    store = SqliteStorage(path)
    assert store.hard_state() == HardState(4, b"n3")
    assert store.scan() is None
    assert store.entries(1, 2) == [entry(2, b"old-one"), entry(4, b"old-two")]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION
    flip_byte(path, b"old-two")
    assert SqliteStorage(path).scan() is not None  # protected from now on


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SqliteStorage(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={FORMAT_VERSION + 1}")
    with pytest.raises(StorageFormatError, match="storage format 2"):
        SqliteStorage(path)
