"""Child process for test_hostile_peers: a node that prints its address and serves until killed.

With ``--web3`` it first imports the anchor client, as a Chronicle member does
(web3's dependencies used to leave the recursion limit at 100,000).
"""

import asyncio
import sys

if "--web3" in sys.argv:
    import coalition.runtime.anchor_client  # noqa: F401

from pymosaik.network import Network
from pymosaik.primitives import encode


async def main() -> None:
    async with await Network.create() as net:
        print(encode(net.addr).hex(), sys.getrecursionlimit(), flush=True)
        await asyncio.sleep(120)  # the parent terminates us


if __name__ == "__main__":
    asyncio.run(main())
