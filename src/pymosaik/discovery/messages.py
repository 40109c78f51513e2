"""Discovery protocol messages (``/mosaik/discovery/1.0``), a tagged canonical union."""

from __future__ import annotations

from typing import Final, TypeAlias

from ..primitives import Wire
from .entry import Departure, SignedPeerEntry

__all__ = [
    "DISCOVERY_PROTOCOL",
    "Announce",
    "Depart",
    "DiscoveryMessage",
    "Ping",
    "Pong",
    "SyncRequest",
    "SyncResponse",
]

DISCOVERY_PROTOCOL: Final = "/mosaik/discovery/1.0"
MAX_SYNC_ENTRIES: Final = 512


def _check_entries(entries: tuple[SignedPeerEntry, ...]) -> None:
    # Every new entry costs a signature check: bound the work one message can demand.
    if len(entries) > MAX_SYNC_ENTRIES:
        raise ValueError(f"a discovery message carries at most {MAX_SYNC_ENTRIES} entries")


class Announce(Wire, frozen=True, tag="announce"):
    entries: tuple[SignedPeerEntry, ...]

    def __post_init__(self) -> None:
        _check_entries(self.entries)


class SyncRequest(Wire, frozen=True, tag="sync"):
    """Carries the sender's catalog (bounded); the answer carries the receiver's."""

    entries: tuple[SignedPeerEntry, ...]

    def __post_init__(self) -> None:
        _check_entries(self.entries)


class SyncResponse(Wire, frozen=True, tag="sync-resp"):
    entries: tuple[SignedPeerEntry, ...]

    def __post_init__(self) -> None:
        _check_entries(self.entries)


class Ping(Wire, frozen=True, tag="ping"):
    nonce: int
    sent_ms: int


class Pong(Wire, frozen=True, tag="pong"):
    nonce: int
    sent_ms: int


class Depart(Wire, frozen=True, tag="depart"):
    departure: Departure


DiscoveryMessage: TypeAlias = Announce | SyncRequest | SyncResponse | Ping | Pong | Depart
