"""`Consumer[D]`: subscribe to every eligible producer of a stream and merge their data.

A worker follows the discovery catalog: each producer advertising the stream
that passes the consumer's predicates and ticket requirements gets a
subscription task. Subscriptions re-sync the catalog and retry on
``UnknownPeer``, back off and retry on I/O errors, ``TooSlow`` and shutdowns,
and stop for good on ``NotAllowed``, ``DifferentNetwork`` and undecodable data
(until the producer's entry changes). A producer's ticket expiring ends its
subscription. Those decisions are the sans-IO `session.ConsumerCore` and
`session.Subscription`'s; this module dials, pumps and sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from typing import TYPE_CHECKING, Generic, TypeVar

from ..primitives import DecodeError, PeerId, UniqueId, decode
from ..primitives.aio import TaskScope, Watch
from ..tickets import Expiration
from ..transport import CloseReason, Link, LinkClosedError, reasons
from .builder import GateBuilder
from .directory import PeerView
from .messages import STREAMS_PROTOCOL, ConsumerHandshake, Criteria, SubscriptionAccepted
from .session import (
    HANDSHAKE_TIMEOUT_S,
    Backoff,
    ConsumerConfig,
    ConsumerCore,
    GiveUp,
    Next,
    Stop,
    Subscription,
)
from .status import ChannelInfo, ChannelState, Stats

if TYPE_CHECKING:
    from .subsystem import Streams

__all__ = ["Backoff", "Consumer", "ConsumerBuilder", "ConsumerConfig"]

D = TypeVar("D")


class _StopError(Exception):
    """This producer refused us for good (until its entry changes)."""

    def __init__(self, reason: CloseReason) -> None:
        super().__init__(str(reason))
        self.reason = reason


class Consumer(Generic[D]):
    """The read side of one stream: an async iterator of ``D``."""

    def __init__(
        self, streams: Streams, stream_id: UniqueId, datum_type: type[D], config: ConsumerConfig
    ) -> None:
        self.stream_id = stream_id
        self.datum_type = datum_type
        self.config = config
        self._streams = streams
        # A deque and two events rather than asyncio.Queue: the per-datum cost is
        # most of a subscriber's CPU at high rates (see bench/streams.py).
        self._buffer: deque[D] = deque()
        self._readable = asyncio.Event()  # set: data buffered, or closed
        self._room = asyncio.Event()  # set: the buffer is below buffer_size
        self._room.set()
        self._subs: dict[PeerId, asyncio.Task[None]] = {}
        self._channels: dict[PeerId, ChannelInfo] = {}
        self._watch = Watch()
        self._closed = False
        rng = random.Random()  # noqa: S311 - backoff jitter, not security
        self.core = ConsumerCore(stream_id, streams.local_id, streams.network_id, config, rng)
        self.stats = Stats(started_ms=streams.clock.now_ms())
        self._scope = TaskScope(f"consumer {stream_id.short()}")
        self._scope.spawn(self._follow(), name=f"consumer:{stream_id.short()}")

    # ---- receiving ----------------------------------------------------
    async def recv(self) -> D | None:
        """The next datum, or None once the consumer is closed and drained."""
        buffer = self._buffer
        while not buffer:
            if self._closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        item = buffer.popleft()
        if len(buffer) < self.config.buffer_size:
            self._room.set()
        return item

    def try_recv(self) -> D | None:
        if not self._buffer:
            return None
        item = self._buffer.popleft()
        self._room.set()
        return item

    def __aiter__(self) -> Consumer[D]:
        return self

    async def __anext__(self) -> D:
        buffer = self._buffer
        if buffer:  # the common case under load: no waiting, no extra coroutine
            item = buffer.popleft()
            if len(buffer) < self.config.buffer_size:
                self._room.set()
            return item
        got = await self.recv()
        if got is None:
            raise StopAsyncIteration
        return got

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
            eligible = self.core.eligible(
                directory.peers(), directory.local(), directory.rtt_ms, now
            )
            for pid in list(self._subs):
                if pid not in eligible:
                    self._subs.pop(pid).cancel()
            for pid, (peer, expires) in eligible.items():
                task = self._subs.get(pid)
                if task is None or task.done():
                    self._subs[pid] = self._scope.spawn(self._subscription(peer, expires))
            version = await directory.changed(version)

    async def _subscription(self, peer: PeerView, expires: Expiration) -> None:
        """Drive one `Subscription`: dial, pump, and do what the core says next."""
        sub = self.core.subscription(peer, expires)
        self._channels[peer.peer_id] = sub.info
        try:
            while True:
                step: Next
                try:
                    await self._connect_once(sub)
                    step = sub.on_closed(reasons.SUCCESS)  # the producer ended the stream
                except _StopError as exc:
                    step = sub.stop(exc.reason)
                except LinkClosedError as exc:
                    step = sub.on_closed(exc.reason)
                except (OSError, TimeoutError):
                    step = sub.on_closed(None)
                if isinstance(step, Stop):
                    self.core.refuse(peer, self._streams.directory.local())
                    return
                if isinstance(step, GiveUp):
                    return
                if step.resync:
                    with contextlib.suppress(Exception):
                        await self._streams.directory.resync(peer.peer_id)
                self._watch.bump()
                await asyncio.sleep(step.delay_s)
        finally:
            sub.info.state = ChannelState.TERMINATED
            self._channels.pop(peer.peer_id, None)
            self._watch.bump()

    async def _connect_once(self, sub: Subscription) -> None:
        streams = self._streams
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
            link = await streams.endpoint.connect(sub.peer.addr, STREAMS_PROTOCOL)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                await link.send(
                    ConsumerHandshake(streams.network_id, self.stream_id, self.config.criteria)
                )
                accepted = await link.recv(SubscriptionAccepted)
            violation = sub.on_accepted(accepted.stream_id, streams.clock.now_ms())
            if violation is not None:
                await link.close(violation)
                raise _StopError(violation)
            self._watch.bump()
            now = streams.clock.now_ms()
            if sub.producer_expired(now):
                await link.close(reasons.STREAM_NOT_ALLOWED)
                raise _StopError(reasons.STREAM_NOT_ALLOWED)
            remaining = sub.expires.remaining_ms(now)
            try:
                async with asyncio.timeout(None if remaining is None else remaining / 1000):
                    await self._pump(link, sub)
            except TimeoutError:
                await link.close(reasons.STREAM_NOT_ALLOWED)  # the producer's ticket expired
                raise _StopError(reasons.STREAM_NOT_ALLOWED) from None
        finally:
            if not link.is_closed:
                await link.close(reasons.SUCCESS)

    async def _pump(self, link: Link, sub: Subscription) -> None:
        buffer, typ, limit = self._buffer, self.datum_type, self.config.buffer_size
        readable, room = self._readable, self._room
        while True:
            batch = await link.recv_raw_many()
            size = 0
            for raw in batch:
                try:
                    datum = decode(raw, typ)
                except DecodeError:
                    await link.close(reasons.PROTOCOL_VIOLATION)
                    raise _StopError(reasons.PROTOCOL_VIOLATION) from None
                size += len(raw)
                while len(buffer) >= limit:  # backpressure: stop reading the link
                    readable.set()
                    room.clear()
                    await room.wait()
                buffer.append(datum)
            readable.set()
            sub.on_data(len(batch), size)
            self.stats.datums += len(batch)
            self.stats.bytes += size

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._watch.bump()
        self._readable.set()
        try:
            await self._scope.aclose()
        finally:
            self._streams._remove_consumer(self)


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
