"""Keyed collection surfaces: a Map or Vec kept by an organism's committee, read by key.

A frame stream (``surface.py``) says what happened, in order, for as long as a
member remembers (256 frames). Later organisms also need *state* an integrator
can look up — a grant by request id, a pool round by slot, a card by agent —
with every version it ever had. A keyed surface is that state:

* declared once as ``MapSurface[K, V]`` or ``VecSurface[V]`` (a name and
  msgspec types, with size limits), so a declaration can list it;
* kept by the organism's machine in a `KeyedStore`: every change is an
  `Entry` naming the surface's own sequence number (``seq``) and the committee
  log index that produced it. History is never trimmed, and it is part of
  the machine's snapshot, so a member or reader restored from a snapshot has
  it all;
* read by replicating the committee's log (`keyed_read.KeyedReader`, a
  non-voting observer): every reader applies the same log, so readers on
  different nodes converge on the same entries in the same order.

A Vec surface is append-only (the book's pools and ledgers): index ``i`` has
exactly one version, committed once. A Map key has a version per change; a
removal is a version whose value is ``None``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Generic, TypeVar

from pymosaik.primitives import UniqueId, Wire, decode, encode

from .evidence import evidence_digest

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "AnySurface",
    "Entry",
    "KeyedPointer",
    "KeyedStore",
    "MapSurface",
    "SurfaceLog",
    "VecSurface",
]

K = TypeVar("K")
V = TypeVar("V")

#: Default bound on one encoded key and one encoded value.
MAX_KEY_BYTES: Final = 1024
MAX_VALUE_BYTES: Final = 64 * 1024
#: Bound on a store's snapshot image (its whole history).
MAX_IMAGE_BYTES: Final = 256 * 1024 * 1024


@dataclass(frozen=True)
class MapSurface(Generic[K, V]):
    """A declared keyed surface: ``name`` and the key/value types (msgspec-encodable)."""

    name: str
    key: type[K]
    value: type[V]
    max_key_bytes: int = MAX_KEY_BYTES
    max_value_bytes: int = MAX_VALUE_BYTES

    kind: ClassVar[str] = "map"

    def surface_id(self, organism: UniqueId) -> UniqueId:
        return organism.derive("keyed").derive(f"map:{self.name}")

    def encode_key(self, key: K) -> bytes:
        return _bounded(encode(key), self.max_key_bytes, f"{self.name} key")

    def encode_value(self, value: V) -> bytes:
        return _bounded(encode(value), self.max_value_bytes, f"{self.name} value")

    def decode_key(self, raw: bytes) -> K:
        return decode(raw, self.key, max_size=self.max_key_bytes)

    def decode_value(self, raw: bytes) -> V:
        return decode(raw, self.value, max_size=self.max_value_bytes)


@dataclass(frozen=True)
class VecSurface(Generic[V]):
    """A declared append-only sequence surface: element ``i`` is committed once."""

    name: str
    value: type[V]
    max_value_bytes: int = MAX_VALUE_BYTES

    kind: ClassVar[str] = "vec"

    def surface_id(self, organism: UniqueId) -> UniqueId:
        return organism.derive("keyed").derive(f"vec:{self.name}")

    def encode_value(self, value: V) -> bytes:
        return _bounded(encode(value), self.max_value_bytes, f"{self.name} value")

    def decode_value(self, raw: bytes) -> V:
        return decode(raw, self.value, max_size=self.max_value_bytes)


#: Any declared keyed surface.
AnySurface = MapSurface[Any, Any] | VecSurface[Any]


def _bounded(raw: bytes, limit: int, what: str) -> bytes:
    if len(raw) > limit:
        raise ValueError(f"{what} is {len(raw)} bytes encoded; the surface allows {limit}")
    return raw


class Entry(Wire, frozen=True):
    """One committed change of a keyed surface."""

    seq: int  # position in this surface's history: 0, 1, 2, … with no gaps
    index: int  # the committee log index whose command produced it
    key: bytes  # the encoded key (Map) or the encoded element index (Vec)
    value: bytes | None  # the encoded value; None: the key was removed (Map)

    def digest(self) -> UniqueId:
        """What an evidence pointer to this entry carries (removal: digest of no bytes)."""
        return evidence_digest(self.value if self.value is not None else b"")


class KeyedPointer(Wire, frozen=True):
    """One version of one key on a keyed surface, and the digest of its bytes."""

    surface: UniqueId
    key: bytes  # encoded key (Map) or encoded element index (Vec)
    seq: int  # the surface's sequence number of this version
    digest: UniqueId  # evidence_digest of the value bytes

    @classmethod
    def to(cls, surface: UniqueId, entry: Entry) -> KeyedPointer:
        return cls(surface, entry.key, entry.seq, entry.digest())


class _LogImage(Wire, frozen=True):
    surface: UniqueId
    entries: tuple[Entry, ...]


@dataclass
class SurfaceLog:
    """The full history of one keyed surface, and wake-ups for readers waiting on it."""

    surface: UniqueId
    kind: str
    entries: list[Entry] = field(default_factory=list)
    by_key: dict[bytes, list[int]] = field(default_factory=dict)
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def record(self, key: bytes, value: bytes | None, index: int) -> Entry:
        entry = Entry(len(self.entries), index, key, value)
        self._add(entry)
        self._wake()
        return entry

    def _add(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.by_key.setdefault(entry.key, []).append(entry.seq)

    def latest(self, key: bytes) -> Entry | None:
        seqs = self.by_key.get(key)
        return self.entries[seqs[-1]] if seqs else None

    def history(self, key: bytes) -> list[Entry]:
        return [self.entries[s] for s in self.by_key.get(key, ())]

    def load(self, entries: Iterable[Entry]) -> None:
        self.entries, self.by_key = [], {}
        for entry in entries:
            if entry.seq != len(self.entries):
                raise ValueError(f"surface image has a gap at seq {len(self.entries)}")
            self._add(entry)
        self._wake()

    # ---- wake-ups (reader side; the machine never awaits) ------------------------
    async def changed(self) -> None:
        """Return after the next recorded entry (or restore)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


