"""Replicated Map: encoded key → encoded value (mosaik ``Map<K, V>``)."""

from __future__ import annotations

from typing import Union

from ..primitives import Wire, decode
from .base import MAX_SIZE, CollectionMachine, StoreId, Version

__all__ = ["MapCAS", "MapClear", "MapCommand", "MapExtend", "MapInsert", "MapMachine", "MapRemove"]


class MapClear(Wire, frozen=True, tag="clear"):
    pass


class MapInsert(Wire, frozen=True, tag="insert"):
    key: bytes
    value: bytes


class MapCAS(Wire, frozen=True, tag="cas"):
    """Swap iff the current encoding equals ``expected`` (None: absent); ``new`` None deletes."""

    key: bytes
    expected: bytes | None
    new: bytes | None


class MapRemove(Wire, frozen=True, tag="remove"):
    keys: tuple[bytes, ...]


class MapExtend(Wire, frozen=True, tag="extend"):
    entries: tuple[tuple[bytes, bytes], ...]


MapCommand = Union[MapClear, MapInsert, MapCAS, MapRemove, MapExtend]  # noqa: UP007


class MapImage(Wire, frozen=True):
    version: int
    items: tuple[tuple[bytes, bytes], ...]  # sorted by key bytes


class MapMachine(CollectionMachine[MapCommand]):
    KIND = "map"
    COMMAND = MapCommand

    def __init__(self, store: StoreId) -> None:
        super().__init__(store)
        self.data: dict[bytes, bytes] = {}

    def execute(self, cmd: MapCommand) -> bool:
        if isinstance(cmd, MapClear):
            self.data.clear()
        elif isinstance(cmd, MapInsert):
            self.data[cmd.key] = cmd.value
        elif isinstance(cmd, MapCAS):
            if self.data.get(cmd.key) != cmd.expected:
                return False
            if cmd.new is None:
                self.data.pop(cmd.key, None)
            else:
                self.data[cmd.key] = cmd.new
        elif isinstance(cmd, MapRemove):
            for key in cmd.keys:
                self.data.pop(key, None)
        else:
            self.data.update(cmd.entries)
        return True

    def image(self) -> MapImage:
        return MapImage(self.version, tuple(sorted(self.data.items())))

    def load(self, data: bytes) -> None:
        image = decode(data, MapImage, max_size=MAX_SIZE)
        self.version = Version(image.version)
        self.data = dict(image.items)
