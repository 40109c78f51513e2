"""Peer entries: what a node publishes about itself, signed by its identity key.

A `SignedPeerEntry` is verified on every decode path that matters (the catalog
refuses unverified entries), so a forged or altered entry never reaches a
catalog. Versions are ``(started_ms, update_ms)``: a restarted node (new
``started_ms``) supersedes everything its previous run published.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..primitives import KEY_LEN, NetworkId, PeerId, SecretKey, UniqueId, Wire, encode
from ..tickets import Ticket
from ..transport import EndpointAddr, SocketAddr

__all__ = ["Departure", "PeerEntry", "SignedPeerEntry"]

_ENTRY_DOMAIN: Final = b"mosaik.discovery.entry.v1|"
_DEPART_DOMAIN: Final = b"mosaik.discovery.depart.v1|"
MAX_ITEMS: Final = 256


class PeerEntry(Wire, frozen=True):
    network_id: NetworkId
    key: bytes  # the PeerId's 32 bytes
    started_ms: int
    update_ms: int
    addrs: tuple[SocketAddr, ...] = ()
    tags: tuple[UniqueId, ...] = ()
    streams: tuple[UniqueId, ...] = ()
    groups: tuple[UniqueId, ...] = ()
    tickets: tuple[Ticket, ...] = ()

    def __post_init__(self) -> None:
        # Checked here so a malformed key fails at decode (DecodeError), not as a
        # ValueError deep inside the catalog when `peer_id` is first read.
        _check_key(self.key)
        for name in ("addrs", "tags", "streams", "groups", "tickets"):
            if len(getattr(self, name)) > MAX_ITEMS:
                raise ValueError(f"a peer entry carries at most {MAX_ITEMS} {name}")

    @property
    def peer_id(self) -> PeerId:
        return PeerId(self.key)

    @property
    def version(self) -> tuple[int, int]:
        return (self.started_ms, self.update_ms)

    @property
    def addr(self) -> EndpointAddr:
        return EndpointAddr(self.key, self.addrs)

    def sign(self, key: SecretKey) -> SignedPeerEntry:
        if key.peer_id.bytes != self.key:
            raise ValueError("a peer entry is signed by its own peer's key")
        return SignedPeerEntry(self, key.sign(_ENTRY_DOMAIN + encode(self)))


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LEN:
        raise ValueError(f"a peer key is {KEY_LEN} bytes, got {len(key)}")


def sorted_ids(ids: Iterable[UniqueId]) -> tuple[UniqueId, ...]:
    return tuple(sorted(set(ids)))


class SignedPeerEntry(Wire, frozen=True):
    entry: PeerEntry
    signature: bytes

    def verify(self) -> bool:
        try:
            peer = PeerId(self.entry.key)
        except ValueError:
            return False
        return peer.verify(self.signature, _ENTRY_DOMAIN + encode(self.entry))


class Departure(Wire, frozen=True):
    """A signed goodbye: removes the entry of run ``started_ms`` and everything older."""

    network_id: NetworkId
    key: bytes
    started_ms: int
    signature: bytes = b""

    def __post_init__(self) -> None:
        _check_key(self.key)

    @classmethod
    def signed(cls, key: SecretKey, network_id: NetworkId, started_ms: int) -> Departure:
        body = encode((network_id, key.peer_id.bytes, started_ms))
        return cls(network_id, key.peer_id.bytes, started_ms, key.sign(_DEPART_DOMAIN + body))

    def verify(self) -> bool:
        try:
            peer = PeerId(self.key)
        except ValueError:
            return False
        body = encode((self.network_id, self.key, self.started_ms))
        return peer.verify(self.signature, _DEPART_DOMAIN + body)
