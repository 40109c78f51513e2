"""The reply path of a private submission, and the salted commitment a submitter publishes.

A submitter that goes through the shuffle cannot be answered by address: nobody may learn who
it is. So the sealed payload carries a fresh X25519 reply key and a random 32-byte reply tag
(decision D6). The organism that handles the request publishes its answer HPKE-sealed (RFC 9180
base mode) to that key into a reply collection keyed by the tag; only the submitter knows the
tag to look under and the key to open it, and both are single-use.

A commitment the submitter publishes about its payload is salted, blake3(salt ‖ payload), so
the digest cannot be matched against the cleartext once the committee opens it; the salt is
revealed only when the submitter chooses to claim the submission.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Final

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from pymosaik.primitives.encoding import DecodeError, Wire, decode, encode

from .group import Entropy

_SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_INFO: Final = b"coalition 2026 reply v1"
TAG_LEN: Final = 32
#: Largest request body or reply body carried on this path.
MAX_BODY: Final = 1 << 20


class ReplyError(ValueError):
    """A request or reply that is malformed or does not open."""


class SealedRequest(Wire, frozen=True):
    """What goes inside the sealed box: the request body and where to answer."""

    body: bytes
    reply_key: bytes
    reply_tag: bytes


@dataclass(frozen=True)
class ReplyTicket:
    """What the submitter keeps to find and open its answer. Never logged."""

    tag: bytes
    secret: X25519PrivateKey

    def __repr__(self) -> str:
        return f"ReplyTicket(tag={self.tag.hex()[:12]}…)"


def request(body: bytes, *, entropy: Entropy = os.urandom) -> tuple[bytes, ReplyTicket]:
    """(the plaintext to seal, the ticket to keep) for a request expecting an answer."""
    if len(body) > MAX_BODY:
        raise ReplyError(f"request body is {len(body)} bytes, limit {MAX_BODY}")
    secret = X25519PrivateKey.from_private_bytes(entropy(32))
    tag = entropy(TAG_LEN)
    pub = secret.public_key().public_bytes_raw()
    return encode(SealedRequest(body, pub, tag)), ReplyTicket(tag, secret)


def parse_request(plaintext: bytes) -> SealedRequest:
    """The opened request, strictly decoded; a malformed one is a ReplyError."""
    try:
        req = decode(plaintext, SealedRequest, max_size=MAX_BODY + 256)
    except DecodeError as exc:
        raise ReplyError(f"not a sealed request: {exc}") from exc
    if len(req.reply_key) != 32 or len(req.reply_tag) != TAG_LEN:
        raise ReplyError("reply key and tag are 32 bytes each")
    return req


def seal_reply(req: SealedRequest, body: bytes) -> bytes:
    """The answer, readable only by the holder of the request's reply key."""
    return seal_to(req.reply_key, req.reply_tag, body)


def seal_to(reply_key: bytes, tag: bytes, body: bytes) -> bytes:
    """HPKE base mode to ``reply_key`` with ``tag`` bound in; what ``open_reply`` opens."""
    if len(body) > MAX_BODY:
        raise ReplyError(f"reply body is {len(body)} bytes, limit {MAX_BODY}")
    if len(reply_key) != 32 or len(tag) != TAG_LEN:
        raise ReplyError("reply key and tag are 32 bytes each")
    pub = X25519PublicKey.from_public_bytes(reply_key)
    return _SUITE.encrypt(body, pub, info=_INFO + tag)


def open_reply(ticket: ReplyTicket, sealed: bytes) -> bytes:
    try:
        return _SUITE.decrypt(sealed, ticket.secret, info=_INFO + ticket.tag)
    except (InvalidTag, ValueError) as exc:
        raise ReplyError("reply does not open with this ticket") from exc


def salted_commitment(payload: bytes, salt: bytes) -> bytes:
    if len(salt) != 32:
        raise ValueError("the commitment salt is 32 bytes")
    return blake3.blake3(salt + payload).digest()


def check_commitment(commitment: bytes, payload: bytes, salt: bytes) -> bool:
    return hmac.compare_digest(commitment, salted_commitment(payload, salt))
