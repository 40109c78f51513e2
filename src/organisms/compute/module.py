"""The Compute module as ``coalition up`` runs it: the clearing committee, declared once.

`COMPUTE` is registered under the ``coalition.modules`` entry-point group (pyproject), so the
coalition runtime runs it like Atlas without importing this package. Its parameters come from
the coalition file's ``[compute.content.params]`` (they are in the fingerprint):
``settlement_contract`` (the 0x-hex EVM address payments must go to; default the zero address),
``settlement_rpc`` (a JSON-RPC URL the members read payments from; default none: no request can
be settled), ``max_card_age_ms`` and ``grace_ms``. Each member hosts its `ComputeMemberCore`:
it clears on the coalition's cadence and reads payments off the event loop. Providers register
their own signed cards through the committee's intake (`Compute.publish(...).register`).

Private requests reach the members through the module's shuffle (zipnet + unseal): with
``shuffle = true`` each member also runs its side of it (`organisms.compute.private`), and
status shows the shuffle's round, participants, finalized rounds and unseal lag.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from coalition.config import CoalitionConfig
from coalition.framework.committee import CommitteeMember
from coalition.framework.errors import Refused
from coalition.framework.keyed_read import KeyedReader, MapView, VecView
from coalition.framework.surface import Extractor
from coalition.framework.writer import SurfaceWriter
from coalition.modules import ModuleKind
from coalition.services.committee_access import module_access
from coalition.services.module import (
    CoreHostedMember,
    MemberContext,
    ModuleSpec,
    module_organism,
    module_params,
    wall_ms,
)
from pymosaik.groups.driver import TicketSource
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import PeerId, UniqueId, Wire, decode, encode
from pymosaik.transport import EndpointAddr

from .items import (
    ClearingRecord,
    ComputeGrant,
    ComputeLog,
    Decision,
    Refusal,
    SignedCard,
    payment_tag_key,
)
from .machine import (
    GRANTS,
    LOGS,
    PROVIDERS,
    AppendLog,
    ByProvider,
    ComputeConfig,
    ComputeMachine,
    ComputeResult,
    Register,
)
from .member import ComputeMemberCore, settle_due
from .private import PrivateIntake, compute_shuffle
from .settlement import EvmSettlement, SettlementReader

__all__ = [
    "COMPUTE",
    "Compute",
    "ComputeEvent",
    "ComputeMember",
    "ComputeReplica",
    "compute_config",
]

log = logging.getLogger("organisms.compute")

#: How often a member reads the payments its core asked for.
LOOKUP_S: Final = 0.5


class ComputeEvent(Wire, frozen=True):
    """The Compute surface's item: what one command decided (grants, refusals, clearings)."""

    grants: tuple[ComputeGrant, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    records: tuple[ClearingRecord, ...] = ()
    logs: tuple[ComputeLog, ...] = ()


def _int(params: Mapping[str, object], key: str, default: int) -> int:
    value = params.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"compute {key} must be a non-negative integer, got {value!r}")
    return value


def compute_config(coalition: CoalitionConfig) -> ComputeConfig:
    """The committee's config from the coalition's module parameters (one-line errors)."""
    params = module_params(coalition, ModuleKind.COMPUTE)
    slot = coalition.module(ModuleKind.COMPUTE)
    assert slot is not None
    contract = params.get("settlement_contract", "0x" + "00" * 20)
    try:
        address = bytes.fromhex(str(contract).removeprefix("0x"))
    except ValueError:
        address = b""
    if len(address) != 20:
        raise ValueError(f"compute settlement_contract must be a 20-byte 0x address: {contract!r}")
    return ComputeConfig(
        slot.body.name,
        address,
        max_card_age_ms=_int(params, "max_card_age_ms", 120_000),
        grace_ms=_int(params, "grace_ms", 60_000),
    )


def _reader(coalition: CoalitionConfig) -> SettlementReader | None:
    url = module_params(coalition, ModuleKind.COMPUTE).get("settlement_rpc")
    return EvmSettlement.json_rpc(url) if isinstance(url, str) and url else None


def _machine(
    coalition: CoalitionConfig,
    peers: Sequence[PeerId],
    operator: PeerId,
    member_operators: Mapping[UniqueId, PeerId] | None,
) -> tuple[ComputeMachine, Extractor]:
    def events(result: bytes) -> list[bytes]:
        r = decode(result, ComputeResult)
        if not (r.grants or r.refusals or r.records or r.logs):
            return []
        return [encode(ComputeEvent(r.grants, r.refusals, r.records, r.logs))]

    return ComputeMachine(compute_config(coalition), peers), events


@dataclass
class ComputeMember(CoreHostedMember):
    inner: ComputeMachine | None = None
    core: ComputeMemberCore | None = None
    reader: SettlementReader | None = None
    private: PrivateIntake | None = None

    def extra(self) -> dict[str, object]:
        assert self.inner is not None
        active = [g for g in self.inner.grants.values() if g.request_id not in self.inner.logs]
        shuffle = self.private.status() if self.private is not None else {}
        return {
            "compute_providers": len(self.inner.cards),
            "compute_open_grants": len(active),
            "compute_refusals": len(self.inner.refusals),
            **shuffle,
        }

    async def close(self) -> None:
        try:
            if self.private is not None:
                await self.private.close()
        finally:
            await super().close()

    async def lookups(self) -> None:
        """Read the payments the core asked for, in worker threads (never on the loop)."""
        assert self.core is not None
        while True:
            await asyncio.sleep(LOOKUP_S)
            if self.reader is not None:
                await settle_due(self.core, self.reader, wall_ms())


