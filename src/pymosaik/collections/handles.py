"""Typed asyncio handles over a joined `Group`: readers read locally, writers commit.

* Reads are local and weak (mosaik reads its ``watch`` snapshot): they see what
  this member has applied, at ``handle.version``.
* Writes ``execute`` through Raft and return the version they were applied at,
  once committed *and applied here* — so ``when.reaches(v)`` on the writer is
  immediate, and on any other member waits until it has caught up.
* ``when`` waits on apply events the machine reports (no polling).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Generic, Self, TypedDict, TypeVar, Unpack

from ..groups.access import GroupAccess, TicketPolicy
from ..groups.driver import Group, Groups, TicketSource
from ..groups.raft import LeadershipPreference, RaftConfig
from ..groups.storage.base import LogStorage
from ..primitives import UniqueId, Wire, decode, encode
from .base import MAX_SIZE, CollectionMachine, Outcome, Version, store_id
from .cell import CellCAS, CellClear, CellMachine, CellWrite, OnceMachine, OnceWrite
from .map import MapCAS, MapClear, MapExtend, MapInsert, MapMachine, MapRemove
from .pqueue import (
    PQClear,
    PQCompareExchangeValue,
    PQExtend,
    PQInsert,
    PQRemoveKeys,
    PQRemoveRange,
    PQUpdatePriority,
    PQUpdateValue,
    PriorityQueueMachine,
)
from .set import SetClear, SetExtend, SetInsert, SetMachine, SetRemove
from .vec import (
    VecClear,
    VecExtend,
    VecInsert,
    VecMachine,
    VecPopBack,
    VecPopFront,
    VecPushBack,
    VecPushFront,
    VecRemove,
    VecSwap,
    VecTruncate,
)

K = TypeVar("K")
V = TypeVar("V")
M = TypeVar("M", bound=CollectionMachine[Any])

__all__ = [
    "CellHandle",
    "JoinOptions",
    "MapHandle",
    "OnceHandle",
    "PriorityQueueHandle",
    "SetHandle",
    "VecHandle",
    "When",
]


class When:
    """Waits on a machine's progress (mosaik ``When``): ``updated()``, ``reaches(v)``."""

    def __init__(self, machine: CollectionMachine[Any]) -> None:
        self._machine = machine
        self._waiters: list[asyncio.Future[Version]] = []
        machine.subscribe(self._on_apply)

    def _on_apply(self, version: Version) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(version)

    async def updated(self) -> Version:
        """The next version applied (or restored) after this call."""
        fut: asyncio.Future[Version] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return await fut

    async def reaches(self, version: Version) -> Version:
        """Return once this member has applied at least ``version``."""
        while self._machine.version < version:
            await self.updated()
        return self._machine.version


class JoinOptions(TypedDict, total=False):
    """How a collection handle joins its store's group (all optional)."""

    storage: LogStorage | None
    config: RaftConfig | None
    seed: int | None
    #: Join as a reader: an observer that replicates and reads locally, never votes.
    reader: bool
    require_ticket: TicketPolicy | None
    tickets: TicketSource
    #: Per-role rules (who may read, who may write through a forward); see GroupAccess.
    access: GroupAccess | None


class _Handle(Generic[M]):
    #: The handle's machine class (``MapMachine`` …), built from the store id on ``join``.
    MACHINE: ClassVar[type[CollectionMachine[Any]]]

    def __init__(self, group: Group, machine: M) -> None:
        self.group = group
        self.machine = machine
        self.when = When(machine)

    @property
    def version(self) -> Version:
        return self.machine.version

    @classmethod
    def _open(
        cls,
        groups: Groups,
        secret: UniqueId,
        schema: str,
        members: Sequence[Any],
        options: JoinOptions,
    ) -> tuple[Group, M]:
        """Writers are members; readers join as observers (replicate, read locally, never vote)."""
        machine: Any = cls.MACHINE(store_id(secret, schema))  # an M, by each subclass's MACHINE
        preference = LeadershipPreference.observer() if options.get("reader") else None
        group = groups.join(
            secret,
            machine,
            members,
            storage=options.get("storage"),
            config=options.get("config"),
            seed=options.get("seed"),
            preference=preference,
            require_ticket=options.get("require_ticket"),
            tickets=options.get("tickets", ()),
            access=options.get("access"),
        )
        return group, machine

    async def _write(self, command: Wire) -> tuple[Version, bool]:
        outcome = decode(await self.group.execute(encode(command)), Outcome)
        return Version(outcome.version), outcome.changed


