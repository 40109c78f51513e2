"""Member processes for `python -m bench raft`: ours (pymosaik groups) and pysyncobj.

argv: system index ports datadir concurrencies count
Member 0 drives the load after the group is up and prints one JSON line of results.
``catchup``: members 0-2 fill the log with ``count`` entries (``concurrencies`` is
the snapshot threshold, 0: never compact); process 3 then joins as a new observer
and prints how fast it caught up.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.batteries import ReplDict

from pymosaik.groups.driver import GroupError, Groups
from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp
from pymosaik.groups.raft import LeadershipPreference, RaftConfig
from pymosaik.groups.storage.sqlite import SqliteStorage
from pymosaik.primitives import UNIVERSE, SecretKey, UniqueId, encode
from pymosaik.transport import Endpoint, EndpointAddr

from .common import percentile

VALUE = b"v" * 128


def summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    return {
        "ops_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def ours(index: int, ports: list[int], data: Path, levels: list[int], count: int) -> None:
    keys = [SecretKey.from_id(UniqueId.from_u8(i + 1)) for i in range(len(ports))]
    addrs = [EndpointAddr.of(k.peer_id, ("127.0.0.1", p)) for k, p in zip(keys, ports, strict=True)]
    async with Endpoint(keys[index], UNIVERSE, port=ports[index]) as ep:
        groups = Groups(ep)
        group = groups.join(
            UniqueId.hash("bench"), MapMachine(), addrs, storage=SqliteStorage(data / f"{index}.db")
        )
        if index != 0:
            while not (data / "done").exists():
                await asyncio.sleep(0.2)
            await groups.aclose()
            return
        await group.when_leader_known()
        await asyncio.sleep(1.0)
        results: dict[str, object] = {}
        seq = 0
        for level in levels:
            latencies: list[float] = []
            todo = count

            async def worker(w: int) -> None:
                nonlocal todo, seq
                client = f"c{level}-{w}".encode()
                n = 0
                while todo > 0:
                    todo -= 1
                    n += 1
                    seq += 1
                    cmd = encode(MapCommand(client, n, MapOp.PUT, b"k%d" % seq, VALUE))
                    t0 = time.perf_counter()
                    await group.execute(cmd)
                    latencies.append((time.perf_counter() - t0) * 1000)

            start = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(level)))
            results[str(level)] = summary(latencies, time.perf_counter() - start)
        print(json.dumps(results), flush=True)
        (data / "done").write_text("")
        await asyncio.sleep(0.5)
        await groups.aclose()


def syncobj(index: int, ports: list[int], data: Path, levels: list[int], count: int) -> None:
    addrs = [f"127.0.0.1:{p}" for p in ports]
    conf = SyncObjConf(
        fullDumpFile=str(data / f"s{index}.dump"), journalFile=str(data / f"s{index}.journal")
    )
    d = ReplDict()
    node = SyncObj(
        addrs[index], [a for i, a in enumerate(addrs) if i != index], conf=conf, consumers=[d]
    )
    if index != 0:
        while not (data / "done").exists():
            time.sleep(0.2)
        node.destroy()
        return
    while node._getLeader() is None:
        time.sleep(0.1)
    time.sleep(1.0)
    results: dict[str, object] = {}
    seq = 0
    for level in levels:
        latencies: list[float] = []
        sem = threading.Semaphore(level)
        done = threading.Semaphore(0)

        def callback(_res: object, _err: object, t0: float) -> None:
            latencies.append((time.perf_counter() - t0) * 1000)
            sem.release()
            done.release()

        start = time.perf_counter()
        for _ in range(count):
            sem.acquire()
            seq += 1
            t0 = time.perf_counter()
            d.set(b"k%d" % seq, VALUE, callback=lambda r, e, t0=t0: callback(r, e, t0))
        for _ in range(count):
            done.acquire()
        results[str(level)] = summary(latencies, time.perf_counter() - start)
    print(json.dumps(results), flush=True)
    (data / "done").write_text("")
    time.sleep(0.5)
    node.destroy()


class _CountingMap(MapMachine):
    """Tells snapshot installation from log replay."""

    restores = 0

    def restore(self, data: bytes) -> None:
        self.restores += 1
        super().restore(data)


async def catchup(index: int, ports: list[int], data: Path, threshold: int, count: int) -> None:
    keys = [SecretKey.from_id(UniqueId.from_u8(i + 1)) for i in range(len(ports))]
    addrs = [EndpointAddr.of(k.peer_id, ("127.0.0.1", p)) for k, p in zip(keys, ports, strict=True)]
    config = RaftConfig(snapshot_threshold=threshold)
    secret = UniqueId.hash("bench catch-up")
    members = addrs[:3]
    if index == 3:
        while not (data / "filled").exists():
            await asyncio.sleep(0.05)
        target = int((data / "filled").read_text())
        machine = _CountingMap()
        async with Endpoint(keys[index], UNIVERSE, port=ports[index]) as ep:
            groups = Groups(ep)
            start = time.perf_counter()
            group = groups.join(
                secret,
                machine,
                members,
                storage=SqliteStorage(data / "new.db"),
                config=config,
                preference=LeadershipPreference.observer(),
            )
            while group.applied_index < target:
                await asyncio.sleep(0.002)
            elapsed = time.perf_counter() - start
            result = {
                "entries": target,
                "seconds": round(elapsed, 3),
                "entries_per_s": round(target / elapsed, 1),
                "snapshot_installed": machine.restores > 0,
                "snapshot_bytes": len(snap.data) if (snap := group.node.storage.snapshot()) else 0,
                "snapshot_threshold": threshold,
            }
            print(json.dumps(result), flush=True)
            (data / "done").write_text("")
            await groups.aclose()
        return
    async with Endpoint(keys[index], UNIVERSE, port=ports[index]) as ep:
        groups = Groups(ep)
        group = groups.join(
            secret,
            MapMachine(),
            members,
            storage=SqliteStorage(data / f"{index}.db"),
            config=config,
        )
        if index == 0:
            await group.when_leader_known()
            batch = 256

            async def writer(w: int) -> None:
                client = f"fill-{w}".encode()
                for n in range(w, count // batch, 4):
                    cmds = [
                        encode(
                            MapCommand(
                                client,
                                n * batch + i + 1,
                                MapOp.PUT,
                                b"k%d" % (n * batch + i),
                                VALUE,
                            )
                        )
                        for i in range(batch)
                    ]
                    while True:
                        try:
                            await group.execute_many(cmds)
                            break
                        except GroupError:  # outcome unknown: resend (sessions dedupe)
                            await asyncio.sleep(0.05)

            await asyncio.gather(*(writer(w) for w in range(4)))
            (data / "filled").write_text(str(group.node.commit_index))
        while not (data / "done").exists():
            await asyncio.sleep(0.1)
        await groups.aclose()


if __name__ == "__main__":
    system, idx = sys.argv[1], int(sys.argv[2])
    port_list = [int(p) for p in sys.argv[3].split(",")]
    directory, lv, cnt = (
        Path(sys.argv[4]),
        [int(x) for x in sys.argv[5].split(",")],
        int(sys.argv[6]),
    )
    if system == "mosaik":
        asyncio.run(ours(idx, port_list, directory, lv, cnt))
    elif system == "catchup":
        asyncio.run(catchup(idx, port_list, directory, lv[0], cnt))
    else:
        syncobj(idx, port_list, directory, lv, cnt)
