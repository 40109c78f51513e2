"""The coalition-scoped ticket issuer at run time: issuing, and recognising its root.

Tickets are issued under ``TICKETS_ROOT = coalition_root.derive("tickets")``
and their ticket class *is* that root, so a component recognises an issuer by
putting `RecogniseIssuer(root, keys)` in its validator composition and nothing
else changes for components that do not. The keys allowed to sign are the
issuer ACL's ``require-peer`` clauses (the issuance committee's identities),
which are folded into the root; rotating the issuer's ACL therefore moves the
root, and tickets of the old root fail for every component that pinned the new
one — and only for those (book: "Ticket issuance — Rotation").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from pymosaik.primitives import (
    DecodeError,
    NetworkId,
    PeerId,
    SecretKey,
    UniqueId,
    Wire,
    decode,
    encode,
    unique_id,
)
from pymosaik.tickets import Expiration, InvalidTicketError, PeerIdentity, Ticket

from .acl import ClauseKind
from .config import CoalitionConfig

__all__ = [
    "IssuedTicket",
    "RecogniseIssuer",
    "TicketIssuer",
    "coalition_issuer_keys",
    "recognise_coalition_issuer",
]

_DOMAIN: Final = b"coalition.ticket.v1|"
MAX_TICKET_BYTES: Final = 1024


class IssuedTicket(Wire, frozen=True):
    """The ticket body: who it is for, on which network, for how long, signed by whom."""

    root: UniqueId
    subject: bytes  # the holder's PeerId
    network: NetworkId
    issued_ms: int
    expires_ms: int | None
    issuer: bytes  # the signing key's PeerId
    signature: bytes = b""

    def signing_bytes(self) -> bytes:
        body = (self.root, self.subject, self.network, self.issued_ms, self.expires_ms, self.issuer)
        return _DOMAIN + encode(body)


class TicketIssuer:
    """One member of the issuance committee: signs tickets under the coalition's root."""

    def __init__(self, root: UniqueId, key: SecretKey) -> None:
        self.root = root
        self._key = key

    @classmethod
    def for_coalition(cls, cfg: CoalitionConfig, key: SecretKey) -> TicketIssuer:
        root = cfg.ticket_issuer_root()
        if root is None:
            raise ValueError(f"coalition {cfg.instance_name!r} ships no ticket issuer")
        if key.peer_id not in _authorised(cfg):
            raise ValueError("this key is not in the ticket issuer's ACL (require-peer clauses)")
        return cls(root, key)

    def issue(self, subject: PeerId, network: NetworkId, now_ms: int, ttl_ms: int | None) -> Ticket:
        expires = None if ttl_ms is None else now_ms + ttl_ms
        body = IssuedTicket(
            self.root, subject.bytes, network, now_ms, expires, self._key.peer_id.bytes
        )
        signed = IssuedTicket(
            body.root,
            body.subject,
            body.network,
            body.issued_ms,
            body.expires_ms,
            body.issuer,
            self._key.sign(body.signing_bytes()),
        )
        return Ticket(self.root, encode(signed))


class RecogniseIssuer:
    """A TicketValidator accepting tickets of one issuer root signed by one of its keys."""

    def __init__(self, root: UniqueId, keys: Iterable[PeerId]) -> None:
        self.root = root
        self.keys = frozenset(keys)
        if not self.keys:
            raise ValueError("an issuer needs at least one authorised key")

    def ticket_class(self) -> UniqueId:
        return self.root

    def signature(self) -> UniqueId:
        sig = unique_id("coalition.recognise_issuer.v1").derive(self.root.bytes)
        for key in sorted(k.bytes for k in self.keys):
            sig = sig.derive(key)
        return sig

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        try:
            t = decode(data, IssuedTicket, max_size=MAX_TICKET_BYTES)
        except DecodeError as exc:
            raise InvalidTicketError(f"malformed coalition ticket: {exc}") from None
        if t.root != self.root:
            raise InvalidTicketError("ticket from another issuer root")
        if t.subject != peer.peer_id.bytes:
            raise InvalidTicketError("ticket issued to another peer")
        if t.network != peer.network_id:
            raise InvalidTicketError("ticket issued for another network")
        try:
            issuer = PeerId(t.issuer)
        except ValueError:
            raise InvalidTicketError("malformed issuer key") from None
        if issuer not in self.keys:
            raise InvalidTicketError("ticket signed by a key the issuer does not authorise")
        if not issuer.verify(t.signature, t.signing_bytes()):
            raise InvalidTicketError("bad ticket signature")
        if t.issued_ms > now_ms + 60_000:
            raise InvalidTicketError("ticket issued in the future")
        if t.expires_ms is None:
            return Expiration.never()
        if t.expires_ms < now_ms:
            raise InvalidTicketError("ticket expired")
        return Expiration.at(t.expires_ms)


def _authorised(cfg: CoalitionConfig) -> frozenset[PeerId]:
    if cfg.ticket_issuer is None:
        return frozenset()
    return frozenset(
        PeerId(c.value) for c in cfg.ticket_issuer.acl.clauses if c.kind is ClauseKind.REQUIRE_PEER
    )


def coalition_issuer_keys(cfg: CoalitionConfig) -> Callable[[UniqueId], frozenset[PeerId]]:
    """An `AclContext` lookup: the keys that sign the coalition's own tickets, for its root."""
    root, keys = cfg.ticket_issuer_root(), _authorised(cfg)
    return lambda asked: keys if root is not None and asked == root else frozenset()


def recognise_coalition_issuer(cfg: CoalitionConfig) -> RecogniseIssuer:
    """The book's ``TicketValidator::new().recognise_issuer(cfg.ticket_issuer_root()?)``."""
    root = cfg.ticket_issuer_root()
    if root is None:
        raise ValueError(f"coalition {cfg.instance_name!r} ships no ticket issuer")
    keys = _authorised(cfg)
    if not keys:
        raise ValueError("the ticket issuer's ACL names no require-peer key to verify against")
    return RecogniseIssuer(root, keys)
