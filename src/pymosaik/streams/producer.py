"""`Producer[D]`: fan a typed stream out to every admitted consumer.

Each datum is encoded once; every consumer has its own bounded queue and
sender loop, so a slow consumer never blocks the others. A consumer whose
queue is full is disconnected with ``TooSlow`` (``disconnect_lagging``, the
default) or misses that datum (counted in ``stats.dropped``). Consumers are
admitted by the pure rules in `admission` and dropped again when their
tickets expire or the catalog changes so that they no longer qualify. Every
decision is the sans-IO `session.ProducerCore`'s; this module moves frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from ..primitives import Clock, PeerId, UniqueId, encode
from ..primitives.aio import Watch
from ..transport import CloseReason, Link, LinkClosedError, reasons
from .builder import GateBuilder
from .directory import Directory, PeerView
from .messages import ConsumerHandshake, SubscriptionAccepted
from .session import Outbound, ProducerConfig, ProducerCore
from .status import ChannelInfo, Stats

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


@dataclass(eq=False)
class _Subscriber:
    """The I/O half of one session; its queue and fate live in the core's `Outbound`."""

    link: Link
    out: Outbound
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    kicked: asyncio.Event = field(default_factory=asyncio.Event)


class Producer(Generic[D]):
    """The write side of one stream on this node: drives a `ProducerCore` over links."""

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
        self.core = ProducerCore(stream_id, streams.local_id, streams.network_id, config)
        self._subs: dict[int, _Subscriber] = {}
        self._keys = itertools.count()
        self._watch = Watch()
        self._space = Watch()

    # ---- status -------------------------------------------------------
    @property
    def local_id(self) -> PeerId:
        return self._streams.local_id

    @property
    def stats(self) -> Stats:
        return self.core.stats

    def lag(self) -> int:
        """Datums queued for the slowest consumer (a lagging reader; see `ProducerCore.lag`)."""
        return self.core.lag()

    def is_online(self) -> bool:
        return self.core.online

    def consumers(self) -> list[ChannelInfo]:
        return [s.info for s in self.core.sessions.values()]

    def subscribed_count(self, tags: frozenset[UniqueId] = frozenset()) -> int:
        return self.core.connected_count(tags)

    async def online(self) -> None:
        await self._watch.until(lambda: self.is_online() or self.core.closed)

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
        if not self.core.online:
            await self.online()
        core = self.core
        if core.any_full():
            try:
                async with asyncio.timeout(self.config.lag_timeout_s):
                    await self._space.until(lambda: not core.any_full())
            except TimeoutError:
                pass  # publish below evicts (or skips) whoever is still full
        self.try_send(datum)

    def try_send(self, datum: D) -> None:
        """Send without waiting; `Offline` / `Closed` hand the datum back."""
        if not self.core.online:
            if self.core.closed:
                raise Closed(datum, "producer is closed")
            raise Offline(datum, "producer is offline")
        result = self.core.publish(encode(datum), datum)
        for out in result.kicked:
            self._ended(out)
        for sub in self._subs.values():
            if sub.out.queue:
                sub.wake.set()

    def _kick(self, out: Outbound, reason: CloseReason) -> None:
        if self.core.kick(out, reason):
            self._ended(out)

    def _ended(self, out: Outbound) -> None:
        """The core decided to end ``out``: wake its session task and status waiters."""
        sub = self._subs.get(out.key)
        if sub is not None:
            sub.kicked.set()
        self._watch.bump()
        self._space.bump()

    # ---- serving one consumer (runs inside the link's accept handler) ---
    async def accept(self, link: Link, peer: PeerView, hs: ConsumerHandshake) -> None:
        """Admit (or refuse) the consumer on ``link``, then serve it until the session ends."""
        clock = self._streams.clock
        key = next(self._keys)
        decision = self.core.admit(
            key,
            peer,
            requested_network=hs.network_id,
            requested_stream=hs.stream_id,
            now_ms=clock.now_ms(),
            rtt_ms=self._streams.directory.rtt_ms(peer.peer_id),
        )
        if decision.refused is not None:
            await link.close(decision.refused)
            return
        sub = _Subscriber(link, self.core.sessions[key])
        self._subs[key] = sub
        try:
            await link.send(SubscriptionAccepted(self.stream_id))
            self._watch.bump()
            reason = await self._run(sub, clock)
            with contextlib.suppress(LinkClosedError):
                await link.close(reason)
        finally:
            del self._subs[key]
            self.core.remove(key)
            self._watch.bump()
            self._space.bump()

    async def _run(self, sub: _Subscriber, clock: Clock) -> CloseReason:
        """Pump data until the consumer leaves, is kicked, or its ticket expires."""
        sender = asyncio.ensure_future(self._sender(sub))
        closed = asyncio.ensure_future(sub.link.closed())
        kicked = asyncio.ensure_future(sub.kicked.wait())
        waiters: list[asyncio.Future[object]] = [sender, closed, kicked]  # type: ignore[list-item]
        out = sub.out
        try:
            while True:
                now = clock.now_ms()
                if out.expires.is_expired(now):
                    self._kick(out, reasons.STREAM_NOT_ALLOWED)  # the consumer's ticket expired
                if out.kick is not None:
                    return out.kick
                remaining = out.expires.remaining_ms(now)
                done, _ = await asyncio.wait(
                    waiters,
                    timeout=None if remaining is None else remaining / 1000 + 0.001,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if out.kick is not None:
                    return out.kick
                if sender in done:
                    return sender.result() if not sender.cancelled() else reasons.SUCCESS
                if closed in done:
                    return reasons.SUCCESS
        finally:
            for fut in waiters:
                fut.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _sender(self, sub: _Subscriber) -> CloseReason:
        link, out, core = sub.link, sub.out, self.core
        while True:
            if not out.queue:
                sub.wake.clear()
                await sub.wake.wait()
                continue
            batch = core.drain(out)
            try:
                size = link.feed_raw_many(batch)
                await link.flush()
            except LinkClosedError:
                return reasons.SUCCESS
            core.sent(out, len(batch), size)
            self._space.bump()

    # ---- catalog changes and shutdown ---------------------------------
    def recheck(self, directory: Directory, now_ms: int) -> None:
        """Drop consumers that no longer qualify (left the catalog, lost tickets, too far)."""
        for out in self.core.recheck(directory.get, directory.rtt_ms, now_ms):
            self._ended(out)

    async def close(self) -> None:
        """Stop accepting, disconnect every consumer, and remove the stream."""
        if self.core.closed:
            return
        for out in self.core.close():
            self._ended(out)
        self._watch.bump()
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
