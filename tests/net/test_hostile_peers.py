"""A live node survives deep nesting on every protocol, with and without web3 imported.

Issue 12: 100,000 nested arrays where a UniqueId belongs (a discovery entry's
network_id, a bond hello's group_id, a stream handshake's network_id) killed a
Chronicle member with SIGSEGV. The node under test runs in a child process, so
a crash shows as its exit status instead of taking pytest down.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pymosaik.discovery import DiscoveryConfig
from pymosaik.discovery.entry import PeerEntry
from pymosaik.discovery.messages import DISCOVERY_PROTOCOL, Announce
from pymosaik.groups.driver import GROUPS_PROTOCOL, BondHello
from pymosaik.network import Network
from pymosaik.primitives import UNIVERSE, decode, encode, unique_id
from pymosaik.streams.messages import STREAMS_PROTOCOL, ConsumerHandshake
from pymosaik.transport import EndpointAddr, reasons

CHILD = Path(__file__).with_name("hostile_target.py")
FAST = DiscoveryConfig(announce_interval_ms=300, sync_interval_ms=500, ping_interval_ms=300)
DEEP = b"\x91" * 99_999 + b"\x90"  # 100,000 levels in 100 KB, as reported


def _at_first_id(message: bytes) -> bytes:
    """``message`` with its first 32-byte binary (a UniqueId) replaced by DEEP."""
    at = message.index(b"\xc4\x20")
    return message[:at] + DEEP + message[at + 34 :]


def _payloads(me: Network) -> list[tuple[str, bytes]]:
    entry = PeerEntry(UNIVERSE, me.peer_id.bytes, 1, 2).sign(me.endpoint.secret_key)
    announce = _at_first_id(encode(Announce((entry,))))
    hello = _at_first_id(encode(BondHello(unique_id("g"), b"p" * 32, False, ())))
    handshake = _at_first_id(encode(ConsumerHandshake(UNIVERSE, unique_id("s"))))
    return [
        (DISCOVERY_PROTOCOL, DEEP),
        (DISCOVERY_PROTOCOL, announce),
        (STREAMS_PROTOCOL, DEEP),
        (STREAMS_PROTOCOL, handshake),
        (GROUPS_PROTOCOL, DEEP),
        (GROUPS_PROTOCOL, hello),
    ]


@pytest.mark.parametrize("web3", [False, True], ids=["plain", "web3"])
async def test_deep_nesting_on_every_protocol_is_refused_and_the_node_lives(web3: bool) -> None:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), *(["--web3"] if web3 else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60)
        addr_hex, limit = line.split()
        assert limit == "1000"  # web3 imported or not, the default recursion limit
        addr = decode(bytes.fromhex(addr_hex), EndpointAddr)
        async with await Network.create(bootstrap=[addr], discovery=FAST) as me:
            async with asyncio.timeout(15):
                await me.discovery.until_known(1)  # streams only answers catalogued peers
            for protocol, payload in _payloads(me):
                link = await me.endpoint.connect(addr, protocol)
                await link.send_raw(payload)
                reason = await asyncio.wait_for(link.closed(), 15)
                assert reason == reasons.PROTOCOL_VIOLATION, (protocol, payload[:4], reason)
                assert child.poll() is None, f"{protocol}: the node died ({child.returncode})"
            # Still serving: a newcomer finds it through discovery.
            async with await Network.create(bootstrap=[addr], discovery=FAST) as late:
                async with asyncio.timeout(15):
                    await late.discovery.until_known(2)
    finally:
        child.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(child.communicate, timeout=30)
    assert child.returncode == -signal.SIGTERM, stderr[-2000:]
    assert "RecursionError" not in stderr
