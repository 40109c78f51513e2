"""Raft log storage: the interface, an in-memory store and the durable SQLite store."""

from .base import LogStorage
from .memory import MemoryStorage
from .sqlite import SqliteStorage

__all__ = ["LogStorage", "MemoryStorage", "SqliteStorage"]
