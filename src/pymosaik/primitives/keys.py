"""Node identity: an Ed25519 key pair; the public half is the `PeerId`.

In mosaik a peer is identified by its iroh endpoint id, an Ed25519 public key.
The port keeps that identity (D5): links prove both PeerIds, and signed peer
entries, bond handshakes and tickets are all verified against it.
"""

from __future__ import annotations

import builtins
import os
from typing import Any, Final, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .id import UniqueId

KEY_LEN: Final = 32
SIGNATURE_LEN: Final = 64


class PeerId:
    """An Ed25519 public key naming one node; hashable, bytewise-ordered."""

    __slots__ = ("_b", "_key")
    _b: bytes
    _key: Ed25519PublicKey

    def __init__(self, raw: builtins.bytes) -> None:
        raw = bytes(raw)
        if len(raw) != KEY_LEN:
            raise ValueError(f"PeerId needs {KEY_LEN} bytes, got {len(raw)}")
        try:
            key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:  # pragma: no cover - cryptography accepts any 32 bytes
            raise ValueError(f"not an Ed25519 public key: {exc}") from exc
        object.__setattr__(self, "_b", raw)
        object.__setattr__(self, "_key", key)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PeerId is immutable")

    @classmethod
    def from_hex(cls, text: str) -> Self:
        try:
            raw = builtins.bytes.fromhex(text)
        except ValueError as exc:
            raise ValueError(f"not a hex PeerId: {text!r}") from exc
        return cls(raw)

    def verify(self, signature: builtins.bytes, message: builtins.bytes) -> bool:
        """True iff ``signature`` is this key's Ed25519 signature over ``message``."""
        if len(signature) != SIGNATURE_LEN:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def as_id(self) -> UniqueId:
        """The key bytes as a UniqueId (mosaik uses the endpoint id as a tag)."""
        return UniqueId(self._b)

    def hex(self) -> str:
        return self._b.hex()

    def short(self) -> str:
        return self._b[:4].hex()

    def __hash__(self) -> int:
        return hash(self._b)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PeerId) and self._b == other._b

    def __lt__(self, other: PeerId) -> bool:
        return self._b < other._b

    def __str__(self) -> str:
        return self._b.hex()

    def __repr__(self) -> str:
        return f"PeerId({self._b.hex()})"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("PeerId is not picklable")

    @property
    def bytes(self) -> builtins.bytes:
        return self._b


class SecretKey:
    """A node's Ed25519 signing key. Its repr never shows the secret."""

    __slots__ = ("_key", "_peer_id", "_seed")
    _seed: bytes
    _key: Ed25519PrivateKey
    _peer_id: PeerId

    def __init__(self, seed: bytes) -> None:
        if len(seed) != KEY_LEN:
            raise ValueError(f"SecretKey seed needs {KEY_LEN} bytes, got {len(seed)}")
        key = Ed25519PrivateKey.from_private_bytes(bytes(seed))
        pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(self, "_seed", bytes(seed))
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_peer_id", PeerId(pub))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SecretKey is immutable")

    @classmethod
    def generate(cls) -> Self:
        return cls(os.urandom(KEY_LEN))

    @classmethod
    def from_id(cls, seed: UniqueId) -> Self:
        """Deterministic key from a 32-byte id (mosaik: ``From<Digest> for SecretKey``)."""
        return cls(seed.bytes)

    @property
    def peer_id(self) -> PeerId:
        return self._peer_id

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def seed_bytes(self) -> bytes:
        """The raw 32-byte seed, for persisting the node key to a 0600 file."""
        return self._seed

    def __repr__(self) -> str:
        return f"SecretKey(peer_id={self._peer_id.short()}…)"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("SecretKey is not picklable")
