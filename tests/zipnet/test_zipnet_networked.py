"""zipnet's committee as a networked Raft group: three servers over loopback links open rounds
and unblind aggregates with their pure cores hosted by CoreHost; clients and the untrusted
aggregator run in the test. Messages land, and every server holds the same broadcasts."""

from __future__ import annotations

import asyncio
import random

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.framework.core_host import CoreHost
from organisms.zipnet.aggregator import RoundFold
from organisms.zipnet.client import Outcome, ZipnetClient, unframe
from organisms.zipnet.dcnet import read_slot, slots
from organisms.zipnet.machine import SubmitAggregate, ZipnetMachine
from organisms.zipnet.params import RoundParams, ZipnetConfig
from organisms.zipnet.server import ZipnetServerCore
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import SecretKey, UniqueId, encode

PARAMS = RoundParams(num_slots=16, slot_bytes=64, tag_len=16, sched_slots=64)


async def test_three_servers_finalize_rounds_over_raft(group_nodes) -> None:  # type: ignore[no-untyped-def]
    nodes = await group_nodes(3)
    rng = random.Random(5)
    cfg = ZipnetConfig("net.zipnet", PARAMS, rng.randbytes(32))
    dhs = [X25519PrivateKey.from_private_bytes(rng.randbytes(32)) for _ in nodes]
    keys = [SecretKey(rng.randbytes(32)) for _ in nodes]
    server_pubs = [d.public_key().public_bytes_raw() for d in dhs]
    clients = [
        ZipnetClient(
            cfg, X25519PrivateKey.from_private_bytes(rng.randbytes(32)), entropy=rng.randbytes
        )
        for _ in range(5)
    ]
    registry = {c.id: c.public for c in clients}
    addrs = [ep.addr for ep, _ in nodes]
    machines, groups, hosts = [], [], []
    for i, (_, g) in enumerate(nodes):
        machine = ZipnetMachine(cfg, {p: k.peer_id for p, k in zip(server_pubs, keys, strict=True)})
        group = (
            g.with_key(UniqueId.from_parts("net.zipnet.committee"))
            .with_state_machine(machine)
            .with_members(addrs)
            .with_config(RaftConfig.loopback())
            .join()
        )
        core = ZipnetServerCore(
            i + 1,
            dhs[i],
            keys[i],
            servers=server_pubs,
            registry=lambda: registry,
            period_ms=150,
            deadline_ms=3_000,
        )
        host = CoreHost(group, machine, core, encode, tick_s=0.05)  # type: ignore[arg-type]
        host.start()
        machines.append(machine)
        groups.append(group)
        hosts.append(host)
    for i, c in enumerate(clients[:3]):
        c.send(f"note {i}".encode())
    landed: list[bytes] = []
    folded: set[int] = set()
    seen: set[int] = set()
    try:
        async with asyncio.timeout(30):
            while len(landed) < 3:
                m = machines[0]
                cur = m.current
                if cur is not None and cur.round not in folded:  # the aggregator's turn
                    folded.add(cur.round)
                    last = m.history[-1] if m.history else None
                    fold = RoundFold(PARAMS, cur)
                    for c in clients:
                        env = c.seal(cur, sorted(server_pubs), last)
                        assert env is not None and fold.add(env) is None
                    agg = fold.finish()
                    assert agg is not None
                    await groups[0].execute(encode(SubmitAggregate(agg)))
                for rec in list(m.history):
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
        async with asyncio.timeout(10):
            while any(len(x.history) < len(machines[0].history) for x in machines):
                await asyncio.sleep(0.05)
        n = len(machines[0].history)
        assert all(list(x.history)[:n] == list(machines[0].history) for x in machines)
    finally:
        for h in hosts:
            await h.aclose()
