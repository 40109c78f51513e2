"""Tickets: opaque, typed credentials peers attach to their discovery entries.

* `Ticket` (class id + opaque data) and `Expiration` (Never / At(ms));
* `TicketValidator` — checks one ticket for one peer at a given time, and names
  its configuration with ``signature()`` (folded into group ids);
* `Require` / `AllOf` / `AnyOf` — requirements over a peer's ticket set, with
  all-of taking the earliest expiry and any-of the latest;
* `Jwt` / `JwtTicketBuilder` — JWT tickets (EdDSA, ES256, HS256) on PyJWT.

See docs/spec/tickets.md.
"""

from .compose import AllOf, AnyOf, Require, TicketRequirement, validate_ticket
from .expiration import NEVER, Expiration
from .jwt import (
    JWT_CLASS,
    EdDsa,
    EdDsaSigningKey,
    Es256,
    Es256SigningKey,
    Hs256,
    Jwt,
    JwtSigningKey,
    JwtTicketBuilder,
    JwtVerifyingKey,
)
from .ticket import Ticket, TicketClass
from .validator import InvalidTicketError, PeerIdentity, PeerInfo, TicketValidator

__all__ = [
    "JWT_CLASS",
    "NEVER",
    "AllOf",
    "AnyOf",
    "EdDsa",
    "EdDsaSigningKey",
    "Es256",
    "Es256SigningKey",
    "Expiration",
    "Hs256",
    "InvalidTicketError",
    "Jwt",
    "JwtSigningKey",
    "JwtTicketBuilder",
    "JwtVerifyingKey",
    "PeerIdentity",
    "PeerInfo",
    "Require",
    "Ticket",
    "TicketClass",
    "TicketRequirement",
    "TicketValidator",
    "validate_ticket",
]
