"""`ContentParams`: the state-affecting parameters an organism folds into its identity.

An organism's content is an opaque preimage (the book's
``ContentParams::new(&policy_preimage)``). Operators writing TOML describe it
as a table instead; :meth:`ContentParams.from_params` turns that table into
one canonical preimage, so the same parameters always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

from pymosaik.primitives import MAX_DEPTH, UniqueId, Wire, encode

from .identity import hash_many

__all__ = ["MAX_CONTENT_BYTES", "ContentParams", "ParamValue"]

#: Preimages are descriptions, not payloads; keep them small.
MAX_CONTENT_BYTES: Final = 64 * 1024

ParamValue = int | str | bool | bytes | list["ParamValue"] | dict[str, "ParamValue"]


def _check_value(path: str, value: object, depth: int = 0) -> None:
    if isinstance(value, list | dict) and depth >= MAX_DEPTH:  # decode would refuse it
        raise ValueError(f"content parameter {path} nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool | int | str | bytes):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
            raise ValueError(f"content parameter {path} does not fit in 64 bits")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(f"{path}[{i}]", item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"content parameter {path} has a non-string key {key!r}")
            _check_value(f"{path}.{key}", item, depth + 1)
        return
    raise TypeError(
        f"content parameter {path} has unsupported type {type(value).__name__} "
        "(use integers, strings, booleans, bytes, arrays and tables; no floats or dates)"
    )


class ContentParams(Wire, frozen=True):
    """An opaque, bounded preimage whose digest is the content fingerprint."""

    preimage: bytes = b""

    EMPTY: ClassVar[ContentParams]

    def __post_init__(self) -> None:
        if len(self.preimage) > MAX_CONTENT_BYTES:
            raise ValueError(
                f"content preimage is {len(self.preimage)} bytes; the limit is {MAX_CONTENT_BYTES}"
            )

    @classmethod
    def new(cls, preimage: bytes) -> ContentParams:
        return cls(bytes(preimage))

    @classmethod
    def from_params(cls, params: Mapping[str, ParamValue]) -> ContentParams:
        """Canonical preimage of a parameter table (sorted keys, canonical encoding)."""
        table = dict(params)
        _check_value("content", table)
        return cls(encode(table))

    def fingerprint(self) -> UniqueId:
        """hash_many("content|", preimage)."""
        return hash_many([b"content|", self.preimage])


ContentParams.EMPTY = ContentParams()
