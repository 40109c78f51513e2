"""`Producer[D]`: fan a typed stream out to every admitted consumer.

Each datum is encoded once; every consumer has its own bounded queue and
sender loop, so a slow consumer never blocks the others. A consumer whose
queue is full is disconnected with ``TooSlow`` (``disconnect_lagging``, the
default) or misses that datum (counted in ``stats.dropped``). Consumers are
admitted by the pure rules in `admission` and dropped again when their
tickets expire or the catalog changes so that they no longer qualify.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from ..primitives import Clock, PeerId, UniqueId, encode
from ..tickets import Expiration, InvalidTicketError, TicketRequirement
from ..transport import CloseReason, Link, LinkClosedError, reasons
from .admission import Predicate, _tickets_expiry
from .builder import GateBuilder
from .directory import Directory
from .messages import SubscriptionAccepted
from .status import ChannelInfo, ChannelState, OnlineConditions, Stats, Watch

if TYPE_CHECKING:
    from .subsystem import Streams

__all__ = ["Closed", "Offline", "Producer", "ProducerBuilder", "ProducerConfig", "ProducerError"]

D = TypeVar("D")


class ProducerError(Exception, Generic[D]):
    """A datum that was not sent, handed back to the caller."""

    def __init__(self, datum: D, message: str) -> None:
        super().__init__(message)
        self.datum = datum


class Offline(ProducerError[D]):
    """The producer's online conditions are not met."""


class Closed(ProducerError[D]):
    """The producer was closed."""


@dataclass(frozen=True)
class ProducerConfig:
    predicates: tuple[Predicate, ...] = ()
    requirements: tuple[TicketRequirement, ...] = ()
    online_when: OnlineConditions = field(default_factory=OnlineConditions)
    disconnect_lagging: bool = True
    buffer_size: int = 1024
    max_consumers: int | None = None
    undelivered: Callable[[object], None] | None = None
    #: How long an awaited ``send`` waits for a full consumer queue before ``TooSlow``.
    lag_timeout_s: float = 1.0


@dataclass
class _Subscriber:
    link: Link
    info: ChannelInfo
    expires: Expiration
    queue: deque[bytes] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    kicked: asyncio.Event = field(default_factory=asyncio.Event)
    kick: CloseReason | None = None


