"""Raft log storage: the interface, an in-memory store and the durable SQLite store."""

from .base import LogStorage
from .integrity import Damage, Record, StorageCorruptionError
from .memory import MemoryStorage
from .sqlite import SqliteStorage

__all__ = [
    "Damage",
    "LogStorage",
    "MemoryStorage",
    "Record",
    "SqliteStorage",
    "StorageCorruptionError",
]
