"""Streams over real loopback links. The catalog is a small in-test directory here;
tests/net/ run the same flows over real discovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from pymosaik.primitives import (
    UNIVERSE,
    PeerId,
    SecretKey,
    SystemClock,
    UniqueId,
    Wire,
    unique_id,
)
from pymosaik.primitives.aio import Watch
from pymosaik.streams import Backoff, ChannelState, Offline, Streams, rtt_below
from pymosaik.tickets import Expiration, InvalidTicketError, PeerIdentity, Ticket
from pymosaik.transport import Endpoint, EndpointAddr, reasons

TICKET_CLASS = unique_id("test.ticket")


class Tick(Wire, frozen=True):
    STREAM_SCHEMA: ClassVar[str] = "test.tick.v1"
    seq: int
    body: bytes = b""


class Other(Wire, frozen=True):
    name: str


@dataclass
class Entry:
    peer_id: PeerId
    addr: EndpointAddr
    network_id: UniqueId = UNIVERSE
    tags: frozenset[UniqueId] = frozenset()
    streams: frozenset[UniqueId] = frozenset()
    tickets: tuple[Ticket, ...] = ()


@dataclass
class World:
    """Every node's published entry; nodes see only what they have 'discovered'."""

    entries: dict[PeerId, Entry] = field(default_factory=dict)
    watch: Watch = field(default_factory=Watch)


class Dir:
    def __init__(self, world: World, me: PeerId, *, knows_all: bool = True) -> None:
        self.world, self.me, self.knows_all = world, me, knows_all
        self.known: set[PeerId] = set()
        self.resyncs = 0
        self.rtts: dict[PeerId, float] = {}

    def _visible(self, pid: PeerId) -> bool:
        return pid != self.me and (self.knows_all or pid in self.known)

    def get(self, peer_id: PeerId) -> Entry | None:
        return self.world.entries.get(peer_id) if self._visible(peer_id) else None

    def local(self) -> Entry:
        return self.world.entries[self.me]

    def peers(self) -> Iterable[Entry]:
        return [e for p, e in self.world.entries.items() if self._visible(p)]

    @property
    def version(self) -> int:
        return self.world.watch.version

    async def changed(self, since: int) -> int:
        return await self.world.watch.changed(since)

    async def resync(self, peer: PeerId) -> None:
        self.resyncs += 1
        # A catalog sync with `peer` teaches *it* about us.
        other = self.world.entries[peer]
        for d in DIRS:
            if d.me == other.peer_id:
                d.known.add(self.me)
        self.world.watch.bump()

    def advertise_stream(self, stream_id: UniqueId) -> None:
        e = self.world.entries[self.me]
        e.streams = e.streams | {stream_id}
        self.world.watch.bump()

    def withdraw_stream(self, stream_id: UniqueId) -> None:
        e = self.world.entries[self.me]
        e.streams = e.streams - {stream_id}
        self.world.watch.bump()

    def rtt_ms(self, peer: PeerId) -> float | None:
        return self.rtts.get(peer)


DIRS: list[Dir] = []


@dataclass
class Node:
    endpoint: Endpoint
    streams: Streams
    directory: Dir


@pytest.fixture
async def world() -> AsyncIterator[tuple[World, list[Node]]]:
    w = World()
    nodes: list[Node] = []
    DIRS.clear()
    try:
        yield w, nodes
    finally:
        for n in nodes:
            await n.streams.aclose()
            await n.endpoint.aclose()


async def add_node(w: World, nodes: list[Node], *, knows_all: bool = True, **entry: object) -> Node:
    ep = Endpoint(SecretKey.generate(), UNIVERSE)
    await ep.start()
    w.entries[ep.peer_id] = Entry(ep.peer_id, ep.addr, **entry)  # type: ignore[arg-type]
    d = Dir(w, ep.peer_id, knows_all=knows_all)
    DIRS.append(d)
    node = Node(ep, Streams(ep, d, UNIVERSE, SystemClock()), d)
    nodes.append(node)
    w.watch.bump()
    return node


async def take(consumer: object, n: int, timeout: float = 10.0) -> list[Tick]:
    out: list[Tick] = []
    async with asyncio.timeout(timeout):
        async for item in consumer:  # type: ignore[attr-defined]
            out.append(item)
            if len(out) == n:
                break
    return out


async def test_one_producer_three_consumers_in_order(world: tuple[World, list[Node]]) -> None:
    w, nodes = world
    prod = await add_node(w, nodes)
    cons = [await add_node(w, nodes) for _ in range(3)]
    producer = prod.streams.produce(Tick)
    consumers = [c.streams.consume(Tick) for c in cons]
    async with asyncio.timeout(10):
        await producer.subscribed(3)
    with pytest.raises(Offline):
        prod.streams.produce(Other, stream_id="other").try_send(Other("x"))
    for i in range(200):
        await producer.send(Tick(i, b"x" * 200))
    results = await asyncio.gather(*(take(c, 200) for c in consumers))
    for got in results:
        assert [t.seq for t in got] == list(range(200))
    assert producer.stats.datums == 200
    assert all(info.stats.datums == 200 for info in producer.consumers())


