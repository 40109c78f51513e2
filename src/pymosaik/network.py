"""`Network`: one node on a mosaik network — transport, discovery and streams together.

``net = await Network.create(UNIVERSE, bootstrap=[addr])`` listens on loopback,
joins discovery from the initial peer hints and exposes ``net.streams`` and
``net.groups``.
``await net.close()`` departs gracefully and ends every task it started.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from .discovery import Discovery, DiscoveryConfig
from .groups.driver import Groups
from .primitives import UNIVERSE, Clock, NetworkId, PeerId, SecretKey, SystemClock, UniqueId
from .streams import Streams
from .tickets import Ticket
from .transport import Endpoint, EndpointAddr, TransportConfig

__all__ = ["Network"]


class Network:
    def __init__(
        self,
        endpoint: Endpoint,
        discovery: Discovery,
        streams: Streams,
        groups: Groups,
        clock: Clock,
    ) -> None:
        self.endpoint = endpoint
        self.discovery = discovery
        self.streams = streams
        self.groups = groups
        self.clock = clock

    @classmethod
    async def create(
        cls,
        network_id: NetworkId = UNIVERSE,
        *,
        secret_key: SecretKey | None = None,
        bootstrap: Iterable[EndpointAddr | tuple[str, int]] = (),
        tags: Iterable[UniqueId] = (),
        tickets: Iterable[Ticket] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        transport: TransportConfig | None = None,
        discovery: DiscoveryConfig | None = None,
        rng: random.Random | None = None,
    ) -> Network:
        clock = clock or SystemClock()
        endpoint = Endpoint(
            secret_key or SecretKey.generate(), network_id, host=host, port=port, config=transport
        )
        async with contextlib.AsyncExitStack() as unwind:  # a step failing undoes the earlier ones
            await endpoint.start()
            unwind.push_async_callback(endpoint.aclose)
            disc = Discovery(endpoint, network_id, clock, config=discovery, rng=rng)
            tags, tickets = list(tags), list(tickets)
            if tags or tickets:
                disc.core.update_local(clock.now_ms(), tags=tags, tickets=tickets)
            streams = Streams(endpoint, disc, network_id, clock)
            groups = Groups(endpoint, clock)
            disc.start(bootstrap)
            unwind.pop_all()
        return cls(endpoint, disc, streams, groups, clock)

    @property
    def peer_id(self) -> PeerId:
        return self.endpoint.peer_id

    @property
    def network_id(self) -> NetworkId:
        return self.endpoint.network_id

    @property
    def addr(self) -> EndpointAddr:
        return self.endpoint.addr

    async def close(self) -> None:
        """Close top-down; every layer closes even if one above raised (which then propagates)."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.endpoint.aclose)
            stack.push_async_callback(self.discovery.aclose)
            stack.push_async_callback(self.streams.aclose)
            stack.push_async_callback(self.groups.aclose)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
