"""Stream identity: explicit schema names replace Rust's ``type_name::<T>()`` (D5).

A datum type is a `Wire` struct. Its stream id is ``unique_id(schema)`` where
the schema name comes from the builder's ``stream_id``/``schema`` argument or
the type's ``STREAM_SCHEMA`` class attribute; a type with neither is refused,
so renaming a Python class never silently moves a stream.
"""

from __future__ import annotations

from typing import Any

from ..primitives import UniqueId, unique_id

__all__ = ["StreamId", "schema_stream_id"]

StreamId = UniqueId


def schema_stream_id(datum: type[Any], explicit: UniqueId | str | None = None) -> UniqueId:
    if isinstance(explicit, UniqueId):
        return explicit
    if isinstance(explicit, str):
        return unique_id(explicit)
    schema = getattr(datum, "STREAM_SCHEMA", None)
    if not isinstance(schema, str) or not schema:
        raise TypeError(
            f"{datum.__name__} has no STREAM_SCHEMA; give the stream an explicit "
            "schema name (stream_id=...) or set STREAM_SCHEMA on the type"
        )
    return unique_id(schema)
