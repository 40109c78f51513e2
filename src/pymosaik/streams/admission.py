"""Who may subscribe, and to whom a consumer subscribes: pure decisions, no I/O.

The driver asks these functions and acts on the answer, so every admission
rule is testable with plain values and a chosen ``now_ms``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from ..primitives import NetworkId, PeerId, UniqueId
from ..tickets import AllOf, Expiration, InvalidTicketError, Ticket, TicketRequirement
from ..transport import CloseReason, EndpointAddr, reasons
from .directory import PeerView

__all__ = [
    "Admission",
    "PeerInfo",
    "Predicate",
    "admit_consumer",
    "producer_eligible",
    "rtt_below",
]


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A catalog entry plus what this node measured about the peer (mosaik's ``PeerInfo``).

    Predicates see this view so they can gate on the link as well as on the
    signed entry; ``rtt_ms`` is discovery's RFC 6298 smoothed RTT, None before
    the first ping answer.
    """

    entry: PeerView
    rtt_ms: float | None = None

    @property
    def peer_id(self) -> PeerId:
        return self.entry.peer_id

    @property
    def network_id(self) -> NetworkId:
        return self.entry.network_id

    @property
    def addr(self) -> EndpointAddr:
        return self.entry.addr

    @property
    def tags(self) -> Collection[UniqueId]:
        return self.entry.tags

    @property
    def streams(self) -> Collection[UniqueId]:
        return self.entry.streams

    @property
    def tickets(self) -> Collection[Ticket]:
        return self.entry.tickets

    def rtt_below(self, threshold_ms: float) -> bool:
        """mosaik's rule: optimistic (True) until there is a measurement saying otherwise."""
        return self.rtt_ms is None or self.rtt_ms < threshold_ms


Predicate = Callable[[PeerInfo], bool]


def rtt_below(threshold_ms: float) -> Predicate:
    """``.require(rtt_below(50))``: only peers whose smoothed RTT is under 50 ms.

    A peer without an RTT sample yet passes (mosaik's optimism); once a sample
    says it is too far it stops qualifying at the next catalog re-evaluation.
    """
    if threshold_ms <= 0:
        raise ValueError("an RTT threshold must be positive")

    def check(peer: PeerInfo) -> bool:
        return peer.rtt_below(threshold_ms)

    return check


def passes(predicates: Sequence[Predicate], peer: PeerView, rtt_ms: float | None) -> bool:
    if not predicates:
        return True
    info = PeerInfo(peer, rtt_ms)
    return all(p(info) for p in predicates)


@dataclass(frozen=True)
class Admission:
    """Accepted until ``expires`` (tickets), or refused with a close reason."""

    refused: CloseReason | None
    expires: Expiration | None = None


def _tickets_expiry(
    requirements: Sequence[TicketRequirement], peer: PeerView, now_ms: int
) -> Expiration:
    return AllOf(*requirements).evaluate(tuple(peer.tickets), peer, now_ms)


def admit_consumer(
    peer: PeerView | None,
    *,
    local_network: UniqueId,
    requested_network: UniqueId,
    stream_known: bool,
    predicates: Sequence[Predicate],
    requirements: Sequence[TicketRequirement],
    consumers: int,
    max_consumers: int | None,
    now_ms: int,
    rtt_ms: float | None = None,
) -> Admission:
    """The producer side of mosaik's acceptor, in its order of checks."""
    if peer is None:
        return Admission(reasons.UNKNOWN_PEER)
    if requested_network != local_network:
        return Admission(reasons.DIFFERENT_NETWORK)
    if not stream_known:
        return Admission(reasons.STREAM_NOT_FOUND)
    if not passes(predicates, peer, rtt_ms):
        return Admission(reasons.STREAM_NOT_ALLOWED)
    try:
        expires = _tickets_expiry(requirements, peer, now_ms)
    except InvalidTicketError:
        return Admission(reasons.STREAM_NOT_ALLOWED)
    if max_consumers is not None and consumers >= max_consumers:
        return Admission(reasons.NO_CAPACITY)
    return Admission(None, expires)


def producer_eligible(
    peer: PeerView,
    *,
    stream_id: UniqueId,
    local_network: UniqueId,
    predicates: Sequence[Predicate],
    requirements: Sequence[TicketRequirement],
    now_ms: int,
    rtt_ms: float | None = None,
) -> Expiration | None:
    """The consumer side: None if ``peer`` is not a producer to subscribe to."""
    if stream_id not in peer.streams or peer.network_id != local_network:
        return None
    if not passes(predicates, peer, rtt_ms):
        return None
    try:
        return _tickets_expiry(requirements, peer, now_ms)
    except InvalidTicketError:
        return None
