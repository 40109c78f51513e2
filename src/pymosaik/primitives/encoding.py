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

Never pickle.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final, TypeVar

import msgspec

from .id import ID_LEN, UniqueId

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


@cache
def _decoder(typ: Any) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(typ, dec_hook=_dec_hook)


def encode(value: object) -> bytes:
    """The canonical bytes of ``value``."""
    return _ENCODER.encode(value)


def decode(data: bytes, typ: type[T], *, max_size: int = DEFAULT_MAX_SIZE) -> T:
    """Strictly decode canonical bytes into ``typ``; raise DecodeError otherwise."""
    if len(data) > max_size:
        raise DecodeError(f"encoded value is {len(data)} bytes, limit is {max_size}")
    try:
        decoder: msgspec.msgpack.Decoder[T] = _decoder(typ)  # type: ignore[arg-type]
        value = decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise DecodeError(str(exc)) from exc
    if _ENCODER.encode(value) != bytes(data):
        raise DecodeError("non-canonical encoding")
    return value
