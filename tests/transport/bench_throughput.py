"""Throughput sanity check (not a test): 256-byte messages over one loopback link.

Run: .venv/bin/python tests/transport/bench_throughput.py [count]
Prints messages/s for awaited ``send`` per message and for ``feed`` + ``flush``
every 64 messages, counted until the receiver has every message.
"""

from __future__ import annotations

import asyncio
import sys
import time

from pymosaik.primitives import SecretKey, unique_id
from pymosaik.transport import Endpoint, Link

PAYLOAD = bytes(256)


async def measure(count: int, batch: int) -> float:
    net = unique_id("bench")
    async with Endpoint(SecretKey.generate(), net) as a, Endpoint(SecretKey.generate(), net) as b:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def sink(link: Link) -> None:
            n = 0
            try:
                while n < count:
                    await link.recv_raw()
                    n += 1
            finally:
                done.set_result(n)

        b.accept("/bench/1", sink)
        link = await a.connect(b.addr, "/bench/1")
        start = time.perf_counter()
        for i in range(count):
            if batch == 1:
                await link.send_raw(PAYLOAD)
            else:
                link.feed_raw(PAYLOAD)
                if i % batch == batch - 1:
                    await link.flush()
        await link.flush()
        received = await done
        elapsed = time.perf_counter() - start
        assert received == count
        await link.close()
        return count / elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    for batch in (1, 64):
        rate = asyncio.run(measure(count, batch))
        label = "send() each" if batch == 1 else f"feed() + flush() every {batch}"
        print(f"{label:>28}: {rate:,.0f} msg/s ({rate * 256 / 1e6:.1f} MB/s payload)")


if __name__ == "__main__":
    main()
