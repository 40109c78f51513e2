"""`python -m bench streams`: 256-byte messages, one producer to 1 and to 8 consumers.

Two runs per fan-out and system: an unthrottled throughput run (messages/s
delivered to every consumer, and the latency under that load) and a paced run
at a fixed rate for the p50/p99 delivery latency. The anchor is NATS on the
same machine in the same run; ``ratio`` is ours / anchor's.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from . import streams_mosaik, streams_nats

THROUGHPUT_COUNT = 20_000
PACED_RATE = 2_000  # messages per second
PACED_SECONDS = 3


async def _run_nats(consumers: int, count: int, rate: int | None) -> dict[str, Any]:
    async with streams_nats.nats_server() as url:
        worker = subprocess.Popen(
            [sys.executable, "-m", "bench.streams_nats", url, str(consumers), str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None
        line = await asyncio.to_thread(worker.stdout.readline)
        if line.strip() != "ready":
            raise RuntimeError(f"NATS consumer worker failed to start: {line!r}")
        start = await streams_nats.publish(url, count, rate)
        result = json.loads(await asyncio.to_thread(worker.stdout.readline))
        worker.wait(timeout=30)
    elapsed = result["last_recv_ns"] / 1e9 - start
    result["elapsed_s"] = elapsed
    result["msgs_per_s"] = count / elapsed
    return result


async def _run_mosaik(consumers: int, count: int, rate: int | None) -> dict[str, Any]:
    result = await streams_mosaik.publish(count, rate, consumers)
    elapsed = result["last_recv_ns"] / 1e9 - result["start"]
    result["elapsed_s"] = elapsed
    result["msgs_per_s"] = count / elapsed
    return result


RUNNERS = {"nats": _run_nats, "mosaik": _run_mosaik}


def measure(system: str, consumers: int) -> dict[str, Any]:
    run = RUNNERS[system]
    thr = asyncio.run(run(consumers, THROUGHPUT_COUNT, None))
    paced = asyncio.run(run(consumers, PACED_RATE * PACED_SECONDS, PACED_RATE))
    return {
        "throughput_msgs_per_s": round(thr["msgs_per_s"]),
        "loaded_p99_us": round(thr["p99_us"], 1),
        "paced_rate": PACED_RATE,
        "paced_p50_us": round(paced["p50_us"], 1),
        "paced_p99_us": round(paced["p99_us"], 1),
        "delivered": thr["received"],
        "expected": THROUGHPUT_COUNT * consumers,
    }


def main(systems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"message_bytes": 256, "scenarios": {}}
    for consumers in (1, 8):
        row: dict[str, Any] = {}
        for system in systems:
            t0 = time.monotonic()
            row[system] = measure(system, consumers)
            row[system]["wall_s"] = round(time.monotonic() - t0, 1)
        if {"nats", "mosaik"} <= row.keys():
            ours, anchor = row["mosaik"], row["nats"]
            row["ratio"] = {
                "throughput": round(
                    ours["throughput_msgs_per_s"] / anchor["throughput_msgs_per_s"], 3
                ),
                "paced_p99": round(ours["paced_p99_us"] / anchor["paced_p99_us"], 3),
            }
        out["scenarios"][f"1x{consumers}"] = row
    return out
