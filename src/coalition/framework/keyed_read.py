"""Reading keyed surfaces: typed views with full history, ``when()``, and the reader handle.

A `KeyedReader` joins the organism's committee group as a non-voting observer
(mosaik's collection *reader*): it replicates the committee log into its own
replica of the organism's machine and reads locally. That is what makes
readers converge — every reader applies the same log — and what survives a
leader change: the observer follows whichever member leads.

Reading is therefore gated where bonding is: the committee's
``GroupAccess.observers`` (a TicketValidator such as a per-member readership
ticket) decides who may replicate, and a reader without the ticket is refused
at the bond, which `ready()` reports as `ReadRefused` with the members' reasons.

``when()`` follows mosaik's ``When`` (its ``updated()`` is ``changed()`` here, so
that ``updated(key)`` can be the book's; ``reaches()``) and adds
the book's keyed waits: ``vec.when().appended()`` returns the next index not
yet returned by that ``When`` and ``map.when().updated(key)`` the next version
of ``key``; each ``When`` keeps a cursor, so a loop over it misses nothing even
when several entries land between two awaits (``view.when()`` is one shared
cursor, ``view.watch()`` a fresh one).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

from pymosaik.groups.access import GroupAccess
from pymosaik.groups.driver import Group, TicketSource
from pymosaik.groups.raft import LeadershipPreference, RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import UniqueId
from pymosaik.transport import EndpointAddr

from .committee import SurfaceIds
from .errors import ConnectTimeout, OrganismError
from .keyed import Entry, KeyedPointer, KeyedStore, MapSurface, SurfaceLog, VecSurface
from .surface import SurfaceMachine

__all__ = ["KeyedReader", "MapView", "MapWhen", "ReadRefused", "VecView", "VecWhen", "Versioned"]

K = TypeVar("K")
V = TypeVar("V")

#: How often ``ready()`` looks at the bond state while it waits.
READY_POLL_S: Final = 0.05


@dataclass(frozen=True)
class Versioned(Generic[V]):
    """One version of a key or element: the value and where the committee produced it."""

    seq: int  # the surface's own sequence number of this change
    index: int  # the committee log index of the command that produced it
    value: V | None  # None: removed
    digest: UniqueId  # evidence_digest of the value's bytes (what a pointer carries)


class _Cursor:
    """A position in one surface's history, shared by the waits of one ``When``."""

    def __init__(self, log: SurfaceLog) -> None:
        self.log = log
        self.start = len(log.entries)

    async def changed(self) -> int:
        """mosaik's ``updated()``: the number of entries once a new one lands (any key)."""
        await self.log.changed()
        return len(self.log.entries)

    async def reaches(self, count: int) -> int:
        """Return once the surface holds at least ``count`` entries."""
        while len(self.log.entries) < count:
            await self.log.changed()
        return len(self.log.entries)


class VecWhen(_Cursor):
    async def appended(self) -> int:
        """The index of the next element not yet returned by this ``When``."""
        while self.start >= len(self.log.entries):
            await self.log.changed()
        index = self.start
        self.start += 1
        return index


class MapWhen(_Cursor, Generic[K, V]):
    def __init__(self, view: MapView[K, V]) -> None:
        super().__init__(view.log)
        self._view = view
        self._seen: dict[bytes, int] = {}

    async def updated(self, key: K) -> Versioned[V]:
        """The next version of ``key`` this ``When`` has not returned (committed after it began)."""
        raw = self._view.decl.encode_key(key)
        while True:
            after = self._seen.get(raw, self.start - 1)
            seqs = self.log.by_key.get(raw, [])
            i = bisect_right(seqs, after)
            if i < len(seqs):
                self._seen[raw] = seqs[i]
                return self._view.versioned(self.log.entries[seqs[i]])
            await self.log.changed()


class MapView(Generic[K, V]):
    """Read a Map surface by key: current value, every version, and waits."""

    def __init__(self, decl: MapSurface[K, V], log: SurfaceLog) -> None:
        self.decl, self.log = decl, log
        self._when = MapWhen(self)

    @property
    def surface(self) -> UniqueId:
        return self.log.surface

    def get(self, key: K) -> V | None:
        latest = self.log.latest(self.decl.encode_key(key))
        return None if latest is None or latest.value is None else self._value(latest.value)

    def version(self, key: K) -> Versioned[V] | None:
        latest = self.log.latest(self.decl.encode_key(key))
        return None if latest is None else self.versioned(latest)

    def history(self, key: K) -> list[Versioned[V]]:
        """Every version of ``key``, oldest first (removals included, as ``value=None``)."""
        return [self.versioned(e) for e in self.log.history(self.decl.encode_key(key))]

    def keys(self) -> list[K]:
        """Keys with a current value, ordered by encoded key (the same on every reader)."""
        return [self.decl.decode_key(k) for k in sorted(self._live())]

    def items(self) -> list[tuple[K, V]]:
        live = self._live()
        return [(self.decl.decode_key(k), self._value(live[k])) for k in sorted(live)]

    def __len__(self) -> int:
        return len(self._live())

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def pointer(self, key: K, seq: int | None = None) -> KeyedPointer:
        """Evidence for the current version of ``key`` (or its version ``seq``)."""
        entries = self.log.history(self.decl.encode_key(key))
        picked = [e for e in entries if seq is None or e.seq == seq]
        if not picked:
            raise KeyError(f"{self.decl.name}: no such version of {key!r}")
        return KeyedPointer.to(self.surface, picked[-1])

    def when(self) -> MapWhen[K, V]:
        return self._when

    def watch(self) -> MapWhen[K, V]:
        return MapWhen(self)

    def versioned(self, entry: Entry) -> Versioned[V]:
        value = None if entry.value is None else self._value(entry.value)
        return Versioned(entry.seq, entry.index, value, entry.digest())

    def _live(self) -> dict[bytes, bytes]:
        out = {}
        for key in self.log.by_key:
            latest = self.log.latest(key)
            if latest is not None and latest.value is not None:
                out[key] = latest.value
        return out

    def _value(self, raw: bytes) -> V:
        return self.decl.decode_value(raw)


