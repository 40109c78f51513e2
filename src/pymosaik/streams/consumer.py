"""`Consumer[D]`: subscribe to every eligible producer of a stream and merge their data.

A worker follows the discovery catalog: each producer advertising the stream
that passes the consumer's predicates and ticket requirements gets a
subscription task. Subscriptions re-sync the catalog and retry on
``UnknownPeer``, back off and retry on I/O errors, ``TooSlow`` and shutdowns,
and stop for good on ``NotAllowed``, ``DifferentNetwork`` and undecodable data
(until the producer's entry changes). A producer's ticket expiring ends its
subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from ..primitives import DecodeError, PeerId, UniqueId, decode
from ..tickets import Expiration, TicketRequirement
from ..transport import Link, LinkClosedError, reasons
from .admission import Predicate, producer_eligible
from .builder import GateBuilder
from .directory import PeerView
from .messages import STREAMS_PROTOCOL, ConsumerHandshake, Criteria, SubscriptionAccepted
from .status import ChannelInfo, ChannelState, OnlineConditions, Stats, Watch

if TYPE_CHECKING:
    from .subsystem import Streams

__all__ = ["Backoff", "Consumer", "ConsumerBuilder", "ConsumerConfig"]

D = TypeVar("D")

#: Close reasons after which retrying the same producer entry cannot help.
_FATAL = frozenset(
    {
        reasons.STREAM_NOT_ALLOWED.code,
        reasons.DIFFERENT_NETWORK.code,
        reasons.PROTOCOL_VIOLATION.code,
    }
)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; ``max_elapsed_s=None`` retries forever."""

    initial_s: float = 0.05
    factor: float = 2.0
    max_interval_s: float = 5.0
    max_elapsed_s: float | None = 300.0

    def delays(self, rng: random.Random) -> list[float]:
        out, interval, total = [], self.initial_s, 0.0
        while self.max_elapsed_s is None or total < self.max_elapsed_s:
            delay = rng.uniform(0, interval)
            out.append(delay)
            total += interval
            interval = min(interval * self.factor, self.max_interval_s)
            if len(out) > 10_000:
                break
        return out


@dataclass(frozen=True)
class ConsumerConfig:
    predicates: tuple[Predicate, ...] = ()
    requirements: tuple[TicketRequirement, ...] = ()
    criteria: Criteria = field(default_factory=Criteria)
    online_when: OnlineConditions = field(default_factory=OnlineConditions)
    backoff: Backoff = field(default_factory=Backoff)
    buffer_size: int = 1024


class _StopError(Exception):
    """This producer refused us for good (until its entry changes)."""


