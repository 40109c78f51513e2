"""`TicketValidator`: structured, expiration-aware checks of one ticket for one peer.

mosaik's trait, with the clock passed in (``now_ms``) so validation is a pure
function and simulations control time. ``signature()`` names the validator's
type and configuration; groups fold it into their GroupId, so two members with
different validator settings never bond.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pymosaik.primitives import NetworkId, PeerId, UniqueId

from .expiration import Expiration
from .ticket import TicketClass

__all__ = ["InvalidTicketError", "PeerIdentity", "PeerInfo", "TicketValidator"]


class InvalidTicketError(ValueError):
    """The ticket does not authorise this peer (mosaik's ``InvalidTicket``)."""


@runtime_checkable
class PeerIdentity(Protocol):
    """What a validator may know of the peer presenting a ticket.

    Discovery's peer entries and transport `Link`s both have these attributes.
    """

    @property
    def peer_id(self) -> PeerId: ...

    @property
    def network_id(self) -> NetworkId: ...


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A plain `PeerIdentity`."""

    peer_id: PeerId
    network_id: NetworkId


@runtime_checkable
class TicketValidator(Protocol):
    """Checks tickets of one class."""

    def ticket_class(self) -> TicketClass:
        """Only tickets of this class are handed to `validate`."""
        ...

    def signature(self) -> UniqueId:
        """Deterministic id of the validator type and its whole configuration."""
        ...

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        """How long ``data`` authorises ``peer``; raise `InvalidTicketError` if it does not."""
        ...
