"""The shuffle over real loopback links: submit → UnsealedPool latency and rounds per second.

Members (`Shuffle.member`: a zipnet server and an unseal member each), zipnet's aggregator and
the clients (`Shuffle.client`) each get a network of their own, all in this one process and
event loop — so the figures include every party's CPU on one core, unlike a deployment where
each runs on its own host. Each client submits ``messages`` sealed requests, one at a time
(a client's next request waits for the previous one to land); the latency of a request is from
``submit`` to the pool entry that holds its body, read by an outside reader.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.reply import parse_request
from coalition.keygen import Deadlines, KeygenSecrets
from organisms.shuffle import ShuffleConfig
from organisms.shuffle_service import Shuffle
from organisms.unseal.items import UnsealConfig
from organisms.zipnet.organism import Zipnet
from organisms.zipnet.params import RoundParams, ZipnetConfig
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey

FAST_DKG = Deadlines(dealing_ms=3_000, complaints_ms=500, justification_ms=500)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else 0.0


async def _run(n_members: int, t: int, n_clients: int, messages: int) -> dict[str, Any]:
    cfg = ShuffleConfig(
        "bench.shuffle",
        ZipnetConfig("bench.zipnet", RoundParams(num_slots=32, slot_bytes=256, sched_slots=128)),
        UnsealConfig("bench.unseal", t, n_members),
    )
    nets: list[Network] = []

    async def net(**kw: Any) -> Network:
        boot = [nets[0].addr] if nets else []
        n = await Network.create(bootstrap=boot, discovery=DiscoveryConfig.loopback(), **kw)
        nets.append(n)
        return n

    member_nets = [await net() for _ in range(n_members)]
    addrs = [n.addr for n in member_nets]
    members = [
        Shuffle.member(
            n,
            cfg,
            addrs,
            dh=X25519PrivateKey.generate(),
            secrets=KeygenSecrets.fresh(),
            deadlines=FAST_DKG,
            raft=RaftConfig.loopback(),
            period_ms=100,
        )
        for n in member_nets
    ]
    agg_key = SecretKey.generate()
    ticket = Zipnet.aggregator_ticket(
        cfg.zipnet, member_nets[0].endpoint.secret_key, agg_key.peer_id, nets[0].network_id, 0
    )
    aggregator = Zipnet.aggregator(
        await net(secret_key=agg_key, tickets=[ticket]), cfg.zipnet, clients=None, fold_ms=300
    )
    client_nets = [await net() for _ in range(n_clients)]
    clients = list(
        await asyncio.gather(*(Shuffle.client(n, cfg, timeout_s=60) for n in client_nets))
    )
    pool = Shuffle.read(await net(), cfg, timeout_s=60)
    sent: dict[bytes, float] = {}
    landed: dict[bytes, float] = {}
    arrived = asyncio.Condition()

    async def read_pool() -> None:
        async for entry in pool:
            now = time.perf_counter()
            for c in entry.cleartext:
                landed.setdefault(parse_request(c.payload).body, now)
            async with arrived:
                arrived.notify_all()

    async def submit_all(i: int) -> None:
        for k in range(messages):
            body = f"client {i} request {k}".encode()
            sent[body] = time.perf_counter()
            clients[i].submit(body)
            async with arrived:
                await arrived.wait_for(lambda body=body: body in landed)  # type: ignore[misc]

    reader = asyncio.ensure_future(read_pool())
    rounds_before = len(members[0].zipnet.machine.history)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(300):
            await asyncio.gather(*(submit_all(i) for i in range(n_clients)))
        elapsed = time.perf_counter() - started
        finalized = members[0].zipnet.status()["round"]
        lat = [(landed[b] - sent[b]) * 1000 for b in sent if b in landed]
        return {
            "members": n_members,
            "unseal": f"{t}-of-{n_members}",
            "clients": n_clients,
            "messages": len(sent),
            "lost": len(sent) - len(lat),
            "submit_to_pool_ms_p50": _pct(lat, 0.5),
            "submit_to_pool_ms_p99": _pct(lat, 0.99),
            "submit_to_pool_ms_mean": round(statistics.fmean(lat), 1) if lat else 0.0,
            "rounds_per_s": round(
                (int(str(finalized)) - rounds_before) / elapsed if elapsed else 0.0, 2
            ),
            "elapsed_s": round(elapsed, 1),
        }
    finally:
        reader.cancel()
        await pool.close()
        for c in clients:
            await c.close()
        await aggregator.close()
        for m in members:
            await m.close()
        for n in nets:
            await n.close()


def main(
    clients: tuple[int, ...] = (10, 30), *, members: int = 5, threshold: int = 3, messages: int = 5
) -> dict[str, Any]:
    runs = [asyncio.run(_run(members, threshold, c, messages)) for c in clients]
    return {
        "benchmark": "shuffle-net",
        "note": "every party in one process on loopback: CPU shared, links real",
        "runs": runs,
    }
