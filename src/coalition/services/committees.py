"""The basic services as running committees, and their typed read/write verbs.

``start_member(kind, network, coalition, committee=..., ...)`` runs one member
of a module committee (Atlas, Almanac or Chronicle) on the organism framework;
``Atlas.read(network, coalition)``, ``Almanac.read(...)``,
``Chronicle.read(...)`` and ``Chronicle.publish(...)`` are what integrators
call. Every id comes from the CoalitionConfig (D3): a reader with a wrong
Config subscribes to a surface nobody serves and gets `ConnectTimeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from pymosaik.groups.driver import Group, GroupError, TicketSource
from pymosaik.groups.raft import LeadershipPreference, RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import PeerId, SecretKey, UniqueId, Wire, decode, encode
from pymosaik.primitives.aio import TaskScope
from pymosaik.tickets import TicketValidator
from pymosaik.transport import EndpointAddr

from ..config import CoalitionConfig
from ..framework.committee import CommitteeMember, SurfaceIds
from ..framework.errors import Refused
from ..framework.reader import DEFAULT_CONNECT_TIMEOUT_S, SurfaceReader
from ..framework.surface import SurfaceMachine
from ..framework.writer import SurfaceWriter
from ..modules import ModuleKind
from ..retirement import AtSequence, ComponentKind, ComponentRef, RetirementMarker
from .almanac import AlmanacMachine, AlmanacResult, AlmanacTick, Observe
from .atlas import AtlasMachine, AtlasResult, MemberCard, SignedMemberCard, UpsertCard
from .chronicle import Anchored, Append, ChronicleMachine, ChronicleResult, Sign
from .chronicle_log import ChronicleEntry, ChronicleKind, CoalitionPublished
from .committee_access import member_tickets, module_access

log = logging.getLogger("coalition.services.committees")

__all__ = [
    "Almanac",
    "Atlas",
    "AtlasView",
    "Chronicle",
    "ChronicleWriter",
    "ModuleInner",
    "ModuleMember",
    "module_machine",
    "observe_module",
    "start_member",
]

if TYPE_CHECKING:  # web3 costs ~1 s to import; only anchoring members need it
    from .anchor import Anchor, AnchorReceipt

T = TypeVar("T")

SHIPPED = (ModuleKind.ATLAS, ModuleKind.ALMANAC, ModuleKind.CHRONICLE)
WRITABLE = (ModuleKind.ATLAS, ModuleKind.CHRONICLE)
SIGN_POLL_S = 0.1


class AtlasView(Wire, frozen=True):
    """Atlas's public item: every card, in MemberId order (the whole map, small by design)."""

    cards: tuple[SignedMemberCard, ...]

    def card(self, stable_id: UniqueId) -> MemberCard | None:
        return next((c.card for c in self.cards if c.card.stable_id == stable_id), None)


def module_ids(coalition: CoalitionConfig, kind: ModuleKind) -> SurfaceIds:
    committee = coalition.module_committee(kind)
    if committee is None:
        raise ValueError(f"coalition {coalition.instance_name!r} ships no {kind.value} module")
    return SurfaceIds.derive(committee, writable=kind in WRITABLE)


def _what(coalition: CoalitionConfig, kind: ModuleKind) -> str:
    return f"{kind.value} of coalition {coalition.instance_name!r}"


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


# ---- members ------------------------------------------------------------------------
class ModuleMember(Protocol):
    kind: ModuleKind

    def status(self) -> dict[str, object]: ...

    async def retire(self, successor: CoalitionConfig | None = None) -> None: ...

    async def close(self) -> None: ...


