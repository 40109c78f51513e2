"""`python -m bench raft`: committed 128-byte commands/s and commit latency, 3 members on loopback.

Also catch-up speed: a new member (an observer) joins a running 3-member group
whose log holds ``CATCH_UP_ENTRIES`` 128-byte commands, by log replay (no
compaction) and by snapshot (compaction every 1024 entries), and we time until
it has applied them all (entries/s). Without etcd installed only this part runs
and is merged into the previous results (the throughput figures keep their date).

Ours: pymosaik groups with the durable SQLite log (one fsync per commit batch),
driven from member 0. Anchors in the same run: etcd (Debian's etcd-server, a
3-member cluster, driven over its v3 JSON gateway at the same concurrency) and
pysyncobj (the Python Raft peer, journal on disk, driven from node 0).
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from .common import RESULTS, free_port, percentile

RESULT = RESULTS / "raft.json"

LEVELS = [1, 16, 64]
COUNT = 2000
VALUE = b"v" * 128


def _members(system: str) -> dict[str, Any]:
    ports = [free_port() for _ in range(3)]
    with tempfile.TemporaryDirectory() as tmp:
        argv = lambda i: [  # noqa: E731
            sys.executable,
            "-m",
            "bench.raft_nodes",
            system,
            str(i),
            ",".join(map(str, ports)),
            tmp,
            ",".join(map(str, LEVELS)),
            str(COUNT),
        ]
        procs = [subprocess.Popen(argv(i), stdout=subprocess.PIPE, text=True) for i in range(3)]
        try:
            assert procs[0].stdout is not None
            line = procs[0].stdout.readline()
            for p in procs:
                p.wait(timeout=120)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
    result: dict[str, Any] = json.loads(line)
    return result


CATCH_UP_ENTRIES = 20_480


def _catch_up(threshold: int) -> dict[str, Any]:
    ports = [free_port() for _ in range(4)]
    with tempfile.TemporaryDirectory() as tmp:
        argv = lambda i: [  # noqa: E731
            sys.executable,
            "-m",
            "bench.raft_nodes",
            "catchup",
            str(i),
            ",".join(map(str, ports)),
            tmp,
            str(threshold),
            str(CATCH_UP_ENTRIES),
        ]
        procs = [subprocess.Popen(argv(i), stdout=subprocess.PIPE, text=True) for i in range(4)]
        try:
            assert procs[3].stdout is not None
            line = procs[3].stdout.readline()
            for p in procs:
                p.wait(timeout=300)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
    result: dict[str, Any] = json.loads(line)
    return result


def catch_up() -> dict[str, Any]:
    return {"log_replay": _catch_up(0), "snapshot": _catch_up(1024)}


def _etcd() -> dict[str, Any]:
    exe = shutil.which("etcd") or "/usr/bin/etcd"
    peers = [free_port() for _ in range(3)]
    clients = [free_port() for _ in range(3)]
    cluster = ",".join(f"e{i}=http://127.0.0.1:{peers[i]}" for i in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        procs = [
            subprocess.Popen(
                [
                    exe,
                    "--name",
                    f"e{i}",
                    "--data-dir",
                    f"{tmp}/e{i}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{peers[i]}",
                    "--initial-advertise-peer-urls",
                    f"http://127.0.0.1:{peers[i]}",
                    "--listen-client-urls",
                    f"http://127.0.0.1:{clients[i]}",
                    "--advertise-client-urls",
                    f"http://127.0.0.1:{clients[i]}",
                    "--initial-cluster",
                    cluster,
                    "--initial-cluster-state",
                    "new",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in range(3)
        ]
        try:
            return asyncio.run(_drive_etcd(f"http://127.0.0.1:{clients[0]}"))
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=20)


async def _drive_etcd(url: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    value = base64.b64encode(VALUE).decode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128)) as session:
        for _ in range(100):
            try:
                async with session.post(
                    f"{url}/v3/kv/put", json={"key": "aw==", "value": value}
                ) as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        seq = 0
        for level in LEVELS:
            latencies: list[float] = []
            todo = COUNT

            async def worker() -> None:
                nonlocal todo, seq
                while todo > 0:
                    todo -= 1
                    seq += 1
                    key = base64.b64encode(b"k%d" % seq).decode()
                    t0 = time.perf_counter()
                    async with session.post(
                        f"{url}/v3/kv/put", json={"key": key, "value": value}
                    ) as r:
                        await r.read()
                    latencies.append((time.perf_counter() - t0) * 1000)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(level)))
            elapsed = time.perf_counter() - start
            results[str(level)] = {
                "ops_per_s": round(COUNT / elapsed, 1),
                "p50_ms": round(percentile(latencies, 50), 2),
                "p99_ms": round(percentile(latencies, 99), 2),
            }
    return results


def main() -> dict[str, Any]:
    if shutil.which("etcd") is None and not Path("/usr/bin/etcd").exists():
        previous = json.loads(RESULT.read_text()) if RESULT.exists() else {}
        kept = {k: v for k, v in previous.items() if k not in {"benchmark", "machine"}}
        kept["throughput_when"] = kept.pop("throughput_when", kept.pop("when", None))
        return {**kept, "catch_up": catch_up()}
    out: dict[str, Any] = {"value_bytes": 128, "commands_per_level": COUNT, "members": 3}
    systems = {"mosaik": _members("mosaik"), "etcd": _etcd(), "pysyncobj": _members("pysyncobj")}
    out["systems"] = systems
    out["ratio_vs_etcd"] = {
        lvl: {
            "throughput": round(
                systems["mosaik"][lvl]["ops_per_s"] / systems["etcd"][lvl]["ops_per_s"], 3
            ),
            "p99": round(systems["mosaik"][lvl]["p99_ms"] / systems["etcd"][lvl]["p99_ms"], 3),
        }
        for lvl in map(str, LEVELS)
    }
    out["catch_up"] = catch_up()
    out["ratio_vs_pysyncobj"] = {
        lvl: round(systems["mosaik"][lvl]["ops_per_s"] / systems["pysyncobj"][lvl]["ops_per_s"], 3)
        for lvl in map(str, LEVELS)
    }
    return out
