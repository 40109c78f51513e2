"""Two processes: this test talks to an echo node it spawns with subprocess."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pymosaik.primitives import SecretKey, Wire, unique_id
from pymosaik.transport import Endpoint, EndpointAddr, LinkClosedError, PeerMismatchError, reasons

ECHO_PEER = Path(__file__).with_name("echo_peer.py")


class Note(Wire, frozen=True):
    seq: int
    text: str


@pytest.fixture
def echo_process() -> Iterator[tuple[int, str]]:
    proc = subprocess.Popen(
        [sys.executable, str(ECHO_PEER), "echo-peer-seed", "pymosaik.test.mp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[0] == "READY", line
        yield int(line[1]), line[2]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0


def test_talk_to_an_echo_node_in_another_process(echo_process: tuple[int, str]) -> None:
    port, peer_hex = echo_process
    expected = SecretKey.from_id(unique_id("echo-peer-seed")).peer_id
    assert peer_hex == expected.hex()

    async def main() -> None:
        net = unique_id("pymosaik.test.mp")
        async with Endpoint(SecretKey.generate(), net) as ep:
            addr = EndpointAddr.of(expected, ("127.0.0.1", port))
            async with await ep.connect(addr, "/test/echo/1") as link:
                assert link.peer_id == expected
                for n in range(200):
                    link.feed(Note(n, "é" * (n % 7)))
                await link.flush()
                for n in range(200):
                    assert await link.recv(Note) == Note(n, "é" * (n % 7))
            with pytest.raises(PeerMismatchError):
                await ep.connect(EndpointAddr.of(ep.peer_id, ("127.0.0.1", port)), "/test/echo/1")
        async with Endpoint(SecretKey.generate(), unique_id("another")) as stranger:
            with pytest.raises(LinkClosedError) as info:
                await stranger.connect(addr, "/test/echo/1")
            assert info.value.reason == reasons.DIFFERENT_NETWORK

    asyncio.run(asyncio.wait_for(main(), 30))
