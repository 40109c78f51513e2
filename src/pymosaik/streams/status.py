"""Subscription status: online conditions, per-channel stats, and awaitable ``when()`` checks."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from ..primitives import PeerId, UniqueId, unique_id

__all__ = ["ChannelInfo", "ChannelState", "OnlineConditions", "Stats", "Watch"]


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


class Watch:
    """A version counter tasks can wait on: ``await watch.until(predicate)``.

    ``bump`` wakes every waiter by setting the current event and swapping in a
    fresh one, so no task is spawned and no wake-up is lost.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.version = 0

    def bump(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        while True:
            event = self._event
            if predicate():
                return
            await event.wait()

    async def changed(self, since: int) -> int:
        await self.until(lambda: self.version != since)
        return self.version