class Producer(Generic[D]):
    """The write side of one stream on this node."""

    def __init__(
        self,
        streams: Streams,
        stream_id: UniqueId,
        datum_type: type[D],
        config: ProducerConfig,
    ) -> None:
        self.stream_id = stream_id
        self.datum_type = datum_type
        self.config = config
        self._streams = streams
        self._subs: dict[int, _Subscriber] = {}
        self._watch = Watch()
        self._space = Watch()
        self._closed = False
        self._online = False
        self.stats = Stats()

    # ---- status -------------------------------------------------------
    @property
    def local_id(self) -> PeerId:
        return self._streams.local_id

    def is_online(self) -> bool:
        return self._online

    def _status_changed(self) -> None:
        """Recompute the cached online flag and wake status waiters."""
        connected = (s.info.tags for s in self._subs.values() if s.info.is_connected)
        self._online = not self._closed and self.config.online_when.met_by(connected)
        self._watch.bump()

    def consumers(self) -> list[ChannelInfo]:
        return [s.info for s in self._subs.values()]

    def subscribed_count(self, tags: frozenset[UniqueId] = frozenset()) -> int:
        return sum(1 for s in self._subs.values() if s.info.is_connected and tags <= s.info.tags)

    async def online(self) -> None:
        await self._watch.until(lambda: self.is_online() or self._closed)

    async def offline(self) -> None:
        await self._watch.until(lambda: not self.is_online())

    async def subscribed(self, minimum: int = 1, *tags: UniqueId) -> None:
        want = frozenset(tags)
        await self._watch.until(lambda: self.subscribed_count(want) >= minimum)

    async def unsubscribed(self) -> None:
        await self._watch.until(lambda: self.subscribed_count() == 0)

    # ---- sending ------------------------------------------------------
    async def send(self, datum: D) -> None:
        """Wait until online and until every consumer has room, then hand ``datum`` over.

        A consumer whose queue stays full for ``lag_timeout_s`` is disconnected
        with ``TooSlow`` (or, without ``disconnect_lagging``, skipped), so one
        stuck consumer delays the stream by at most that long.
        """
        if not self._online:
            await self.online()
        if self._any_full():
            try:
                async with asyncio.timeout(self.config.lag_timeout_s):
                    await self._space.until(lambda: not self._any_full())
            except TimeoutError:
                pass  # _fanout below evicts (or skips) whoever is still full
        self.try_send(datum)

    def _any_full(self) -> bool:
        limit = self.config.buffer_size
        return any(len(s.queue) >= limit for s in self._subs.values() if s.info.is_connected)

    def try_send(self, datum: D) -> None:
        """Send without waiting; `Offline` / `Closed` hand the datum back."""
        if not self._online:
            if self._closed:
                raise Closed(datum, "producer is closed")
            raise Offline(datum, "producer is offline")
        self._fanout(datum, encode(datum))

    def _fanout(self, datum: D, data: bytes) -> None:
        delivered = False
        for sub in self._subs.values():
            if not sub.info.is_connected:
                continue
            if len(sub.queue) >= self.config.buffer_size:
                if self.config.disconnect_lagging:
                    self._kick(sub, reasons.TOO_SLOW)
                else:
                    sub.info.stats.dropped += 1
                    self.stats.dropped += 1
                continue
            sub.queue.append(data)
            sub.wake.set()
            delivered = True
        if delivered:
            self.stats.datums += 1
            self.stats.bytes += len(data)
        elif self.config.undelivered is not None:
            self.config.undelivered(datum)

    def _kick(self, sub: _Subscriber, reason: CloseReason) -> None:
        if sub.kick is None:
            sub.kick = reason
            sub.info.state = ChannelState.TERMINATED
            sub.kicked.set()
            self._status_changed()
            self._space.bump()

    # ---- serving one admitted consumer (runs inside the link's accept handler)
    async def serve(self, link: Link, tags: frozenset[UniqueId], expires: Expiration) -> None:
        clock = self._streams.clock
        info = ChannelInfo(
            self.stream_id,
            self.local_id,
            link.peer_id,
            ChannelState.CONNECTED,
            Stats(started_ms=clock.now_ms()),
            tags,
        )
        sub = _Subscriber(link, info, expires)
        key = id(sub)
        self._subs[key] = sub
        await link.send(SubscriptionAccepted(self.stream_id))
        self._status_changed()
        try:
            reason = await self._run(sub, clock)
            with contextlib.suppress(LinkClosedError):
                await link.close(reason)
        finally:
            sub.info.state = ChannelState.TERMINATED
            del self._subs[key]
            self._status_changed()

    async def _run(self, sub: _Subscriber, clock: Clock) -> CloseReason:
        """Pump data until the consumer leaves, is kicked, or its ticket expires."""
        sender = asyncio.ensure_future(self._sender(sub))
        closed = asyncio.ensure_future(sub.link.closed())
        kicked = asyncio.ensure_future(sub.kicked.wait())
        waiters: list[asyncio.Future[object]] = [sender, closed, kicked]  # type: ignore[list-item]
        try:
            while True:
                now = clock.now_ms()
                if sub.expires.is_expired(now):
                    return reasons.STREAM_NOT_ALLOWED  # the consumer's ticket expired
                remaining = sub.expires.remaining_ms(now)
                done, _ = await asyncio.wait(
                    waiters,
                    timeout=None if remaining is None else remaining / 1000 + 0.001,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if kicked in done and sub.kick is not None:
                    return sub.kick
                if sender in done:
                    result = sender.result() if not sender.cancelled() else reasons.SUCCESS
                    return result
                if closed in done:
                    return reasons.SUCCESS
        finally:
            for fut in waiters:
                fut.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _sender(self, sub: _Subscriber) -> CloseReason:
        link = sub.link
        while True:
            if not sub.queue:
                sub.wake.clear()
                await sub.wake.wait()
                continue
            batch = list(sub.queue)
            sub.queue.clear()
            try:
                size = link.feed_raw_many(batch)
                await link.flush()
            except LinkClosedError:
                return reasons.SUCCESS
            sub.info.stats.datums += len(batch)
            sub.info.stats.bytes += size
            self._space.bump()

    # ---- catalog changes and shutdown ---------------------------------
    def recheck(self, directory: Directory, now_ms: int) -> None:
        """Drop consumers that no longer qualify (left the catalog, lost tickets)."""
        for sub in list(self._subs.values()):
            peer = directory.get(sub.link.peer_id)
            if peer is None:
                continue  # a departed peer's link ends on its own
            if not all(p(peer) for p in self.config.predicates):
                self._kick(sub, reasons.STREAM_NOT_ALLOWED)
                continue
            try:
                sub.expires = _tickets_expiry(self.config.requirements, peer, now_ms)
            except InvalidTicketError:
                self._kick(sub, reasons.STREAM_NOT_ALLOWED)

    async def close(self) -> None:
        """Stop accepting, disconnect every consumer, and remove the stream."""
        if self._closed:
            return
        self._closed = True
        self._status_changed()
        for sub in list(self._subs.values()):
            self._kick(sub, reasons.GRACEFUL_SHUTDOWN)
        self._streams._remove_producer(self)
        await self._watch.until(lambda: not self._subs)


class ProducerBuilder(GateBuilder, Generic[D]):
    """``net.streams.producer(T).require(...).require_ticket(v).online_when(...).build()``."""

    def __init__(self, streams: Streams, datum_type: type[D], stream_id: UniqueId) -> None:
        super().__init__()
        self._streams = streams
        self._type = datum_type
        self._stream_id = stream_id
        self._lagging = True
        self._max: int | None = None
        self._undelivered: Callable[[object], None] | None = None
        self._lag_timeout = 1.0

    def disconnect_lagging(self, enabled: bool) -> ProducerBuilder[D]:
        self._lagging = enabled
        return self

    def with_lag_timeout(self, seconds: float) -> ProducerBuilder[D]:
        self._lag_timeout = seconds
        return self

    def with_max_consumers(self, n: int) -> ProducerBuilder[D]:
        self._max = n
        return self

    def with_undelivered_sink(self, sink: Callable[[object], None]) -> ProducerBuilder[D]:
        self._undelivered = sink
        return self

    def build(self) -> Producer[D]:
        config = ProducerConfig(
            tuple(self._predicates),
            tuple(self._requirements),
            self._online,
            self._lagging,
            self._buffer,
            self._max,
            self._undelivered,
            self._lag_timeout,
        )
        return self._streams._add_producer(self._stream_id, self._type, config)
