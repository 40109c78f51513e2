"""What a link proves: the peers' Ed25519 identities, their network, the channel binding.

After the Noise XX handshake each side sends one `Hello` as its first encrypted
frame. Its signature is the node's Ed25519 identity key over

    "pymosaik/transport/1/identity" ‖ own X25519 static key ‖ handshake hash ‖ NetworkId

The handshake hash commits to the whole Noise transcript (both ephemeral and
both static keys), so the signature cannot be replayed into another session and
ties the PeerId to the X25519 key that Noise proved possession of. The same hash
is the link's channel binding; `export_secret` derives per-label secrets from
it the way mosaik's ``Link::shared_random`` uses the TLS exporter.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pymosaik.primitives import KEY_LEN, SIGNATURE_LEN, PeerId, SecretKey, UniqueId, Wire

__all__ = [
    "IDENTITY_DOMAIN",
    "MAX_CONTROL_BODY",
    "MAX_PROTOCOL_NAME",
    "NOISE_PROTOCOL_NAME",
    "PROLOGUE",
    "CloseFrame",
    "Hello",
    "IdentityError",
    "check_protocol_name",
    "export_secret",
    "identity_transcript",
    "sign_hello",
    "verify_hello",
]

#: The Noise protocol every link runs (Noise spec rev 34 naming).
NOISE_PROTOCOL_NAME: Final = b"Noise_XX_25519_ChaChaPoly_BLAKE2s"
#: Mixed into the handshake hash: a different transport version fails the handshake.
PROLOGUE: Final = b"pymosaik/transport/1"
IDENTITY_DOMAIN: Final = b"pymosaik/transport/1/identity"
EXPORTER_DOMAIN: Final = b"pymosaik/transport/1/exporter"
#: Protocol names play the part of ALPN ids; mosaik's are like "/mosaik/streams/1.0".
MAX_PROTOCOL_NAME: Final = 255
#: Ceiling on HELLO and CLOSE frame bodies, far above their real size.
MAX_CONTROL_BODY: Final = 1024


class IdentityError(ValueError):
    """A Hello whose signature does not verify or whose fields are malformed."""


class Hello(Wire, frozen=True):
    """First encrypted frame in each direction: who I am and what I speak."""

    peer_id: bytes  # 32-byte Ed25519 public key
    network_id: UniqueId
    protocol: str  # initiator: requested protocol; responder: the accepted one
    signature: bytes  # 64-byte Ed25519 signature over identity_transcript(...)


class CloseFrame(Wire, frozen=True):
    """Body of the last frame of a link: mosaik's close code and name."""

    code: int
    name: str


def check_protocol_name(protocol: str) -> str:
    """Protocol names are 1..255 bytes of UTF-8 without NUL."""
    size = len(protocol.encode("utf-8"))
    if not 0 < size <= MAX_PROTOCOL_NAME or "\x00" in protocol:
        raise ValueError(f"invalid protocol name {protocol!r}")
    return protocol


def identity_transcript(static_key: bytes, handshake_hash: bytes, network_id: UniqueId) -> bytes:
    """The bytes a node signs to bind its PeerId to this Noise session."""
    return IDENTITY_DOMAIN + static_key + handshake_hash + network_id.bytes


def sign_hello(
    key: SecretKey,
    static_key: bytes,
    handshake_hash: bytes,
    network_id: UniqueId,
    protocol: str,
) -> Hello:
    signature = key.sign(identity_transcript(static_key, handshake_hash, network_id))
    return Hello(key.peer_id.bytes, network_id, protocol, signature)


def verify_hello(hello: Hello, remote_static: bytes, handshake_hash: bytes) -> PeerId:
    """The PeerId ``hello`` proves for the peer holding ``remote_static``, or IdentityError."""
    if len(hello.peer_id) != KEY_LEN or len(hello.signature) != SIGNATURE_LEN:
        raise IdentityError("malformed hello")
    try:
        check_protocol_name(hello.protocol)
        peer = PeerId(hello.peer_id)
    except ValueError as exc:
        raise IdentityError(str(exc)) from exc
    message = identity_transcript(remote_static, handshake_hash, hello.network_id)
    if not peer.verify(hello.signature, message):
        raise IdentityError("identity signature does not verify")
    return peer


def export_secret(handshake_hash: bytes, protocol: str, label: bytes) -> UniqueId:
    """A 32-byte secret both ends derive alike: HKDF-SHA256 over the channel binding.

    ``info`` = exporter domain ‖ u8(len protocol) ‖ protocol ‖ label, mirroring the
    TLS exporter's (label, ALPN context) pair that mosaik uses.
    """
    proto = protocol.encode("utf-8")
    info = EXPORTER_DOMAIN + bytes((len(proto),)) + proto + label
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
    return UniqueId(hkdf.derive(handshake_hash))
