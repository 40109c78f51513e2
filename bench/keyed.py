"""What keyed surfaces cost: ``python -m bench keyed``.

* apply: one Map put into a `KeyedStore` (every version kept, with its seq and
  log index) against the same insert into pymosaik's `MapMachine`, which keeps
  only the current value (the peer: the collection without history);
* snapshot: image size and encode/restore time of a store holding 100,000
  versions over 1,000 keys (history is part of every snapshot);
* delivery on loopback (3 members, 2 readers): from a ticketless write's
  submit to the moment both keyed readers have applied it, against the same
  write on a Feed (frame stream) reaching two `SurfaceReader`s in the same run.
"""

from __future__ import annotations

import asyncio
import os
import time
import timeit
from typing import Any

from coalition import OrganismConfig
from coalition.framework.keyed import KeyedStore, MapSurface
from organisms.feed import Feed
from organisms.registry import Registry, RegistryEntry
from pymosaik.collections.base import StoreId
from pymosaik.collections.map import MapInsert, MapMachine
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import UniqueId, encode

from .common import percentile

_N = 50_000
_VERSIONS = 100_000
_KEYS = 1_000
_WRITES = 50
CARDS = MapSurface("cards", str, bytes)


def _apply() -> dict[str, float]:
    org = UniqueId.from_parts(b"bench")
    store = KeyedStore(org, [CARDS])
    peer = MapMachine(StoreId(org))
    value = bytes(100)
    keys = [f"key-{i % _KEYS}" for i in range(_N)]
    it = iter(range(10**9))

    def keyed() -> None:
        i = next(it)
        store.put(CARDS, keys[i % _N], value, i)

    def plain() -> None:
        i = next(it)
        peer.execute(MapInsert(encode(keys[i % _N]), encode(value)))

    return {
        "put_keyed_store_us": round(timeit.timeit(keyed, number=_N) / _N * 1e6, 2),
        "put_map_machine_us": round(timeit.timeit(plain, number=_N) / _N * 1e6, 2),
    }


def _snapshot() -> dict[str, float]:
    org = UniqueId.from_parts(b"bench")
    store = KeyedStore(org, [CARDS])
    for i in range(_VERSIONS):
        store.put(CARDS, f"key-{i % _KEYS}", bytes(100), i)
    t0 = time.perf_counter()
    image = store.image()
    t1 = time.perf_counter()
    KeyedStore(org, [CARDS]).restore(image)
    t2 = time.perf_counter()
    return {
        "versions": _VERSIONS,
        "image_bytes": len(image),
        "image_encode_ms": round((t1 - t0) * 1e3, 1),
        "image_restore_ms": round((t2 - t1) * 1e3, 1),
    }


async def _delivery() -> dict[str, Any]:
    raft, disc = RaftConfig.loopback(), DiscoveryConfig.loopback()
    nets: list[Network] = []

    async def net() -> Network:
        n = await Network.create(bootstrap=[nets[0].addr] if nets else [], discovery=disc)
        nets.append(n)
        return n

    try:
        member_nets = [await net() for _ in range(3)]
        addrs = [n.addr for n in member_nets]
        reg_cfg, feed_cfg = OrganismConfig("bench-registry"), OrganismConfig("bench-feed")
        members = [Registry.member(n, reg_cfg, addrs, raft=raft) for n in member_nets]
        members += [Feed.member(n, feed_cfg, addrs, raft=raft) for n in member_nets]
        client = await net()
        readers = [Registry.read(await net(), reg_cfg, addrs, raft=raft) for _ in range(2)]
        feeds = [Feed.read(await net(), feed_cfg, timeout_s=15) for _ in range(2)]
        reg_writer, feed_writer = Registry.publish(client, reg_cfg), Feed.publish(client, feed_cfg)
        for r in readers:
            await r.ready(15)
        await feed_writer.post(b"warm-up", 0, timeout_s=15)
        for f in feeds:
            await f.ready(drain=False)

        keyed_ms, frame_ms = [], []
        for i in range(_WRITES):
            t0 = time.perf_counter()
            waits = [asyncio.ensure_future(r.writes.when().appended()) for r in readers]
            await reg_writer.put(f"k{i % 10}", RegistryEntry(b"x" * 100, i), timeout_s=15)
            await asyncio.gather(*waits)
            keyed_ms.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            await feed_writer.post(b"x" * 100, i, timeout_s=15)
            await asyncio.gather(*(f.next() for f in feeds))
            frame_ms.append((time.perf_counter() - t0) * 1e3)
        converged = all(
            [(e.seq, e.index, e.value) for e in r.entries.log.entries]
            == [(e.seq, e.index, e.value) for e in readers[0].entries.log.entries]
            for r in readers
        )
        for h in [*readers, *feeds, reg_writer, feed_writer]:
            await h.close()
        for m in members:
            await m.close()
    finally:
        for n in nets:
            await n.close()
    return {
        "writes": _WRITES,
        "keyed_readers_converged": converged,
        "keyed_write_to_both_readers_ms_p50": round(percentile(keyed_ms, 50), 2),
        "keyed_write_to_both_readers_ms_p99": round(percentile(keyed_ms, 99), 2),
        "feed_write_to_both_readers_ms_p50": round(percentile(frame_ms, 50), 2),
        "feed_write_to_both_readers_ms_p99": round(percentile(frame_ms, 99), 2),
    }


def main() -> dict[str, Any]:
    load = os.getloadavg()[0]  # delivery latencies on a shared host are mostly its load
    return {
        "apply": _apply(),
        "snapshot": _snapshot(),
        "delivery": asyncio.run(_delivery()),
        "load_average_1m_at_start": round(load, 2),
        "cpus": os.cpu_count(),
    }
