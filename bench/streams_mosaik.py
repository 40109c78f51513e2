"""Our side of the streams benchmark: pymosaik producer → consumers in a worker process.

The peers learn each other's entries from the command line through a static
directory (discovery is not on the data path being measured); data flows over
the real transport: Noise-encrypted TCP links, canonical encoding, the
streams protocol with its per-consumer queues.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pymosaik.primitives import (
    UNIVERSE,
    PeerId,
    SecretKey,
    SystemClock,
    UniqueId,
    Wire,
    decode,
    encode,
)
from pymosaik.primitives.aio import Watch
from pymosaik.streams import Streams, schema_stream_id
from pymosaik.tickets import Ticket
from pymosaik.transport import Endpoint, EndpointAddr

from .common import make_message, percentile, read_stamp


class Blob(Wire, frozen=True):
    STREAM_SCHEMA: ClassVar[str] = "bench.blob.v1"
    data: bytes


STREAM = schema_stream_id(Blob)


@dataclass
class Entry:
    peer_id: PeerId
    addr: EndpointAddr
    network_id: UniqueId = UNIVERSE
    tags: frozenset[UniqueId] = frozenset()
    streams: frozenset[UniqueId] = frozenset()
    tickets: tuple[Ticket, ...] = ()


@dataclass
class StaticDirectory:
    """A fixed catalog for the benchmark (labelled: not discovery)."""

    me: Entry
    others: dict[PeerId, Entry] = field(default_factory=dict)
    watch: Watch = field(default_factory=Watch)

    def get(self, peer_id: PeerId) -> Entry | None:
        return self.others.get(peer_id)

    def local(self) -> Entry:
        return self.me

    def peers(self) -> Iterable[Entry]:
        return list(self.others.values())

    @property
    def version(self) -> int:
        return self.watch.version

    async def changed(self, since: int) -> int:
        return await self.watch.changed(since)

    async def resync(self, peer: PeerId) -> None:
        return None

    def advertise_stream(self, stream_id: UniqueId) -> None:
        self.me.streams = self.me.streams | {stream_id}

    def withdraw_stream(self, stream_id: UniqueId) -> None:
        self.me.streams = self.me.streams - {stream_id}

    def rtt_ms(self, peer: PeerId) -> float | None:
        return None

    def add(self, entry: Entry) -> None:
        self.others[entry.peer_id] = entry
        self.watch.bump()


async def publish(count: int, rate: int | None, consumers: int) -> dict[str, Any]:
    ep = Endpoint(SecretKey.generate(), UNIVERSE)
    async with ep:
        directory = StaticDirectory(Entry(ep.peer_id, ep.addr))
        streams = Streams(ep, directory, UNIVERSE, SystemClock())
        producer = streams.producer(Blob).with_buffer_size(4096).with_lag_timeout(30).build()
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.streams_mosaik",
            encode(ep.addr).hex(),
            str(consumers),
            str(count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert worker.stdout is not None
        addrs = json.loads(await worker.stdout.readline())
        for hexaddr in addrs:
            addr = decode(bytes.fromhex(hexaddr), EndpointAddr)
            directory.add(Entry(addr.peer_id, addr))
        async with asyncio.timeout(30):
            await producer.subscribed(consumers)
        start = time.monotonic()
        if rate is None:
            for seq in range(count):
                await producer.send(Blob(make_message(seq, 240)))
        else:
            per_ms = max(1, rate // 1000)
            seq = 0
            while seq < count:
                tick = time.monotonic()
                for _ in range(min(per_ms, count - seq)):
                    await producer.send(Blob(make_message(seq, 240)))
                    seq += 1
                await asyncio.sleep(max(0.0, 0.001 - (time.monotonic() - tick)))
        result: dict[str, Any] = json.loads(await worker.stdout.readline())
        await worker.wait()
        await streams.aclose()
    result["start"] = start
    return result


async def consume(producer_hex: str, consumers: int, count: int) -> None:
    paddr = decode(bytes.fromhex(producer_hex), EndpointAddr)
    producer_entry = Entry(paddr.peer_id, paddr, streams=frozenset({STREAM}))
    endpoints = [Endpoint(SecretKey.generate(), UNIVERSE) for _ in range(consumers)]
    for ep in endpoints:
        await ep.__aenter__()
    print(json.dumps([encode(ep.addr).hex() for ep in endpoints]), flush=True)
    latencies: list[float] = []
    last_ns = 0

    async def one(ep: Endpoint) -> None:
        nonlocal last_ns
        d = StaticDirectory(Entry(ep.peer_id, ep.addr), {paddr.peer_id: producer_entry})
        streams = Streams(ep, d, UNIVERSE, SystemClock())
        consumer = streams.consumer(Blob).with_buffer_size(4096).build()
        got = 0
        async for blob in consumer:
            now = time.monotonic_ns()
            sent, _ = read_stamp(blob.data)
            latencies.append((now - sent) / 1000)
            last_ns = max(last_ns, now)
            got += 1
            if got == count:
                break
        await streams.aclose()

    async with asyncio.timeout(180):
        await asyncio.gather(*(one(ep) for ep in endpoints))
    for ep in endpoints:
        await ep.aclose()
    print(
        json.dumps(
            {
                "received": len(latencies),
                "last_recv_ns": last_ns,
                "p50_us": percentile(latencies, 50),
                "p99_us": percentile(latencies, 99),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(consume(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