class _ValueHandle(_Handle[M], Generic[M, V]):
    """A collection of values of one type: ``X.join(groups, secret, schema, members, value)``."""

    def __init__(self, group: Group, machine: M, value: type[V]) -> None:
        super().__init__(group, machine)
        self._v = value

    @classmethod
    def join(
        cls,
        groups: Groups,
        secret: UniqueId,
        schema: str,
        members: Sequence[Any],
        value: type[V],
        **options: Unpack[JoinOptions],
    ) -> Self:
        return cls(*cls._open(groups, secret, schema, members, options), value)


class _KeyValueHandle(_Handle[M], Generic[M, K, V]):
    """Keyed values: ``X.join(groups, secret, schema, members, key, value)``."""

    def __init__(self, group: Group, machine: M, key: type[K], value: type[V]) -> None:
        super().__init__(group, machine)
        self._k, self._v = key, value

    @classmethod
    def join(  # noqa: PLR0917
        cls,
        groups: Groups,
        secret: UniqueId,
        schema: str,
        members: Sequence[Any],
        key: type[K],
        value: type[V],
        **options: Unpack[JoinOptions],
    ) -> Self:
        return cls(*cls._open(groups, secret, schema, members, options), key, value)


def _dec(data: bytes, typ: type[V]) -> V:
    return decode(data, typ, max_size=MAX_SIZE)


class MapHandle(_KeyValueHandle[MapMachine, K, V]):
    """mosaik ``Map<K, V>``; ``Map.join(...)`` joins the store's group on this node."""

    MACHINE = MapMachine

    # reads
    def __len__(self) -> int:
        return len(self.machine.data)

    def get(self, key: K) -> V | None:
        raw = self.machine.data.get(encode(key))
        return None if raw is None else _dec(raw, self._v)

    def contains_key(self, key: K) -> bool:
        return encode(key) in self.machine.data

    def items(self) -> list[tuple[K, V]]:
        """All entries, ordered by encoded key (deterministic across members)."""
        return [(_dec(k, self._k), _dec(v, self._v)) for k, v in sorted(self.machine.data.items())]

    # writes
    async def insert(self, key: K, value: V) -> Version:
        return (await self._write(MapInsert(encode(key), encode(value))))[0]

    async def compare_exchange(
        self, key: K, expected: V | None, new: V | None
    ) -> tuple[Version, bool]:
        """Swap iff the current value's encoding equals ``expected``'s (None: absent)."""
        exp = None if expected is None else encode(expected)
        return await self._write(MapCAS(encode(key), exp, None if new is None else encode(new)))

    async def remove(self, key: K) -> Version:
        return await self.remove_many([key])

    async def remove_many(self, keys: Iterable[K]) -> Version:
        return (await self._write(MapRemove(tuple(encode(k) for k in keys))))[0]

    async def extend(self, entries: Iterable[tuple[K, V]]) -> Version:
        cmd = MapExtend(tuple((encode(k), encode(v)) for k, v in entries))
        return (await self._write(cmd))[0]

    async def clear(self) -> Version:
        return (await self._write(MapClear()))[0]


class VecHandle(_ValueHandle[VecMachine, V]):
    """mosaik ``Vec<T>``."""

    MACHINE = VecMachine

    def __len__(self) -> int:
        return len(self.machine.data)

    def get(self, index: int) -> V | None:
        d = self.machine.data
        return _dec(d[index], self._v) if 0 <= index < len(d) else None

    def items(self) -> list[V]:
        return [_dec(x, self._v) for x in self.machine.data]

    async def push_back(self, value: V) -> Version:
        return (await self._write(VecPushBack(encode(value))))[0]

    async def push_front(self, value: V) -> Version:
        return (await self._write(VecPushFront(encode(value))))[0]

    async def insert(self, index: int, value: V) -> tuple[Version, bool]:
        return await self._write(VecInsert(index, encode(value)))

    async def pop_back(self) -> tuple[Version, bool]:
        return await self._write(VecPopBack())

    async def pop_front(self) -> tuple[Version, bool]:
        return await self._write(VecPopFront())

    async def remove(self, index: int) -> tuple[Version, bool]:
        return await self._write(VecRemove(index))

    async def swap(self, i: int, j: int) -> tuple[Version, bool]:
        return await self._write(VecSwap(i, j))

    async def truncate(self, length: int) -> Version:
        return (await self._write(VecTruncate(length)))[0]

    async def extend(self, values: Iterable[V]) -> Version:
        return (await self._write(VecExtend(tuple(encode(v) for v in values))))[0]

    async def clear(self) -> Version:
        return (await self._write(VecClear()))[0]


