"""Three members on loopback: a writer commits to a replicated Map, readers see it."""

from __future__ import annotations

import asyncio

from pymosaik.collections import CellHandle, MapHandle
from pymosaik.groups.driver import Groups
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import UNIVERSE, SecretKey, UniqueId
from pymosaik.transport import Endpoint

FAST = RaftConfig(
    heartbeat_interval_ms=50,
    heartbeat_jitter_ms=10,
    election_timeout_ms=300,
    election_jitter_ms=150,
    bootstrap_delay_ms=100,
    forward_timeout_ms=1000,
    query_timeout_ms=1000,
)
SECRET = UniqueId.hash("collections loopback secret")


async def test_writer_updates_map_readers_see_it() -> None:
    eps = [Endpoint(SecretKey.generate(), UNIVERSE) for _ in range(3)]
    for ep in eps:
        await ep.__aenter__()
    groups = [Groups(ep) for ep in eps]
    addrs = [ep.addr for ep in eps]
    try:
        maps = [
            MapHandle.join(
                g, SECRET, "prices: Map[str, int] v1", addrs, str, int, config=FAST, seed=i
            )
            for i, g in enumerate(groups)
        ]
        # A second collection on the same secret is a separate group.
        cells = [
            CellHandle.join(g, SECRET, "flag: Cell[str] v1", addrs, str, config=FAST, seed=i)
            for i, g in enumerate(groups)
        ]
        assert maps[0].group.group_id != cells[0].group.group_id
        writer, readers = maps[0], maps[1:]
        async with asyncio.timeout(15):
            await writer.group.when_leader_known()
            v1 = await writer.insert("ETH", 3812)
            assert writer.get("ETH") == 3812  # applied locally before returning
            v2 = await writer.extend([("BTC", 97000), ("SOL", 240)])
            v3, swapped = await writer.compare_exchange("ETH", 3812, 3900)
            assert swapped
            v4, swapped = await writer.compare_exchange("ETH", 1, 2)
            assert not swapped
            assert v1 < v2 < v3 < v4
            for reader in readers:
                assert await reader.when.reaches(v4) >= v4
                assert reader.items() == writer.items()
                assert reader.get("ETH") == 3900
                assert reader.get("DOGE") is None
                assert len(reader) == 3
            # A reader's wait for the next update wakes on the writer's next commit.
            waiter = asyncio.ensure_future(readers[0].when.updated())
            await asyncio.sleep(0)  # let the waiter register before the write
            v5 = await writer.remove("SOL")
            assert await waiter > v4
            await readers[1].when.reaches(v5)
            assert not readers[1].contains_key("SOL")
            # A Cell written from another member reaches the first.
            cv = await cells[2].write("ready")
            await cells[0].when.reaches(cv)
            assert cells[0].get() == "ready"
    finally:
        for g in groups:
            await g.aclose()
        for ep in eps:
            await ep.aclose()
