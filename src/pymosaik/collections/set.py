"""Replicated Set of encoded elements (mosaik ``Set<T>``)."""

from __future__ import annotations

from typing import Union

from ..primitives import Wire, decode
from .base import MAX_SIZE, CollectionMachine, StoreId, Version

__all__ = ["SetCommand", "SetMachine"]


class SetClear(Wire, frozen=True, tag="clear"):
    pass


class SetInsert(Wire, frozen=True, tag="insert"):
    value: bytes


class SetRemove(Wire, frozen=True, tag="remove"):
    values: tuple[bytes, ...]


class SetExtend(Wire, frozen=True, tag="extend"):
    entries: tuple[bytes, ...]


SetCommand = Union[SetClear, SetInsert, SetRemove, SetExtend]  # noqa: UP007


class SetImage(Wire, frozen=True):
    version: int
    items: tuple[bytes, ...]  # sorted


class SetMachine(CollectionMachine[SetCommand]):
    KIND = "set"
    COMMAND = SetCommand

    def __init__(self, store: StoreId) -> None:
        super().__init__(store)
        self.data: set[bytes] = set()

    def execute(self, cmd: SetCommand) -> bool:
        if isinstance(cmd, SetClear):
            self.data.clear()
        elif isinstance(cmd, SetInsert):
            self.data.add(cmd.value)
        elif isinstance(cmd, SetRemove):
            self.data.difference_update(cmd.values)
        else:
            self.data.update(cmd.entries)
        return True

    def image(self) -> SetImage:
        return SetImage(self.version, tuple(sorted(self.data)))

    def load(self, data: bytes) -> None:
        image = decode(data, SetImage, max_size=MAX_SIZE)
        self.version = Version(image.version)
        self.data = set(image.items)
