"""Replicated double-ended PriorityQueue: key → (priority, value) (mosaik ``PriorityQueue<P,K,V>``).

Priorities are integers here, so ordering never depends on a Python type's
``__lt__``; ties order by encoded key, which makes ``min``/``max`` deterministic.
"""

from __future__ import annotations

from typing import Union

from ..primitives import Wire, decode
from .base import MAX_SIZE, CollectionMachine, StoreId, Version

__all__ = ["PQueueCommand", "PriorityQueueMachine"]


class PQClear(Wire, frozen=True, tag="clear"):
    pass


class PQInsert(Wire, frozen=True, tag="insert"):
    priority: int
    key: bytes
    value: bytes


class PQExtend(Wire, frozen=True, tag="extend"):
    entries: tuple[tuple[int, bytes, bytes], ...]


class PQUpdatePriority(Wire, frozen=True, tag="update_priority"):
    key: bytes
    priority: int


class PQUpdateValue(Wire, frozen=True, tag="update_value"):
    key: bytes
    value: bytes


class PQCompareExchangeValue(Wire, frozen=True, tag="cas_value"):
    """Swap the value of a present key if its encoding equals ``expected``; ``new`` None removes."""

    key: bytes
    expected: bytes
    new: bytes | None


class PQRemoveKeys(Wire, frozen=True, tag="remove_keys"):
    keys: tuple[bytes, ...]


class PQRemoveRange(Wire, frozen=True, tag="remove_range"):
    """Remove every entry with ``start <= priority < end`` (``None``: unbounded)."""

    start: int | None
    end: int | None


PQueueCommand = Union[  # noqa: UP007
    PQClear,
    PQInsert,
    PQExtend,
    PQUpdatePriority,
    PQUpdateValue,
    PQCompareExchangeValue,
    PQRemoveKeys,
    PQRemoveRange,
]


class PQImage(Wire, frozen=True):
    version: int
    items: tuple[tuple[int, bytes, bytes], ...]  # sorted by (priority, key)


class PriorityQueueMachine(CollectionMachine[PQueueCommand]):
    KIND = "depq"
    COMMAND = PQueueCommand

    def __init__(self, store: StoreId) -> None:
        super().__init__(store)
        self.by_key: dict[bytes, tuple[int, bytes]] = {}

    def execute(self, cmd: PQueueCommand) -> bool:
        by_key = self.by_key
        if isinstance(cmd, PQClear):
            by_key.clear()
        elif isinstance(cmd, PQInsert):
            by_key[cmd.key] = (cmd.priority, cmd.value)
        elif isinstance(cmd, PQExtend):
            for priority, key, value in cmd.entries:
                by_key[key] = (priority, value)
        elif isinstance(cmd, PQUpdatePriority | PQUpdateValue):
            old = by_key.get(cmd.key)
            if old is None:
                return False
            if isinstance(cmd, PQUpdatePriority):
                by_key[cmd.key] = (cmd.priority, old[1])
            else:
                by_key[cmd.key] = (old[0], cmd.value)
        elif isinstance(cmd, PQCompareExchangeValue):
            old = by_key.get(cmd.key)
            if old is None or old[1] != cmd.expected:
                return False
            if cmd.new is None:
                del by_key[cmd.key]
            else:
                by_key[cmd.key] = (old[0], cmd.new)
        elif isinstance(cmd, PQRemoveKeys):
            for key in cmd.keys:
                by_key.pop(key, None)
        else:
            lo, hi = cmd.start, cmd.end
            doomed = [
                k
                for k, (p, _) in by_key.items()
                if (lo is None or p >= lo) and (hi is None or p < hi)
            ]
            for key in doomed:
                del by_key[key]
        return True

    def entries(self) -> list[tuple[int, bytes, bytes]]:
        """Every entry ordered by (priority, encoded key)."""
        return sorted((p, k, v) for k, (p, v) in self.by_key.items())

    def image(self) -> PQImage:
        return PQImage(self.version, tuple(self.entries()))

    def load(self, data: bytes) -> None:
        image = decode(data, PQImage, max_size=MAX_SIZE)
        self.version = Version(image.version)
        self.by_key = {k: (p, v) for p, k, v in image.items}