@dataclass
class _Member:
    kind: ModuleKind
    member: CommitteeMember
    key: SecretKey
    scope: TaskScope = field(default_factory=lambda: TaskScope("module member"))

    def spawn(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.scope.spawn(loop())

    def status(self) -> dict[str, object]:
        return {"module": self.kind.value, **self.member.status(), **self.extra()}

    def extra(self) -> dict[str, object]:
        return {}

    async def retire(self, successor: CoalitionConfig | None = None) -> None:
        """Commit the retirement marker; with ``successor``, a rotation to its module.

        Readers built with ``follow_successors=True`` move to the successor's
        surface; others get `OrganismRetired` naming it.
        """
        at = AtSequence(self.member.machine.next_seq)
        if successor is None:
            await self.member.retire(RetirementMarker.retired(at))
            return
        ref = successor.module_ref(self.kind)
        if ref is None:
            raise ValueError(f"the successor coalition ships no {self.kind.value} module")
        marker = RetirementMarker.rotation(
            at, ComponentRef(ComponentKind.MODULE, ref.role, ref.stable_id, ref.content_hash)
        )
        await self.member.retire(marker, module_ids(successor, self.kind).surface)

    async def close(self) -> None:
        try:
            await self.scope.aclose()
        finally:
            await self.member.close()


@dataclass
class AtlasMember(_Member):
    inner: AtlasMachine | None = None
    coalition: CoalitionConfig | None = None
    operator_key: SecretKey | None = None

    def extra(self) -> dict[str, object]:
        assert self.inner is not None
        return {"atlas_members": len(self.inner.cards())}

    async def seed_cards(self) -> None:
        """Upsert the coalition operator's card for every member (single-operator coalitions)."""
        assert self.coalition is not None
        assert self.operator_key is not None
        for card in member_cards(self.coalition):
            request = UniqueId.hash(encode(card))  # same on every member: applied once
            signed = card.sign(self.operator_key)
            while True:
                try:
                    await self.member.execute(encode(UpsertCard(signed)), request)
                    break
                except GroupError:
                    await asyncio.sleep(0.2)


def member_cards(coalition: CoalitionConfig) -> list[MemberCard]:
    cards = [MemberCard("lattice", sid, 1) for sid in coalition.lattices]
    cards += [MemberCard(ref.role, ref.stable_id, 1) for ref in coalition.organisms]
    return cards


@dataclass
class AlmanacMember(_Member):
    inner: AlmanacMachine | None = None
    cadence_ms: int = 1000

    def extra(self) -> dict[str, object]:
        assert self.inner is not None
        latest = self.inner.latest()
        return {"almanac_seq": latest.seq if latest else None}

    async def observe(self) -> None:
        """At every cadence boundary, sign this member's wall clock for the next tick."""
        assert self.inner is not None
        while True:
            now = _wall_ms()
            await asyncio.sleep((self.cadence_ms - now % self.cadence_ms) / 1000)
            with contextlib.suppress(GroupError):
                obs = Observe.signed(self.key, self.inner.next_seq, _wall_ms())
                await self.member.execute(encode(obs))


@dataclass
class ChronicleMember(_Member):
    inner: ChronicleMachine | None = None
    coalition: CoalitionConfig | None = None
    operator_key: SecretKey | None = None
    anchor: Anchor | None = None
    cadence_ms: int = 1000
    anchor_error: str | None = None

    def extra(self) -> dict[str, object]:
        assert self.inner is not None
        anchored = self.inner.anchored[-1][0] if self.inner.anchored else None
        sealed = self.inner.sealed
        return {
            "chronicle_length": sealed,
            # the sealed head's digest names the whole chain up to it (entries are hash-linked):
            # two members with different digests at one length have forked
            "chronicle_head": self.inner.entries[sealed - 1].digest().hex() if sealed else None,
            "chronicle_pending": len(self.inner.entries) - self.inner.sealed,
            "anchored_seq": anchored,
            "anchor_error": self.anchor_error,
        }

    async def publish_coalition(self) -> None:
        """Record ``CoalitionPublished`` once (a deterministic request id dedupes members)."""
        assert self.coalition is not None
        assert self.operator_key is not None
        kind = CoalitionPublished(self.coalition.stable_id(), self.coalition.to_bytes())
        request = self.coalition.stable_id().derive("chronicle.coalition-published")
        cmd = Append.signed(self.operator_key, kind, _wall_ms())
        while True:
            try:
                await self.member.execute(encode(cmd), request)
                return
            except GroupError:
                await asyncio.sleep(0.2)

    async def sign(self) -> None:
        assert self.inner is not None
        me = self.key.peer_id
        while True:
            await asyncio.sleep(SIGN_POLL_S)
            for entry in self.inner.unsigned_by(me):
                with contextlib.suppress(GroupError):
                    await self.member.execute(encode(Sign(entry.seq, entry.sign(self.key))))

    async def anchor_heads(self) -> None:
        """The leader writes the sealed head to the anchor at every cadence boundary.

        Each boundary it compares the chain with the sealed head and anchors
        when the chain lacks it (a new entry, or a fresh/forgotten chain), then
        records ``Anchored`` in the log. Anchor failures (unreachable node,
        revert) are logged and retried at the next boundary; they never stop
        the member.
        """
        assert self.inner is not None
        assert self.coalition is not None
        chronicle = self.coalition.module_root(ModuleKind.CHRONICLE)
        assert chronicle is not None
        anchor_error = _anchor_error_type()
        registered = False
        while True:
            now = _wall_ms()
            await asyncio.sleep((self.cadence_ms - now % self.cadence_ms) / 1000)
            inner = self.inner
            if not self.member.group.is_leader or inner.sealed == 0:
                continue
            head = inner.entries[inner.sealed - 1]
            try:
                if not registered:
                    await asyncio.to_thread(_register, self.anchor, chronicle)
                    registered = True
                receipt = await asyncio.to_thread(self._anchor_once, chronicle, head)
            except (anchor_error, OSError) as exc:
                registered = False  # a fresh chain forgets registrations: try again
                self.anchor_error = str(exc)
                log.warning("chronicle: anchoring seq %d failed: %s", head.seq, exc)
                continue
            self.anchor_error = None
            recorded = inner.anchored[-1][0] if inner.anchored else -1
            if receipt is not None or recorded < head.seq:
                tx = receipt.tx_hash if receipt is not None else "already-on-chain"
                with contextlib.suppress(GroupError):
                    await self.member.execute(encode(Anchored(head.seq, head.digest(), tx)))

    def _anchor_once(self, chronicle: UniqueId, head: ChronicleEntry) -> AnchorReceipt | None:
        """Anchor ``head`` unless the chain already holds it (then None)."""
        assert self.anchor is not None
        latest = self.anchor.latest(chronicle)
        if latest is not None and latest[0] >= head.seq:
            if latest[0] == head.seq and latest[1] != head.digest():
                raise _anchor_error_type()(f"the chain holds another digest for seq {head.seq}")
            return None
        return self.anchor.anchor(chronicle, head.seq, head.digest())


def _register(anchor: Anchor | None, chronicle: UniqueId) -> None:
    assert anchor is not None
    try:
        anchor.register(chronicle)
    except _anchor_error_type() as exc:
        if "already registered" not in str(exc):
            raise


def _anchor_error_type() -> type[Exception]:
    """`AnchorError`, imported only where anchoring runs (web3 is slow to import)."""
    from .anchor import AnchorError  # noqa: PLC0415 - deferred heavy import

    return AnchorError


#: The inner machine of a shipped module (what `module_machine` and `observe_module` return).
ModuleInner = AtlasMachine | AlmanacMachine | ChronicleMachine


def module_machine(
    kind: ModuleKind,
    coalition: CoalitionConfig,
    peers: Sequence[PeerId],
    operator: PeerId,
    member_operators: Mapping[UniqueId, PeerId] | None = None,
) -> tuple[SurfaceMachine, ModuleInner]:
    """``kind``'s replicated machine (surface wrapper and inner), as every member runs it."""
    if kind not in SHIPPED:
        raise ValueError(f"the {kind.value} module is not implemented yet")
    surface = module_ids(coalition, kind).surface
    if kind is ModuleKind.ATLAS:
        atlas = AtlasMachine(
            [*coalition.lattices, *(r.stable_id for r in coalition.organisms)],
            dict(member_operators or {}),
            operator,
        )

        def atlas_view(result: bytes) -> list[bytes]:
            return [encode(AtlasView(atlas.cards()))] if decode(result, AtlasResult).ok else []

        return SurfaceMachine(surface, atlas, atlas_view), atlas
    if kind is ModuleKind.ALMANAC:
        almanac = AlmanacMachine(peers)

        def ticks(result: bytes) -> list[bytes]:
            return [encode(t) for t in decode(result, AlmanacResult).ticks]

        return SurfaceMachine(surface, almanac, ticks), almanac
    chronicle = ChronicleMachine(coalition.stable_id(), peers, [operator])

    def sealed(result: bytes) -> list[bytes]:
        return [encode(e) for e in decode(result, ChronicleResult).entries]

    return SurfaceMachine(surface, chronicle, sealed), chronicle


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
    ids = module_ids(coalition, kind)
    key = network.endpoint.secret_key
    peers = [a.peer_id for a in committee]
    operator = operator_key.peer_id
    machine, inner = module_machine(kind, coalition, peers, operator, member_operators)
    member = CommitteeMember.start(
        network,
        _what(coalition, kind),
        ids,
        machine,
        committee,
        data_dir=data_dir,
        raft=raft,
        writers=writers,
        republish_s=cadence_ms / 1000,
        access=module_access(coalition, kind, operator),
        tickets=member_tickets(
            coalition,
            kind,
            operator_key=operator_key,
            me=key.peer_id,
            network=network.network_id,
            clock=network.clock,
        ),
    )
    if isinstance(inner, AtlasMachine):
        a = AtlasMember(kind, member, key)
        a.inner, a.coalition, a.operator_key = inner, coalition, operator_key
        a.spawn(a.seed_cards)
        return a
    if isinstance(inner, AlmanacMachine):
        m = AlmanacMember(kind, member, key)
        m.inner, m.cadence_ms = inner, cadence_ms
        m.spawn(m.observe)
        return m
    c = ChronicleMember(kind, member, key)
    c.inner, c.coalition, c.operator_key = inner, coalition, operator_key
    c.anchor, c.cadence_ms = anchor, cadence_ms
    c.spawn(c.publish_coalition)
    c.spawn(c.sign)
    if anchor is not None:
        c.spawn(c.anchor_heads)
    return c


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
) -> tuple[Group, ModuleInner]:
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


