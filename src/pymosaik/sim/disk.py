"""Simulated disk: writes since the last ``sync`` are lost in a crash; stored bits can flip.

The plain MemoryStorage survives a simulated crash whole, which hides bugs
where a node acts on (or tells others about) state it has not synced. Here
every mutation records how to undo it until ``sync``; ``lose_unsynced`` rolls
back to the last sync, as a power cut would.

``flip`` damages one stored entry (a byte of its payload, or a bit of its
term), as a failing disk does. The checksum is modelled by remembering what
was written: a read of a damaged entry raises
:class:`~pymosaik.groups.storage.StorageCorruptionError` (after voiding the
unsynced writes of the step, as the SQLite store does) and ``scan`` reports
it — unless ``verify`` is off, the broken store that returns damaged bytes
which the simulator's damaged-entry checker must catch. :meth:`written` is the
checkers' view: the log as written, damage unseen.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from ..groups.raft.log import HardState, LogEntry, Snapshot
from ..groups.storage.integrity import Damage, Record, StorageCorruptionError
from ..groups.storage.memory import MemoryStorage

__all__ = ["SimDisk", "WrittenLog"]


class SimDisk(MemoryStorage):
    def __init__(self, *, verify: bool = True) -> None:
        super().__init__()
        self.verify = verify
        self._undo: list[Callable[[], None]] = []
        self.lost_writes = 0
        #: index -> the entry as the damaged disk now returns it.
        self._damaged: dict[int, LogEntry] = {}

    # ---------------------------------------------------------------- damage

    @property
    def damaged(self) -> Mapping[int, LogEntry]:
        return self._damaged

    def flip(self, rng: random.Random) -> int | None:
        """Damage one stored entry (not already damaged); its index, or None if none is held."""
        candidates = [
            i for i in range(self.first_index(), self.last_index() + 1) if i not in self._damaged
        ]
        if not candidates:
            return None
        index = rng.choice(candidates)
        entry = self._entries[index - self._offset - 1]
        if entry.data and rng.random() < 0.7:
            data = bytearray(entry.data)
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            damaged = LogEntry(entry.term, entry.kind, bytes(data))
        else:
            damaged = LogEntry(entry.term ^ (1 << rng.randrange(4)), entry.kind, entry.data)
        self._damaged[index] = damaged
        return index

    def written(self) -> WrittenLog:
        return WrittenLog(self)

    def _check(self, low: int, high: int) -> None:
        if not self.verify or not self._damaged:
            return
        bad = [i for i in self._damaged if low <= i <= high]
        if bad:
            self.lose_unsynced()  # the step that read it is void
            raise StorageCorruptionError(Damage(Record.ENTRY, min(bad), "checksum mismatch"))

    def _forget_damage(self, keep: Callable[[int], bool]) -> None:
        dropped = {i: e for i, e in self._damaged.items() if not keep(i)}
        if dropped:
            self._damaged = {i: e for i, e in self._damaged.items() if keep(i)}
            self._undo.append(lambda: self._damaged.update(dropped))

    # ----------------------------------------------------------------- reads

    def term_at(self, index: int) -> int | None:
        if index in self._damaged and index > self._offset:
            self._check(index, index)
            return self._damaged[index].term
        return super().term_at(index)

    def entries(self, low: int, high: int) -> list[LogEntry]:
        out = super().entries(low, high)
        if self._damaged:
            self._check(low, high)
            out = [self._damaged.get(low + k, e) for k, e in enumerate(out)]
        return out

    def scan(self) -> Damage | None:
        if not self.verify or not self._damaged:
            return None
        return Damage(Record.ENTRY, min(self._damaged), "checksum mismatch")

    # ---------------------------------------------------------------- writes

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
        self._forget_damage(lambda i: i < index)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self._save_state()
        super().save_snapshot(snapshot)
        self._forget_damage(lambda i: self._offset < i <= self.last_index())

    def discard_log(self) -> None:
        self._save_state()
        super().discard_log()
        self._forget_damage(lambda i: False)

    def _save_state(self) -> None:
        state = (self._snapshot, self._offset, self._offset_term, list(self._entries))

        def undo() -> None:
            self._snapshot, self._offset, self._offset_term, self._entries = state

        self._undo.append(undo)

    def sync(self) -> None:
        self._undo.clear()

    def lose_unsynced(self) -> None:
        """A crash: everything written since the last ``sync`` never reached the disk."""
        self.lost_writes += len(self._undo)
        while self._undo:
            self._undo.pop()()


class WrittenLog:
    """A disk's log as written, damage unseen: what the simulator's checkers read."""

    def __init__(self, disk: SimDisk) -> None:
        self._disk = disk

    def first_index(self) -> int:
        return self._disk.first_index()

    def last_index(self) -> int:
        return self._disk.last_index()

    def term_at(self, index: int) -> int | None:
        return MemoryStorage.term_at(self._disk, index)

    def entries(self, low: int, high: int) -> list[LogEntry]:
        return MemoryStorage.entries(self._disk, low, high)
