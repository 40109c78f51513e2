"""The basic services as running committees, and their typed read/write verbs.

``start_member(kind, network, coalition, committee=..., ...)`` runs one member of any
runnable module committee (`services.registry`: Atlas, Almanac and Chronicle here, plugins for
the rest) the same way — its declared machine behind the framework's surface, its declared
member side beside it; ``Atlas.read(network, coalition)``, ``Almanac.read(...)``,
``Chronicle.read(...)`` and ``Chronicle.publish(...)`` are what integrators call. Every id comes
from the CoalitionConfig (D3): a reader with a wrong Config subscribes to a surface nobody serves
and gets `ConnectTimeout`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pymosaik.groups.driver import Group, TicketSource
from pymosaik.groups.raft import LeadershipPreference, RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import PeerId, SecretKey, UniqueId, decode, encode
from pymosaik.tickets import Ticket, TicketValidator
from pymosaik.transport import EndpointAddr

from ..config import CoalitionConfig
from ..framework.errors import Refused
from ..framework.surface import SurfaceMachine
from ..framework.writer import SurfaceWriter
from ..modules import ModuleKind
from .almanac import ALMANAC
from .atlas import ATLAS, AtlasResult, AtlasView, SignedMemberCard, UpsertCard
from .chronicle import CHRONICLE, Append, ChronicleResult
from .chronicle_log import ChronicleKind
from .committee_access import advertise_seat, member_tickets, module_access, operator_writers
from .module import MemberContext, ModuleMember, ModuleSpec
from .registry import spec_of

__all__ = [
    "Almanac",
    "Atlas",
    "AtlasView",
    "Chronicle",
    "ChronicleWriter",
    "ModuleMember",
    "module_ids",
    "module_machine",
    "observe_module",
    "start_member",
]

if TYPE_CHECKING:  # web3 costs ~1 s to import; only anchoring members need it
    from .anchor import Anchor

T = TypeVar("T")


def module_ids(coalition: CoalitionConfig, kind: ModuleKind) -> Any:
    """``kind``'s ids (its declaration's; they never leave the coalition package)."""
    return spec_of(kind).organism.ids(coalition)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def module_machine(
    kind: ModuleKind,
    coalition: CoalitionConfig,
    peers: Sequence[PeerId],
    operator: PeerId,
    member_operators: Mapping[UniqueId, PeerId] | None = None,
) -> tuple[SurfaceMachine, Any]:
    """``kind``'s replicated machine (surface wrapper and inner), as every member runs it."""
    spec = spec_of(kind)
    inner, extract = spec.machine(coalition, peers, operator, member_operators)
    return SurfaceMachine(spec.organism.ids(coalition).surface, inner, extract), inner


async def start_member(
    kind: ModuleKind,
    network: Network,
    coalition: CoalitionConfig,
    *,
    committee: Sequence[EndpointAddr],
    operator_key: SecretKey,
    data_dir: Path | None = None,
    cadence_ms: int = 1000,
    anchor: Anchor | None = None,
    writers: TicketValidator | None = None,
    raft: RaftConfig | None = None,
    member_operators: Mapping[UniqueId, PeerId] | None = None,
) -> ModuleMember:
    """Run this node's member of ``kind``'s committee for ``coalition``.

    ``member_operators`` (Atlas): stable id → the key of that member's own
    operator, who may then sign its card; the coalition operator signs the
    others (single-operator coalitions need none). Every member of the
    committee must be started with the same map: it is part of the machine.

    The group admits voters, readers and writers by operator-signed tickets
    (services/committee_access.py); this member mints its own member ticket.
    """
    spec: ModuleSpec[Any, Any] = spec_of(kind)
    if writers is None and spec.operator_writes:
        writers = operator_writers(coalition, kind, operator_key.peer_id)
    ctx = MemberContext(
        network,
        coalition,
        tuple(committee),
        operator_key,
        data_dir=data_dir,
        cadence_ms=cadence_ms,
        anchor=anchor,
        writers=writers,
        raft=raft,
        member_operators=member_operators,
    )
    inner, extract = spec.machine(coalition, ctx.peers, ctx.operator, member_operators)
    advertise_seat(coalition, kind, operator_key=operator_key, network=network)
    member = spec.organism.committee(
        network,
        coalition,
        inner,
        extract,
        committee,
        data_dir=data_dir,
        raft=raft,
        writers=writers,
        republish_s=cadence_ms / 1000,
        access=module_access(coalition, kind, ctx.operator),
        tickets=member_tickets(
            coalition,
            kind,
            operator_key=operator_key,
            me=network.endpoint.secret_key.peer_id,
            network=network.network_id,
            clock=network.clock,
        ),
    )
    return spec.start(ctx, member, inner)


