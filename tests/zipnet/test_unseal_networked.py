"""unseal as a networked committee: three members over real loopback links run the DKG in their
Raft log, then open the sealed requests of zipnet rounds (run in process) at 2 of 3."""

from __future__ import annotations

import asyncio
import random

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.reply import parse_request
from coalition.framework.core_host import CoreHost
from coalition.keygen import Deadlines, KeygenSecrets
from organisms.shuffle import SealClient, ShuffleConfig, boxes_from_broadcast
from organisms.unseal.items import UnsealConfig
from organisms.unseal.machine import UnsealMachine
from organisms.unseal.member import UnsealMemberCore
from organisms.zipnet.local import LocalDeployment
from organisms.zipnet.params import RoundParams
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import SecretKey, UniqueId, encode

FAST_DKG = Deadlines(dealing_ms=2_000, complaints_ms=300, justification_ms=300)
PARAMS = RoundParams(num_slots=16, slot_bytes=256, tag_len=16, sched_slots=64)


async def test_unseal_committee_opens_zipnet_rounds_over_raft(group_nodes) -> None:  # type: ignore[no-untyped-def]
    nodes = await group_nodes(3)
    rng = random.Random(3)
    keys = [SecretKey(rng.randbytes(32)) for _ in nodes]
    cfg = UnsealConfig("net.unseal", 2, 3)
    addrs = [ep.addr for ep, _ in nodes]
    machines, cores, hosts = [], [], []
    for i, (_, groups) in enumerate(nodes):
        machine = UnsealMachine(cfg, [k.peer_id for k in keys])
        group = (
            groups.with_key(UniqueId.from_parts("net.unseal.committee"))
            .with_state_machine(machine)
            .with_members(addrs)
            .with_config(RaftConfig.loopback())
            .join()
        )
        core = UnsealMemberCore(
            i + 1,
            keys[i],
            secrets=KeygenSecrets(
                X25519PrivateKey.from_private_bytes(rng.randbytes(32)), rng.randbytes
            ),
            deadlines=FAST_DKG,
            entropy=rng.randbytes,
        )
        host = CoreHost(group, machine, core, encode)  # type: ignore[arg-type]
        host.start()
        machines.append(machine)
        cores.append(core)
        hosts.append(host)
    try:
        async with asyncio.timeout(20):
            while any(m.key is None for m in machines):
                await asyncio.sleep(0.05)
        key = machines[0].key
        assert key is not None and all(m.key == key for m in machines)
        dep = LocalDeployment.create(5, 2, seed=4, params=PARAMS)
        shuffle = ShuffleConfig("net.shuffle", dep.cfg, cfg)
        bodies = [f"request {i}".encode() for i in range(3)]
        for body, client in zip(bodies, dep.clients, strict=False):
            SealClient(shuffle, client, entropy=rng.randbytes).submit(body, key.group_key)
        for _ in range(4):
            record = dep.run_round()
            boxes = boxes_from_broadcast(dep.cfg, record)
            for core in cores:
                core.observe(record.round, boxes)
        async with asyncio.timeout(20):
            while sum(len(e.cleartext) for e in machines[0].pool) < len(bodies):
                await asyncio.sleep(0.05)
        opened = sorted(
            parse_request(c.payload).body for e in machines[0].pool for c in e.cleartext
        )
        assert opened == sorted(bodies)
        async with asyncio.timeout(10):
            while any(len(m.pool) < len(machines[0].pool) for m in machines):
                await asyncio.sleep(0.05)
        assert all(list(m.pool) == list(machines[0].pool) for m in machines)
    finally:
        for h in hosts:
            await h.aclose()