# ---- typed verbs for integrators -------------------------------------------------------
class _ModuleReader(Generic[T]):
    """``Module.read(network, coalition)``: the module's public items, as a typed reader."""

    KIND: ClassVar[ModuleKind]
    ITEM: ClassVar[type]

    @classmethod
    def read(
        cls,
        network: Network,
        coalition: CoalitionConfig,
        *,
        timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        follow_successors: bool = False,
    ) -> SurfaceReader[T]:
        item: type[T] = cls.ITEM
        return SurfaceReader.of(
            network,
            _what(coalition, cls.KIND),
            module_ids(coalition, cls.KIND).surface,
            item,
            timeout_s=timeout_s,
            follow_successors=follow_successors,
        )


class Atlas(_ModuleReader[AtlasView]):
    """``Atlas.read(network, coalition)`` → the member directory (the whole map per item)."""

    KIND = ModuleKind.ATLAS
    ITEM = AtlasView

    @staticmethod
    def publish(network: Network, coalition: CoalitionConfig) -> AtlasWriter:
        what = _what(coalition, ModuleKind.ATLAS)
        return AtlasWriter(SurfaceWriter(network, what, module_ids(coalition, ModuleKind.ATLAS)))


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


class Almanac(_ModuleReader[AlmanacTick]):
    """``Almanac.read(network, coalition)`` → the coalition's ticks, in order."""

    KIND = ModuleKind.ALMANAC
    ITEM = AlmanacTick


class Chronicle(_ModuleReader[ChronicleEntry]):
    """``Chronicle.read(...)`` → sealed entries in order; ``Chronicle.publish(...)`` appends."""

    KIND = ModuleKind.CHRONICLE
    ITEM = ChronicleEntry

    @staticmethod
    def publish(
        network: Network, coalition: CoalitionConfig, operator_key: SecretKey
    ) -> ChronicleWriter:
        ids = module_ids(coalition, ModuleKind.CHRONICLE)
        return ChronicleWriter(
            SurfaceWriter(network, _what(coalition, ModuleKind.CHRONICLE), ids), operator_key
        )


@dataclass
class ChronicleWriter:
    writer: SurfaceWriter
    operator_key: SecretKey

    async def record(self, kind: ChronicleKind, *, timeout_s: float = 10.0) -> int:
        """Append an entry; returns its sequence number once committed (sealing follows)."""
        cmd = Append.signed(self.operator_key, kind, _wall_ms())
        result = decode(await self.writer.submit(encode(cmd), timeout_s=timeout_s), ChronicleResult)
        if not result.ok:
            raise Refused(self.writer.what, result.reason)
        return result.length - 1

    async def close(self) -> None:
        await self.writer.close()
