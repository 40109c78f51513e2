"""Streams under a seeded simulator: the real cores on a virtual clock and a faulty network.

Every node runs the real `DiscoveryCore` (signed entries, gossip, sync, ping,
purge) and either a real `ProducerCore` or a real `ConsumerCore` with its
`Subscription`s (streams/session.py) — the same objects the asyncio drivers
drive. The harness only moves bytes: discovery messages and stream frames are
encoded and strictly decoded, so the wire path runs too.

Model. A stream session is one reliable FIFO link (the transport is TCP): a
lost frame is retransmitted (it arrives late, never out of order); a partition
or a crash *breaks* the link — frames in flight are gone and each end notices
after a detection delay. A link carries at most ``WINDOW`` datums the consumer
application has not read yet (TCP flow control); behind that the producer core
queues up to ``buffer_size``. Discovery messages are datagrams: lost, delayed,
reordered, cut by partitions.

Faults (seeded phases): lossy and slow links, partitions, producer crashes,
graceful producer restarts, consumer crashes, a stalled (lagging) consumer, and
ticket expiry. Then a calm settle phase and the end-of-run checks.

Checkers:

* ``order`` — per (producer run, consumer run) every delivered seq is greater
  than the last (no duplicate, no reordering, no replay across sessions);
  with ``disconnect_lagging`` a session never skips a datum (gap-free);
* ``replay`` — a session delivers only datums published after it was admitted;
* ``tickets`` — a consumer without a valid ticket never receives data, and
  nothing published after a consumer's ticket expired reaches it;
* ``lagging`` — a consumer stalled while more than ``WINDOW + buffer_size``
  datums were offered to one session is cut with ``TooSlow`` (or, configured
  to drop, has drops counted);
* ``resume`` — after the settle phase every entitled live consumer is
  subscribed to every live producer and has recent data from its current run;
* ``discovery`` — every live catalog holds every other live node's current run.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar, Final

from ..discovery.core import DiscoveryConfig, DiscoveryCore, Send
from ..discovery.messages import DiscoveryMessage, SyncRequest
from ..primitives import UNIVERSE, PeerId, SecretKey, UniqueId, Wire, decode, encode, unique_id
from ..streams.messages import ConsumerHandshake, Criteria, SubscriptionAccepted
from ..streams.session import (
    Backoff,
    ConsumerConfig,
    ConsumerCore,
    GiveUp,
    Next,
    ProducerConfig,
    ProducerCore,
    Retry,
    Stop,
    Subscription,
)
from ..tickets import Expiration, InvalidTicketError, PeerIdentity, Require, Ticket
from ..transport import CloseReason, reasons
from .campaign import Campaign
from .kernel import Host, Kernel
from .network import LinkFaults, VirtualNetwork
from .rng import seeded
from .schedule import Phase, draw_phases

__all__ = [
    "StreamsSeedResult",
    "format_streams_failure",
    "run_streams_seed",
    "streams_campaign",
]

T0: Final = 1_700_000_000_000
WINDOW: Final = 8
DISCOVERY = DiscoveryConfig(
    fanout=3,
    announce_interval_ms=1_000,
    sync_interval_ms=2_000,
    ping_interval_ms=1_000,
    ttl_ms=8_000,
    max_drift_ms=4_000,
)
SETTLE_MS: Final = 25_000
#: The consumer driver's bound on dial + handshake (streams/consumer.py).
HANDSHAKE_TIMEOUT_MS: Final = 10_000
RECENT_MS: Final = 3_000
#: Calm weather: datagrams and frames take 1–30 ms.
CALM: Final = LinkFaults(max_delay_ms=30)
#: A lost frame on a session arrives one retransmission timeout later (TCP).
RETRANSMIT_MS: Final = 200
_MAX_VIOLATIONS: Final = 20


class SimTick(Wire, frozen=True):
    """The simulated datum: which producer run published it, its seq, and when."""

    STREAM_SCHEMA: ClassVar[str] = "pymosaik.sim.tick.v1"
    run: int
    seq: int
    at_ms: int


STREAM: Final = unique_id(SimTick.STREAM_SCHEMA)
TICKET_CLASS: Final = unique_id("pymosaik.sim.ticket")


class SimTicketValidator:
    """Ticket data is ``b"forever"`` or an 8-byte big-endian expiry instant (ms)."""

    def ticket_class(self) -> UniqueId:
        return TICKET_CLASS

    def signature(self) -> UniqueId:
        return unique_id("pymosaik.sim.ticket-validator")

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        if data == b"forever":
            return Expiration.never()
        if len(data) != 8:
            raise InvalidTicketError("malformed simulated ticket")
        at = int.from_bytes(data, "big")
        if at < now_ms:
            raise InvalidTicketError("expired")
        return Expiration.at(at)


class TicketKind(Enum):
    VALID = "valid"
    EXPIRING = "expiring"
    NONE = "none"


class PhaseKind(Enum):
    CALM = "calm"
    LOSSY = "lossy"
    PARTITION = "partition"
    PRODUCER_CRASH = "producer-crash"
    PRODUCER_RESTART = "producer-restart"
    CONSUMER_CRASH = "consumer-crash"
    STALL = "stall"


def _faults(rng: random.Random, kind: PhaseKind) -> LinkFaults:
    if kind is PhaseKind.LOSSY:
        return LinkFaults(loss=rng.uniform(0.05, 0.3), max_delay_ms=rng.randint(50, 300))
    return CALM


# ---- nodes and links ---------------------------------------------------------------
@dataclass(eq=False)
class _Sub:
    sub: Subscription
    link: _Link | None = None
    token: int = 0


@dataclass(eq=False, kw_only=True)
class _Node(Host):
    """A host; each boot (``incarnation``) is a new run of its producer or consumer."""

    key: SecretKey
    addr: tuple[str, int]
    producer: bool
    disc: DiscoveryCore | None = None
    tick_at: int | None = None
    # producer side
    core: ProducerCore | None = None
    seq: int = 0
    links: dict[int, _Link] = field(default_factory=dict)
    # consumer side
    ccore: ConsumerCore | None = None
    subs: dict[PeerId, _Sub] = field(default_factory=dict)
    inbox: deque[tuple[_Link, SimTick]] = field(default_factory=deque)
    ticket: TicketKind = TicketKind.VALID
    expires_ms: int | None = None
    laggard: bool = False
    stalled: bool = False

    peer_id: PeerId = field(init=False)

    def __post_init__(self) -> None:
        self.peer_id = self.key.peer_id  # derived once: it is looked up per datum


@dataclass(eq=False)
class _Link:
    lid: int
    producer: _Node
    p_run: int
    consumer: _Node
    c_run: int
    key: int
    broken: bool = False
    p_open: bool = True
    c_open: bool = True
    accepted_ms: int | None = None
    admitted_ms: int | None = None
    last_arrival: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    #: datums sent on the link and not yet read by the consumer application
    outstanding: int = 0
    #: publishes that found this session live (queued, dropped or cut it)
    offered: int = 0
    last_seq: int | None = None
    end: CloseReason | None = None


@dataclass(slots=True)
class StreamsSeedResult:
    seed: int
    violations: list[str]
    stats: Counter[str]
    plan: list[str]


# ---- the world ------------------------------------------------------------------------
class StreamsWorld(Kernel[_Node]):
    def __init__(self, seed: int) -> None:
        super().__init__(start_ms=T0, max_violations=_MAX_VIOLATIONS)
        self.seed = seed
        self.rng = seeded(f"streams:{seed}")
        self._lids = 0
        #: Discovery datagrams and session frames; nodes are keyed by peer id.
        self.net: VirtualNetwork[PeerId] = VirtualNetwork(self.rng, CALM)
        self.stats: Counter[str] = Counter()
        self.plan: list[str] = []
        self.open_links: dict[int, _Link] = {}
        rng = self.rng
        self.lagging_cut = rng.random() < 0.7
        self.buffer = rng.choice([8, 16, 32])
        self.interval = rng.choice([10, 20, 40])
        self.tickets_required = rng.random() < 0.7
        self.max_consumers = None
        self.nodes: list[_Node] = []
        n_producers = rng.choice([1, 2])
        n_consumers = rng.choice([2, 3, 4])
        for i in range(n_producers + n_consumers):
            key = SecretKey(rng.randbytes(32))
            self.nodes.append(
                _Node(name=f"n{i}", key=key, addr=("10.0.0.1", 7000 + i), producer=i < n_producers)
            )
        consumers = [n for n in self.nodes if not n.producer]
        consumers[-1].laggard = True
        if self.tickets_required and len(consumers) >= 3:
            consumers[0].ticket = rng.choice([TicketKind.NONE, TicketKind.EXPIRING])
        self.by_pid = {n.peer_id: n for n in self.nodes}
        self.hint = self.nodes[0].addr
        self.plan.append(
            f"producers={n_producers} consumers={n_consumers} buffer={self.buffer} "
            f"interval={self.interval}ms lagging={'cut' if self.lagging_cut else 'drop'} "
            f"tickets={'required' if self.tickets_required else 'no'} "
            f"consumer-tickets={[c.ticket.value for c in consumers]}"
        )
        # (producer, run, consumer, run) -> last delivered seq
        self.last: dict[tuple[PeerId, int, PeerId, int], int] = {}
        self.recent: dict[tuple[PeerId, int, PeerId], int] = {}

    def reachable(self, a: _Node, b: _Node) -> bool:
        return a.up and b.up and self.net.connected(a.peer_id, b.peer_id)

    # ---- node lifecycle ---------------------------------------------------------------
    def on_boot(self, node: _Node) -> None:
        node.disc = DiscoveryCore(
            node.key,
            UNIVERSE,
            [node.addr],
            self.now,
            rng=random.Random(self.rng.getrandbits(64)),  # noqa: S311 - simulation
            config=DISCOVERY,
        )
        node.tick_at = None
        if node.producer:
            config = ProducerConfig(
                requirements=(Require(SimTicketValidator()),) if self.tickets_required else (),
                disconnect_lagging=self.lagging_cut,
                buffer_size=self.buffer,
            )
            node.core = ProducerCore(STREAM, node.peer_id, UNIVERSE, config)
            node.seq = 0
            node.links = {}
            node.disc.update_local(self.now, streams=[STREAM])
            self.at(self.now + self.interval, self.publish, node, node.incarnation)
        else:
            config_c = ConsumerConfig(backoff=Backoff())
            rng = random.Random(self.rng.getrandbits(64))  # noqa: S311 - simulation
            node.ccore = ConsumerCore(STREAM, node.peer_id, UNIVERSE, config_c, rng)
            node.subs = {}
            node.inbox = deque()
            node.stalled = False
            ticket = self.ticket_for(node)
            if ticket is not None:
                node.disc.update_local(self.now, tickets=[ticket])
        if node.addr != self.hint:
            node.disc.bootstrap([self.hint])
        self.pump_discovery(node)

    def ticket_for(self, node: _Node) -> Ticket | None:
        if node.ticket is TicketKind.NONE:
            return None
        if node.ticket is TicketKind.EXPIRING and node.expires_ms is not None:
            return Ticket(TICKET_CLASS, node.expires_ms.to_bytes(8, "big"))
        return Ticket(TICKET_CLASS, b"forever")

    def on_crash(self, node: _Node) -> None:
        for link in self.links_of(node):
            self.break_link(link)
        node.subs = {}
        node.links = {}

    def graceful_stop(self, node: _Node) -> None:
        """A producer closes: ``GracefulShutdown`` to every consumer, then departs."""
        if not node.up or node.core is None or node.disc is None:
            return
        for out in node.core.close():
            link = node.links.get(out.key)
            if link is not None:
                self.producer_close(link, out.kick or reasons.GRACEFUL_SHUTDOWN)
        node.disc.depart(self.now)
        self.pump_discovery(node)
        run = node.incarnation
        self.at(self.now + 50, lambda: self.crash(node) if node.incarnation == run else None)

    def links_of(self, node: _Node) -> list[_Link]:
        """Every link touching ``node`` that is still up (handshakes in flight included).

        Ordered by link id (never by hash), so a seed replays exactly.
        """
        self.open_links = {
            lid: link
            for lid, link in self.open_links.items()
            if not link.broken and (link.p_open or link.c_open)
        }
        return [x for x in self.open_links.values() if node in (x.producer, x.consumer)]

    # ---- discovery plumbing --------------------------------------------------------------
    def pump_discovery(self, node: _Node) -> None:
        disc = node.disc
        if disc is None:
            return
        changed = False
        for out in disc.take_outputs():
            if isinstance(out, Send):
                self.route(node, out)
            else:
                changed = True
        if not node.up:
            return
        if changed:
            self.catalog_changed(node)
        deadline = max(disc.next_deadline(), self.now + 1)
        if node.tick_at is None or deadline < node.tick_at:
            node.tick_at = deadline
            run = node.incarnation
            self.at(deadline, self.discovery_tick, node, run, deadline)

    def discovery_tick(self, node: _Node, run: int, when: int) -> None:
        if not node.up or node.incarnation != run or node.tick_at != when or node.disc is None:
            return
        node.tick_at = None
        node.disc.tick(self.now)
        self.pump_discovery(node)

    def route(self, src: _Node, send: Send) -> None:
        if send.to is not None:
            dst = self.by_pid.get(send.to)
        else:
            dst = next((n for n in self.nodes if n.addr == send.addr), None)
        if dst is None or dst is src:
            return
        raw = encode(send.message)
        self.hop(src, dst, raw)

    def hop(self, src: _Node, dst: _Node, raw: bytes) -> None:
        """One discovery datagram: lost, delayed, duplicated or cut as the network says."""
        self.stats["discovery-messages"] += 1
        if src.up and dst.up:
            for delay in self.net.deliveries(src.peer_id, dst.peer_id):
                self.at(self.now + delay, self.deliver_discovery, src, dst, dst.incarnation, raw)

    def deliver_discovery(self, src: _Node, dst: _Node, run: int, raw: bytes) -> None:
        if not dst.up or dst.incarnation != run or dst.disc is None:
            return
        msg: DiscoveryMessage = decode(raw, DiscoveryMessage)  # type: ignore[arg-type]
        reply = dst.disc.on_message(src.peer_id, msg, self.now)
        self.pump_discovery(dst)
        if reply is not None:
            self.hop(dst, src, encode(reply))

    def rtt(self, node: _Node) -> Callable[[PeerId], float | None]:
        disc = node.disc

        def lookup(peer: PeerId) -> float | None:
            est = disc.rtt.get(peer) if disc is not None else None
            return est.srtt if est is not None else None

        return lookup

    def catalog_changed(self, node: _Node) -> None:
        if node.producer:
            if node.core is not None and node.disc is not None:
                catalog = node.disc.catalog
                for out in node.core.recheck(catalog.get, self.rtt(node), self.now):
                    link = node.links.get(out.key)
                    if link is not None:
                        self.producer_close(link, out.kick or reasons.STREAM_NOT_ALLOWED)
        else:
            self.reconcile(node)

    # ---- consumer side ----------------------------------------------------------------------
    def reconcile(self, node: _Node) -> None:
        if node.ccore is None or node.disc is None or not node.up:
            return
        eligible = node.ccore.eligible(node.disc.catalog, node.disc.local, self.rtt(node), self.now)
        for pid in list(node.subs):
            if pid not in eligible:
                st = node.subs.pop(pid)
                if st.link is not None:
                    self.consumer_close(st.link)
        for pid, (peer, expires) in eligible.items():
            if pid not in node.subs:
                st = _Sub(node.ccore.subscription(peer, expires))
                node.subs[pid] = st
                self.dial(node, st)

    def dial(self, node: _Node, st: _Sub) -> None:
        producer = self.by_pid[st.sub.peer.peer_id]
        self.stats["dials"] += 1
        if not self.reachable(node, producer):
            delay = self.rng.randint(200, 1_000)
            self.at(self.now + delay, self.dial_failed, node, node.incarnation, st, st.token)
            return
        self._lids += 1
        link = _Link(self._lids, producer, producer.incarnation, node, node.incarnation, self._lids)
        self.open_links[link.lid] = link
        st.link = link
        hs = encode(ConsumerHandshake(UNIVERSE, STREAM, Criteria()))
        self.transmit(link, to_producer=True, item=("hs", hs))
        self.at(self.now + HANDSHAKE_TIMEOUT_MS, self.handshake_timeout, node, st, link)

    def handshake_timeout(self, node: _Node, st: _Sub, link: _Link) -> None:
        """The driver's bound on connect + handshake: no answer counts as an I/O error."""
        if st.link is not link or link.accepted_ms is not None or not link.c_open:
            return
        if node.subs.get(st.sub.peer.peer_id) is not st or node.incarnation != link.c_run:
            return
        self.stats["handshake-timeouts"] += 1
        self.consumer_close(link)
        self.after_close(node, st, st.sub.on_closed(None))

    def dial_failed(self, node: _Node, run: int, st: _Sub, token: int) -> None:
        if node.incarnation != run or not node.up or st.token != token:
            return
        if node.subs.get(st.sub.peer.peer_id) is not st:
            return
        self.after_close(node, st, st.sub.on_closed(None))

    def after_close(self, node: _Node, st: _Sub, step: Next) -> None:
        st.link = None
        st.token += 1
        pid = st.sub.peer.peer_id
        if isinstance(step, Stop):
            self.stats[f"stop-{step.reason.name}"] += 1
            if node.ccore is not None and node.disc is not None:
                node.ccore.refuse(st.sub.peer, node.disc.local)
            node.subs.pop(pid, None)
            return
        if isinstance(step, GiveUp):
            self.stats["give-up"] += 1
            node.subs.pop(pid, None)
            return
        assert isinstance(step, Retry)
        if step.resync and node.disc is not None:
            self.stats["resyncs"] += 1
            producer = self.by_pid[pid]
            msg = SyncRequest(node.disc._sync_payload())
            self.route(node, Send(pid, producer.addr, msg))
        token, run = st.token, node.incarnation

        def again() -> None:
            if (
                node.incarnation == run
                and node.up
                and st.token == token
                and node.subs.get(pid) is st
            ):
                self.dial(node, st)

        self.at(self.now + max(1, round(step.delay_s * 1000)), again)

    def consumer_close(self, link: _Link) -> None:
        link.c_open = False
        if not link.broken:
            self.transmit(link, to_producer=True, item=("cclose", b""))

    def on_consumer_frame(self, link: _Link, kind: str, payload: object) -> None:
        node = link.consumer
        if not link.c_open or not node.up or node.incarnation != link.c_run:
            return
        st = node.subs.get(link.producer.peer_id)
        if st is None or st.link is not link:
            return
        if kind == "acc":
            assert isinstance(payload, bytes)
            accepted = decode(payload, SubscriptionAccepted)
            violation = st.sub.on_accepted(accepted.stream_id, self.now)
            if violation is not None:
                self.consumer_close(link)
                self.after_close(node, st, st.sub.stop(violation))
                return
            link.accepted_ms = self.now
            self.stats["sessions"] += 1
            if self.tickets_required and node.ticket is TicketKind.NONE:
                self.violation("tickets", f"{node.name} admitted without a ticket")
        elif kind == "data":
            assert isinstance(payload, list)
            size = 0
            for raw in payload:
                node.inbox.append((link, decode(raw, SimTick)))
                size += len(raw)
            st.sub.on_data(len(payload), size)
            self.read(node)
        elif kind == "close":
            assert isinstance(payload, CloseReason)
            link.c_open = False
            link.end = payload
            self.stats[f"closed-{payload.name}"] += 1
            self.after_close(node, st, st.sub.on_closed(payload))

    def read(self, node: _Node) -> None:
        """The consumer application takes what has arrived (unless stalled)."""
        if node.stalled:
            return
        touched: dict[int, _Link] = {}  # insertion-ordered: replay must not depend on hashes
        while node.inbox:
            link, tick = node.inbox.popleft()
            link.outstanding -= 1
            touched[link.lid] = link
            self.check_delivery(node, link, tick)
        for link in touched.values():
            self.producer_pump(link)

    def check_delivery(self, node: _Node, link: _Link, tick: SimTick) -> None:
        producer = link.producer
        self.stats["delivered"] += 1
        if tick.run != link.p_run:
            self.violation("order", f"{node.name} got run {tick.run} on a run-{link.p_run} link")
        key = (producer.peer_id, tick.run, node.peer_id, link.c_run)
        last = self.last.get(key)
        if last is not None and tick.seq <= last:
            self.violation(
                "order", f"{producer.name}->{node.name}: seq {tick.seq} after {last} (dup/reorder)"
            )
        if self.lagging_cut and link.last_seq is not None and tick.seq != link.last_seq + 1:
            self.violation(
                "order",
                f"{producer.name}->{node.name} link {link.lid}: gap {link.last_seq}->{tick.seq} "
                "without a TooSlow cut",
            )
        if link.admitted_ms is None or tick.at_ms < link.admitted_ms:
            self.violation("replay", f"{node.name} got seq {tick.seq} published before admission")
        if self.tickets_required and node.ticket is TicketKind.NONE:
            self.violation("tickets", f"{node.name} without a ticket got seq {tick.seq}")
        if (
            self.tickets_required
            and node.ticket is TicketKind.EXPIRING
            and node.expires_ms is not None
            and tick.at_ms > node.expires_ms
        ):
            self.violation(
                "tickets", f"{node.name} got seq {tick.seq} published after its ticket expired"
            )
        link.last_seq = tick.seq
        self.last[key] = max(tick.seq, last or -1)
        self.recent[(producer.peer_id, tick.run, node.peer_id)] = tick.at_ms

    # ---- producer side ----------------------------------------------------------------------
    def on_producer_frame(self, link: _Link, kind: str, payload: bytes) -> None:
        node = link.producer
        if not node.up or node.incarnation != link.p_run or node.core is None or node.disc is None:
            return
        if kind == "hs":
            peer = node.disc.catalog.get(link.consumer.peer_id)
            if peer is None:
                self.stats["unknown-peer"] += 1
                self.producer_close(link, reasons.UNKNOWN_PEER, registered=False)
                return
            hs = decode(payload, ConsumerHandshake)
            decision = node.core.admit(
                link.key,
                peer,
                requested_network=hs.network_id,
                requested_stream=hs.stream_id,
                now_ms=self.now,
                rtt_ms=self.rtt(node)(peer.peer_id),
            )
            if decision.refused is not None:
                self.producer_close(link, decision.refused, registered=False)
                return
            node.links[link.key] = link
            link.admitted_ms = self.now
            self.transmit(
                link, to_producer=False, item=("acc", encode(SubscriptionAccepted(STREAM)))
            )
        elif kind == "cclose" and link.p_open:
            link.p_open = False
            node.links.pop(link.key, None)
            node.core.remove(link.key)

    def producer_close(self, link: _Link, reason: CloseReason, *, registered: bool = True) -> None:
        if not link.p_open:
            return
        link.p_open = False
        node = link.producer
        if registered:
            node.links.pop(link.key, None)
            if node.core is not None:
                node.core.remove(link.key)
        self.transmit(link, to_producer=False, item=("close", reason))

    def publish(self, node: _Node, run: int) -> None:
        if not node.up or node.incarnation != run or node.core is None:
            return
        self.at(self.now + self.interval, self.publish, node, run)
        core = node.core
        for out in core.expire(self.now):
            link = node.links.get(out.key)
            if link is not None:
                self.stats["ticket-expired-cuts"] += 1
                self.producer_close(link, out.kick or reasons.STREAM_NOT_ALLOWED)
        if not core.online:
            self.stats["offline"] += 1
            return
        for out in core.sessions.values():
            live = node.links.get(out.key)
            if out.kick is None and live is not None:
                live.offered += 1
        node.seq += 1
        datum = SimTick(node.incarnation, node.seq, self.now)
        result = core.publish(encode(datum), datum)
        self.stats["published"] += 1
        for out in result.kicked:
            self.stats["too-slow-cuts"] += 1
            link = node.links.get(out.key)
            if link is not None:
                self.producer_close(link, out.kick or reasons.TOO_SLOW)
        for link in list(node.links.values()):
            self.producer_pump(link)

    def producer_pump(self, link: _Link) -> None:
        node = link.producer
        if not link.p_open or link.broken or node.core is None or node.incarnation != link.p_run:
            return
        out = node.core.sessions.get(link.key)
        if out is None or out.kick is not None or not out.queue:
            return
        room = WINDOW - link.outstanding
        if room <= 0:
            return
        batch = node.core.drain(out, room)
        link.outstanding += len(batch)
        node.core.sent(out, len(batch), sum(len(b) for b in batch))
        self.transmit(link, to_producer=False, item=("data", batch))

    # ---- links --------------------------------------------------------------------------------
    def transmit(self, link: _Link, *, to_producer: bool, item: tuple[str, object]) -> None:
        """FIFO over a reliable link: loss costs retransmission time, never order."""
        src, dst = (link.consumer, link.producer) if to_producer else (link.producer, link.consumer)
        delay = self.net.stream_delay(src.peer_id, dst.peer_id, RETRANSMIT_MS)
        arrival = max(self.now + delay, link.last_arrival[to_producer])
        link.last_arrival[to_producer] = arrival
        kind, payload = item

        def deliver() -> None:
            if link.broken:
                return
            if to_producer:
                assert isinstance(payload, bytes)
                self.on_producer_frame(link, kind, payload)
            else:
                self.on_consumer_frame(link, kind, payload)

        self.at(arrival, deliver)

    def break_link(self, link: _Link) -> None:
        """Crash or partition: in-flight frames are lost; each end notices after a while."""
        if link.broken:
            return
        link.broken = True
        self.stats["broken-links"] += 1
        producer, consumer = link.producer, link.consumer

        def producer_notices() -> None:
            if producer.up and producer.incarnation == link.p_run and link.p_open:
                link.p_open = False
                producer.links.pop(link.key, None)
                if producer.core is not None:
                    producer.core.remove(link.key)

        def consumer_notices() -> None:
            if not (consumer.up and consumer.incarnation == link.c_run and link.c_open):
                return
            link.c_open = False
            st = consumer.subs.get(producer.peer_id)
            if st is not None and st.link is link:
                self.after_close(consumer, st, st.sub.on_closed(None))

        self.at(self.now + self.rng.randint(100, 1_500), producer_notices)
        self.at(self.now + self.rng.randint(100, 1_500), consumer_notices)

    def partition(self, side: Iterable[_Node]) -> None:
        a = [n.peer_id for n in side]
        self.net.partition(a, [n.peer_id for n in self.nodes if n.peer_id not in a])
        for node in self.nodes:
            for link in self.links_of(node):
                if not self.net.connected(link.producer.peer_id, link.consumer.peer_id):
                    self.break_link(link)

    # ---- schedule --------------------------------------------------------------------------------
    def run(self) -> StreamsSeedResult:
        rng = self.rng
        for node in self.nodes:
            self.at(self.now + rng.randrange(0, 1_000), self.boot, node)
        consumers = [n for n in self.nodes if not n.producer]
        producers = [n for n in self.nodes if n.producer]
        expiring = [c for c in consumers if c.ticket is TicketKind.EXPIRING]
        phases = draw_phases(
            rng,
            dict.fromkeys(PhaseKind, 1),
            self.now + 4_000,
            duration=lambda _kind: rng.randint(3_000, 8_000),
            faults=lambda kind: _faults(rng, kind),
        )
        for phase in phases:
            self.plan.append(
                f"{phase.start_ms - T0} ms: {phase.kind.value} for {phase.duration_ms} ms"
            )
            self.schedule_phase(phase, producers, consumers)
        t = phases[-1].end_ms
        for c in expiring:
            c.expires_ms = T0 + rng.randint(4_000, max(4_001, t - T0))
            self.plan.append(f"{c.name}'s ticket expires at {c.expires_ms - T0} ms")
        end = t + SETTLE_MS
        self.at(t, self.calm)
        self.run_until(end)
        self.final_checks()
        found = [f"[{v.time_ms} ms] {v.kind}: {v.detail}" for v in self.violations]
        return StreamsSeedResult(self.seed, found, self.stats, self.plan)

    def calm(self, faults: LinkFaults = CALM) -> None:
        """End the previous phase: heal, wake stalled readers, restart the crashed."""
        self.net.faults = faults
        self.net.heal()
        for node in self.nodes:
            if node.stalled:
                node.stalled = False
                self.read(node)
            if not node.up:
                self.restart(node)

    def schedule_phase(
        self, phase: Phase[PhaseKind], producers: list[_Node], consumers: list[_Node]
    ) -> None:
        rng = self.rng
        kind, start, duration, end = phase.kind, phase.start_ms, phase.duration_ms, phase.end_ms
        self.at(start, self.calm, phase.faults)
        if kind is PhaseKind.PARTITION:
            side = rng.sample(self.nodes, rng.randint(1, len(self.nodes) - 1))
            self.at(start, self.partition, side)
        elif kind in (PhaseKind.PRODUCER_CRASH, PhaseKind.CONSUMER_CRASH):
            producer = kind is PhaseKind.PRODUCER_CRASH
            victim = rng.choice(producers if producer else consumers)
            down = rng.randint(500 if producer else 200, duration - 500)
            self.at(start, self.crash, victim, down)
        elif kind is PhaseKind.PRODUCER_RESTART:
            victim = rng.choice(producers)
            down = rng.randint(200, duration - 500)
            self.at(start, self.graceful_stop, victim)
            self.at(start + down, self.restart, victim)
        elif kind is PhaseKind.STALL:
            victim = next(c for c in consumers if c.laggard)
            snapshot: dict[_Link, int] = {}

            def stall() -> None:
                victim.stalled = True
                snapshot.clear()
                for st in victim.subs.values():
                    if st.link is not None and st.link.c_open:
                        snapshot[st.link] = st.link.offered

            def resume() -> None:
                self.check_stall(victim, snapshot)
                victim.stalled = False
                self.read(victim)

            self.at(start + 1, stall)
            self.at(end - 1, resume)

    def check_stall(self, victim: _Node, snapshot: dict[_Link, int]) -> None:
        """A session offered more than it can hold while its reader slept must have given."""
        capacity = WINDOW + self.buffer
        for link, before in snapshot.items():
            offered = link.offered - before
            if not link.p_open or link.broken or offered <= capacity:
                if link.end == reasons.TOO_SLOW:
                    self.stats["laggard-cut"] += 1
                continue
            out = link.producer.core.sessions.get(link.key) if link.producer.core else None
            dropped = out.info.stats.dropped if out is not None else 0
            if self.lagging_cut:
                self.violation(
                    "lagging",
                    f"{victim.name} stalled, {offered} datums offered, still subscribed",
                )
            elif dropped == 0:
                self.violation("lagging", f"{victim.name} stalled, {offered} offered, no drops")
            else:
                self.stats["laggard-dropped"] += dropped

    def entitled(self, consumer: _Node) -> bool:
        if not self.tickets_required:
            return True
        return consumer.ticket is TicketKind.VALID

    def final_checks(self) -> None:
        live = [n for n in self.nodes if n.up]
        runs = {n.peer_id: n.incarnation for n in live}
        for node in live:
            assert node.disc is not None
            started = {e.peer_id: e.started_ms for e in node.disc.catalog}
            missing = [n.name for n in live if n is not node and n.peer_id not in started]
            if missing:
                self.violation("discovery", f"{node.name} does not know {missing}")
        del runs
        for c in live:
            if c.producer or not self.entitled(c):
                continue
            for p in live:
                if not p.producer:
                    continue
                st = c.subs.get(p.peer_id)
                if st is None or st.link is None or st.link.accepted_ms is None:
                    self.violation("resume", f"{c.name} is not subscribed to {p.name}")
                    continue
                if st.link.p_run != p.incarnation:
                    self.violation("resume", f"{c.name} is on an old run of {p.name}")
                    continue
                seen = self.recent.get((p.peer_id, p.incarnation, c.peer_id))
                if seen is None or seen < self.now - RECENT_MS:
                    self.violation("resume", f"{c.name} has no recent data from {p.name}")


def run_streams_seed(seed: int) -> StreamsSeedResult:
    return StreamsWorld(seed).run()


def streams_campaign() -> Campaign[StreamsSeedResult]:
    """``python -m pymosaik.sim streams``: seeds of :class:`StreamsWorld`."""
    return Campaign(run_streams_seed, format_streams_failure, footer=_coverage)


def format_streams_failure(result: StreamsSeedResult) -> str:
    lines = [
        f"seed {result.seed}: {len(result.violations)} violation(s); replay with "
        f"python -m pymosaik.sim streams --seed {result.seed}"
    ]
    lines.extend(f"  {v}" for v in result.violations)
    lines.append("  plan:")
    lines.extend(f"    {p}" for p in result.plan)
    return "\n".join(lines)


def _coverage(totals: Counter[str]) -> list[str]:
    """What the seeds exercised, summed: a campaign that never cut a laggard proves little."""
    keys = (
        "sessions",
        "delivered",
        "too-slow-cuts",
        "unknown-peer",
        "resyncs",
        "broken-links",
        "ticket-expired-cuts",
        "stop-NotAllowed",
    )
    return ["coverage: " + " ".join(f"{k}={totals.get(k, 0)}" for k in keys)]
