"""Replicated Cell (one optional value, with CAS) and Once (first write wins).

mosaik's ``Cell<T>`` and ``Once<T>``; distinct ``KIND`` prefixes keep them in
separate groups even on the same store.
"""

from __future__ import annotations

from typing import Union

from ..primitives import Wire, decode
from .base import MAX_SIZE, CollectionMachine, StoreId, Version

__all__ = ["CellCommand", "CellMachine", "OnceMachine", "OnceWrite"]


class CellWrite(Wire, frozen=True, tag="write"):
    value: bytes


class CellCAS(Wire, frozen=True, tag="cas"):
    """Swap if the current encoding equals ``current`` (``None``: empty); ``new`` None clears."""

    current: bytes | None
    new: bytes | None


class CellClear(Wire, frozen=True, tag="clear"):
    pass


CellCommand = Union[CellWrite, CellCAS, CellClear]  # noqa: UP007


class OnceWrite(Wire, frozen=True, tag="write"):
    value: bytes


class CellImage(Wire, frozen=True):
    version: int
    value: bytes | None


class CellMachine(CollectionMachine[CellCommand]):
    KIND = "cell"
    COMMAND = CellCommand

    def __init__(self, store: StoreId) -> None:
        super().__init__(store)
        self.value: bytes | None = None

    def execute(self, cmd: CellCommand) -> bool:
        if isinstance(cmd, CellWrite):
            self.value = cmd.value
        elif isinstance(cmd, CellClear):
            self.value = None
        elif self.value != cmd.current:
            return False
        else:
            self.value = cmd.new
        return True

    def image(self) -> CellImage:
        return CellImage(self.version, self.value)

    def load(self, data: bytes) -> None:
        image = decode(data, CellImage, max_size=MAX_SIZE)
        self.version = Version(image.version)
        self.value = image.value


class OnceMachine(CollectionMachine[OnceWrite]):
    """Only the first committed write sticks; later ones report ``changed=False``."""

    KIND = "once"
    COMMAND = OnceWrite

    def __init__(self, store: StoreId) -> None:
        super().__init__(store)
        self.value: bytes | None = None

    def execute(self, cmd: OnceWrite) -> bool:
        if self.value is not None:
            return False
        self.value = cmd.value
        return True

    def image(self) -> CellImage:
        return CellImage(self.version, self.value)

    def load(self, data: bytes) -> None:
        image = decode(data, CellImage, max_size=MAX_SIZE)
        self.version = Version(image.version)
        self.value = image.value
