"""A group's fsync runs in its disk thread: the event loop keeps serving other tasks meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from pymosaik.groups.driver import Groups
from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp, MapQuery, MapResult
from pymosaik.groups.raft import Consistency, RaftConfig
from pymosaik.groups.storage.memory import MemoryStorage
from pymosaik.primitives import UniqueId, decode, encode
from pymosaik.transport import Endpoint

StartNodes = Callable[[int], Awaitable[list[tuple[Endpoint, Groups]]]]
SYNC_S = 0.15
#: A tick of the watcher task this much late means the loop was held (a sync is 150 ms).
STALL_S = 0.1


class SlowSyncStorage(MemoryStorage):
    """A test double: every sync blocks its caller for ``SYNC_S`` (a slow disk's fsync)."""

    def __init__(self) -> None:
        super().__init__()
        self.sync_threads: set[int] = set()

    def sync(self) -> None:
        self.sync_threads.add(threading.get_ident())
        time.sleep(SYNC_S)


async def test_the_loop_keeps_ticking_while_a_group_syncs(group_nodes: StartNodes) -> None:
    ((ep, groups),) = await group_nodes(1)
    storage = SlowSyncStorage()
    group = groups.join(
        UniqueId.hash("persist off the loop"),
        MapMachine(),
        [ep.addr],
        storage=storage,
        config=RaftConfig.loopback(),
    )
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def watcher() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(watcher())
    async with asyncio.timeout(20):
        await group.when().leader_elected()
        started = loop.time()
        for seq in range(1, 5):
            command = encode(MapCommand(b"c", seq, MapOp.PUT, b"k", b"v%d" % seq))
            await group.execute(command)
        took = loop.time() - started
        answer = await group.query(encode(MapQuery(b"k")), Consistency.WEAK)
    stop.set()
    await ticking
    assert decode(answer, MapResult).value == b"v4"
    assert took >= 4 * SYNC_S  # every command waited for its own (slow) sync
    assert max(gaps) < STALL_S, f"the loop stalled for {max(gaps) * 1000:.0f} ms"
    assert threading.get_ident() not in storage.sync_threads  # never on the loop's thread
    assert len(storage.sync_threads) == 1  # one disk thread for the group
    assert len(gaps) > 4 * SYNC_S / 0.02  # the watcher ran throughout
