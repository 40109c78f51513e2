"""A tiny echo node run as a separate process by test_multiprocess.py.

Usage: python echo_peer.py SEED_NAME NETWORK_NAME
Prints "READY <port> <peer id hex>" once listening; echoes every message on
"/test/echo/1" until its stdin closes (or 60 s pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from pymosaik.primitives import SecretKey, unique_id
from pymosaik.transport import Endpoint, Link


async def echo(link: Link) -> None:
    while True:
        await link.send_raw(await link.recv_raw())


async def main(seed: str, network: str) -> None:
    key = SecretKey.from_id(unique_id(seed))
    async with Endpoint(key, unique_id(network)) as ep:
        ep.accept("/test/echo/1", echo)
        port = ep.socket_addr[1]
        print(f"READY {port} {ep.peer_id.hex()}", flush=True)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(60):
                await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
