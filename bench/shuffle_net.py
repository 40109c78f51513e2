"""The shuffle over real loopback links: submit → UnsealedPool latency and rounds per second.

Two setups. ``--up FILE``: ``coalition up`` runs the coalition (Compute's shuffle, each member
its own process) and the clients, in this process, join through a member's address; a
request's latency is from ``submit`` to its ``landed`` receipt (the pool of Compute's private
shuffle is not public). Without it: members (`Shuffle.member`: a zipnet server and an unseal
member each), zipnet's aggregator and the clients (`Shuffle.client`) each get a network of
their own, all in this one process and event loop, so the figures include every party's CPU
on one core, unlike a deployment where each runs on its own host. Each client submits
``messages`` sealed requests, one at a time (a client's next request waits for the previous
one to land); the latency of a request is from ``submit`` to the pool entry that holds its
body, read by an outside reader.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.config_file import load_coalition
from coalition.crypto.reply import parse_request
from coalition.keygen import Deadlines, KeygenSecrets
from organisms.compute.private import compute_shuffle
from organisms.shuffle import ShuffleConfig
from organisms.shuffle_service import Shuffle
from organisms.unseal.items import UnsealConfig
from organisms.zipnet.organism import Zipnet
from organisms.zipnet.params import RoundParams, ZipnetConfig
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import PeerId
from pymosaik.transport import EndpointAddr

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
    aggregator = await Zipnet.vouched_aggregator(
        member_nets[0], cfg.zipnet, clients=None, fold_ms=300, discovery=DiscoveryConfig.loopback()
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


async def _clients_against(
    bootstrap: str, coalition: Path, n: int, messages: int
) -> dict[str, Any]:
    cfg = compute_shuffle(load_coalition(coalition).config)
    if cfg is None:
        raise SystemExit(f"{coalition}: its Compute module runs no shuffle (shuffle = true)")
    peer, addr = bootstrap.split("@")
    host, port = addr.rsplit(":", 1)
    member = EndpointAddr.of(PeerId.from_hex(peer), (host, int(port)))
    nets = [await Network.create(bootstrap=[member]) for _ in range(n)]
    clients = list(await asyncio.gather(*(Shuffle.client(x, cfg, timeout_s=60) for x in nets)))
    lat: list[float] = []
    outcomes: dict[str, int] = {}

    async def one(c: Any, i: int) -> None:
        for k in range(messages):
            t = time.perf_counter()
            sid = c.submit(f"client {i} request {k}".encode()).submission
            while True:
                r = await c.receipt()
                outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
                if r.submission == sid and r.outcome == "landed":
                    lat.append((time.perf_counter() - t) * 1000)
                    break

    started = time.perf_counter()
    try:
        async with asyncio.timeout(600):
            await asyncio.gather(*(one(c, i) for i, c in enumerate(clients)))
    finally:
        for c in clients:
            await c.close()
        for x in nets:
            await x.close()
    return {
        "setup": "coalition up (members in their own processes), clients in one process",
        "unseal": f"{cfg.unseal.t}-of-{cfg.unseal.n}",
        "clients": n,
        "messages": len(lat),
        "receipts": outcomes,
        "submit_to_landed_ms_p50": _pct(lat, 0.5),
        "submit_to_landed_ms_p99": _pct(lat, 0.99),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def against_up(coalition: Path, clients: tuple[int, ...], messages: int) -> list[dict[str, Any]]:
    """Start ``coalition up`` on ``coalition``, wait for the shuffle's key, run the clients."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        up = subprocess.Popen(
            [sys.executable, "-m", "coalition", "up", str(coalition), "--data", str(data),
             "--no-anchor", "--for", "900s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            doc: dict[str, Any] = {}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                out = subprocess.run(
                    [sys.executable, "-m", "coalition", "status", "--data", str(data), "--json"],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                doc = json.loads(out.stdout) if out.stdout.strip() else {}
                figures = doc.get("committees", {}).get("compute", {}).get("figures", {})
                if figures.get("unseal_ready") == 1:
                    break
                time.sleep(1)
            else:
                raise SystemExit("the coalition's shuffle did not finish its key generation")
            boot = str(doc["bootstrap"][0])
            return [asyncio.run(_clients_against(boot, coalition, n, messages)) for n in clients]
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=60)


def main(
    clients: tuple[int, ...] = (10, 30),
    *,
    members: int = 5,
    threshold: int = 3,
    messages: int = 5,
    up: Path | None = None,
) -> dict[str, Any]:
    if up is not None:
        return {"benchmark": "shuffle-net", "runs": against_up(up, clients, messages)}
    runs = [asyncio.run(_run(members, threshold, c, messages)) for c in clients]
    return {
        "benchmark": "shuffle-net",
        "note": "every party in one process on loopback: CPU shared, links real",
        "runs": runs,
    }
