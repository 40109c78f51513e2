"""Exceptions raised by links and endpoints.

Every failure of an established or half-open link surfaces as `LinkClosedError`
carrying the `CloseReason`, so callers match on reasons the way mosaik code
matches ``err.close_reason() == UnknownPeer``.
"""

from __future__ import annotations

from pymosaik.primitives import PeerId

from .reasons import UNEXPECTED_PEER, CloseReason

__all__ = ["LinkClosedError", "LinkError", "PeerMismatchError"]


class LinkError(Exception):
    """Base of every transport error."""


class LinkClosedError(LinkError):
    """The link is closed; ``reason`` says why and ``by_peer`` who closed it."""

    def __init__(self, reason: CloseReason, *, by_peer: bool, detail: str = "") -> None:
        who = "peer" if by_peer else "local"
        super().__init__(f"link closed by {who}: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.by_peer = by_peer
        self.detail = detail


class PeerMismatchError(LinkClosedError):
    """A dialled node proved a different PeerId than the one expected."""

    def __init__(self, expected: PeerId, actual: PeerId) -> None:
        super().__init__(
            UNEXPECTED_PEER,
            by_peer=False,
            detail=f"expected {expected.short()}, got {actual.short()}",
        )
        self.expected = expected
        self.actual = actual