class SetHandle(_ValueHandle[SetMachine, V]):
    """mosaik ``Set<T>``."""

    MACHINE = SetMachine

    def __len__(self) -> int:
        return len(self.machine.data)

    def contains(self, value: V) -> bool:
        return encode(value) in self.machine.data

    def items(self) -> list[V]:
        return [_dec(x, self._v) for x in sorted(self.machine.data)]

    async def insert(self, value: V) -> Version:
        return (await self._write(SetInsert(encode(value))))[0]

    async def remove_many(self, values: Iterable[V]) -> Version:
        return (await self._write(SetRemove(tuple(encode(v) for v in values))))[0]

    async def extend(self, values: Iterable[V]) -> Version:
        return (await self._write(SetExtend(tuple(encode(v) for v in values))))[0]

    async def clear(self) -> Version:
        return (await self._write(SetClear()))[0]


class CellHandle(_ValueHandle[CellMachine, V]):
    """mosaik ``Cell<T>``."""

    MACHINE = CellMachine

    def get(self) -> V | None:
        raw = self.machine.value
        return None if raw is None else _dec(raw, self._v)

    async def write(self, value: V) -> Version:
        return (await self._write(CellWrite(encode(value))))[0]

    async def compare_exchange(self, current: V | None, new: V | None) -> tuple[Version, bool]:
        cur = None if current is None else encode(current)
        return await self._write(CellCAS(cur, None if new is None else encode(new)))

    async def clear(self) -> Version:
        return (await self._write(CellClear()))[0]


class OnceHandle(_ValueHandle[OnceMachine, V]):
    """mosaik ``Once<T>``: ``write`` reports whether it was the write that stuck."""

    MACHINE = OnceMachine

    def get(self) -> V | None:
        raw = self.machine.value
        return None if raw is None else _dec(raw, self._v)

    async def write(self, value: V) -> tuple[Version, bool]:
        return await self._write(OnceWrite(encode(value)))


class PriorityQueueHandle(_KeyValueHandle[PriorityQueueMachine, K, V]):
    """mosaik ``PriorityQueue<P, K, V>`` with integer priorities."""

    MACHINE = PriorityQueueMachine

    def __len__(self) -> int:
        return len(self.machine.by_key)

    def get(self, key: K) -> tuple[int, V] | None:
        entry = self.machine.by_key.get(encode(key))
        return None if entry is None else (entry[0], _dec(entry[1], self._v))

    def items(self) -> list[tuple[int, K, V]]:
        """Entries by ascending (priority, encoded key)."""
        return [(p, _dec(k, self._k), _dec(v, self._v)) for p, k, v in self.machine.entries()]

    def min(self) -> tuple[int, K, V] | None:
        entries = self.items()
        return entries[0] if entries else None

    def max(self) -> tuple[int, K, V] | None:
        entries = self.items()
        return entries[-1] if entries else None

    async def insert(self, priority: int, key: K, value: V) -> Version:
        return (await self._write(PQInsert(priority, encode(key), encode(value))))[0]

    async def extend(self, entries: Iterable[tuple[int, K, V]]) -> Version:
        cmd = PQExtend(tuple((p, encode(k), encode(v)) for p, k, v in entries))
        return (await self._write(cmd))[0]

    async def update_priority(self, key: K, priority: int) -> tuple[Version, bool]:
        return await self._write(PQUpdatePriority(encode(key), priority))

    async def update_value(self, key: K, value: V) -> tuple[Version, bool]:
        return await self._write(PQUpdateValue(encode(key), encode(value)))

    async def compare_exchange_value(
        self, key: K, expected: V, new: V | None
    ) -> tuple[Version, bool]:
        new_raw = None if new is None else encode(new)
        return await self._write(PQCompareExchangeValue(encode(key), encode(expected), new_raw))

    async def remove_many(self, keys: Iterable[K]) -> Version:
        return (await self._write(PQRemoveKeys(tuple(encode(k) for k in keys))))[0]

    async def remove_range(self, start: int | None, end: int | None) -> Version:
        return (await self._write(PQRemoveRange(start, end)))[0]

    async def clear(self) -> Version:
        return (await self._write(PQClear()))[0]