async def test_unknown_consumer_resyncs_then_subscribes(world: tuple[World, list[Node]]) -> None:
    w, nodes = world
    prod = await add_node(w, nodes, knows_all=False)
    cons = await add_node(w, nodes)
    producer = prod.streams.produce(Tick)
    consumer = cons.streams.consumer(Tick).with_backoff(Backoff(initial_s=0.01)).build()
    async with asyncio.timeout(10):
        await consumer.subscribed()
    assert cons.directory.resyncs >= 1  # it was refused with UnknownPeer first
    await producer.send(Tick(7))
    assert [t.seq for t in await take(consumer, 1)] == [7]


class OnlyWithTicket:
    """Accepts tickets whose data is b'ok' (optionally expiring at a given time)."""

    def __init__(self, expires_at: int | None = None) -> None:
        self.expires_at = expires_at

    def ticket_class(self) -> UniqueId:
        return TICKET_CLASS

    def signature(self) -> UniqueId:
        return unique_id("test.only-with-ticket")

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        if data != b"ok":
            raise InvalidTicketError("wrong ticket")
        if self.expires_at is None:
            return Expiration.never()
        return Expiration.at(self.expires_at)


async def test_ticket_gating_refuses_then_admits(world: tuple[World, list[Node]]) -> None:
    w, nodes = world
    prod = await add_node(w, nodes)
    cons = await add_node(w, nodes)
    producer = prod.streams.producer(Tick).require_ticket(OnlyWithTicket()).build()
    consumer = cons.streams.consumer(Tick).with_backoff(Backoff(initial_s=0.01)).build()
    await asyncio.sleep(0.5)
    assert producer.subscribed_count() == 0
    assert consumer.connected_count() == 0  # refused with NotAllowed: not retried blindly
    # The consumer obtains a ticket; its entry changes; it tries again and is admitted.
    w.entries[cons.endpoint.peer_id].tickets = (Ticket(TICKET_CLASS, b"ok"),)
    w.watch.bump()
    async with asyncio.timeout(10):
        await producer.subscribed()
    await producer.send(Tick(1))
    assert [t.seq for t in await take(consumer, 1)] == [1]


async def test_expired_ticket_disconnects_mid_stream(world: tuple[World, list[Node]]) -> None:
    w, nodes = world
    prod = await add_node(w, nodes)
    cons = await add_node(w, nodes, tickets=(Ticket(TICKET_CLASS, b"ok"),))
    expires = SystemClock().now_ms() + 800
    producer = prod.streams.producer(Tick).require_ticket(OnlyWithTicket(expires)).build()
    consumer = cons.streams.consume(Tick)
    async with asyncio.timeout(10):
        await producer.subscribed()
    await producer.send(Tick(1))
    assert [t.seq for t in await take(consumer, 1)] == [1]
    async with asyncio.timeout(10):
        await producer.unsubscribed()
    assert SystemClock().now_ms() >= expires


async def test_revoked_ticket_disconnects_on_catalog_change(
    world: tuple[World, list[Node]],
) -> None:
    w, nodes = world
    prod = await add_node(w, nodes)
    cons = await add_node(w, nodes, tickets=(Ticket(TICKET_CLASS, b"ok"),))
    producer = prod.streams.producer(Tick).require_ticket(OnlyWithTicket()).build()
    cons.streams.consume(Tick)
    async with asyncio.timeout(10):
        await producer.subscribed()
    w.entries[cons.endpoint.peer_id].tickets = ()
    w.watch.bump()
    async with asyncio.timeout(10):
        await producer.unsubscribed()


async def test_lagging_consumer_is_disconnected_too_slow(world: tuple[World, list[Node]]) -> None:
    w, nodes = world
    prod = await add_node(w, nodes)
    fast = await add_node(w, nodes)
    slow = await add_node(w, nodes)
    producer = prod.streams.producer(Tick).with_buffer_size(8).build()
    fast_c = fast.streams.consume(Tick)
    slow_c = slow.streams.consumer(Tick).with_buffer_size(1).build()  # never read
    async with asyncio.timeout(10):
        await producer.subscribed(2)
    slow_id = slow.endpoint.peer_id
    got: list[Tick] = []

    async def drain() -> None:
        async for t in fast_c:
            got.append(t)

    reader = asyncio.create_task(drain())
    kicked = False
    for i in range(50_000):
        await producer.send(Tick(i, b"y" * 1024))
        if not any(c.consumer_id == slow_id and c.is_connected for c in producer.consumers()):
            kicked = True
            break
        if i % 64 == 0:
            await asyncio.sleep(0)
    assert kicked, "a consumer that never reads must be disconnected"
    assert slow_c.connected_count() <= 1
    await asyncio.sleep(0.2)
    reader.cancel()
    assert got  # the fast consumer kept receiving


