"""Requirements over a peer's whole ticket set, and their all-of / any-of composition.

A peer carries many tickets; a validator reads one class. mosaik's
``PeerEntry::validate_ticket`` keeps the *longest* validity among the peer's
tickets of the validator's class, and ``validate_tickets`` demands every
validator and keeps the *earliest* expiry. `Require`, `AllOf` and `AnyOf`
generalise that:

* ``Require(v)``: some ticket of v's class passes; the latest expiry wins;
* ``AllOf(a, b, …)``: every part passes; the earliest expiry wins (empty: Never);
* ``AnyOf(a, b, …)``: at least one part passes; the latest expiry wins (empty: refuse).

Signatures: ``Require(v)`` is v's own signature (what mosaik folds into group
ids); composites hash a domain tag with their parts' signatures sorted and
deduplicated, because the accepted peers do not depend on the order.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final, Protocol, runtime_checkable

from pymosaik.primitives import UniqueId, unique_id

from .expiration import NEVER, Expiration
from .ticket import Ticket
from .validator import InvalidTicketError, PeerIdentity, TicketValidator

__all__ = ["AllOf", "AnyOf", "Require", "TicketRequirement", "validate_ticket"]

_ALL_OF: Final = unique_id("pymosaik.tickets.all_of.v1")
_ANY_OF: Final = unique_id("pymosaik.tickets.any_of.v1")


@runtime_checkable
class TicketRequirement(Protocol):
    """A condition on a peer's tickets, with the expiry of its satisfaction."""

    def signature(self) -> UniqueId: ...

    def evaluate(
        self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int
    ) -> Expiration: ...


def validate_ticket(
    validator: TicketValidator,
    tickets: Collection[Ticket],
    peer: PeerIdentity,
    now_ms: int,
) -> Expiration:
    """The longest validity among ``peer``'s tickets of the validator's class."""
    best: Expiration | None = None
    cls = validator.ticket_class()
    for ticket in tickets:
        if ticket.class_id != cls:
            continue
        try:
            expiration = validator.validate(ticket.data, peer, now_ms)
        except InvalidTicketError:
            continue
        if best is None or expiration > best:
            best = expiration
    if best is None:
        raise InvalidTicketError("no valid ticket of the required class")
    return best


class Require:
    """At least one of the peer's tickets passes ``validator``."""

    __slots__ = ("validator",)

    def __init__(self, validator: TicketValidator) -> None:
        self.validator = validator

    def signature(self) -> UniqueId:
        return self.validator.signature()

    def evaluate(self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int) -> Expiration:
        return validate_ticket(self.validator, tickets, peer, now_ms)


def _requirement(part: TicketRequirement | TicketValidator) -> TicketRequirement:
    if isinstance(part, TicketRequirement):
        return part
    return Require(part)


def _fold(tag: UniqueId, parts: tuple[TicketRequirement, ...]) -> UniqueId:
    signature = tag
    for child in sorted({p.signature() for p in parts}):
        signature = signature.derive(child.bytes)
    return signature


class AllOf:
    """Every part must pass; valid until the earliest part lapses."""

    __slots__ = ("parts",)

    def __init__(self, *parts: TicketRequirement | TicketValidator) -> None:
        self.parts = tuple(_requirement(p) for p in parts)

    def signature(self) -> UniqueId:
        return _fold(_ALL_OF, self.parts)

    def evaluate(self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int) -> Expiration:
        earliest = NEVER
        for part in self.parts:
            earliest = min(earliest, part.evaluate(tickets, peer, now_ms))
        return earliest


class AnyOf:
    """At least one part must pass; valid until the latest passing part lapses."""

    __slots__ = ("parts",)

    def __init__(self, *parts: TicketRequirement | TicketValidator) -> None:
        self.parts = tuple(_requirement(p) for p in parts)

    def signature(self) -> UniqueId:
        return _fold(_ANY_OF, self.parts)

    def evaluate(self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int) -> Expiration:
        latest: Expiration | None = None
        for part in self.parts:
            try:
                expiration = part.evaluate(tickets, peer, now_ms)
            except InvalidTicketError:
                continue
            if latest is None or expiration > latest:
                latest = expiration
        if latest is None:
            raise InvalidTicketError("no alternative is satisfied")
        return latest
