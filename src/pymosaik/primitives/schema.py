"""The shape of a decode target as the hostile-input guards of `decode` see it.

msgspec decodes a custom type (`UniqueId`) by first decoding whatever sits at
its position *untyped* and handing that to ``dec_hook``; so a peer can put
100,000 nested arrays where an id belongs and make msgspec recurse 100,000
times. `shape_of` derives, once per target type, a *checker* type: the same
structs, unions and containers with every `UniqueId` position typed as exactly
32 bytes, which msgspec refuses at once when anything else is there. It also
works out how deep a valid value can nest, so `decode` runs the nesting scan
only for types that can nest without bound (``Any``, bare containers,
recursive or lenient structs).
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Final, Literal, Union

import msgspec

from .id import ID_LEN, UniqueId

__all__ = ["ID_BYTES", "Shape", "shape_of"]

#: A `UniqueId` position as msgspec types it: exactly 32 bytes, nothing else accepted.
ID_BYTES: Final = Annotated[bytes, msgspec.Meta(min_length=ID_LEN, max_length=ID_LEN)]

_SCALARS: Final = frozenset({int, float, str, bytes, bytearray, bool, type(None), None})


@dataclass(frozen=True)
class Shape:
    #: The target with every UniqueId as `ID_BYTES`; None when it holds no UniqueId
    #: or cannot be mirrored (recursive or generic structs).
    checker: Any
    #: The deepest nesting a valid value can have; None when unbounded.
    depth: int | None


class _CannotMirrorError(Exception):
    """A recursive or parametrised struct: fall back to the nesting scan alone."""


@cache
def shape_of(typ: Any) -> Shape:
    """The checker type and the depth bound of ``typ`` (cached: one walk per type)."""
    try:
        checker, depth, has_id = _mirror(typ, frozenset())
    except _CannotMirrorError:
        return Shape(None, None)
    return Shape(checker if has_id else None, depth)


def _deepest(depths: list[int | None]) -> int | None:
    if any(d is None for d in depths):
        return None
    return max((d for d in depths if d is not None), default=0)


def _mirror(t: Any, building: frozenset[type]) -> tuple[Any, int | None, bool]:
    """(checker type, depth bound, holds a UniqueId) for ``t``."""
    if t is UniqueId:
        return ID_BYTES, 0, True
    if t in _SCALARS or (isinstance(t, type) and issubclass(t, enum.Enum)):
        return t, 0, False
    if isinstance(t, type) and issubclass(t, msgspec.Struct):
        return _mirror_struct(t, building)
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is Literal:
        return t, 0, False
    if origin is Annotated:
        inner, depth, has_id = _mirror(args[0], building)
        return Annotated[(inner, *t.__metadata__)], depth, has_id
    if origin is Union or origin is types.UnionType:
        parts = [_mirror(a, building) for a in args]
        union: Any = Union  # subscripted with a runtime tuple of types
        checker = union[tuple(p[0] for p in parts)]
        return checker, _deepest([p[1] for p in parts]), any(p[2] for p in parts)
    if hasattr(t, "__supertype__"):  # NewType
        return _mirror(t.__supertype__, building)
    if (
        origin is not None
        and args
        and not (isinstance(origin, type) and issubclass(origin, msgspec.Struct))
    ):
        items = [a for a in args if a is not Ellipsis]
        parts = [_mirror(a, building) for a in items]
        mirrored = tuple(p[0] for p in parts) + ((Ellipsis,) if Ellipsis in args else ())
        depth = _deepest([p[1] for p in parts])
        return origin[mirrored], None if depth is None else depth + 1, any(p[2] for p in parts)
    if origin is not None:
        raise _CannotMirrorError(f"parametrised struct {t!r}")
    # Any, object, bare containers, msgspec.Raw, other native types: unbounded.
    return t, None, False


def _mirror_struct(
    cls: type[msgspec.Struct], building: frozenset[type]
) -> tuple[Any, int | None, bool]:
    if cls in building:
        raise _CannotMirrorError(f"recursive struct {cls.__name__}")
    fields = msgspec.structs.fields(cls)
    parts = [_mirror(f.type, building | {cls}) for f in fields]
    config = cls.__struct_config__
    depth = _deepest([p[1] for p in parts])
    if depth is not None and config.forbid_unknown_fields:
        depth += 1
    else:
        depth = None  # msgspec skips unknown fields by recursing into them
    if not any(p[2] for p in parts):
        return cls, depth, False
    specs: list[Any] = []
    for f, (checker, _, _) in zip(fields, parts, strict=True):
        if f.default is not msgspec.NODEFAULT:
            specs.append((f.name, checker, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            specs.append((f.name, checker, msgspec.field(default_factory=f.default_factory)))
        else:
            specs.append((f.name, checker))
    mirrored = msgspec.defstruct(
        f"{cls.__name__}Checker",
        specs,
        tag=config.tag,
        tag_field=config.tag_field,
        rename={f.name: f.encode_name for f in fields},
        array_like=config.array_like,
        forbid_unknown_fields=config.forbid_unknown_fields,
        omit_defaults=config.omit_defaults,
        frozen=True,
    )
    return mirrored, depth, True