async def test_decode_error_stops_the_subscription(world: tuple[World, list[Node]]) -> None:
    w, nodes = world
    prod = await add_node(w, nodes)
    cons = await add_node(w, nodes)
    producer = prod.streams.producer(Other, stream_id="shared").build()
    consumer = cons.streams.consumer(Tick, stream_id="shared").build()
    async with asyncio.timeout(10):
        await producer.subscribed()
    await producer.send(Other("not a tick"))
    async with asyncio.timeout(10):
        await producer.unsubscribed()
    await asyncio.sleep(0.3)
    assert consumer.connected_count() == 0  # ProtocolViolation: not retried
    assert consumer.try_recv() is None


async def test_max_consumers_and_closing(world: tuple[World, list[Node]]) -> None:
    w, nodes = world
    prod = await add_node(w, nodes)
    a, b = await add_node(w, nodes), await add_node(w, nodes)
    producer = prod.streams.producer(Tick).with_max_consumers(1).build()
    ca = a.streams.consumer(Tick).with_backoff(Backoff(initial_s=0.05, max_elapsed_s=1)).build()
    cb = b.streams.consumer(Tick).with_backoff(Backoff(initial_s=0.05, max_elapsed_s=1)).build()
    async with asyncio.timeout(10):
        await producer.subscribed()
    await asyncio.sleep(0.3)
    assert producer.subscribed_count() == 1
    assert ca.connected_count() + cb.connected_count() == 1
    await producer.close()
    assert producer.subscribed_count() == 0
    assert all(c.state is ChannelState.TERMINATED for c in producer.consumers())
    assert reasons.NO_CAPACITY.code == 10_509


async def test_consumer_and_producer_rtt_predicates(world: tuple[World, list[Node]]) -> None:
    """``require(rtt_below(ms))`` on either end, fed by the directory's smoothed RTT."""
    w, nodes = world
    near = await add_node(w, nodes)
    far = await add_node(w, nodes)
    cons = await add_node(w, nodes)
    cons.directory.rtts = {near.endpoint.peer_id: 3.0, far.endpoint.peer_id: 400.0}
    p_near = near.streams.produce(Tick)
    p_far = far.streams.produce(Tick)
    consumer = cons.streams.consumer(Tick).require(rtt_below(100)).build()
    async with asyncio.timeout(10):
        await p_near.subscribed()
    await asyncio.sleep(0.2)
    assert p_far.subscribed_count() == 0
    assert [c.producer_id for c in consumer.producers()] == [near.endpoint.peer_id]
    # The far producer's link improves: the next catalog change brings it in.
    cons.directory.rtts[far.endpoint.peer_id] = 20.0
    w.watch.bump()
    async with asyncio.timeout(10):
        await p_far.subscribed()

    # Producer side: a consumer measured as too far is refused, then cut when it degrades.
    strict_node = await add_node(w, nodes)
    strict = (
        strict_node.streams.producer(Other, stream_id="rtt.other").require(rtt_below(50)).build()
    )
    strict_node.directory.rtts = {cons.endpoint.peer_id: 10.0}
    other = (
        cons.streams.consumer(Other, stream_id="rtt.other")
        .with_backoff(Backoff(initial_s=0.01))
        .build()
    )
    async with asyncio.timeout(10):
        await strict.subscribed()
    strict_node.directory.rtts[cons.endpoint.peer_id] = 80.0
    w.watch.bump()
    async with asyncio.timeout(10):
        await strict.unsubscribed()
    await asyncio.sleep(0.2)
    assert other.connected_count() == 0  # NotAllowed: not retried until tickets change


async def test_small_consumer_buffer_applies_backpressure_without_loss(
    world: tuple[World, list[Node]],
) -> None:
    """A reader slower than the stream holds the link back; nothing is lost or reordered."""
    w, nodes = world
    prod = await add_node(w, nodes)
    cons = await add_node(w, nodes)
    producer = prod.streams.producer(Tick).with_buffer_size(512).build()
    consumer = cons.streams.consumer(Tick).with_buffer_size(2).build()
    async with asyncio.timeout(10):
        await producer.subscribed()
    for i in range(300):
        await producer.send(Tick(i))
    got: list[int] = []
    peak = 0
    async with asyncio.timeout(10):
        while len(got) < 300:
            peak = max(peak, len(consumer._buffer))
            item = await consumer.recv()
            assert item is not None
            got.append(item.seq)
            if len(got) % 50 == 0:
                await asyncio.sleep(0.01)  # the buffer fills while we are away
    assert got == list(range(300))
    assert 0 < peak <= 2  # the buffer filled, and never past its size
    await consumer.close()
    assert await consumer.recv() is None  # closed and drained
