"""Registry: a standalone organism whose public surface is keyed — entries by key, with history.

The worked example of keyed surfaces (``coalition.framework.keyed``): ticketed
writers put and remove entries; readers replicate the committee's log and read
an entry by key, every version it had (with the log position that produced
it), and wait on ``entries.when().updated(key)``. ``writes`` is the append-only
record of which key each accepted write touched, in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence

from coalition.acl_validator import AclContext
from coalition.framework import CommitteeMember, SurfaceIds, SurfaceWriter
from coalition.framework.keyed import Entry, KeyedStore, MapSurface, VecSurface
from coalition.framework.keyed_read import KeyedReader, MapView, VecView
from coalition.framework.spec import OrganismSpec
from coalition.organism import OrganismConfig
from pymosaik.groups import ApplyContext
from pymosaik.groups.access import GroupAccess
from pymosaik.groups.driver import TicketSource
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import DecodeError, UniqueId, Wire, decode, encode
from pymosaik.tickets import TicketValidator
from pymosaik.transport import EndpointAddr

__all__ = [
    "ENTRIES",
    "REGISTRY",
    "WRITES",
    "Registry",
    "RegistryEntry",
    "RegistryReader",
    "RegistryWriter",
]


class RegistryEntry(Wire, frozen=True):
    data: bytes
    at_ms: int  # the writer's clock (advisory)


ENTRIES = MapSurface("entries", str, RegistryEntry, max_key_bytes=256, max_value_bytes=16 * 1024)
WRITES = VecSurface("writes", str, max_value_bytes=256)


class _Put(Wire, frozen=True, tag="put"):
    key: str
    entry: RegistryEntry


class _Remove(Wire, frozen=True, tag="remove"):
    key: str


class RegistryMachine:
    def __init__(self, organism: UniqueId) -> None:
        self.store = KeyedStore(organism, [ENTRIES, WRITES])

    def signature(self) -> UniqueId:
        return UniqueId.from_parts(b"organisms.registry.v1")

    def apply(self, command: bytes, ctx: ApplyContext) -> bytes:
        """The entry's seq in ``entries``, or -1 for a command that changes nothing."""
        try:
            cmd: _Put | _Remove = decode(command, _Put | _Remove, max_size=32 * 1024)  # type: ignore[arg-type]
            done: Entry | None
            if isinstance(cmd, _Put):
                done = self.store.put(ENTRIES, cmd.key, cmd.entry, ctx.index)
            else:
                done = self.store.remove(ENTRIES, cmd.key, ctx.index)
        except (DecodeError, ValueError):  # undecodable, or over a surface's size limit
            return encode(-1)
        if done is None:
            return encode(-1)
        self.store.append(WRITES, cmd.key, ctx.index)
        return encode(done.seq)

    def query(self, query: bytes) -> bytes:
        return b""

    def snapshot(self) -> bytes:
        return self.store.image()

    def restore(self, data: bytes) -> None:
        self.store.restore(data)


REGISTRY: OrganismSpec[OrganismConfig, bytes] = OrganismSpec(
    "registry",
    bytes,  # no frames: the public surfaces are keyed (read through ``replica``)
    lambda cfg: SurfaceIds.derive(cfg.organism_id(), writable=True),
    lambda cfg: f"registry {cfg.name!r}",
    acl=lambda cfg: cfg.acl,
)


def _access(readers: TicketValidator | None) -> GroupAccess:
    """Members bond by listing; readers replicate (ticketed if ``readers``); nobody forwards."""
    return GroupAccess(observers=True if readers is None else readers, forwarders=False)


class RegistryReader:
    def __init__(self, reader: KeyedReader) -> None:
        self.reader = reader
        self.entries: MapView[str, RegistryEntry] = reader.map(ENTRIES)
        self.writes: VecView[str] = reader.vec(WRITES)

    async def ready(self, timeout_s: float = 10.0) -> None:
        await self.reader.ready(timeout_s)

    async def close(self) -> None:
        await self.reader.close()


class Registry:
    """``member`` runs the committee; ``read`` replicates it; ``publish`` submits writes."""

    @staticmethod
    def member(
        network: Network,
        cfg: OrganismConfig,
        committee: Sequence[EndpointAddr],
        *,
        writers: TicketValidator | None = None,
        readers: TicketValidator | None = None,
        acl_context: AclContext | None = None,
        raft: RaftConfig | None = None,
    ) -> CommitteeMember:
        """Writers: ``writers`` if given, else whoever passes the Config's ACL."""
        return REGISTRY.committee(
            network, cfg, RegistryMachine(cfg.organism_id()), lambda _: [], committee,
            raft=raft, writers=writers, acl_context=acl_context, access=_access(readers),
        )  # fmt: skip

    @staticmethod
    def read(
        network: Network,
        cfg: OrganismConfig,
        committee: Sequence[EndpointAddr],
        *,
        readers: TicketValidator | None = None,
        tickets: TicketSource = (),
        raft: RaftConfig | None = None,
    ) -> RegistryReader:
        inner = RegistryMachine(cfg.organism_id())
        return RegistryReader(
            REGISTRY.replica(
                network, cfg, inner, inner.store, committee,
                access=_access(readers), tickets=tickets, raft=raft,
            )
        )  # fmt: skip

    @staticmethod
    def publish(network: Network, cfg: OrganismConfig) -> RegistryWriter:
        return RegistryWriter(REGISTRY.writer(network, cfg))


class RegistryWriter:
    """Ticketed writes; each returns the version's seq on ``entries`` (-1: nothing changed)."""

    def __init__(self, writer: SurfaceWriter) -> None:
        self.writer = writer

    async def put(self, key: str, entry: RegistryEntry, *, timeout_s: float = 10.0) -> int:
        ENTRIES.encode_key(key)  # the surface's size limits, checked before sending
        ENTRIES.encode_value(entry)
        return await self._submit(_Put(key, entry), timeout_s)

    async def remove(self, key: str, *, timeout_s: float = 10.0) -> int:
        return await self._submit(_Remove(key), timeout_s)

    async def _submit(self, cmd: _Put | _Remove, timeout_s: float) -> int:
        return decode(await self.writer.submit(encode(cmd), timeout_s=timeout_s), int)

    async def close(self) -> None:
        await self.writer.close()
