"""`DiscoveryCore`: one node's discovery protocol as a pure state machine.

Inputs: ``on_message(sender, msg, now)``, ``tick(now)``, ``update_local(...)``,
``bootstrap(addrs)``. Outputs (``take_outputs()``): messages to send to a peer
(with its address) and catalog events. Gossip: an entry that is new to us is
forwarded to ``fanout`` random peers other than its source; one that is not
newer stops there, which ends every flood. Periodically the node re-announces
its own entry (so TTLs stay fresh), syncs its whole catalog with one random
peer (anti-entropy, heals partitions) and pings one peer for RTT.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from msgspec.structs import replace

from ..primitives import NetworkId, PeerId, SecretKey, UniqueId
from ..tickets import Ticket
from ..transport import EndpointAddr, SocketAddr
from .catalog import Catalog, Upsert
from .entry import Departure, PeerEntry, SignedPeerEntry, sorted_ids
from .messages import (
    MAX_SYNC_ENTRIES,
    Announce,
    Depart,
    DiscoveryMessage,
    Ping,
    Pong,
    SyncRequest,
    SyncResponse,
)
from .rtt import RttEstimator

__all__ = ["Departed", "Discovered", "DiscoveryConfig", "DiscoveryCore", "Send", "Updated"]


@dataclass(frozen=True)
class DiscoveryConfig:
    fanout: int = 3
    announce_interval_ms: int = 5_000
    sync_interval_ms: int = 10_000
    ping_interval_ms: int = 5_000
    ttl_ms: int = 60_000
    max_drift_ms: int = 10_000

    @classmethod
    def loopback(cls) -> DiscoveryConfig:
        """Fast gossip for nodes sharing one host (tests, local demos)."""
        return cls(announce_interval_ms=200, sync_interval_ms=300, ping_interval_ms=300)


@dataclass(frozen=True)
class Send:
    to: PeerId | None  # None: a bootstrap hint whose PeerId is not known yet
    addr: EndpointAddr | tuple[str, int]
    message: DiscoveryMessage


@dataclass(frozen=True)
class Discovered:
    entry: PeerEntry


@dataclass(frozen=True)
class Updated:
    entry: PeerEntry


@dataclass(frozen=True)
class Departed:
    peer_id: PeerId


Output = Send | Discovered | Updated | Departed


class DiscoveryCore:
    def __init__(
        self,
        key: SecretKey,
        network_id: NetworkId,
        addrs: Iterable[tuple[str, int]],
        now_ms: int,
        *,
        rng: random.Random,
        config: DiscoveryConfig | None = None,
    ) -> None:
        self.key = key
        self.config = config or DiscoveryConfig()
        self.rng = rng
        self.catalog = Catalog(
            network_id, key.peer_id, self.config.max_drift_ms, self.config.ttl_ms
        )
        self._local = PeerEntry(
            network_id,
            key.peer_id.bytes,
            now_ms,
            now_ms,
            tuple(SocketAddr(h, p) for h, p in addrs),
        )
        self._signed = self._local.sign(key)
        self._out: list[Output] = []
        self._next_announce = now_ms
        self._next_sync = now_ms + self.config.sync_interval_ms // 2
        self._next_ping = now_ms + self.config.ping_interval_ms
        #: the one outstanding ping: nonce -> (peer, our send time)
        self._pings: dict[int, tuple[PeerId, int]] = {}
        self.rtt: dict[PeerId, RttEstimator] = {}
        self._hints: list[tuple[str, int] | EndpointAddr] = []

    # ---- local entry ----------------------------------------------------
    @property
    def local(self) -> PeerEntry:
        return self._local

    @property
    def signed_local(self) -> SignedPeerEntry:
        return self._signed

    def update_local(
        self,
        now_ms: int,
        *,
        tags: Iterable[UniqueId] | None = None,
        streams: Iterable[UniqueId] | None = None,
        groups: Iterable[UniqueId] | None = None,
        tickets: Iterable[Ticket] | None = None,
    ) -> None:
        e = self._local
        self._local = replace(
            e,
            update_ms=max(now_ms, e.update_ms + 1),
            tags=e.tags if tags is None else sorted_ids(tags),
            streams=e.streams if streams is None else sorted_ids(streams),
            groups=e.groups if groups is None else sorted_ids(groups),
            tickets=e.tickets if tickets is None else tuple(sorted(set(tickets), key=_tid)),
        )
        self._signed = self._local.sign(self.key)
        self._gossip([self._signed], exclude=None)

    def bootstrap(self, hints: Iterable[tuple[str, int] | EndpointAddr]) -> None:
        """Sync with each initial peer hint (the operator's bootstrap list)."""
        for hint in hints:
            if self._is_own(hint):
                continue
            self._hints.append(hint)
            self._out.append(Send(_hint_peer(hint), hint, SyncRequest(self._sync_payload())))

    def depart(self, now_ms: int) -> None:
        """Tell known peers we are leaving (graceful shutdown)."""
        d = Departure.signed(self.key, self.catalog.network_id, self._local.started_ms)
        for entry in self.catalog:
            self._out.append(Send(entry.peer_id, entry.addr, Depart(d)))

    # ---- inputs ---------------------------------------------------------
    def on_message(
        self, sender: PeerId, msg: DiscoveryMessage, now_ms: int
    ) -> DiscoveryMessage | None:
        """Apply ``msg``; return the direct reply for ``sender`` (if any)."""
        if isinstance(msg, Announce):
            self._absorb(msg.entries, sender, now_ms)
            return None
        if isinstance(msg, SyncRequest):
            self._absorb(msg.entries, sender, now_ms)
            return SyncResponse(self._sync_payload())
        if isinstance(msg, SyncResponse):
            self._absorb(msg.entries, sender, now_ms)
            return None
        if isinstance(msg, Ping):
            return Pong(msg.nonce, msg.sent_ms)
        if isinstance(msg, Pong):
            # Only our own record is trusted: the echoed ``sent_ms`` is the peer's word,
            # and a pong from anyone but the pinged peer must not consume the nonce.
            pending = self._pings.get(msg.nonce)
            if pending is not None and pending[0] == sender:
                del self._pings[msg.nonce]
                self.rtt.setdefault(sender, RttEstimator()).sample(max(0, now_ms - pending[1]))
            return None
        if isinstance(msg, Depart):
            if PeerId(msg.departure.key) == sender and self.catalog.depart(msg.departure, now_ms):
                self._forget(sender)
                self._out.append(Departed(sender))
            return None
        return None  # pragma: no cover - the union is closed

    def tick(self, now_ms: int) -> None:
        cfg = self.config
        for pid in self.catalog.purge(now_ms):
            self._forget(pid)
            self._out.append(Departed(pid))
        if now_ms >= self._next_announce:
            self._next_announce = now_ms + cfg.announce_interval_ms
            # Refresh our own entry so TTLs elsewhere never lapse while we live.
            self._local = replace(self._local, update_ms=max(now_ms, self._local.update_ms + 1))
            self._signed = self._local.sign(self.key)
            self._gossip([self._signed], exclude=None)
        if now_ms >= self._next_sync:
            self._next_sync = now_ms + cfg.sync_interval_ms
            peers = list(self.catalog)
            if peers:
                p = self.rng.choice(peers)
                self._out.append(Send(p.peer_id, p.addr, SyncRequest(self._sync_payload())))
            # A hint no catalogued peer accounts for is retried every round: that is how
            # a node that lost sight of its seed (a partition longer than the TTL, a seed
            # restart) finds its way back. In the steady state this sends nothing.
            for hint in self._missing_hints():
                self._out.append(Send(_hint_peer(hint), hint, SyncRequest(self._sync_payload())))
        if now_ms >= self._next_ping:
            self._next_ping = now_ms + cfg.ping_interval_ms
            peers = list(self.catalog)
            if peers:
                p = self.rng.choice(peers)
                nonce = self.rng.getrandbits(63)
                self._pings = {nonce: (p.peer_id, now_ms)}  # one outstanding ping at a time
                self._out.append(Send(p.peer_id, p.addr, Ping(nonce, now_ms)))

    def next_deadline(self) -> int:
        return min(self._next_announce, self._next_sync, self._next_ping)

    def take_outputs(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    # ---- internals ------------------------------------------------------
    def _is_own(self, hint: tuple[str, int] | EndpointAddr) -> bool:
        if isinstance(hint, EndpointAddr):
            return hint.key == self._local.key
        return SocketAddr(*hint) in self._local.addrs

    def _missing_hints(self) -> list[tuple[str, int] | EndpointAddr]:
        if not self._hints:
            return []
        known_addrs = {a for e in self.catalog for a in e.addrs}
        return [
            h
            for h in self._hints
            if (
                self.catalog.get(h.peer_id) is None
                if isinstance(h, EndpointAddr)
                else SocketAddr(*h) not in known_addrs
            )
        ]

    def _forget(self, peer: PeerId) -> None:
        """Drop per-peer state of a peer that left the catalog."""
        self.rtt.pop(peer, None)
        self._pings = {n: p for n, p in self._pings.items() if p[0] != peer}

    def _sync_payload(self) -> tuple[SignedPeerEntry, ...]:
        others = self.catalog.all_signed()
        self.rng.shuffle(others)
        return (self._signed, *others[: MAX_SYNC_ENTRIES - 1])

    def _absorb(self, entries: Iterable[SignedPeerEntry], source: PeerId, now_ms: int) -> None:
        fresh: list[SignedPeerEntry] = []
        for signed in entries:
            result = self.catalog.upsert(signed, now_ms)
            if result.changed:
                fresh.append(signed)
                event = Discovered if result is Upsert.INSERTED else Updated
                self._out.append(event(signed.entry))
        if fresh:
            self._gossip(fresh, exclude=source)

    def _gossip(self, entries: list[SignedPeerEntry], exclude: PeerId | None) -> None:
        candidates = [
            e
            for e in self.catalog
            if e.peer_id != exclude and all(e.peer_id != s.entry.peer_id for s in entries)
        ]
        self.rng.shuffle(candidates)
        for peer in candidates[: self.config.fanout]:
            self._out.append(Send(peer.peer_id, peer.addr, Announce(tuple(entries))))


def _hint_peer(hint: tuple[str, int] | EndpointAddr) -> PeerId | None:
    return hint.peer_id if isinstance(hint, EndpointAddr) else None


def _tid(t: Ticket) -> bytes:
    return t.id().bytes
