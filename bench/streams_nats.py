"""The anchor for the streams benchmark: NATS (Debian's nats-server, nats-py client).

One publisher in the benchmark process; the consumers in a worker process, each
on its own connection, so delivery crosses process boundaries as ours does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import nats

from .common import free_port, make_message, percentile, read_stamp

SUBJECT = "bench.stream"


@contextlib.asynccontextmanager
async def nats_server() -> AsyncIterator[str]:
    exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"nats://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def publish(url: str, count: int, rate: int | None) -> float:
    """Publish ``count`` stamped messages; return the monotonic start time (s)."""
    nc = await nats.connect(url, pending_size=64 * 1024 * 1024)
    start = time.monotonic()
    if rate is None:
        for seq in range(count):
            await nc.publish(SUBJECT, make_message(seq))
            if seq % 1024 == 0:
                await asyncio.sleep(0)
    else:
        per_ms = max(1, rate // 1000)
        seq = 0
        while seq < count:
            tick = time.monotonic()
            for _ in range(min(per_ms, count - seq)):
                await nc.publish(SUBJECT, make_message(seq))
                seq += 1
            await nc.flush()
            await asyncio.sleep(max(0.0, 0.001 - (time.monotonic() - tick)))
    await nc.flush()
    await nc.drain()
    return start


async def consume(url: str, consumers: int, count: int, ready: asyncio.Event) -> dict[str, Any]:
    latencies: list[float] = []
    last_ns = 0
    done = asyncio.Event()
    remaining = consumers
    conns = []

    async def one() -> None:
        nc = await nats.connect(url)
        conns.append(nc)
        got = 0

        async def handler(msg: Any) -> None:
            nonlocal got, last_ns, remaining
            now = time.monotonic_ns()
            sent, _ = read_stamp(msg.data)
            latencies.append((now - sent) / 1000)
            got += 1
            last_ns = max(last_ns, now)
            if got == count:
                remaining -= 1
                if remaining == 0:
                    done.set()

        await nc.subscribe(SUBJECT, cb=handler, pending_msgs_limit=count + 10)
        await nc.flush()

    await asyncio.gather(*(one() for _ in range(consumers)))
    ready.set()
    try:
        await asyncio.wait_for(done.wait(), timeout=120)
    finally:
        for nc in conns:
            await nc.close()
    return {
        "received": len(latencies),
        "last_recv_ns": last_ns,
        "p50_us": percentile(latencies, 50),
        "p99_us": percentile(latencies, 99),
    }


def worker_main(argv: list[str]) -> None:
    """``python -m bench.streams_nats URL CONSUMERS COUNT``: prints 'ready', then JSON."""
    url, consumers, count = argv[0], int(argv[1]), int(argv[2])

    async def run() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(consume(url, consumers, count, ready))
        await ready.wait()
        print("ready", flush=True)
        print(json.dumps(await task), flush=True)

    asyncio.run(run())


if __name__ == "__main__":
    worker_main(sys.argv[1:])
