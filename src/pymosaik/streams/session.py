"""The stream session protocol without I/O: what each end decides, not how bytes move.

`ProducerCore` owns a producer's consumer sessions: admission (mosaik's
acceptor order, `admission.admit_consumer`), one bounded queue per session,
the lagging policy (cut with ``TooSlow`` or drop and count), ticket expiry
and catalog re-checks. `ConsumerCore` decides which producers to subscribe
to, and each `Subscription` turns a session's ending into the next step
(retry after backoff, re-sync the catalog on ``UnknownPeer`` first, or stop).

Both the asyncio drivers (`producer.py`, `consumer.py`) and the deterministic
simulator (`pymosaik.sim.streams`) run these classes: the drivers only move
frames and sleep for the delays the cores choose. Nothing here reads a clock
or a socket; time is always an argument.

Ordering is the transport's: a session is one reliable FIFO link, frames carry
no sequence number (mosaik's wire has none), and a session that lost a frame
is a broken link — the consumer resubscribes and receives only data published
after the new session was admitted, never a replay.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from ..primitives import NetworkId, PeerId, UniqueId
from ..tickets import Expiration, InvalidTicketError, TicketRequirement
from ..transport import CloseReason, reasons
from .admission import Admission, Predicate, _tickets_expiry, admit_consumer, passes
from .admission import producer_eligible as _producer_eligible
from .directory import PeerView
from .messages import Criteria
from .status import ChannelInfo, ChannelState, OnlineConditions, Stats

__all__ = [
    "HANDSHAKE_TIMEOUT_S",
    "Backoff",
    "ConsumerConfig",
    "ConsumerCore",
    "GiveUp",
    "Outbound",
    "ProducerConfig",
    "ProducerCore",
    "Retry",
    "Stop",
    "Subscription",
    "SubscriptionState",
]


#: Bound on dialling plus the handshake, on both ends: a peer that never answers
#: is treated as an I/O error (consumer: back off and retry; producer: drop).
HANDSHAKE_TIMEOUT_S: Final = 10.0


# ---- configuration -----------------------------------------------------------
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


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; ``max_elapsed_s=None`` retries forever."""

    initial_s: float = 0.05
    factor: float = 2.0
    max_interval_s: float = 5.0
    max_elapsed_s: float | None = 300.0

    def delays(self, rng: random.Random) -> list[float]:
        return list(self.iter_delays(rng, limit=10_000))

    def iter_delays(self, rng: random.Random, limit: int | None = None) -> Iterator[float]:
        """Lazily drawn delays (s); ends when ``max_elapsed_s`` of intervals is spent."""
        interval, total, count = self.initial_s, 0.0, 0
        while self.max_elapsed_s is None or total < self.max_elapsed_s:
            if limit is not None and count >= limit:
                return
            yield rng.uniform(0, interval)
            count += 1
            total += interval
            interval = min(interval * self.factor, self.max_interval_s)


@dataclass(frozen=True)
class ConsumerConfig:
    predicates: tuple[Predicate, ...] = ()
    requirements: tuple[TicketRequirement, ...] = ()
    criteria: Criteria = field(default_factory=Criteria)
    online_when: OnlineConditions = field(default_factory=OnlineConditions)
    backoff: Backoff = field(default_factory=Backoff)
    buffer_size: int = 1024


# ---- producer side -------------------------------------------------------------
@dataclass(eq=False)
class Outbound:
    """One admitted consumer session on the producer: its queue and why it ends."""

    key: int
    info: ChannelInfo
    expires: Expiration
    queue: deque[bytes] = field(default_factory=deque)
    #: Set once the producer decided to end the session (the driver closes the link).
    kick: CloseReason | None = None


@dataclass(frozen=True, slots=True)
class Published:
    """What one `ProducerCore.publish` did: did anyone take it, whom it cut."""

    delivered: bool
    kicked: tuple[Outbound, ...] = ()


