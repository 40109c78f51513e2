"""Checksums of stored Raft records, and what a store reports when one does not match.

Every entry, the snapshot and the hard state are stored with a CRC-32C (the
Castagnoli polynomial, as in iSCSI, ext4 and etcd's WAL; hardware-accelerated by
the ``crc32c`` package) and verified on read. A CRC is the right tool here: it
catches every burst of up to 32 flipped bits and random damage with probability
1 - 2^-32, and costs ~0.2 µs an entry. It is no defence against someone who can
write the file: they can recompute it. An entry's checksum covers its index too,
so a row moved to another index does not verify.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from typing import Final

from crc32c import crc32c

from ..raft.log import LogEntry

__all__ = ["Damage", "Record", "StorageCorruptionError", "entry_checksum", "record_checksum"]

_ENTRY_HEADER: Final = struct.Struct(">QQB")


class Record(Enum):
    ENTRY = "entry"
    SNAPSHOT = "snapshot"
    HARD_STATE = "hard state"


@dataclass(frozen=True, slots=True)
class Damage:
    """One stored record that failed its check: what it is, where, and why."""

    record: Record
    #: The log index of a damaged entry; a damaged snapshot's index when known; else 0.
    index: int
    detail: str
    #: Where it is stored (a file path), for the operator.
    where: str = ""
    #: A damaged snapshot's term, when a separately checksummed copy survives (else 0).
    term: int = 0

    def __str__(self) -> str:
        at = f" at index {self.index}" if self.record is Record.ENTRY else ""
        place = f" in {self.where}" if self.where else ""
        return f"damaged {self.record.value}{at}{place}: {self.detail}"


class StorageCorruptionError(Exception):
    """A stored record failed its checksum: the member must not act on it.

    Raised by a read (the caller's step is void; the store has rolled back what
    the step wrote) and by opening a store whose hard state is damaged (a member
    that does not know its term and vote must not start: operator action).
    """

    def __init__(self, damage: Damage) -> None:
        super().__init__(str(damage))
        self.damage = damage


def entry_checksum(index: int, entry: LogEntry) -> int:
    header = _ENTRY_HEADER.pack(index, entry.term, int(entry.kind))
    return crc32c(entry.data, crc32c(header))


def record_checksum(key: str, value: bytes) -> int:
    """The checksum of a key/value record (hard state, snapshot), bound to its key."""
    return crc32c(value, crc32c(key.encode()))
