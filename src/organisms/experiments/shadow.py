"""The shadow stream of an experiment, and the consumers that opt into it.

A candidate under test (914–1134) publishes on its own surface — its Config is its own, so its
ids are its own — while the production agent keeps publishing on the production surface. A
consumer that does nothing reads the production surface and never meets a shadow item: the
streams are different ids, not a flag on one stream. A consumer that opts in reads both through
`ShadowReader`, every item labelled with where it came from, so it can compare or log the
candidate's outputs without ever acting on one by mistake. When the experiment adopts the
candidate, the rotation marker on the production surface moves readers that follow successors
(`follow_successors=True`) onto the candidate's surface, which is production from then on.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from coalition.framework.reader import SurfaceReader
from coalition.framework.spec import OrganismSpec
from pymosaik.network import Network
from pymosaik.primitives.aio import TaskScope
from pymosaik.tickets import TicketValidator

__all__ = ["ShadowItem", "ShadowReader", "Source", "opt_in"]

Cfg = TypeVar("Cfg")
Item = TypeVar("Item")


class Source(enum.StrEnum):
    PRODUCTION = "production"
    SHADOW = "shadow"


@dataclass(frozen=True)
class ShadowItem(Generic[Item]):
    source: Source
    item: Item

    @property
    def shadow(self) -> bool:
        return self.source is Source.SHADOW


class ShadowReader(Generic[Item]):
    """Production and shadow items, each labelled, each surface in its own order."""

    def __init__(self, production: SurfaceReader[Item], shadow: SurfaceReader[Item]) -> None:
        self.production, self.shadow = production, shadow
        # bounded: a slow consumer holds the readers back instead of growing a buffer
        self._queue: asyncio.Queue[ShadowItem[Item] | BaseException] = asyncio.Queue(64)
        self._scope = TaskScope("shadow reader")
        self._scope.spawn(self._pump(production, Source.PRODUCTION), name="shadow:production")
        self._scope.spawn(self._pump(shadow, Source.SHADOW), name="shadow:candidate")

    async def _pump(self, reader: SurfaceReader[Item], source: Source) -> None:
        try:
            async for item in reader:
                await self._queue.put(ShadowItem(source, item))
        except Exception as exc:  # handed to the consumer, not swallowed
            await self._queue.put(exc)

    async def next(self) -> ShadowItem[Item]:
        got = await self._queue.get()
        if isinstance(got, BaseException):
            raise got
        return got

    def __aiter__(self) -> AsyncIterator[ShadowItem[Item]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ShadowItem[Item]]:
        while True:
            yield await self.next()

    async def close(self) -> None:
        await self._scope.aclose()
        await self.production.close()
        await self.shadow.close()


def opt_in(
    network: Network,
    spec: OrganismSpec[Cfg, Item],
    production: Cfg,
    candidate: Cfg,
    *,
    timeout_s: float = 10.0,
    producers: TicketValidator | None = None,
    shadow_producers: TicketValidator | None = None,
) -> ShadowReader[Item]:
    """Read the production surface and the candidate's shadow surface of ``spec``'s kind.

    ``producers`` authenticates the production committee (the consumer's usual validator);
    ``shadow_producers`` is the separate clause the opt-in adds for the candidate's side (for a
    staging candidate, ``staging.staging_clause``: its members hold no production ticket)."""
    return ShadowReader(
        spec.read(network, production, timeout_s=timeout_s, producers=producers),
        spec.read(network, candidate, timeout_s=timeout_s, producers=shadow_producers),
    )
