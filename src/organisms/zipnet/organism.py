"""zipnet deployed: the committee, the aggregator and the submitter, over the network.

One declaration (`ZIPNET`) derives every id from the Config (`deployment_id`), so a wrong
Config meets nobody and its verbs end in `ConnectTimeout`; raw ids never leave this module.

* **Committee** (``Zipnet.member``): a Raft group running `ZipnetMachine`, each member hosting
  its pure `ZipnetServerCore` (it registers its own X25519 key, opens rounds, unblinds). The
  public surface carries one `ZipnetEvent` per committed change (the book's LiveRoundCell,
  Broadcasts, ClientRegistry and ServerRegistry, as one ordered log). The write intake admits
  only the aggregator (``aggregators``): it forwards registrations and aggregates.
* **Aggregator** (``Zipnet.aggregator``): consumes the two client streams, each gated by
  ``clients`` — registration (`ClientBundle`) and submit (`Envelope`) — folds each round with
  its pure `AggregatorCore` and writes through the intake. Untrusted for anonymity: it sees
  only pad-sealed envelopes.
* **Submitter** (``await Zipnet.submit(...)``): a client with its own X25519 key. It registers,
  seals one envelope for every round that lists it (cover traffic when it has nothing to say)
  and turns finalized rounds into `Receipt` s (landed, collided, dropped).
* ``Zipnet.read`` yields every finalized `BroadcastRecord`, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.framework import SurfaceIds
from coalition.framework.committee import PUBLIC_LOG
from coalition.framework.errors import ConnectTimeout, Refused
from coalition.framework.hosted import HostedMember
from coalition.framework.keyed_read import KeyedReader, MapView
from coalition.framework.reader import SelectedReader, SurfaceReader
from coalition.framework.spec import OrganismSpec
from coalition.ticket_issuer import RecogniseIssuer, TicketIssuer
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import NetworkId, PeerId, SecretKey, UniqueId, decode, encode
from pymosaik.primitives.aio import TaskScope
from pymosaik.primitives.clock import SystemClock
from pymosaik.streams import Consumer, Producer
from pymosaik.streams.producer import ProducerError
from pymosaik.tickets import Ticket, TicketRequirement, TicketValidator
from pymosaik.transport import EndpointAddr

from .aggregator import DEFAULT_FOLD_MS, AggregatorCore
from .client import Receipt, ZipnetClient
from .machine import (
    CLIENT_REGISTRY,
    SERVER_REGISTRY,
    AggregateIn,
    ClientBundle,
    ClientJoined,
    Command,
    CommitteeResult,
    RegisterClient,
    RoundFinalized,
    RoundOpened,
    ServerBundle,
    ServerJoined,
    ZipnetEvent,
    ZipnetMachine,
)
from .params import BroadcastRecord, Envelope, LiveRound, ZipnetConfig, client_id, deployment_id
from .server import ZipnetServerCore

__all__ = [
    "ZIPNET",
    "Aggregator",
    "BroadcastReader",
    "CommitteeView",
    "RegistryReplica",
    "Submitter",
    "Zipnet",
    "ZipnetServer",
    "aggregator_root",
]

log = logging.getLogger("organisms.zipnet")

#: How often an unregistered submitter sends its bundle again.
REGISTER_EVERY_S: Final = 2.0
#: Receipts a submitter keeps for a consumer that does not read them.
MAX_RECEIPTS: Final = 1024
TICK_S: Final = 0.05


def _ids(cfg: ZipnetConfig) -> SurfaceIds:
    return SurfaceIds.derive(deployment_id(cfg), writable=True)


def _register_stream(cfg: ZipnetConfig) -> UniqueId:
    return deployment_id(cfg).derive("register")


def _submit_stream(cfg: ZipnetConfig) -> UniqueId:
    return deployment_id(cfg).derive("submit")


def aggregator_root(cfg: ZipnetConfig) -> UniqueId:
    """The issuer root of aggregator tickets: a committee member vouches for its aggregator."""
    return deployment_id(cfg).derive("aggregator")


#: The declaration: ids from ``deployment_id(cfg)``, one `ZipnetEvent` per surface item.
ZIPNET: Final[OrganismSpec[ZipnetConfig, ZipnetEvent]] = OrganismSpec(
    "zipnet",
    ZipnetEvent,  # type: ignore[arg-type]  # a tagged union decodes like a Struct
    _ids,
    lambda cfg: f"zipnet {cfg.name!r}",
)


def _events(result: bytes) -> list[bytes]:
    event = decode(result, CommitteeResult).event
    return [encode(event)] if event is not None else []


@dataclass
class CommitteeView:
    """The committee's public state as its surface tells it (what clients and the aggregator
    act on): registered servers and clients, the open round, its aggregate, the last broadcast."""

    servers: set[bytes] = field(default_factory=set)
    clients: set[bytes] = field(default_factory=set)
    current: LiveRound | None = None
    aggregate: int | None = None  # the open round, once its aggregate is committed
    last: BroadcastRecord | None = None

    def apply(self, event: ZipnetEvent) -> None:
        if isinstance(event, ServerJoined):
            self.servers.add(event.bundle.dh_public)
        elif isinstance(event, ClientJoined):
            self.clients.add(event.bundle.client)
        elif isinstance(event, RoundOpened):
            self.current, self.aggregate = event.header, None
            self.clients.update(event.header.clients)
            self.servers.update(event.header.servers)
        elif isinstance(event, AggregateIn):
            if self.current is not None and self.current.round == event.round:
                self.aggregate = event.round
        elif isinstance(event, RoundFinalized):
            self.last = event.record
            if self.current is not None and self.current.round == event.record.round:
                self.current, self.aggregate = None, None


@dataclass
class ZipnetServer(HostedMember[ZipnetMachine, Command]):
    """One committee member: its group and surface, and its pure server core."""

    def status(self) -> dict[str, object]:
        m = self.machine
        return {
            **self.committee.status(),
            "round": m.current.round if m.current else (m.history[-1].round if m.history else 0),
            "clients": len(m.clients),
            "servers": len(m.servers),
            "finalized": len(m.history),
        }


class RegistryReplica:
    """``clients``: ClientId → `ClientBundle`; ``servers``: X25519 key → `ServerBundle`."""

    def __init__(self, reader: KeyedReader) -> None:
        self.reader = reader
        self.clients: MapView[bytes, ClientBundle] = reader.map(CLIENT_REGISTRY)
        self.servers: MapView[bytes, ServerBundle] = reader.map(SERVER_REGISTRY)

    async def ready(self, timeout_s: float = 10.0) -> None:
        await self.reader.ready(timeout_s)

    async def close(self) -> None:
        await self.reader.close()


class Aggregator:
    """The aggregator's driver: two gated client streams in, the committee's intake out."""

    def __init__(
        self,
        network: Network,
        cfg: ZipnetConfig,
        *,
        clients: TicketValidator | TicketRequirement | None,
        fold_ms: int = DEFAULT_FOLD_MS,
        timeout_s: float = 10.0,
        owned: Network | None = None,
    ) -> None:
        self.cfg, self.view = cfg, CommitteeView()
        self._owned = owned  # a network started for this aggregator alone, closed with it
        self.core = AggregatorCore(cfg.params, fold_ms=fold_ms)
        self._deployment = deployment_id(cfg)
        self._clock = SystemClock()
        self._reader = ZIPNET.read(network, cfg, timeout_s=timeout_s)
        self._writer = ZIPNET.writer(network, cfg)
        self.peer_id = network.endpoint.secret_key.peer_id
        reg = network.streams.consumer(ClientBundle, stream_id=_register_stream(cfg))
        sub = network.streams.consumer(Envelope, stream_id=_submit_stream(cfg))
        if clients is not None:
            reg, sub = reg.require_ticket(clients), sub.require_ticket(clients)
        self._registrations: Consumer[ClientBundle] = reg.build()
        self._envelopes: Consumer[Envelope] = sub.build()
        self._wake = asyncio.Event()
        self.refused = 0
        self._scope = TaskScope(f"zipnet aggregator {cfg.name!r}")
        self._scope.spawn(self._follow(), name="aggregator:surface")
        self._scope.spawn(self._take_registrations(), name="aggregator:register")
        self._scope.spawn(self._take_envelopes(), name="aggregator:submit")
        self._scope.spawn(self._drive(), name="aggregator:drive")

    async def _follow(self) -> None:
        async for event in self._reader:
            self.view.apply(event)
            self._wake.set()

    async def _take_registrations(self) -> None:
        while (bundle := await self._registrations.recv()) is not None:
            ok = len(bundle.dh_public) == 32 and bundle.client == client_id(
                self._deployment, bundle.dh_public
            )
            why = self.core.register(bundle) if ok else "the ClientId is not derived from its key"
            if why is not None:
                self.refused += 1
                log.debug("registration refused: %s", why)
            self._wake.set()

    async def _take_envelopes(self) -> None:
        while (env := await self._envelopes.recv()) is not None:
            why = self.core.receive(env)
            if why is not None:
                log.debug("envelope refused: %s", why)
            self._wake.set()

    async def _drive(self) -> None:
        while True:
            self._wake.clear()
            for cmd in self.core.step(self.view, self._clock.now_ms()):
                await self._propose(cmd)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_S):
                    await self._wake.wait()

    async def _propose(self, cmd: Command) -> None:
        try:
            raw = await self._writer.submit(encode(cmd))
        except (ConnectTimeout, Refused) as exc:
            log.info("committee did not take %s: %s", type(cmd).__name__, exc)
            self.core.failed(cmd)
            return
        result = decode(raw, CommitteeResult)
        if not result.ok:
            log.info("committee refused %s: %s", type(cmd).__name__, result.reason)
            self.core.rejected(cmd)
        elif isinstance(cmd, RegisterClient):
            self.view.clients.add(cmd.bundle.client)  # committed, even if its event was missed

    async def close(self) -> None:
        try:
            await self._scope.aclose()
        finally:
            for closing in (self._reader, self._writer, self._registrations, self._envelopes):
                await closing.close()
            if self._owned is not None:
                await self._owned.close()


class Submitter:
    """A zipnet client on the network: ``send`` queues a message, ``receipts`` say what
    became of each attempt. Seals one envelope per round that lists it, cover traffic included."""

    def __init__(
        self,
        network: Network,
        cfg: ZipnetConfig,
        reader: SurfaceReader[ZipnetEvent],
        *,
        dh: X25519PrivateKey | None = None,
    ) -> None:
        self.cfg, self.view = cfg, CommitteeView()
        self.client = ZipnetClient(cfg, dh or X25519PrivateKey.generate())
        self._reader = reader
        self._register: Producer[ClientBundle] = network.streams.producer(
            ClientBundle, stream_id=_register_stream(cfg)
        ).build()
        self._submit: Producer[Envelope] = network.streams.producer(
            Envelope, stream_id=_submit_stream(cfg)
        ).build()
        self._receipts: asyncio.Queue[Receipt] = asyncio.Queue(MAX_RECEIPTS)
        self._registered = asyncio.Event()
        self.sealed = 0
        self.unsent = 0
        self._scope = TaskScope(f"zipnet submitter {cfg.name!r}")
        self._scope.spawn(self._follow(), name="submitter:surface")
        self._scope.spawn(self._keep_registering(), name="submitter:register")

    @property
    def id(self) -> bytes:
        return self.client.id

    def send(self, message: bytes) -> int:
        """Queue ``message`` (at most a slot's payload); its submission id, as receipts name it."""
        return self.client.send(message)

    async def registered(self) -> None:
        """Wait until the committee's registry holds this client."""
        await self._registered.wait()

    async def receipt(self) -> Receipt:
        return await self._receipts.get()

    async def receipts(self) -> AsyncIterator[Receipt]:
        while True:
            yield await self._receipts.get()

    def _apply(self, event: ZipnetEvent) -> None:
        self.view.apply(event)
        if self.id in self.view.clients:
            self._registered.set()
        if isinstance(event, RoundOpened) and self.id in event.header.clients:
            env = self.client.seal(event.header, event.header.servers, self.view.last)
            if env is not None:
                self.sealed += 1
                try:
                    self._submit.try_send(env)
                except ProducerError:
                    self.unsent += 1  # no aggregator subscribed: this round goes without us
        elif isinstance(event, RoundFinalized):
            for receipt in self.client.on_broadcast(event.record):
                if self._receipts.full():
                    self._receipts.get_nowait()  # the oldest goes: a reader that lags loses it
                self._receipts.put_nowait(receipt)

    async def _follow(self) -> None:
        self._apply(await self._reader.ready(drain=False))
        async for event in self._reader:
            self._apply(event)

    async def _keep_registering(self) -> None:
        bundle = ClientBundle(self.client.id, self.client.public)
        while not self._registered.is_set():
            await self._register.online()
            with contextlib.suppress(ProducerError):
                self._register.try_send(bundle)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REGISTER_EVERY_S):
                    await self._registered.wait()

    async def close(self) -> None:
        try:
            await self._scope.aclose()
        finally:
            await self._reader.close()
            await self._register.close()
            await self._submit.close()