class ProducerCore:
    """A producer's sessions and policies; the driver pumps `drain` into links."""

    def __init__(
        self, stream_id: UniqueId, local_id: PeerId, network_id: NetworkId, config: ProducerConfig
    ) -> None:
        self.stream_id = stream_id
        self.local_id = local_id
        self.network_id = network_id
        self.config = config
        self.sessions: dict[int, Outbound] = {}
        self.closed = False
        self.online = False
        self.stats = Stats()

    def lag(self) -> int:
        """Datums queued for the slowest admitted consumer (0 when every one keeps up)."""
        return max((len(o.queue) for o in self.sessions.values() if o.kick is None), default=0)

    # ---- sessions -------------------------------------------------------------
    def admit(
        self,
        key: int,
        peer: PeerView | None,
        *,
        requested_network: UniqueId,
        requested_stream: UniqueId,
        now_ms: int,
        rtt_ms: float | None = None,
    ) -> Admission:
        """Run mosaik's acceptor checks; on success the session ``key`` is connected."""
        decision = admit_consumer(
            peer,
            local_network=self.network_id,
            requested_network=requested_network,
            stream_known=requested_stream == self.stream_id and not self.closed,
            predicates=self.config.predicates,
            requirements=self.config.requirements,
            consumers=self.connected_count(),
            max_consumers=self.config.max_consumers,
            now_ms=now_ms,
            rtt_ms=rtt_ms,
        )
        if decision.refused is None and peer is not None and decision.expires is not None:
            info = ChannelInfo(
                self.stream_id,
                self.local_id,
                peer.peer_id,
                ChannelState.CONNECTED,
                Stats(started_ms=now_ms),
                frozenset(peer.tags),
            )
            self.sessions[key] = Outbound(key, info, decision.expires)
            self._refresh()
        return decision

    def remove(self, key: int) -> Outbound | None:
        """The session's link is gone (whoever closed it)."""
        out = self.sessions.pop(key, None)
        if out is not None:
            out.info.state = ChannelState.TERMINATED
            self._refresh()
        return out

    def kick(self, out: Outbound, reason: CloseReason) -> bool:
        """Decide to end ``out`` with ``reason``; False if it was already ending."""
        if out.kick is not None:
            return False
        out.kick = reason
        out.queue.clear()
        out.info.state = ChannelState.TERMINATED
        self._refresh()
        return True

    def connected_count(self, tags: frozenset[UniqueId] = frozenset()) -> int:
        return sum(1 for s in self.sessions.values() if s.info.is_connected and tags <= s.info.tags)

    def _refresh(self) -> None:
        connected = (s.info.tags for s in self.sessions.values() if s.info.is_connected)
        self.online = not self.closed and self.config.online_when.met_by(connected)

    # ---- data -------------------------------------------------------------------
    def any_full(self) -> bool:
        limit = self.config.buffer_size
        # A plain loop, not any(<genexpr>): this runs once per awaited send.
        for s in self.sessions.values():  # noqa: SIM110
            if len(s.queue) >= limit and s.kick is None:
                return True
        return False

    def publish(self, data: bytes, datum: object = None) -> Published:
        """Queue one encoded datum on every live session, applying the lagging policy.

        A full queue means the consumer has not drained ``buffer_size`` datums:
        it is cut with ``TooSlow`` (``disconnect_lagging``) or misses this one.
        ``datum`` goes to the undelivered sink when no session took it.
        """
        limit = self.config.buffer_size
        delivered = False
        kicked: list[Outbound] = []
        for out in self.sessions.values():
            if out.kick is not None:
                continue
            queue = out.queue
            if len(queue) >= limit:
                if self.config.disconnect_lagging:
                    self.kick(out, reasons.TOO_SLOW)
                    kicked.append(out)
                else:
                    out.info.stats.dropped += 1
                    self.stats.dropped += 1
                continue
            queue.append(data)
            delivered = True
        if delivered:
            self.stats.datums += 1
            self.stats.bytes += len(data)
        elif self.config.undelivered is not None:
            self.config.undelivered(datum)
        return Published(delivered, tuple(kicked))

    def drain(self, out: Outbound, limit: int | None = None) -> list[bytes]:
        """Take up to ``limit`` queued frames of ``out`` for its link, oldest first."""
        queue = out.queue
        if limit is None or limit >= len(queue):
            batch = list(queue)
            queue.clear()
        else:
            batch = [queue.popleft() for _ in range(limit)]
        return batch

    @staticmethod
    def sent(out: Outbound, count: int, size: int) -> None:
        out.info.stats.datums += count
        out.info.stats.bytes += size

    # ---- time and catalog -------------------------------------------------------
    def expire(self, now_ms: int) -> list[Outbound]:
        """Cut (``NotAllowed``) every session whose ticket has expired by ``now_ms``."""
        cut = [s for s in self.sessions.values() if s.kick is None and s.expires.is_expired(now_ms)]
        for out in cut:
            self.kick(out, reasons.STREAM_NOT_ALLOWED)
        return cut

    def next_expiry_ms(self) -> int | None:
        """When `expire` next has work (None: no live session's ticket ever expires)."""
        times = [
            s.expires.at_ms
            for s in self.sessions.values()
            if s.kick is None and s.expires.at_ms is not None
        ]
        return min(times) if times else None

    def recheck(
        self,
        lookup: Callable[[PeerId], PeerView | None],
        rtt: Callable[[PeerId], float | None],
        now_ms: int,
    ) -> list[Outbound]:
        """After a catalog change: cut sessions whose consumer no longer qualifies."""
        cut: list[Outbound] = []
        for out in list(self.sessions.values()):
            if out.kick is not None:
                continue
            peer = lookup(out.info.consumer_id)
            if peer is None:
                continue  # a departed peer's link ends on its own
            if not passes(self.config.predicates, peer, rtt(peer.peer_id)):
                self.kick(out, reasons.STREAM_NOT_ALLOWED)
                cut.append(out)
                continue
            try:
                out.expires = _tickets_expiry(self.config.requirements, peer, now_ms)
            except InvalidTicketError:
                self.kick(out, reasons.STREAM_NOT_ALLOWED)
                cut.append(out)
        return cut

    def close(self) -> list[Outbound]:
        """Stop admitting; every session ends with ``GracefulShutdown``."""
        self.closed = True
        cut = [s for s in list(self.sessions.values()) if self.kick(s, reasons.GRACEFUL_SHUTDOWN)]
        self._refresh()
        return cut


