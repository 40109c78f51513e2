"""Subscription status: online conditions and per-channel stats."""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from ..primitives import PeerId, UniqueId, unique_id

__all__ = ["ChannelInfo", "ChannelState", "OnlineConditions", "Stats"]


@dataclass(frozen=True)
class OnlineConditions:
    """Online when at least ``minimum`` subscriptions are with peers carrying every tag."""

    minimum: int = 1
    tags: frozenset[UniqueId] = frozenset()

    def minimum_of(self, n: int) -> OnlineConditions:
        if n < 0:
            raise ValueError("minimum_of takes a non-negative count")
        return OnlineConditions(n, self.tags)

    def with_tags(self, *tags: UniqueId | str) -> OnlineConditions:
        ids = {t if isinstance(t, UniqueId) else unique_id(t) for t in tags}
        return OnlineConditions(self.minimum, self.tags | ids)

    def met_by(self, peers_tags: Iterable[Collection[UniqueId]]) -> bool:
        matching = sum(1 for tags in peers_tags if self.tags.issubset(tags))
        return matching >= self.minimum


class ChannelState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    TERMINATED = "terminated"


@dataclass
class Stats:
    """Counters of one channel (or one handle): datums and bytes moved, datums dropped."""

    datums: int = 0
    bytes: int = 0
    dropped: int = 0
    started_ms: int = 0


@dataclass
class ChannelInfo:
    """One producer–consumer subscription as seen from one side."""

    stream_id: UniqueId
    producer_id: PeerId
    consumer_id: PeerId
    state: ChannelState = ChannelState.CONNECTING
    stats: Stats = field(default_factory=Stats)
    tags: frozenset[UniqueId] = frozenset()

    @property
    def is_connected(self) -> bool:
        return self.state is ChannelState.CONNECTED
