"""ristretto255 through libsodium: the only module that touches the curve library.

Why libsodium (via pysodium, a thin ctypes binding over Debian's libsodium23): PyNaCl ships its
own libsodium but does not expose the ``crypto_core_ristretto255_*`` functions, and a pure-Python
curve would be both slow and a second implementation of audited code. Decision 0010 records
the choice. Elements are kept as their canonical 32-byte encodings, so every element that
exists in this process has already been validated by libsodium.
"""

from __future__ import annotations

from typing import Final

import blake3
import pysodium  # type: ignore[import-untyped]

from .group import InvalidElementError

#: ℓ = 2^252 + 27742317777372353535851937790883648493, the order of the ristretto255 group.
ORDER: Final = 2**252 + 27742317777372353535851937790883648493
_IDENTITY: Final = bytes(32)
_LEN: Final = 32


class Ristretto255:
    """The ristretto255 group; elements are canonical 32-byte encodings."""

    name: str = "ristretto255"
    order: int = ORDER
    element_len: int = _LEN
    scalar_len: int = _LEN

    def __init__(self) -> None:
        self._g: bytes = bytes(
            pysodium.crypto_scalarmult_ristretto255_base((1).to_bytes(32, "little"))
        )

    def generator(self) -> bytes:
        return self._g

    def identity(self) -> bytes:
        return _IDENTITY

    def add(self, a: bytes, b: bytes) -> bytes:
        return bytes(pysodium.crypto_core_ristretto255_add(a, b))

    def neg(self, a: bytes) -> bytes:
        return bytes(pysodium.crypto_core_ristretto255_sub(_IDENTITY, a))

    def mul(self, k: int, a: bytes) -> bytes:
        k %= ORDER
        if k == 0 or a == _IDENTITY:
            return _IDENTITY
        return bytes(pysodium.crypto_scalarmult_ristretto255(k.to_bytes(32, "little"), a))

    def base_mul(self, k: int) -> bytes:
        k %= ORDER
        if k == 0:
            return _IDENTITY
        return bytes(pysodium.crypto_scalarmult_ristretto255_base(k.to_bytes(32, "little")))

    def eq(self, a: bytes, b: bytes) -> bool:
        # Encodings are canonical, so equal elements have equal bytes.
        return a == b

    def encode(self, a: bytes) -> bytes:
        return a

    def decode(self, data: bytes, *, allow_identity: bool = False) -> bytes:
        data = bytes(data)
        if len(data) != _LEN or not pysodium.crypto_core_ristretto255_is_valid_point(data):
            raise InvalidElementError("not a canonical ristretto255 encoding")
        if data == _IDENTITY and not allow_identity:
            raise InvalidElementError("the identity element is refused here")
        return data

    def hash_to_element(self, context: str, message: bytes) -> bytes:
        """Elligator map of a 64-byte blake3 output (libsodium's from_hash)."""
        digest = blake3.blake3(message, derive_key_context=context).digest(64)
        return bytes(pysodium.crypto_core_ristretto255_from_hash(digest))


RISTRETTO255: Final = Ristretto255()
