"""What every replicated collection shares: ids, versions, the machine skeleton.

A collection is one Raft group whose state machine holds *encoded* items only:
keys, values and elements are canonical bytes (``pymosaik.primitives.encode``),
so ``apply`` never depends on a Python type's hashing or ordering, and
compare-exchange compares encodings exactly as mosaik does. Typed handles
(``handles.py``) encode on the way in and decode on the way out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, NewType, TypeVar

from ..groups.machine import ApplyContext
from ..primitives import DecodeError, UniqueId, Wire, decode, encode, unique_id

__all__ = ["CollectionMachine", "Outcome", "StoreId", "Version", "store_id"]

C = TypeVar("C")

StoreId = NewType("StoreId", UniqueId)
#: The log index of the last applied command; grows monotonically (mosaik ``Version``).
Version = NewType("Version", int)

#: Upper bound for one command or snapshot image.
MAX_SIZE = 64 * 1024 * 1024


def store_id(secret: UniqueId, schema: str) -> StoreId:
    """Derive a store id from the group secret and an explicit schema name.

    mosaik folds Rust type names into the group id; Python has no stable type
    names, so callers name the schema (``"prices: Map[str, float] v1"``) — D5.
    The secret enters hashed so the id can be shown without revealing it.
    """
    return StoreId(
        unique_id("pymosaik.collections.store.v1")
        .derive(secret.hashed().bytes)
        .derive(unique_id(schema).bytes)
    )


class Outcome(Wire, frozen=True):
    """Result of one command: ``changed`` is false for a failed CAS or a malformed command."""

    version: int
    changed: bool


class CollectionMachine(Generic[C]):
    """Skeleton: decode a command, apply it, record the version, tell listeners.

    Subclasses set ``KIND`` (mosaik's per-type prefix, so a Cell and a Once on
    the same store never share a group) and ``COMMAND`` (the tagged union).
    """

    KIND: ClassVar[str]
    COMMAND: ClassVar[Any]

    def __init__(self, store: StoreId) -> None:
        self.store = store
        self.version = Version(0)
        self._listeners: list[Callable[[Version], None]] = []

    def signature(self) -> UniqueId:
        return unique_id(f"mosaik_collections_{self.KIND}").derive(self.store.bytes)

    def subscribe(self, listener: Callable[[Version], None]) -> None:
        """Call ``listener(version)`` after every applied command or restore (no IO here)."""
        self._listeners.append(listener)

    def apply(self, command: bytes, ctx: ApplyContext) -> bytes:
        try:
            cmd: C = decode(command, self.COMMAND, max_size=MAX_SIZE)
        except DecodeError:
            changed = False  # committed everywhere, rejected everywhere alike
        else:
            changed = self.execute(cmd)
        self._advance(Version(ctx.index))
        return encode(Outcome(ctx.index, changed))

    def execute(self, cmd: C) -> bool:
        raise NotImplementedError

    def query(self, query: bytes) -> bytes:
        """Strong reads return the whole canonical image (mosaik has no collection queries)."""
        return self.snapshot()

    def snapshot(self) -> bytes:
        return encode(self.image())

    def restore(self, data: bytes) -> None:
        self.load(data)
        for listener in self._listeners:
            listener(self.version)

    def image(self) -> Wire:
        raise NotImplementedError

    def load(self, data: bytes) -> None:
        raise NotImplementedError

    def _advance(self, version: Version) -> None:
        self.version = version
        for listener in self._listeners:
            listener(version)
