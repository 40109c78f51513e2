"""Identity helpers of the coalition rung: constants, `hash_many`, `MemberId`.

Every preimage rule is written out byte by byte in docs/spec/identity.md;
the helpers here are the only place those bytes are produced.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from typing import Any, Final, Self

import blake3

from pymosaik.primitives import UNIVERSE, UniqueId, unique_id

__all__ = [
    "COALITION_ROOT_SEED",
    "MAX_NAME_BYTES",
    "SCHEMA_VERSION_U8",
    "UNIVERSE",
    "ZERO_ID",
    "MemberId",
    "Part",
    "derive_stable_id",
    "hash_many",
    "id_list",
    "u8",
    "u32",
    "u64",
    "utf8",
]

#: Folded as the first element of every top-level identity preimage.
SCHEMA_VERSION_U8: Final = 1
#: ``unique_id!("coalition.root.v1")``, folded into every CoalitionConfig preimage.
COALITION_ROOT_SEED: Final = unique_id("coalition.root.v1")
#: 32 zero bytes: stands for a declared-absent slot in a preimage.
ZERO_ID: Final = UniqueId.zero()
#: Upper bound on any name folded into a preimage (instance names, roles, ...).
MAX_NAME_BYTES: Final = 255

Part = bytes | str | UniqueId


def _part_bytes(part: Part) -> bytes:
    if isinstance(part, UniqueId):
        return part.bytes
    if isinstance(part, str):
        return part.encode("utf-8")
    return bytes(part)


def hash_many(parts: Iterable[Part]) -> UniqueId:
    """blake3 over each part prefixed by its byte length as u64 little-endian.

    The length prefixes make the concatenation injective: no two different
    part lists share a preimage.
    """
    hasher = blake3.blake3()
    for part in parts:
        raw = _part_bytes(part)
        hasher.update(len(raw).to_bytes(8, "little"))
        hasher.update(raw)
    return UniqueId(hasher.digest())


def u8(n: int) -> bytes:
    return n.to_bytes(1, "little")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


def id_list(ids: Sequence[UniqueId]) -> bytes:
    """u32 count followed by the ids' 32-byte values, in order."""
    return u32(len(ids)) + b"".join(i.bytes for i in ids)


def derive_stable_id(instance_name: str, network_id: UniqueId = UNIVERSE) -> UniqueId:
    """The examples' stable-id convention: blake3("instance|" || name || "|" || network_id)."""
    return UniqueId.from_parts(b"instance|", utf8(instance_name), b"|", network_id.bytes)


def check_name(what: str, name: str) -> None:
    """Names folded into preimages are non-empty UTF-8 of at most 255 bytes."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__}")
    size = len(utf8(name))
    if size == 0:
        raise ValueError(f"{what} must not be empty")
    if size > MAX_NAME_BYTES:
        raise ValueError(f"{what} is {size} bytes of UTF-8; the limit is {MAX_NAME_BYTES}")


MEMBER_ID_LEN: Final = 20


class MemberId:
    """The 20-byte prefix of a member's stable id: a compact key in cross-member commits."""

    __slots__ = ("_b",)
    _b: bytes

    def __init__(self, raw: builtins.bytes) -> None:
        raw = bytes(raw)
        if len(raw) != MEMBER_ID_LEN:
            raise ValueError(f"MemberId needs exactly {MEMBER_ID_LEN} bytes, got {len(raw)}")
        object.__setattr__(self, "_b", raw)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("MemberId is immutable")

    @classmethod
    def of(cls, stable_id: UniqueId) -> Self:
        return cls(stable_id.bytes[:MEMBER_ID_LEN])

    @classmethod
    def from_hex(cls, text: str) -> Self:
        if len(text) != 2 * MEMBER_ID_LEN:
            raise ValueError(f"a MemberId is {2 * MEMBER_ID_LEN} hex digits, got {len(text)}")
        return cls(bytes.fromhex(text))

    def hex(self) -> str:
        return self._b.hex()

    def __hash__(self) -> int:
        return hash(self._b)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemberId) and self._b == other._b

    def __lt__(self, other: MemberId) -> bool:
        return self._b < other._b

    def __str__(self) -> str:
        return self._b.hex()

    def __repr__(self) -> str:
        return f"MemberId({self._b.hex()})"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("MemberId is not picklable")

    @property
    def bytes(self) -> builtins.bytes:
        return self._b