#: Every finalized round of one deployment, in order.
BroadcastReader = SelectedReader[ZipnetEvent, BroadcastRecord]


def _broadcast(event: ZipnetEvent) -> BroadcastRecord | None:
    return event.record if isinstance(event, RoundFinalized) else None


class Zipnet:
    """The verbs. ``member`` and ``aggregator`` are the operators' side; ``submit`` and ``read``
    the integrators'. Every one derives its ids from the Config alone."""

    deployment_id = staticmethod(deployment_id)

    @staticmethod
    def member(
        network: Network,
        cfg: ZipnetConfig,
        committee: Sequence[EndpointAddr],
        *,
        dh: X25519PrivateKey,
        aggregators: TicketValidator | TicketRequirement | None = None,
        data_dir: Path | None = None,
        raft: RaftConfig | None = None,
        period_ms: int = 1_000,
        deadline_ms: int = 5_000,
    ) -> ZipnetServer:
        """Start one committee server; its intake admits only ``aggregators`` (by default: a
        peer holding an aggregator ticket one of the committee's members issued)."""
        peers = [a.peer_id for a in committee]
        if aggregators is None:
            aggregators = RecogniseIssuer(aggregator_root(cfg), peers)
        machine = ZipnetMachine(cfg, committee=peers)
        member = ZIPNET.committee(
            network,
            cfg,
            machine,
            _events,
            committee,
            data_dir=data_dir,
            raft=raft,
            writers=aggregators,
            access=PUBLIC_LOG,  # the log is public material: registries, headers, broadcasts
        )
        key = network.endpoint.secret_key
        index = [a.peer_id for a in committee].index(key.peer_id) + 1
        core = ZipnetServerCore(index, dh, key, period_ms=period_ms, deadline_ms=deadline_ms)
        return ZipnetServer.hosting(member, machine, core)

    @staticmethod
    def replica(
        network: Network,
        cfg: ZipnetConfig,
        committee: Sequence[EndpointAddr],
        *,
        raft: RaftConfig | None = None,
    ) -> RegistryReplica:
        """ClientRegistry and ServerRegistry by key, with history: a non-voting replica of
        the committee's log."""
        inner = ZipnetMachine(cfg, committee=[a.peer_id for a in committee])
        reader = ZIPNET.replica(
            network, cfg, inner, inner.store, committee, access=PUBLIC_LOG, raft=raft
        )
        return RegistryReplica(reader)

    @staticmethod
    def aggregator_ticket(
        cfg: ZipnetConfig, member: SecretKey, aggregator: PeerId, network: NetworkId, now_ms: int
    ) -> Ticket:
        """A committee member's ticket for the aggregator it runs (the default intake gate)."""
        return TicketIssuer(aggregator_root(cfg), member).issue(aggregator, network, now_ms, None)

    @staticmethod
    async def vouched_aggregator(
        member: Network,
        cfg: ZipnetConfig,
        *,
        clients: TicketValidator | TicketRequirement | None,
        key: SecretKey | None = None,
        fold_ms: int = DEFAULT_FOLD_MS,
        discovery: DiscoveryConfig | None = None,
    ) -> Aggregator:
        """The aggregator a committee member runs: a network of its own beside ``member`` (same
        host, bootstrapped from it) holding an aggregator ticket ``member``'s key signs, which
        is what the intake admits by default. The aggregator closes that network with itself."""
        key = key or SecretKey.generate()
        ticket = Zipnet.aggregator_ticket(
            cfg, member.endpoint.secret_key, key.peer_id, member.network_id, member.clock.now_ms()
        )
        host = member.addr.addrs[0].host if member.addr.addrs else "127.0.0.1"
        net = await Network.create(
            member.network_id,
            secret_key=key,
            tickets=[ticket],
            host=host,
            bootstrap=[member.addr],
            discovery=discovery,
        )
        return Aggregator(net, cfg, clients=clients, fold_ms=fold_ms, owned=net)

    @staticmethod
    def aggregator(
        network: Network,
        cfg: ZipnetConfig,
        *,
        clients: TicketValidator | TicketRequirement | None,
        fold_ms: int = DEFAULT_FOLD_MS,
    ) -> Aggregator:
        """Run the aggregator; ``clients`` gates registration and submission (``None``: open)."""
        return Aggregator(network, cfg, clients=clients, fold_ms=fold_ms)

    @staticmethod
    async def submit(
        network: Network,
        cfg: ZipnetConfig,
        *,
        dh: X25519PrivateKey | None = None,
        timeout_s: float = 10.0,
        producers: TicketValidator | None = None,
    ) -> Submitter:
        """A submitter, once the deployment answers; `ConnectTimeout` for a wrong Config.
        ``producers`` authenticates the committee (see `read`)."""
        reader = ZIPNET.read(network, cfg, timeout_s=timeout_s, producers=producers)
        try:
            await reader.ready(drain=False)  # the submitter starts from this first item
        except BaseException:
            await reader.close()
            raise
        return Submitter(network, cfg, reader, dh=dh)

    @staticmethod
    def read(
        network: Network,
        cfg: ZipnetConfig,
        *,
        timeout_s: float = 10.0,
        producers: TicketValidator | None = None,
    ) -> BroadcastReader:
        """Finalized rounds. Surface ids derive from the public Config, so anyone can publish
        on them: ``producers`` (a validator the committee's members pass) keeps a reader to
        frames from the committee; without it the reader trusts whoever answers first."""
        reader = ZIPNET.read(network, cfg, timeout_s=timeout_s, producers=producers)
        return SelectedReader(reader, _broadcast)