def _start(ctx: MemberContext, member: CommitteeMember, inner: ComputeMachine) -> ComputeMember:
    key = ctx.network.endpoint.secret_key
    index = ctx.peers.index(key.peer_id) + 1
    tag_key = payment_tag_key(ctx.operator_key)
    core = ComputeMemberCore(index, key, tag_key=tag_key, cadence_ms=ctx.cadence_ms)
    m = ComputeMember(
        ModuleKind.COMPUTE, member, ctx, inner=inner, core=core, reader=_reader(ctx.coalition)
    )
    m.host_core(inner, core)
    m.spawn(m.lookups)
    shuffle = compute_shuffle(ctx.coalition, len(ctx.committee))
    if shuffle is not None:
        m.private = PrivateIntake.start(ctx, shuffle, core, index)
    return m


COMPUTE: Final[ModuleSpec[ComputeEvent, ComputeMachine]] = ModuleSpec(
    ModuleKind.COMPUTE,
    module_organism(ModuleKind.COMPUTE, ComputeEvent, writable=True),
    _machine,
    _start,
    (
        ("compute_providers", "providers"),
        ("compute_open_grants", "open grants"),
        ("shuffle_round", "shuffle round"),
        ("shuffle_participants", "participants"),
        ("shuffle_finalized", "finalized rounds"),
        ("unseal_ready", "unseal key ready"),
        ("unseal_lag", "unseal lag"),
    ),
)


class Compute:
    """``Compute.read(network, coalition)`` → decisions as they are made; ``Compute.replica``
    → the keyed state (providers, grants by request id, usage logs) with history;
    ``Compute.publish`` → a provider's writer (its own signed card, deregistration and usage
    logs)."""

    read = COMPUTE.organism.read

    @staticmethod
    def replica(
        network: Network,
        coalition: CoalitionConfig,
        committee: Sequence[EndpointAddr],
        *,
        operator: PeerId,
        tickets: TicketSource = (),
        raft: RaftConfig | None = None,
    ) -> ComputeReplica:
        """A non-voting replica of the committee's log, admitted by a reader ticket of the
        coalition's operator (``issue_committee_ticket``, role reader) or its ticket issuer.
        The log holds what the surfaces show and the committed `Ask`s: no payment's
        transaction, no payer, no requester."""
        inner, _ = _machine(coalition, [a.peer_id for a in committee], operator, None)
        reader = COMPUTE.organism.replica(
            network,
            coalition,
            inner,
            inner.store,
            committee,
            access=module_access(coalition, ModuleKind.COMPUTE, operator),
            tickets=tickets,
            raft=raft,
        )
        return ComputeReplica(reader)

    @staticmethod
    def publish(network: Network, coalition: CoalitionConfig) -> ProviderWriter:
        return ProviderWriter(COMPUTE.organism.writer(network, coalition))


class ComputeReplica:
    """``providers``: ProviderId → `SignedCard` (None once deregistered); ``grants``: request id
    → `Decision`; ``logs``: every usage log in commit order."""

    def __init__(self, reader: KeyedReader) -> None:
        self.reader = reader
        self.providers: MapView[bytes, SignedCard] = reader.map(PROVIDERS)
        self.grants: MapView[bytes, Decision] = reader.map(GRANTS)
        self.logs: VecView[ComputeLog] = reader.vec(LOGS)

    async def ready(self, timeout_s: float = 10.0) -> None:
        await self.reader.ready(timeout_s)

    async def decision(self, request: bytes, *, timeout_s: float = 30.0) -> Decision:
        """The committee's first decision on ``request`` (a grant or a refusal)."""
        async with asyncio.timeout(timeout_s):
            when = self.grants.watch()
            while (d := self.grants.get(request)) is None:
                await when.updated(request)
        return d

    async def close(self) -> None:
        await self.reader.close()


@dataclass
class ProviderWriter:
    writer: SurfaceWriter

    async def register(self, card: SignedCard, *, timeout_s: float = 10.0) -> None:
        """Register (or refresh) the provider's signed card; `Refused` says why not."""
        await self._submit(Register(card), timeout_s)

    async def append_log(self, log: ComputeLog, *, timeout_s: float = 10.0) -> None:
        """Commit the provider-signed usage log of a grant it ran; `Refused` says why not."""
        await self._submit(AppendLog(log), timeout_s)

    async def _submit(self, body: Register | AppendLog, timeout_s: float) -> None:
        raw = await self.writer.submit(encode(ByProvider(body)), timeout_s=timeout_s)
        result = decode(raw, ComputeResult)
        if not result.ok:
            raise Refused(self.writer.what, result.reason)

    async def close(self) -> None:
        await self.writer.close()
