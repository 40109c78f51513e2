"""`UniqueId`: mosaik's 32-byte identity, byte-exact with mosaik 0.3.18.

Every stream, group, store, network and peer tag in mosaik is a `UniqueId`.
The rules (see docs/spec/identity.md) are:

* from a str or bytes input: if it is exactly 64 hex characters (either case)
  the decoded bytes are the id, otherwise the id is blake3(input);
* ``derive(info) = blake3(self || info)``, ``hashed() = blake3(self)``;
* ``from_parts(p...) = blake3(p0 || p1 || ...)`` (plain concatenation);
* ``from_uN(n)``: n little-endian, right-aligned in 32 zero bytes, unhashed;
* ordering is bytewise, display is lowercase hex.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable
from typing import Any, Final, Self, TypeAlias

import blake3

ID_LEN: Final = 32
_HEX_LEN: Final = 2 * ID_LEN
_HEXDIGITS: Final = frozenset(b"0123456789abcdefABCDEF")

BytesLike: TypeAlias = bytes | bytearray | memoryview


def _blake3(*parts: BytesLike) -> bytes:
    hasher = blake3.blake3()
    for part in parts:
        hasher.update(part)
    digest: bytes = hasher.digest()
    return digest


def _as_bytes(info: str | BytesLike) -> bytes:
    return info.encode("utf-8") if isinstance(info, str) else bytes(info)


def _try_hex32(raw: bytes) -> bytes | None:
    """Decode exactly 64 hex digits (either case) to 32 bytes, else None."""
    if len(raw) != _HEX_LEN or not _HEXDIGITS.issuperset(raw):
        return None
    return bytes.fromhex(raw.decode("ascii"))


class UniqueId:
    """An immutable, hashable, bytewise-ordered 32-byte identifier."""

    __slots__ = ("_b",)
    _b: bytes

    def __init__(self, raw: BytesLike) -> None:
        raw = bytes(raw)
        if len(raw) != ID_LEN:
            raise ValueError(f"UniqueId needs exactly {ID_LEN} bytes, got {len(raw)}")
        object.__setattr__(self, "_b", raw)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("UniqueId is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("UniqueId is immutable")

    # ---- constructors -------------------------------------------------
    @classmethod
    def from_bytes(cls, raw: BytesLike) -> Self:
        """Take 32 bytes as the id verbatim (no hashing)."""
        return cls(raw)

    @classmethod
    def from_input(cls, data: str | BytesLike) -> Self:
        """mosaik's ``From<&[u8]>``/``From<&str>``: 64 hex chars decode, anything else hashes."""
        raw = _as_bytes(data)
        decoded = _try_hex32(raw)
        return cls(decoded if decoded is not None else _blake3(raw))

    @classmethod
    def from_str(cls, text: str) -> Self:
        """mosaik's ``FromStr``: identical to :meth:`from_input` on the UTF-8 bytes."""
        return cls.from_input(text)

    @classmethod
    def hash(cls, data: str | BytesLike) -> Self:
        """blake3 of ``data`` (never decoded as hex)."""
        return cls(_blake3(_as_bytes(data)))

    @classmethod
    def from_parts(cls, *parts: str | BytesLike) -> Self:
        """blake3 over the plain concatenation of ``parts``."""
        return cls(_blake3(*(_as_bytes(p) for p in parts)))

    @classmethod
    def from_hex(cls, text: str) -> Self:
        """Strict parse of exactly 64 hex digits; anything else is a ValueError."""
        decoded = _try_hex32(text.encode("utf-8"))
        if decoded is None:
            raise ValueError(f"not a 64-hex-digit UniqueId: {text!r}")
        return cls(decoded)

    @classmethod
    def _from_uint(cls, n: int, width: int) -> Self:
        if not 0 <= n < (1 << (8 * width)):
            raise ValueError(f"{n} does not fit in u{8 * width}")
        return cls(bytes(ID_LEN - width) + n.to_bytes(width, "little"))

    @classmethod
    def from_u8(cls, n: int) -> Self:
        return cls._from_uint(n, 1)

    @classmethod
    def from_u16(cls, n: int) -> Self:
        return cls._from_uint(n, 2)

    @classmethod
    def from_u32(cls, n: int) -> Self:
        return cls._from_uint(n, 4)

    @classmethod
    def from_u64(cls, n: int) -> Self:
        return cls._from_uint(n, 8)

    @classmethod
    def from_u128(cls, n: int) -> Self:
        return cls._from_uint(n, 16)

    @classmethod
    def zero(cls) -> Self:
        return cls(bytes(ID_LEN))

    @classmethod
    def random(cls) -> Self:
        return cls(os.urandom(ID_LEN))

    # ---- derivations --------------------------------------------------
    def derive(self, info: str | BytesLike) -> UniqueId:
        """Domain-separated child id: blake3(self || info)."""
        return UniqueId(_blake3(self._b, _as_bytes(info)))

    def hashed(self) -> UniqueId:
        return UniqueId(_blake3(self._b))

    # ---- views --------------------------------------------------------
    def hex(self) -> str:
        return self._b.hex()

    def short(self) -> str:
        """First 8 hex digits, for logs and tables."""
        return self._b[:4].hex()

    def is_zero(self) -> bool:
        return self._b == bytes(ID_LEN)

    def __bytes__(self) -> bytes:
        return self._b

    def __len__(self) -> int:
        return ID_LEN

    def __str__(self) -> str:
        return self._b.hex()

    def __repr__(self) -> str:
        return f"UniqueId({self._b.hex()})"

    def __hash__(self) -> int:
        return hash(self._b)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UniqueId) and self._b == other._b

    def __lt__(self, other: UniqueId) -> bool:
        return self._b < other._b

    def __le__(self, other: UniqueId) -> bool:
        return self._b <= other._b

    def __gt__(self, other: UniqueId) -> bool:
        return self._b > other._b

    def __ge__(self, other: UniqueId) -> bool:
        return self._b >= other._b

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("UniqueId is not picklable; use .bytes and the canonical encoding")

    # Last in the class body so that `bytes` in the annotations above still
    # names the builtin type for type checkers.
    @property
    def bytes(self) -> builtins.bytes:
        return self._b


def unique_id(text: str) -> UniqueId:
    """mosaik's ``unique_id!`` macro: 64 hex chars decode, any other string hashes."""
    return UniqueId.from_input(text)


def concat_ids(ids: Iterable[UniqueId]) -> bytes:
    """The ids' bytes back to back (32 bytes each)."""
    return b"".join(i.bytes for i in ids)


#: mosaik's shared universe NetworkId: ``unique_id!("mosaik.universe")``.
UNIVERSE: Final = unique_id("mosaik.universe")

Tag = UniqueId
NetworkId = UniqueId
