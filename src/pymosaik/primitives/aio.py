"""asyncio helpers the drivers share: the `Watch` wake-up primitive.

Protocol cores never import this module; only the thin asyncio drivers above
them do, so the cores stay free of asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Watch"]


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
