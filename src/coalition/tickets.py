"""The optional coalition-scoped ticket issuer (book: "Ticket issuance").

Deliberately thin: a name and an ACL folded into the coalition root, and the
issuance root ``coalition_root.derive("tickets")``. Components opt in by
recognising that root in their own validator composition; nothing is compelled.
"""

from __future__ import annotations

from pymosaik.primitives import UniqueId, Wire

from .acl import AclComposition
from .identity import SCHEMA_VERSION_U8, check_name, hash_many, u8

__all__ = ["TicketIssuerConfig", "coalition_ticket_issuer_root"]


class TicketIssuerConfig(Wire, frozen=True):
    """Issuer role/name and the ACL governing who runs issuance."""

    name: str
    acl: AclComposition = AclComposition.OPEN

    def __post_init__(self) -> None:
        check_name("ticket issuer name", self.name)

    def fingerprint(self) -> UniqueId:
        """hash_many("ticket-issuer|", schema, "|", name, acl fp)."""
        return hash_many(
            [b"ticket-issuer|", u8(SCHEMA_VERSION_U8), b"|", self.name, self.acl.fingerprint()]
        )


def coalition_ticket_issuer_root(coalition_root: UniqueId) -> UniqueId:
    """TICKETS_ROOT = COALITION_ROOT.derive("tickets")."""
    return coalition_root.derive("tickets")
