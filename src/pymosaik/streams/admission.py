"""Who may subscribe, and to whom a consumer subscribes: pure decisions, no I/O.

The driver asks these functions and acts on the answer, so every admission
rule is testable with plain values and a chosen ``now_ms``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..primitives import UniqueId
from ..tickets import AllOf, Expiration, InvalidTicketError, TicketRequirement
from ..transport import CloseReason, reasons
from .directory import PeerView

__all__ = ["Admission", "Predicate", "admit_consumer", "producer_eligible"]

Predicate = Callable[[PeerView], bool]


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
) -> Admission:
    """The producer side of mosaik's acceptor, in its order of checks."""
    if peer is None:
        return Admission(reasons.UNKNOWN_PEER)
    if requested_network != local_network:
        return Admission(reasons.DIFFERENT_NETWORK)
    if not stream_known:
        return Admission(reasons.STREAM_NOT_FOUND)
    if not all(p(peer) for p in predicates):
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
) -> Expiration | None:
    """The consumer side: None if ``peer`` is not a producer to subscribe to."""
    if stream_id not in peer.streams or peer.network_id != local_network:
        return None
    if not all(p(peer) for p in predicates):
        return None
    try:
        return _tickets_expiry(requirements, peer, now_ms)
    except InvalidTicketError:
        return None