# ---- consumer side -------------------------------------------------------------
class SubscriptionState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Retry:
    """Dial again after ``delay_s``; first re-sync the catalog with the producer if asked."""

    delay_s: float
    resync: bool = False


@dataclass(frozen=True, slots=True)
class Stop:
    """Retrying this producer entry cannot help (until its or our tickets change)."""

    reason: CloseReason


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The backoff budget (``max_elapsed_s``) is spent."""


Next = Retry | Stop | GiveUp

#: Close reasons after which retrying the same producer entry cannot help.
FATAL = frozenset(
    {
        reasons.STREAM_NOT_ALLOWED.code,
        reasons.DIFFERENT_NETWORK.code,
        reasons.PROTOCOL_VIOLATION.code,
    }
)


class Subscription:
    """One consumer → producer subscription across its successive sessions."""

    def __init__(
        self,
        stream_id: UniqueId,
        peer: PeerView,
        local_id: PeerId,
        expires: Expiration,
        *,
        backoff: Backoff,
        rng: random.Random,
    ) -> None:
        self.stream_id = stream_id
        self.peer = peer
        self.expires = expires
        self.backoff = backoff
        self.rng = rng
        self.state = SubscriptionState.CONNECTING
        self.info = ChannelInfo(stream_id, peer.peer_id, local_id, tags=frozenset(peer.tags))
        self.sessions = 0
        self._delays = backoff.iter_delays(rng)

    def on_accepted(self, stream_id: UniqueId, now_ms: int) -> CloseReason | None:
        """The producer admitted us; a mismatched echo is a protocol violation."""
        if stream_id != self.stream_id:
            return reasons.PROTOCOL_VIOLATION
        self.state = SubscriptionState.CONNECTED
        self.info.state = ChannelState.CONNECTED
        self.info.stats.started_ms = now_ms
        self.sessions += 1
        # A session that got through starts a fresh failure sequence: a long-lived
        # subscription must not use up its budget on reconnects spread over days.
        self._delays = self.backoff.iter_delays(self.rng)
        return None

    def on_data(self, count: int, size: int) -> None:
        self.info.stats.datums += count
        self.info.stats.bytes += size

    def producer_expired(self, now_ms: int) -> bool:
        return self.expires.is_expired(now_ms)

    def on_closed(self, reason: CloseReason | None) -> Next:
        """The session ended: ``reason`` from the producer, None for an I/O error or timeout."""
        self.info.state = ChannelState.CONNECTING
        if reason is not None and reason.code in FATAL:
            return self.stop(reason)
        delay = next(self._delays, None)
        if delay is None:
            self.state = SubscriptionState.STOPPED
            self.info.state = ChannelState.TERMINATED
            return GiveUp()
        self.state = SubscriptionState.BACKOFF
        return Retry(delay, resync=reason == reasons.UNKNOWN_PEER)

    def stop(self, reason: CloseReason) -> Stop:
        self.state = SubscriptionState.STOPPED
        self.info.state = ChannelState.TERMINATED
        return Stop(reason)


def _ticket_ids(peer: PeerView) -> frozenset[UniqueId]:
    return frozenset(t.id() for t in peer.tickets)


def refusal_key(peer: PeerView, local: PeerView) -> frozenset[UniqueId]:
    """What must change before a refusing producer is tried again: its or our tickets."""
    return _ticket_ids(peer) | frozenset(t.derive("local") for t in _ticket_ids(local))


class ConsumerCore:
    """Which producers a consumer subscribes to, following the catalog."""

    def __init__(
        self,
        stream_id: UniqueId,
        local_id: PeerId,
        network_id: NetworkId,
        config: ConsumerConfig,
        rng: random.Random,
    ) -> None:
        self.stream_id = stream_id
        self.local_id = local_id
        self.network_id = network_id
        self.config = config
        self.rng = rng
        self.refused: dict[PeerId, frozenset[UniqueId]] = {}

    def eligible(
        self,
        peers: Iterable[PeerView],
        local: PeerView,
        rtt: Callable[[PeerId], float | None],
        now_ms: int,
    ) -> dict[PeerId, tuple[PeerView, Expiration]]:
        """Producers to be subscribed to now, with when their tickets expire."""
        out: dict[PeerId, tuple[PeerView, Expiration]] = {}
        for peer in peers:
            if self.stream_id not in peer.streams:
                continue
            expires = _producer_eligible(
                peer,
                stream_id=self.stream_id,
                local_network=self.network_id,
                predicates=self.config.predicates,
                requirements=self.config.requirements,
                now_ms=now_ms,
                rtt_ms=rtt(peer.peer_id),
            )
            if expires is None:
                continue
            refused = self.refused.get(peer.peer_id)
            if refused is not None and refused == refusal_key(peer, local):
                continue
            out[peer.peer_id] = (peer, expires)
        return out

    def subscription(self, peer: PeerView, expires: Expiration) -> Subscription:
        return Subscription(
            self.stream_id, peer, self.local_id, expires, backoff=self.config.backoff, rng=self.rng
        )

    def refuse(self, peer: PeerView, local: PeerView) -> None:
        """Remember a `Stop` until the producer's or our tickets change."""
        self.refused[peer.peer_id] = refusal_key(peer, local)
