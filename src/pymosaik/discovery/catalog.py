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
    DEPARTED = "departed"  # a tombstone covers this run

    @property
    def changed(self) -> bool:
        return self in (Upsert.INSERTED, Upsert.UPDATED)


@dataclass
class Catalog:
    network_id: NetworkId
    local: PeerId
    max_drift_ms: int = 10_000
    ttl_ms: int = 60_000
    _entries: dict[PeerId, SignedPeerEntry] = field(default_factory=dict)
    _seen_ms: dict[PeerId, int] = field(default_factory=dict)
    #: peer -> the ``started_ms`` its last departure covered (tombstones)
    _departed: dict[PeerId, int] = field(default_factory=dict)

    def upsert(self, signed: SignedPeerEntry, now_ms: int) -> Upsert:
        e = signed.entry
        if e.network_id != self.network_id:
            return Upsert.OTHER_NETWORK
        pid = e.peer_id
        if pid == self.local:
            return Upsert.OWN_ENTRY
        if e.update_ms > now_ms + self.max_drift_ms:
            return Upsert.TOO_FAR_AHEAD
        if self._departed.get(pid, -1) >= e.started_ms:
            return Upsert.DEPARTED
        current = self._entries.get(pid)
        if current is not None and e.version <= current.entry.version:
            return Upsert.NOT_NEWER
        if not signed.verify():
            return Upsert.BAD_SIGNATURE
        self._entries[pid] = signed
        self._seen_ms[pid] = now_ms
        return Upsert.INSERTED if current is None else Upsert.UPDATED

    def depart(self, departure: Departure) -> bool:
        """Apply a verified departure; True if it removed an entry."""
        if departure.network_id != self.network_id or not departure.verify():
            return False
        pid = PeerId(departure.key)
        self._departed[pid] = max(self._departed.get(pid, -1), departure.started_ms)
        current = self._entries.get(pid)
        if current is not None and current.entry.started_ms <= departure.started_ms:
            del self._entries[pid]
            self._seen_ms.pop(pid, None)
            return True
        return False

    def purge(self, now_ms: int) -> list[PeerId]:
        """Drop entries not refreshed within ``ttl_ms``."""
        stale = [p for p, seen in self._seen_ms.items() if now_ms - seen > self.ttl_ms]
        for pid in stale:
            self._entries.pop(pid, None)
            self._seen_ms.pop(pid, None)
        return stale

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