def observe_module(
    kind: ModuleKind,
    network: Network,
    coalition: CoalitionConfig,
    *,
    committee: Sequence[EndpointAddr],
    operator: PeerId,
    tickets: TicketSource,
    raft: RaftConfig | None = None,
    member_operators: Mapping[UniqueId, PeerId] | None = None,
) -> tuple[Group, Any]:
    """Replicate ``kind``'s committee log as a non-voting observer (a reader ticket needed).

    Returns the group (``execute`` forwards to the leader, which commits only
    with a writer ticket) and the replicated inner machine to read locally.
    """
    peers = [a.peer_id for a in committee]
    machine, inner = module_machine(kind, coalition, peers, operator, member_operators)
    group = network.groups.join(
        module_ids(coalition, kind).group_secret,
        machine,
        committee,
        config=raft,
        preference=LeadershipPreference.observer(),
        access=module_access(coalition, kind, operator),
        tickets=tickets,
    )
    return group, inner


# ---- typed verbs for integrators (from each module's declaration) --------------------


class Atlas:
    """``Atlas.read(network, coalition)`` → the member directory (the whole map per item)."""

    read = ATLAS.organism.read

    @staticmethod
    def publish(network: Network, coalition: CoalitionConfig) -> AtlasWriter:
        return AtlasWriter(ATLAS.organism.writer(network, coalition))


@dataclass
class AtlasWriter:
    writer: SurfaceWriter

    async def upsert(self, card: SignedMemberCard, *, timeout_s: float = 10.0) -> None:
        """Merge a signed card; `Refused` says why the committee would not (stale, signer)."""
        raw = await self.writer.submit(encode(UpsertCard(card)), timeout_s=timeout_s)
        result = decode(raw, AtlasResult)
        if not result.ok:
            raise Refused(self.writer.what, result.reason)

    async def close(self) -> None:
        await self.writer.close()


class Almanac:
    """``Almanac.read(network, coalition)`` → the coalition's ticks, in order."""

    read = ALMANAC.organism.read


class Chronicle:
    """``Chronicle.read(...)`` → sealed entries in order; ``Chronicle.publish(...)`` appends."""

    read = CHRONICLE.organism.read

    @staticmethod
    def publish(
        network: Network,
        coalition: CoalitionConfig,
        key: SecretKey,
        *,
        ticket: Ticket | None = None,
    ) -> ChronicleWriter:
        """Append as ``key``: the coalition operator (any kind), or a member or agent holding a
        Chronicle writer ``ticket`` (member kinds: Heartbeat, Challenge, Advisory; D11)."""
        raw = b"" if ticket is None else ticket.data
        return ChronicleWriter(CHRONICLE.organism.writer(network, coalition), key, raw)


@dataclass
class ChronicleWriter:
    writer: SurfaceWriter
    key: SecretKey
    ticket: bytes = b""

    async def record(self, kind: ChronicleKind, *, timeout_s: float = 10.0) -> int:
        """Append an entry; returns its sequence number once committed (sealing follows)."""
        cmd = Append.signed(self.key, kind, _wall_ms(), ticket=self.ticket)
        result = decode(await self.writer.submit(encode(cmd), timeout_s=timeout_s), ChronicleResult)
        if not result.ok:
            raise Refused(self.writer.what, result.reason)
        return result.length - 1

    async def close(self) -> None:
        await self.writer.close()
