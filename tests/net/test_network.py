"""Nodes on real sockets find each other through discovery and stream data to each other."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

import pymosaik.network as network_module
from pymosaik.discovery import DiscoveryConfig
from pymosaik.network import Network
from pymosaik.primitives import UNIVERSE, Wire, decode, encode, unique_id
from pymosaik.transport import EndpointAddr

FAST = DiscoveryConfig(announce_interval_ms=300, sync_interval_ms=500, ping_interval_ms=300)
CHILD = Path(__file__).with_name("child_producer.py")


class Reading(Wire, frozen=True):
    STREAM_SCHEMA: ClassVar[str] = "test.reading.v1"
    seq: int


async def test_bootstrap_gossip_and_departure(nets: list[Network]) -> None:
    seed = await Network.create(discovery=FAST)
    nets.append(seed)
    for _ in range(3):
        nets.append(await Network.create(bootstrap=[seed.addr], discovery=FAST))
    async with asyncio.timeout(15):
        for n in nets:
            await n.discovery.until_known(3)  # everyone knows everyone, not just the seed
    leaving = nets.pop(2)
    gone = leaving.peer_id
    await leaving.close()
    async with asyncio.timeout(15):
        for n in nets:
            await n.discovery._watch.until(lambda n=n: n.discovery.get(gone) is None)


async def test_other_network_is_never_catalogued(nets: list[Network]) -> None:
    a = await Network.create(discovery=FAST)
    nets.append(a)
    other = await Network.create(unique_id("another.network"), bootstrap=[a.addr], discovery=FAST)
    nets.append(other)
    await asyncio.sleep(1.5)
    assert a.discovery.get(other.peer_id) is None
    assert other.discovery.get(a.peer_id) is None


async def test_stream_between_nodes_found_by_discovery(nets: list[Network]) -> None:
    seed = await Network.create(discovery=FAST)
    producer_node = await Network.create(bootstrap=[seed.addr], discovery=FAST)
    consumer_node = await Network.create(bootstrap=[seed.addr], discovery=FAST)
    nets += [seed, producer_node, consumer_node]
    producer = producer_node.streams.produce(Reading)
    consumer = consumer_node.streams.consume(Reading)
    async with asyncio.timeout(15):
        await producer.subscribed()
        for i in range(100):
            await producer.send(Reading(i))
        got = [(await consumer.recv()) for _ in range(100)]
    assert [r.seq for r in got if r] == list(range(100))


async def test_producer_in_another_process(nets: list[Network]) -> None:
    node = await Network.create(discovery=FAST)
    nets.append(node)
    child = subprocess.Popen(
        [sys.executable, str(CHILD), encode(node.addr).hex()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        consumer = node.streams.consume(Reading)
        async with asyncio.timeout(30):
            got = [await consumer.recv() for _ in range(50)]
        assert [r.seq for r in got if r] == list(range(50))
    finally:
        child.terminate()
        child.wait(timeout=10)
    assert decode(encode(node.addr), EndpointAddr) == node.addr
    assert node.network_id == UNIVERSE


async def test_create_unwinds_the_endpoint_when_a_later_step_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[tuple[network_module.Endpoint, tuple[str, int]]] = []

    class Recording(network_module.Endpoint):
        async def start(self) -> None:
            await super().start()
            started.append((self, self.socket_addr))

    def broken_groups(*args: object) -> None:
        raise RuntimeError("groups failed to start")

    monkeypatch.setattr(network_module, "Endpoint", Recording)
    monkeypatch.setattr(network_module, "Groups", broken_groups)
    with pytest.raises(RuntimeError, match="groups failed"):
        await Network.create()
    [(endpoint, addr)] = started
    assert endpoint._server is not None and not endpoint._server.is_serving()
    with pytest.raises(ConnectionRefusedError):  # nobody listens on the port any more
        await asyncio.open_connection(*addr)
