"""`Ticket`: an opaque, typed credential a peer attaches to its discovery entry."""

from __future__ import annotations

from typing import TypeAlias

from pymosaik.primitives import UniqueId, Wire

__all__ = ["Ticket", "TicketClass"]

#: Names the credential scheme, and so which validator reads the data.
TicketClass: TypeAlias = UniqueId


class Ticket(Wire, frozen=True):
    """``class_id`` says how to read ``data``; discovery never interprets either.

    Tickets are public (they travel in signed peer entries): never put secrets
    in ``data``, only signed tokens or proofs.
    """

    class_id: TicketClass
    data: bytes

    def id(self) -> UniqueId:
        """mosaik's ``Ticket::id``: ``class.derive(data)``; the key in a peer's ticket map."""
        return self.class_id.derive(self.data)

    def __repr__(self) -> str:
        return f"Ticket({self.class_id.short()}, {len(self.data)} bytes)"
