"""What producer and consumer builders share: peer predicates, tickets, online, buffer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from ..tickets import Require, TicketRequirement, TicketValidator
from .admission import Predicate
from .status import OnlineConditions

__all__ = ["GateBuilder", "as_requirement"]


def as_requirement(v: TicketValidator | TicketRequirement) -> TicketRequirement:
    """A bare validator means "some ticket of its class passes"."""
    if isinstance(v, TicketRequirement):
        return v
    return Require(v)


class GateBuilder:
    """Builder methods common to both ends of a stream (each returns the builder)."""

    def __init__(self) -> None:
        self._predicates: list[Predicate] = []
        self._requirements: list[TicketRequirement] = []
        self._online = OnlineConditions()
        self._buffer = 1024

    def require(self, predicate: Predicate) -> Self:
        """The remote peer's entry must satisfy ``predicate`` (AND-composed)."""
        self._predicates.append(predicate)
        return self

    def require_ticket(self, validator: TicketValidator | TicketRequirement) -> Self:
        """The remote peer must hold a valid ticket (stackable; earliest expiry wins)."""
        self._requirements.append(as_requirement(validator))
        return self

    def online_when(self, conditions: Callable[[OnlineConditions], OnlineConditions]) -> Self:
        self._online = conditions(OnlineConditions())
        return self

    def with_buffer_size(self, n: int) -> Self:
        if n < 1:
            raise ValueError("buffer size must be positive")
        self._buffer = n
        return self
