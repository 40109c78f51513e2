"""In-memory log storage for tests and the simulator.

It survives a simulated crash because the simulator keeps the object and only
rebuilds the node around it; ``sync`` is a no-op because nothing is buffered.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..raft.log import HardState, LogEntry, Snapshot
from .integrity import Damage


class MemoryStorage:
    """A list of entries behind an offset (the snapshot index)."""

    def __init__(self) -> None:
        self._hard = HardState()
        self._snapshot: Snapshot | None = None
        self._offset = 0  # index of the entry before self._entries[0]
        self._offset_term = 0
        self._entries: list[LogEntry] = []

    def hard_state(self) -> HardState:
        return self._hard

    def set_hard_state(self, state: HardState) -> None:
        self._hard = state

    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._offset + len(self._entries)

    def term_at(self, index: int) -> int | None:
        if index == self._offset:
            return self._offset_term
        pos = index - self._offset - 1
        if 0 <= pos < len(self._entries):
            return self._entries[pos].term
        return None

    def entries(self, low: int, high: int) -> list[LogEntry]:
        if low <= self._offset or high > self.last_index():
            raise IndexError(
                f"entries {low}..{high} outside {self.first_index()}..{self.last_index()}"
            )
        return self._entries[low - self._offset - 1 : high - self._offset]

    def append(self, entries: Sequence[LogEntry]) -> None:
        self._entries.extend(entries)

    def truncate_from(self, index: int) -> None:
        if index <= self._offset:
            raise IndexError(f"cannot truncate at {index}: compacted up to {self._offset}")
        del self._entries[index - self._offset - 1 :]

    def save_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.index < self._offset:
            raise ValueError(f"snapshot at {snapshot.index} is older than {self._offset}")
        if self.term_at(snapshot.index) == snapshot.term and snapshot.index <= self.last_index():
            del self._entries[: snapshot.index - self._offset]
        else:
            self._entries = []
        self._offset = snapshot.index
        self._offset_term = snapshot.term
        self._snapshot = snapshot

    def sync(self) -> None:
        return None

    def scan(self) -> Damage | None:
        return None  # nothing is stored outside this process: nothing to damage

    def discard_log(self) -> None:
        self._entries = []
        self._snapshot = None
        self._offset = self._offset_term = 0

    def close(self) -> None:
        return None
