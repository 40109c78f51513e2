"""What streams need from discovery, as a protocol the Network's discovery driver fulfils.

Producers look consumers up by PeerId (unknown → ``UnknownPeer``; their tickets
gate admission); consumers look producers up by stream id and follow catalog
changes. Keeping this narrow lets the streams driver be tested against the
real discovery and keeps discovery free of any streams knowledge.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from ..primitives import NetworkId, PeerId, UniqueId
from ..tickets import Ticket
from ..transport import EndpointAddr

__all__ = ["Directory", "PeerView"]


class PeerView(Protocol):
    """A verified peer entry as the catalog holds it."""

    @property
    def peer_id(self) -> PeerId: ...

    @property
    def network_id(self) -> NetworkId: ...

    @property
    def addr(self) -> EndpointAddr: ...

    @property
    def tags(self) -> Collection[UniqueId]: ...

    @property
    def streams(self) -> Collection[UniqueId]: ...

    @property
    def tickets(self) -> Collection[Ticket]: ...


class Directory(Protocol):
    def get(self, peer_id: PeerId) -> PeerView | None:
        """The catalog's current entry for ``peer_id`` (None when unknown)."""
        ...

    def local(self) -> PeerView:
        """This node's own entry (its tickets decide how producers treat us)."""
        ...

    def peers(self) -> Iterable[PeerView]:
        """Every known remote peer."""
        ...

    @property
    def version(self) -> int:
        """Bumped on every catalog change."""
        ...

    async def changed(self, since: int) -> int:
        """Wait until ``version`` moves past ``since``; return the new version."""
        ...

    async def resync(self, peer: PeerId) -> None:
        """Exchange catalogs with ``peer`` (after it answered ``UnknownPeer``)."""
        ...

    def advertise_stream(self, stream_id: UniqueId) -> None:
        """Add ``stream_id`` to the local peer entry and re-announce it."""
        ...

    def withdraw_stream(self, stream_id: UniqueId) -> None: ...

    def rtt_ms(self, peer: PeerId) -> float | None:
        """Discovery's smoothed RTT to ``peer`` (None before any sample); feeds `rtt_below`."""
        ...
