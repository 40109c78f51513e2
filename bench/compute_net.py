"""Compute over a real committee: opened request → grant on the surface, and cleared per second.

Three Compute members (`start_member`, each its own network on loopback, Raft on SQLite in
memory-backed temp dirs) and one provider. Each request is handed to every member's core as
the module's shuffle would (``core.observe``), its payment answered at once from an in-memory
ledger (the labelled stand-in: no chain, so the figures are Compute's and Raft's alone), and
its latency runs until the grant shows on the Compute surface read by an outside client.

The raw limit, measured in the same run on the same group: a command's commit round trip
(``group.execute`` from a member). A request needs two commits (the relay, then the clearing);
the rest of its latency is the design's two polls, the member's next payment read (every
0.5 s) and the next clearing (at most every ``cadence_ms``).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from coalition import CoalitionConfig
from coalition.content import ContentParams
from coalition.modules import ComputeConfig, ModuleConfig, ModuleKind
from coalition.services.committees import start_member
from organisms.compute.items import (
    Capabilities,
    ComputeRequest,
    DeclaredRates,
    ProviderCard,
    SettlementEvidence,
    SignedCard,
    request_id,
)
from organisms.compute.module import Compute, ComputeMember
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey, encode

from .common import percentile

PAYEE = bytes.fromhex("7e" * 20)


class Ledger:
    """SIMULATED settlement: payments the bench made, answered from memory."""

    def __init__(self) -> None:
        self.paid: dict[bytes, SettlementEvidence] = {}

    def evidence(self, tx_hash: bytes) -> SettlementEvidence | None:
        return self.paid.get(tx_hash)


def _coalition() -> CoalitionConfig:
    params = ContentParams.from_params({"settlement_contract": "0x" + PAYEE.hex()})
    return CoalitionConfig(
        instance_name="bench-compute", compute=ComputeConfig(ModuleConfig("bench-compute", params))
    )


def _request(i: int, pin: bytes) -> ComputeRequest:
    return ComputeRequest(
        i.to_bytes(32, "big"), pin, 60, 250, 256, False, "eu", 10**9,
        (10**6 + i).to_bytes(32, "big"), int(time.time() * 1000) + 600_000, bytes(32),
    )  # fmt: skip


async def _run(requests: int, rate: float, cadence_ms: int) -> dict[str, Any]:
    cfg, operator, ledger = _coalition(), SecretKey.generate(), Ledger()
    nets: list[Network] = []
    for _ in range(4):
        boot = [nets[0].addr] if nets else []
        nets.append(await Network.create(bootstrap=boot, discovery=DiscoveryConfig.loopback()))
    addrs = [n.addr for n in nets[:3]]
    members: list[ComputeMember] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, net in enumerate(nets[:3]):
            m = await start_member(
                ModuleKind.COMPUTE, net, cfg, committee=addrs, operator_key=operator,
                raft=RaftConfig.loopback(), data_dir=Path(tmp) / str(i), cadence_ms=cadence_ms,
            )  # fmt: skip
            assert isinstance(m, ComputeMember)
            m.reader = ledger
            members.append(m)
        client = nets[3]
        writer = Compute.publish(client, cfg)
        decisions = Compute.read(client, cfg, timeout_s=30)
        try:
            key = SecretKey.generate()
            card = ProviderCard(
                key.peer_id.bytes, Capabilities(("eu",), False, 10**9, 10**9),
                DeclaredRates(1_000, 100), b"", bytes(32), int(time.time() * 1000),
            )  # fmt: skip
            await writer.register(SignedCard.signed(key, card), timeout_s=30)
            commit = await _commit_round_trips(members[0], 50)
            granted: dict[bytes, float] = {}
            opened: dict[bytes, float] = {}
            watcher = asyncio.create_task(_watch(decisions, granted, requests))
            started = time.perf_counter()
            for i in range(requests):
                req = _request(i, b"\x09" * 32)
                ledger.paid[req.settlement] = SettlementEvidence(req.settlement, PAYEE, 10**9, 1)
                opened[request_id(req)] = time.perf_counter()
                for m in members:
                    assert m.core is not None
                    m.core.observe([encode(req)])
                await asyncio.sleep(1 / rate)
            await asyncio.wait_for(watcher, 120)
            elapsed = time.perf_counter() - started
        finally:
            await decisions.close()
            await writer.close()
            for m in members:
                await m.close()
            for n in nets:
                await n.close()
    latencies = [(granted[r] - t) * 1e3 for r, t in opened.items()]
    return {
        "requests": requests,
        "offered_per_s": rate,
        "cadence_ms": cadence_ms,
        "granted_per_s": round(requests / elapsed, 1),
        "open_to_grant_ms_p50": round(percentile(latencies, 50), 1),
        "open_to_grant_ms_p99": round(percentile(latencies, 99), 1),
        "raw_commit_ms_p50": round(percentile(commit, 50), 2),
        "raw_commit_ms_p99": round(percentile(commit, 99), 2),
    }


async def _commit_round_trips(member: ComputeMember, n: int) -> list[float]:
    """The raw limit: a (refused) command's commit round trip through the same Raft group."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await member.member.group.execute(b"\x00")
        out.append((time.perf_counter() - t) * 1e3)
    return out


async def _watch(decisions: Any, granted: dict[bytes, float], want: int) -> None:
    event = await decisions.ready(drain=False)
    while True:
        now = time.perf_counter()
        for g in event.grants:
            granted.setdefault(g.request_id, now)
        if len(granted) >= want:
            return
        event = await decisions.next()


def main(levels: tuple[tuple[int, float], ...] = ((100, 20.0), (400, 100.0))) -> dict[str, Any]:
    return {
        "setup": "3 members + 1 provider on loopback, settlement answered from memory",
        "levels": [asyncio.run(_run(n, rate, 500)) for n, rate in levels],
    }
