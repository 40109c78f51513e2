"""The one canonical encoding for everything hashed, signed, stored or sent.

MessagePack through msgspec, with three rules on top (docs/spec/encoding.md):

* data types are ``Wire`` structs, encoded as arrays in field order
  (``array_like``), so the bytes never depend on field names or dict order;
* maps and sets are emitted in sorted order;
* decoding is strict: a size limit is checked before parsing, the schema is
  enforced, trailing bytes are an error, and the input must be *canonical* —
  re-encoding the decoded value must give back the very same bytes, so one
  value has exactly one encoding (non-minimal integers, unsorted maps and odd
  float widths are refused).

Hostile input (docs/spec/encoding.md, "Hostile input") meets three guards
before msgspec builds anything: the size limit, a nesting bound
(`nesting.MAX_DEPTH`, scanned without recursion for types that could nest
deeper) and a typed pass where every `UniqueId` is exactly 32 bytes (msgspec
would otherwise decode whatever sits there untyped, recursing per level).
Whatever the bytes, the only exception `decode` raises is `DecodeError`.

Never pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Final, TypeVar

import msgspec

from .id import ID_LEN, UniqueId
from .nesting import MAX_DEPTH, NestingError, check_nesting
from .schema import shape_of

T = TypeVar("T")

#: Default ceiling on one encoded value; transports set their own frame limit.
DEFAULT_MAX_SIZE: Final = 4 * 1024 * 1024


class Wire(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """Base for every canonical data type: frozen, positional, strict."""


class DecodeError(ValueError):
    """Bytes that are not the canonical encoding of a value of the expected type."""


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, UniqueId):
        return obj.bytes
    raise TypeError(f"no canonical encoding for {type(obj).__name__}")


def _dec_hook(typ: type, obj: Any) -> Any:
    if typ is UniqueId:
        if isinstance(obj, bytes) and len(obj) == ID_LEN:
            return UniqueId(obj)
        raise ValueError(f"expected {ID_LEN} bytes for a UniqueId")
    raise TypeError(f"no canonical decoding for {typ!r}")


_ENCODER: Final = msgspec.msgpack.Encoder(enc_hook=_enc_hook, order="sorted")


@dataclass(frozen=True)
class _Plan:
    """How one target type is decoded: guards first, then the real decoder."""

    scan: bool  # the type can nest deeper than MAX_DEPTH: scan the bytes first
    ids: msgspec.msgpack.Decoder[Any] | None  # UniqueId positions typed as 32 bytes
    decoder: msgspec.msgpack.Decoder[Any]


@cache
def _plan(typ: Any) -> _Plan:
    shape = shape_of(typ)
    ids = None if shape.checker is None else msgspec.msgpack.Decoder(shape.checker)
    scan = shape.depth is None or shape.depth > MAX_DEPTH
    return _Plan(scan, ids, msgspec.msgpack.Decoder(typ, dec_hook=_dec_hook))


def encode(value: object) -> bytes:
    """The canonical bytes of ``value``."""
    return _ENCODER.encode(value)


def decode(data: bytes, typ: type[T], *, max_size: int = DEFAULT_MAX_SIZE) -> T:
    """Strictly decode canonical bytes into ``typ``; raise DecodeError otherwise."""
    if len(data) > max_size:
        raise DecodeError(f"encoded value is {len(data)} bytes, limit is {max_size}")
    plan = _plan(typ)  # type: ignore[arg-type]
    try:
        if plan.scan:
            check_nesting(data)
        if plan.ids is not None:
            plan.ids.decode(data)
        value: T = plan.decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, NestingError) as exc:
        raise DecodeError(str(exc)) from exc
    except (ValueError, RecursionError) as exc:  # backstops: the guards leave neither a way through
        raise DecodeError(f"{type(exc).__name__}: {exc}") from exc
    try:
        canonical = _ENCODER.encode(value)
    except TypeError as exc:  # an untyped map with non-string keys has no canonical form
        raise DecodeError(f"non-canonical encoding: {exc}") from exc
    if canonical != bytes(data):
        raise DecodeError("non-canonical encoding")
    return value