class KeyedStore:
    """An organism's keyed surfaces: deterministic, written only from ``apply``.

    The organism's machine holds one, writes through ``put``/``remove``/``append``
    with the ``ctx.index`` of the command it is applying, and puts ``image()``
    in its snapshot. Readers get the same store by replicating the same log.
    """

    def __init__(self, organism: UniqueId, surfaces: Sequence[AnySurface]) -> None:
        self.organism = organism
        self.logs: dict[UniqueId, SurfaceLog] = {}
        #: By (kind, name): ``log()`` runs on every write, and deriving the id hashes twice.
        self._named: dict[tuple[str, str], SurfaceLog] = {}
        for decl in surfaces:
            sid = decl.surface_id(organism)
            if sid in self.logs:
                raise ValueError(f"surface {decl.name!r} declared twice")
            self.logs[sid] = self._named[decl.kind, decl.name] = SurfaceLog(sid, decl.kind)

    def log(self, decl: MapSurface[K, V] | VecSurface[V]) -> SurfaceLog:
        try:
            return self._named[decl.kind, decl.name]
        except KeyError:
            raise KeyError(f"{decl.kind} surface {decl.name!r} is not declared here") from None

    def put(self, decl: MapSurface[K, V], key: K, value: V, index: int) -> Entry:
        return self.log(decl).record(decl.encode_key(key), decl.encode_value(value), index)

    def remove(self, decl: MapSurface[K, V], key: K, index: int) -> Entry | None:
        """Record the removal of ``key`` (None when it has no current value)."""
        log, raw = self.log(decl), decl.encode_key(key)
        current = log.latest(raw)
        if current is None or current.value is None:
            return None
        return log.record(raw, None, index)

    def append(self, decl: VecSurface[V], value: V, index: int) -> Entry:
        log = self.log(decl)
        return log.record(encode(len(log.entries)), decl.encode_value(value), index)

    def image(self) -> bytes:
        return encode(
            tuple(_LogImage(sid, tuple(log.entries)) for sid, log in sorted(self.logs.items()))
        )

    def restore(self, data: bytes) -> None:
        for image in decode(data, tuple[_LogImage, ...], max_size=MAX_IMAGE_BYTES):
            log = self.logs.get(image.surface)
            if log is None:
                raise ValueError(f"snapshot holds an undeclared surface {image.surface.short()}")
            log.load(image.entries)
