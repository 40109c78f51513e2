"""The catalog: verified peer entries, with mosaik's upsert rules (pure, no I/O)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..primitives import NetworkId, PeerId, UniqueId
from .entry import Departure, PeerEntry, SignedPeerEntry

__all__ = ["Catalog", "Upsert"]


class Upsert(enum.Enum):
    INSERTED = "inserted"
    UPDATED = "updated"
    NOT_NEWER = "not-newer"  # same or older version: ignored
    OTHER_NETWORK = "other-network"
    OWN_ENTRY = "own-entry"
    BAD_SIGNATURE = "bad-signature"
    TOO_FAR_AHEAD = "too-far-ahead"  # update time beyond the allowed clock drift
    OUTDATED = "outdated"  # update time older than the TTL: the peer is presumed gone
    DEPARTED = "departed"  # a tombstone covers this run

    @property
    def changed(self) -> bool:
        return self in (Upsert.INSERTED, Upsert.UPDATED)


@dataclass
class Catalog:
    """Signed entries of other peers, aged by their own signed ``update_ms``.

    As in mosaik, an entry lives for ``ttl_ms`` after the update time it carries,
    not after we happened to receive it: a peer that received a dead node's last
    entry late cannot hand it back to one that already purged it, so a crashed
    node's entry dies everywhere within ``ttl_ms`` (+ drift) of its last update.
    """

    network_id: NetworkId
    local: PeerId
    max_drift_ms: int = 10_000
    ttl_ms: int = 60_000
    _entries: dict[PeerId, SignedPeerEntry] = field(default_factory=dict)
    #: peer -> (the ``started_ms`` its last departure covered, when we learnt it)
    _departed: dict[PeerId, tuple[int, int]] = field(default_factory=dict)

    def upsert(self, signed: SignedPeerEntry, now_ms: int) -> Upsert:
        e = signed.entry
        if e.network_id != self.network_id:
            return Upsert.OTHER_NETWORK
        pid = e.peer_id
        if pid == self.local:
            return Upsert.OWN_ENTRY
        if e.update_ms > now_ms + self.max_drift_ms:
            return Upsert.TOO_FAR_AHEAD
        if e.update_ms < now_ms - self.ttl_ms:
            return Upsert.OUTDATED
        if self.is_departed(pid, e.started_ms):
            return Upsert.DEPARTED
        current = self._entries.get(pid)
        if current is not None and e.version <= current.entry.version:
            return Upsert.NOT_NEWER
        if not signed.verify():
            return Upsert.BAD_SIGNATURE
        self._entries[pid] = signed
        return Upsert.INSERTED if current is None else Upsert.UPDATED

    def depart(self, departure: Departure, now_ms: int) -> bool:
        """Apply a verified departure; True if it removed an entry.

        The tombstone keeps entries of the departed run (and older ones) out even
        when a peer that missed the departure syncs them back to us.
        """
        if departure.network_id != self.network_id or not departure.verify():
            return False
        pid = PeerId(departure.key)
        if pid == self.local:
            return False
        tomb = self._departed.get(pid)
        if tomb is None or tomb[0] < departure.started_ms:
            self._departed[pid] = (departure.started_ms, now_ms)
        current = self._entries.get(pid)
        if current is not None and current.entry.started_ms <= departure.started_ms:
            del self._entries[pid]
            return True
        return False

    def purge(self, now_ms: int) -> list[PeerId]:
        """Drop entries whose own update time is more than ``ttl_ms`` ago.

        Tombstones go too once no entry of the departed run can be fresh any more
        (its last update was before the departure, give or take the clock drift).
        """
        stale = [p for p, s in self._entries.items() if now_ms - s.entry.update_ms > self.ttl_ms]
        for pid in stale:
            del self._entries[pid]
        horizon = self.ttl_ms + self.max_drift_ms
        for pid in [p for p, (_, at) in self._departed.items() if now_ms - at > horizon]:
            del self._departed[pid]
        return stale

    def is_departed(self, peer_id: PeerId, started_ms: int) -> bool:
        """True if a departure we hold covers run ``started_ms`` of ``peer_id``."""
        tomb = self._departed.get(peer_id)
        return tomb is not None and tomb[0] >= started_ms

    def get(self, peer_id: PeerId) -> PeerEntry | None:
        signed = self._entries.get(peer_id)
        return signed.entry if signed else None

    def signed(self, peer_id: PeerId) -> SignedPeerEntry | None:
        return self._entries.get(peer_id)

    def all_signed(self) -> list[SignedPeerEntry]:
        return list(self._entries.values())

    def __iter__(self) -> Iterator[PeerEntry]:
        return iter([s.entry for s in self._entries.values()])

    def __len__(self) -> int:
        return len(self._entries)

    def with_tag(self, tag: UniqueId) -> list[PeerEntry]:
        return [e for e in self if tag in e.tags]

    def with_stream(self, stream_id: UniqueId) -> list[PeerEntry]:
        return [e for e in self if stream_id in e.streams]

    def with_group(self, group_id: UniqueId) -> list[PeerEntry]:
        return [e for e in self if group_id in e.groups]
