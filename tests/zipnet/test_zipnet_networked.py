"""zipnet's committee as a networked Raft group: three servers over loopback links open rounds
and unblind aggregates with their pure cores hosted by CoreHost; the untrusted aggregator is a
fourth node, an observer of the committee's log, with its own pure core hosted the same way: it
registers the clients' bundles into the committed ClientRegistry and folds their envelopes.
Messages land, and every server holds the same broadcasts and registry."""

from __future__ import annotations

import asyncio
import random

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.framework.core_host import CoreHost
from organisms.zipnet.aggregator import AggregatorCore
from organisms.zipnet.client import Outcome, ZipnetClient, unframe
from organisms.zipnet.dcnet import read_slot, slots
from organisms.zipnet.machine import ClientBundle, ZipnetMachine
from organisms.zipnet.params import RoundParams, ZipnetConfig
from organisms.zipnet.server import ZipnetServerCore
from pymosaik.groups.raft import RaftConfig
from pymosaik.groups.raft.config import LeadershipPreference
from pymosaik.primitives import SecretKey, UniqueId, encode

PARAMS = RoundParams(num_slots=16, slot_bytes=64, tag_len=16, sched_slots=64)
SECRET = UniqueId.from_parts("net.zipnet.committee")


async def test_three_servers_and_an_aggregator_finalize_rounds_over_raft(group_nodes) -> None:  # type: ignore[no-untyped-def]
    nodes = await group_nodes(4)
    rng = random.Random(5)
    cfg = ZipnetConfig("net.zipnet", PARAMS, rng.randbytes(32))
    dhs = [X25519PrivateKey.from_private_bytes(rng.randbytes(32)) for _ in range(3)]
    keys = [SecretKey(rng.randbytes(32)) for _ in range(3)]
    server_pubs = [d.public_key().public_bytes_raw() for d in dhs]
    servers = {p: k.peer_id for p, k in zip(server_pubs, keys, strict=True)}
    clients = [
        ZipnetClient(
            cfg, X25519PrivateKey.from_private_bytes(rng.randbytes(32)), entropy=rng.randbytes
        )
        for _ in range(5)
    ]
    addrs = [ep.addr for ep, _ in nodes[:3]]
    machines: list[ZipnetMachine] = []
    hosts: list[CoreHost[ZipnetMachine, object]] = []
    for i, (_, g) in enumerate(nodes[:3]):
        machine = ZipnetMachine(cfg, servers)
        group = (
            g.with_key(SECRET)
            .with_state_machine(machine)
            .with_members(addrs)
            .with_config(RaftConfig.loopback())
            .join()
        )
        core = ZipnetServerCore(i + 1, dhs[i], keys[i], period_ms=150, deadline_ms=3_000)
        hosts.append(CoreHost(group, machine, core, encode, tick_s=0.05))  # type: ignore[arg-type]
        machines.append(machine)
    # the aggregator: not a server, an observer of the committee's log
    view = ZipnetMachine(cfg, servers)
    observer = (
        nodes[3][1]
        .with_key(SECRET)
        .with_state_machine(view)
        .with_members(addrs)
        .with_config(RaftConfig.loopback())
        .with_preference(LeadershipPreference.observer())
        .join()
    )
    aggregator = AggregatorCore(PARAMS, fold_ms=500)
    hosts.append(CoreHost(observer, view, aggregator, encode, tick_s=0.05))  # type: ignore[arg-type]
    for h in hosts:
        h.start()
    for c in clients:  # bundles from the (ticket-checked) registration stream
        assert aggregator.register(ClientBundle(c.id, c.public)) is None
    for i, c in enumerate(clients[:3]):
        c.send(f"note {i}".encode())
    landed: list[bytes] = []
    sealed: set[int] = set()
    seen: set[int] = set()
    try:
        async with asyncio.timeout(30):
            while len(landed) < 3:
                cur = view.current  # what clients read on the LiveRound surface
                if cur is not None and cur.round not in sealed:
                    sealed.add(cur.round)
                    last = view.history[-1] if view.history else None
                    for c in (c for c in clients if c.id in cur.clients):
                        env = c.seal(cur, sorted(server_pubs), last)
                        assert env is not None and aggregator.receive(env) is None
                for rec in list(machines[0].history):
                    if rec.round in seen:
                        continue
                    seen.add(rec.round)
                    assert rec.garbled_slots == 0
                    for c in clients:
                        for r in c.on_broadcast(rec):
                            assert r.outcome != Outcome.COLLIDED.value
                    for i, cell in enumerate(slots(PARAMS, rec.broadcast)):
                        payload = read_slot(PARAMS, rec.round, i, cell)
                        if isinstance(payload, bytes):
                            landed.append(unframe(payload) or b"")
                await asyncio.sleep(0.02)
        assert sorted(landed) == [b"note 0", b"note 1", b"note 2"]
        assert all(m.clients == {c.id: c.public for c in clients} for m in machines)
        async with asyncio.timeout(10):
            while any(len(x.history) < len(machines[0].history) for x in machines):
                await asyncio.sleep(0.05)
        n = len(machines[0].history)
        assert all(list(x.history)[:n] == list(machines[0].history) for x in machines)
        assert aggregator.refused == 0
    finally:
        for h in hosts:
            await h.aclose()
