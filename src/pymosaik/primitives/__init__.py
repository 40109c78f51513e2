"""mosaik's primitives: identity (`UniqueId`) and the canonical encoding."""

from .clock import Clock, ManualClock, SystemClock
from .encoding import DEFAULT_MAX_SIZE, DecodeError, Wire, decode, encode
from .id import ID_LEN, UNIVERSE, NetworkId, Tag, UniqueId, unique_id
from .keys import KEY_LEN, SIGNATURE_LEN, PeerId, SecretKey
from .nesting import MAX_DEPTH

__all__ = [
    "DEFAULT_MAX_SIZE",
    "ID_LEN",
    "KEY_LEN",
    "MAX_DEPTH",
    "SIGNATURE_LEN",
    "UNIVERSE",
    "Clock",
    "DecodeError",
    "ManualClock",
    "NetworkId",
    "PeerId",
    "SecretKey",
    "SystemClock",
    "Tag",
    "UniqueId",
    "Wire",
    "decode",
    "encode",
    "unique_id",
]
