"""Close reasons: the application close codes mosaik puts in QUIC close frames.

mosaik's ``make_close_reason!`` gives each reason a numeric code and a name; two
reasons are equal when their codes are equal (the name is informational). The
port keeps both, sends them in the link's Close frame, and keeps mosaik's codes
so logs and tests read the same as the Rust ones (docs/spec/transport.md).

Ranges (mosaik): 0-199 internal, 200+ application; the streams subsystem uses
10_xxx and groups 30_xxx (HTTP-like suffixes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "ALREADY_BONDED",
    "CANCELLED",
    "DIFFERENT_NETWORK",
    "GRACEFUL_SHUTDOWN",
    "GROUP_NOT_ALLOWED",
    "GROUP_NOT_FOUND",
    "GROUP_TIMEOUT",
    "INVALID_ALPN",
    "INVALID_HANDSHAKE",
    "INVALID_PROOF",
    "KNOWN_REASONS",
    "MAX_REASON_NAME",
    "NO_CAPACITY",
    "PROTOCOL_VIOLATION",
    "STREAM_NOT_ALLOWED",
    "STREAM_NOT_FOUND",
    "SUCCESS",
    "TIMEOUT",
    "TOO_SLOW",
    "UNEXPECTED_CLOSE",
    "UNEXPECTED_PEER",
    "UNKNOWN_PEER",
    "CloseReason",
    "reason_for_code",
]

#: Longest reason name accepted in a Close frame (mosaik names are < 32 bytes).
MAX_REASON_NAME: Final = 128


@dataclass(frozen=True, slots=True)
class CloseReason:
    """A close code with its mosaik name. Equality and hash use the code only."""

    code: int
    name: str = field(compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.code < 1 << 32:
            raise ValueError(f"close code {self.code} does not fit in u32")
        if len(self.name.encode("utf-8")) > MAX_REASON_NAME:
            raise ValueError("close reason name too long")

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


# ---- network (src/network/error.rs) --------------------------------------
SUCCESS: Final = CloseReason(200, "Success")
GRACEFUL_SHUTDOWN: Final = CloseReason(204, "GracefulShutdown")
INVALID_ALPN: Final = CloseReason(100, "InvalidAlpn")
DIFFERENT_NETWORK: Final = CloseReason(101, "DifferentNetwork")
CANCELLED: Final = CloseReason(102, "Cancelled")
UNEXPECTED_CLOSE: Final = CloseReason(103, "UnexpectedClose")
PROTOCOL_VIOLATION: Final = CloseReason(400, "ProtocolViolation")
UNKNOWN_PEER: Final = CloseReason(401, "UnknownPeer")
#: Port addition: the dialler reached a node whose verified PeerId is not the one
#: it asked for. iroh refuses this inside TLS, before any close frame exists.
UNEXPECTED_PEER: Final = CloseReason(104, "UnexpectedPeer")

# ---- streams (src/streams/mod.rs) ----------------------------------------
STREAM_NOT_FOUND: Final = CloseReason(10_404, "StreamNotFound")
STREAM_NOT_ALLOWED: Final = CloseReason(10_403, "NotAllowed")
NO_CAPACITY: Final = CloseReason(10_509, "NoCapacity")
TOO_SLOW: Final = CloseReason(10_413, "TooSlow")

# ---- groups (src/groups/error.rs) ----------------------------------------
INVALID_HANDSHAKE: Final = CloseReason(30_400, "InvalidHandshake")
GROUP_NOT_ALLOWED: Final = CloseReason(30_403, "NotAllowed")
GROUP_NOT_FOUND: Final = CloseReason(30_404, "GroupNotFound")
INVALID_PROOF: Final = CloseReason(30_405, "InvalidProof")
GROUP_TIMEOUT: Final = CloseReason(30_408, "Timeout")
ALREADY_BONDED: Final = CloseReason(30_429, "AlreadyBonded")
#: mosaik's one timeout reason lives in groups; the port also closes idle discovery
#: links with it, so the peer learns why rather than reading Success(200).
TIMEOUT: Final = GROUP_TIMEOUT

#: Every reason mosaik defines (plus the port's UnexpectedPeer), by code.
KNOWN_REASONS: Final[dict[int, CloseReason]] = {
    r.code: r
    for r in (
        SUCCESS,
        GRACEFUL_SHUTDOWN,
        INVALID_ALPN,
        DIFFERENT_NETWORK,
        CANCELLED,
        UNEXPECTED_CLOSE,
        UNEXPECTED_PEER,
        PROTOCOL_VIOLATION,
        UNKNOWN_PEER,
        STREAM_NOT_FOUND,
        STREAM_NOT_ALLOWED,
        NO_CAPACITY,
        TOO_SLOW,
        INVALID_HANDSHAKE,
        GROUP_NOT_ALLOWED,
        GROUP_NOT_FOUND,
        INVALID_PROOF,
        GROUP_TIMEOUT,
        ALREADY_BONDED,
    )
}


def reason_for_code(code: int, name: str = "") -> CloseReason:
    """The catalogued reason for ``code``, or an application reason named ``name``."""
    known = KNOWN_REASONS.get(code)
    if known is not None:
        return known
    return CloseReason(code, name or f"Code{code}")
