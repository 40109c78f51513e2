"""Replicated Vec: an ordered sequence of encoded elements (mosaik ``Vec<T>``).

Out-of-range ``insert``/``remove``/``swap`` are rejected (``changed=False``)
on every node; mosaik's ``im::Vector::insert`` would panic past the end.
"""

from __future__ import annotations

from typing import Union

from ..primitives import Wire, decode
from .base import MAX_SIZE, CollectionMachine, StoreId, Version

__all__ = ["VecCommand", "VecMachine"]


class VecClear(Wire, frozen=True, tag="clear"):
    pass


class VecSwap(Wire, frozen=True, tag="swap"):
    i: int
    j: int


class VecInsert(Wire, frozen=True, tag="insert"):
    index: int
    value: bytes


class VecPushBack(Wire, frozen=True, tag="push_back"):
    value: bytes


class VecPushFront(Wire, frozen=True, tag="push_front"):
    value: bytes


class VecPopBack(Wire, frozen=True, tag="pop_back"):
    pass


class VecPopFront(Wire, frozen=True, tag="pop_front"):
    pass


class VecRemove(Wire, frozen=True, tag="remove"):
    index: int


class VecTruncate(Wire, frozen=True, tag="truncate"):
    len: int


class VecExtend(Wire, frozen=True, tag="extend"):
    entries: tuple[bytes, ...]


VecCommand = Union[  # noqa: UP007
    VecClear,
    VecSwap,
    VecInsert,
    VecPushBack,
    VecPushFront,
    VecPopBack,
    VecPopFront,
    VecRemove,
    VecTruncate,
    VecExtend,
]


class VecImage(Wire, frozen=True):
    version: int
    items: tuple[bytes, ...]


class VecMachine(CollectionMachine[VecCommand]):
    KIND = "vec"
    COMMAND = VecCommand

    def __init__(self, store: StoreId) -> None:
        super().__init__(store)
        self.data: list[bytes] = []

    def execute(self, cmd: VecCommand) -> bool:
        d = self.data
        if isinstance(cmd, VecClear):
            d.clear()
        elif isinstance(cmd, VecSwap):
            if not (0 <= cmd.i < len(d) and 0 <= cmd.j < len(d)):
                return False
            d[cmd.i], d[cmd.j] = d[cmd.j], d[cmd.i]
        elif isinstance(cmd, VecInsert):
            if not 0 <= cmd.index <= len(d):
                return False
            d.insert(cmd.index, cmd.value)
        elif isinstance(cmd, VecPushBack):
            d.append(cmd.value)
        elif isinstance(cmd, VecPushFront):
            d.insert(0, cmd.value)
        elif isinstance(cmd, VecPopBack | VecPopFront):
            if not d:
                return False
            d.pop() if isinstance(cmd, VecPopBack) else d.pop(0)
        elif isinstance(cmd, VecRemove):
            if not 0 <= cmd.index < len(d):
                return False
            del d[cmd.index]
        elif isinstance(cmd, VecTruncate):
            del d[max(cmd.len, 0) :]
        else:
            d.extend(cmd.entries)
        return True

    def image(self) -> VecImage:
        return VecImage(self.version, tuple(self.data))

    def load(self, data: bytes) -> None:
        image = decode(data, VecImage, max_size=MAX_SIZE)
        self.version = Version(image.version)
        self.data = list(image.items)
