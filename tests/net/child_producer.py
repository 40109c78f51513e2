"""Child process for test_network: a node that bootstraps to argv[1] and streams readings."""

import asyncio
import sys
from typing import ClassVar

from pymosaik.discovery import DiscoveryConfig
from pymosaik.network import Network
from pymosaik.primitives import Wire, decode
from pymosaik.transport import EndpointAddr


class Reading(Wire, frozen=True):
    STREAM_SCHEMA: ClassVar[str] = "test.reading.v1"
    seq: int


async def main() -> None:
    hint = decode(bytes.fromhex(sys.argv[1]), EndpointAddr)
    fast = DiscoveryConfig(announce_interval_ms=300, sync_interval_ms=500, ping_interval_ms=300)
    async with await Network.create(bootstrap=[hint], discovery=fast) as net:
        producer = net.streams.produce(Reading)
        await producer.subscribed()
        for i in range(50):
            await producer.send(Reading(i))
        await asyncio.sleep(30)  # the parent terminates us


if __name__ == "__main__":
    asyncio.run(main())