class VecView(Generic[V]):
    """Read an append-only Vec surface by index; ``when().appended()`` for what comes next."""

    def __init__(self, decl: VecSurface[V], log: SurfaceLog) -> None:
        self.decl, self.log = decl, log
        self._when = VecWhen(log)

    @property
    def surface(self) -> UniqueId:
        return self.log.surface

    def __len__(self) -> int:
        return len(self.log.entries)

    def get(self, index: int) -> V | None:
        entry = self.entry(index)
        return None if entry is None else entry.value

    def entry(self, index: int) -> Versioned[V] | None:
        if not 0 <= index < len(self.log.entries):
            return None
        e = self.log.entries[index]
        value = None if e.value is None else self.decl.decode_value(e.value)
        return Versioned(e.seq, e.index, value, e.digest())

    def items(self) -> list[V]:
        return [self.decl.decode_value(e.value) for e in self.log.entries if e.value is not None]

    def pointer(self, index: int) -> KeyedPointer:
        if not 0 <= index < len(self.log.entries):
            raise KeyError(f"{self.decl.name}: no element {index}")
        return KeyedPointer.to(self.surface, self.log.entries[index])

    def when(self) -> VecWhen:
        return self._when

    def watch(self) -> VecWhen:
        return VecWhen(self.log)


class ReadRefused(OrganismError):  # noqa: N818 - reads as a verdict
    """Committee members refused this reader's bond (e.g. no readership ticket)."""

    def __init__(self, what: str, reasons: dict[str, str]) -> None:
        detail = ", ".join(f"{peer}: {why}" for peer, why in sorted(reasons.items()))
        super().__init__(f"{what} refused this reader ({detail})")
        self.reasons = reasons


class KeyedReader:
    """A replica of an organism's committee log, read through typed keyed views.

    ``machine`` must be built exactly as the members build theirs (same
    ``SurfaceMachine`` over the same inner machine), and ``store`` is that inner
    machine's `KeyedStore`. ``access`` must equal the members' ``GroupAccess``
    (it enters the group id); ``tickets`` are what this reader presents.
    """

    def __init__(
        self,
        network: Network,
        what: str,
        ids: SurfaceIds,
        machine: SurfaceMachine,
        committee: Sequence[EndpointAddr],
        *,
        store: KeyedStore,
        access: GroupAccess,
        tickets: TicketSource = (),
        raft: RaftConfig | None = None,
    ) -> None:
        self.what = what
        self.store = store
        self._committee = len(committee)
        self._views: dict[UniqueId, MapView[Any, Any] | VecView[Any]] = {}
        self.group: Group = network.groups.join(
            ids.group_secret,
            machine,
            committee,
            config=raft,
            preference=LeadershipPreference.observer(),
            access=access,
            tickets=tickets,
        )

    def map(self, decl: MapSurface[K, V]) -> MapView[K, V]:
        """The view of ``decl`` (the same one, with its ``when()`` cursor, on every call)."""
        log = self.store.log(decl)
        view = self._views.get(log.surface)
        if not isinstance(view, MapView):
            view = self._views[log.surface] = MapView(decl, log)
        return cast(MapView[K, V], view)

    def vec(self, decl: VecSurface[V]) -> VecView[V]:
        log = self.store.log(decl)
        view = self._views.get(log.surface)
        if not isinstance(view, VecView):
            view = self._views[log.surface] = VecView(decl, log)
        return cast(VecView[V], view)

    async def ready(self, timeout_s: float = 10.0) -> None:
        """Bonded to the leader and applied everything this replica knows to be committed.

        That is the leader's commit index as of the last message this replica took from it:
        right after a snapshot install, entries committed after the snapshot may still be on
        their way. To read a write you know was committed, wait for it
        (``view.when().reaches(n)`` or ``when().updated(key)``).

        `ReadRefused` as soon as a majority of members refused the bond (or at
        the deadline, if any refused); `ConnectTimeout` if nobody answered.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        majority = self._committee // 2 + 1
        while True:
            g = self.group
            lead = g.leader
            online = lead is not None and lead in g.links
            if online and g.node.commit_index > 0 and g.applied_index >= g.node.commit_index:
                return
            refusals = {p.short(): str(r) for p, r in g.bond_refusals.items()}
            late = loop.time() >= deadline
            if len(refusals) >= majority or (late and refusals):
                raise ReadRefused(self.what, refusals)
            if late:
                raise ConnectTimeout(self.what, timeout_s)
            await asyncio.sleep(READY_POLL_S)

    async def close(self) -> None:
        await self.group.close()

    async def __aenter__(self) -> KeyedReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