class Consumer(Generic[D]):
    """The read side of one stream: an async iterator of ``D``."""

    def __init__(
        self, streams: Streams, stream_id: UniqueId, datum_type: type[D], config: ConsumerConfig
    ) -> None:
        self.stream_id = stream_id
        self.datum_type = datum_type
        self.config = config
        self._streams = streams
        self._queue: asyncio.Queue[D] = asyncio.Queue(config.buffer_size)
        self._subs: dict[PeerId, asyncio.Task[None]] = {}
        self._channels: dict[PeerId, ChannelInfo] = {}
        self._refused: dict[PeerId, frozenset[UniqueId]] = {}
        self._watch = Watch()
        self._closed = False
        self._rng = random.Random()  # noqa: S311 - backoff jitter, not security
        self.stats = Stats(started_ms=streams.clock.now_ms())
        self._worker = asyncio.create_task(self._follow(), name=f"consumer:{stream_id.short()}")

    # ---- receiving ----------------------------------------------------
    async def recv(self) -> D | None:
        """The next datum, or None once the consumer is closed and drained."""
        try:
            return self._queue.get_nowait()  # the common case under load: no waiting
        except asyncio.QueueEmpty:
            pass
        while True:
            if self._closed and self._queue.empty():
                return None
            get = asyncio.ensure_future(self._queue.get())
            closed = asyncio.ensure_future(self._watch.until(lambda: self._closed))
            done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            if get in done:
                return get.result()
            get.cancel()

    def try_recv(self) -> D | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def __aiter__(self) -> AsyncIterator[D]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[D]:
        while (item := await self.recv()) is not None:
            yield item

    # ---- status -------------------------------------------------------
    def producers(self) -> list[ChannelInfo]:
        return list(self._channels.values())

    def connected_count(self) -> int:
        return sum(1 for c in self._channels.values() if c.is_connected)

    def is_online(self) -> bool:
        tags = (c.tags for c in self._channels.values() if c.is_connected)
        return self.config.online_when.met_by(tags)

    async def online(self) -> None:
        await self._watch.until(self.is_online)

    async def subscribed(self, to_at_least: int = 1) -> None:
        await self._watch.until(lambda: self.connected_count() >= to_at_least)

    async def unsubscribed(self) -> None:
        await self._watch.until(lambda: self.connected_count() == 0)

    # ---- following the catalog -----------------------------------------
    async def _follow(self) -> None:
        directory = self._streams.directory
        version = -1
        while not self._closed:
            now = self._streams.clock.now_ms()
            eligible: dict[PeerId, tuple[PeerView, Expiration]] = {}
            for peer in directory.peers():
                expires = producer_eligible(
                    peer,
                    stream_id=self.stream_id,
                    local_network=self._streams.network_id,
                    predicates=self.config.predicates,
                    requirements=self.config.requirements,
                    now_ms=now,
                )
                if expires is None:
                    continue
                refused = self._refused.get(peer.peer_id)
                if refused is not None and refused == _refusal_key(peer, directory.local()):
                    continue
                eligible[peer.peer_id] = (peer, expires)
            for pid in list(self._subs):
                if pid not in eligible:
                    self._subs.pop(pid).cancel()
            for pid, (peer, expires) in eligible.items():
                task = self._subs.get(pid)
                if task is None or task.done():
                    self._subs[pid] = asyncio.create_task(self._subscription(peer, expires))
            version = await directory.changed(version)

    async def _subscription(self, peer: PeerView, expires: Expiration) -> None:
        info = ChannelInfo(
            self.stream_id, peer.peer_id, self._streams.local_id, tags=frozenset(peer.tags)
        )
        self._channels[peer.peer_id] = info
        delays = iter(self.config.backoff.delays(self._rng))
        try:
            while True:
                try:
                    await self._connect_once(peer, info, expires)
                    delay = next(delays)  # the producer ended the stream: come back later
                except _StopError:
                    self._refuse(peer)
                    return
                except LinkClosedError as exc:
                    if exc.reason.code in _FATAL:
                        self._refuse(peer)
                        return
                    if exc.reason == reasons.UNKNOWN_PEER:
                        with contextlib.suppress(Exception):
                            await self._streams.directory.resync(peer.peer_id)
                    delay = next(delays)
                except (OSError, TimeoutError):
                    delay = next(delays)
                info.state = ChannelState.CONNECTING
                self._watch.bump()
                await asyncio.sleep(delay)
        except StopIteration:
            return  # backoff budget exhausted
        finally:
            info.state = ChannelState.TERMINATED
            self._channels.pop(peer.peer_id, None)
            self._watch.bump()

    def _refuse(self, peer: PeerView) -> None:
        self._refused[peer.peer_id] = _refusal_key(peer, self._streams.directory.local())

    async def _connect_once(self, peer: PeerView, info: ChannelInfo, expires: Expiration) -> None:
        streams = self._streams
        link = await streams.endpoint.connect(peer.addr, STREAMS_PROTOCOL)
        try:
            await link.send(
                ConsumerHandshake(streams.network_id, self.stream_id, self.config.criteria)
            )
            accepted = await link.recv(SubscriptionAccepted)
            if accepted.stream_id != self.stream_id:
                await link.close(reasons.PROTOCOL_VIOLATION)
                raise _StopError
            info.state = ChannelState.CONNECTED
            info.stats.started_ms = streams.clock.now_ms()
            self._watch.bump()
            remaining = expires.remaining_ms(streams.clock.now_ms())
            try:
                async with asyncio.timeout(None if remaining is None else remaining / 1000):
                    await self._pump(link, info)
            except TimeoutError:
                await link.close(reasons.STREAM_NOT_ALLOWED)  # the producer's ticket expired
                raise _StopError from None
        finally:
            if not link.is_closed:
                await link.close(reasons.SUCCESS)

    async def _pump(self, link: Link, info: ChannelInfo) -> None:
        queue, typ = self._queue, self.datum_type
        while True:
            batch = await link.recv_raw_many()
            size = 0
            for raw in batch:
                try:
                    datum = decode(raw, typ)
                except DecodeError:
                    await link.close(reasons.PROTOCOL_VIOLATION)
                    raise _StopError from None
                size += len(raw)
                if queue.full():
                    await queue.put(datum)  # backpressure: stop reading the link
                else:
                    queue.put_nowait(datum)
            info.stats.datums += len(batch)
            info.stats.bytes += size
            self.stats.datums += len(batch)
            self.stats.bytes += size

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._watch.bump()
        tasks = [self._worker, *self._subs.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._streams._remove_consumer(self)


def _ticket_ids(peer: PeerView) -> frozenset[UniqueId]:
    return frozenset(t.id() for t in peer.tickets)


def _refusal_key(peer: PeerView, local: PeerView) -> frozenset[UniqueId]:
    """What must change before a refusing producer is tried again: its or our tickets."""
    return _ticket_ids(peer) | frozenset(t.derive("local") for t in _ticket_ids(local))


class ConsumerBuilder(GateBuilder, Generic[D]):
    """``net.streams.consumer(T).require(...).require_ticket(v).build()``."""

    def __init__(self, streams: Streams, datum_type: type[D], stream_id: UniqueId) -> None:
        super().__init__()
        self._streams = streams
        self._type = datum_type
        self._stream_id = stream_id
        self._criteria = Criteria()
        self._backoff = Backoff()

    def with_criteria(self, criteria: Criteria) -> ConsumerBuilder[D]:
        self._criteria = criteria
        return self

    def with_backoff(self, backoff: Backoff) -> ConsumerBuilder[D]:
        self._backoff = backoff
        return self

    def build(self) -> Consumer[D]:
        config = ConsumerConfig(
            tuple(self._predicates),
            tuple(self._requirements),
            self._criteria,
            self._online,
            self._backoff,
            self._buffer,
        )
        return self._streams._add_consumer(self._stream_id, self._type, config)
