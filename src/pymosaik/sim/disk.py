"""Simulated disk: a MemoryStorage whose writes since the last ``sync`` are lost in a crash.

The plain MemoryStorage survives a simulated crash whole, which hides bugs
where a node acts on (or tells others about) state it has not synced. Here
every mutation records how to undo it until ``sync``; ``lose_unsynced`` rolls
back to the last sync, as a power cut would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..groups.raft.log import HardState, LogEntry, Snapshot
from ..groups.storage.memory import MemoryStorage

__all__ = ["SimDisk"]


class SimDisk(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self._undo: list[Callable[[], None]] = []
        self.lost_writes = 0

    def set_hard_state(self, state: HardState) -> None:
        old = self._hard
        self._undo.append(lambda: setattr(self, "_hard", old))
        super().set_hard_state(state)

    def append(self, entries: Sequence[LogEntry]) -> None:
        n = len(entries)
        self._undo.append(lambda: self._drop_tail(n))
        super().append(entries)

    def _drop_tail(self, n: int) -> None:
        if n:
            del self._entries[-n:]

    def truncate_from(self, index: int) -> None:
        removed = list(self._entries[index - self._offset - 1 :])
        self._undo.append(lambda: self._entries.extend(removed))
        super().truncate_from(index)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        state = (self._snapshot, self._offset, self._offset_term, list(self._entries))

        def undo() -> None:
            self._snapshot, self._offset, self._offset_term, self._entries = state

        self._undo.append(undo)
        super().save_snapshot(snapshot)

    def sync(self) -> None:
        self._undo.clear()

    def lose_unsynced(self) -> None:
        """A crash: everything written since the last ``sync`` never reached the disk."""
        self.lost_writes += len(self._undo)
        while self._undo:
            self._undo.pop()()
