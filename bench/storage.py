"""What the storage checksums cost: ``python -m bench storage``.

Per 200-byte entry: the CRC-32C itself; a verified read against the decoding the
unchecked store did; one entry appended and committed by `SqliteStorage` against
a raw SQLite insert of the same row without a checksum (both with
``synchronous=OFF``, to see the CPU path); and, for scale, one commit with the
production ``synchronous=FULL`` (an fsync).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymosaik.groups.raft import EntryKind, LogEntry
from pymosaik.groups.storage import SqliteStorage
from pymosaik.groups.storage.integrity import entry_checksum

_N = 20_000
_RANGE = 1000


def _per_op_us(fn: Callable[[], object], number: int, per_call: int = 1) -> float:
    return round(timeit.timeit(fn, number=number) / number / per_call * 1e6, 2)


def main() -> dict[str, Any]:
    entry = LogEntry(3, EntryKind.COMMAND, os.urandom(200))
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStorage(Path(tmp) / "checked.db")
        store._db.execute("PRAGMA synchronous=OFF")

        def checked_append() -> None:
            store.append([entry])
            store.sync()

        raw = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=OFF")
        raw.execute("CREATE TABLE log (idx INTEGER PRIMARY KEY, term INT, kind INT, data BLOB)")
        next_index = iter(range(1, 10**9))

        def raw_append() -> None:
            raw.execute("BEGIN")
            raw.execute(
                "INSERT INTO log VALUES (?, ?, ?, ?)", (next(next_index), entry.term, 0, entry.data)
            )
            raw.execute("COMMIT")

        def unchecked_read() -> list[LogEntry]:
            rows = raw.execute(
                "SELECT term, kind, data FROM log WHERE idx BETWEEN 1 AND ? ORDER BY idx",
                (_RANGE,),
            ).fetchall()
            return [LogEntry(int(t), EntryKind(int(k)), bytes(d)) for t, k, d in rows]

        durable = SqliteStorage(Path(tmp) / "durable.db")

        def fsync_append() -> None:
            durable.append([entry])
            durable.sync()

        result = {
            "entry_bytes": len(entry.data),
            "crc32c_us": _per_op_us(lambda: entry_checksum(12345, entry), _N),
            "append_commit_checked_us": _per_op_us(checked_append, _N),
            "append_commit_raw_us": _per_op_us(raw_append, _N),
            "read_verified_us": _per_op_us(lambda: store.entries(1, _RANGE), 50, _RANGE),
            "read_unchecked_us": _per_op_us(unchecked_read, 50, _RANGE),
            "append_commit_fsync_us": _per_op_us(fsync_append, 300),
        }
        store.close()
        durable.close()
        raw.close()
    return result
