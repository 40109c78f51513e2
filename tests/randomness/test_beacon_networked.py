"""The beacon as a networked committee: three members over real loopback links, each with its
own replica in a Raft group and its pure core hosted by CoreHost, run the DKG and then produce
drand-verifiable rounds; the ticks agree across members."""

from __future__ import annotations

import asyncio
import random
import time

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.beacon import Scheme, verify_tick
from coalition.framework.core_host import CoreHost
from coalition.keygen import Deadlines, KeygenSecrets
from organisms.randomness.items import RandomnessConfig
from organisms.randomness.machine import BeaconMachine
from organisms.randomness.member import BeaconMemberCore
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import SecretKey, UniqueId, encode

FAST_DKG = Deadlines(dealing_ms=2_000, complaints_ms=300, justification_ms=300)


async def test_three_member_beacon_over_raft(group_nodes) -> None:  # type: ignore[no-untyped-def]
    nodes = await group_nodes(3)
    rng = random.Random(7)
    keys = [SecretKey(rng.randbytes(32)) for _ in nodes]
    genesis = int(time.time() * 1000) + 3_000
    cfg = RandomnessConfig("net.beacon", 2, 3, Scheme.UNCHAINED_G1.value, 400, genesis)
    addrs = [ep.addr for ep, _ in nodes]
    secret = UniqueId.from_parts("net.beacon.committee")
    hosts: list[CoreHost[BeaconMachine, object]] = []
    machines = []
    for i, (_, groups) in enumerate(nodes):
        machine = BeaconMachine(cfg, [k.peer_id for k in keys])
        group = (
            groups.with_key(secret)
            .with_state_machine(machine)
            .with_members(addrs)
            .with_config(RaftConfig.loopback())
            .join()
        )
        core = BeaconMemberCore(
            i + 1,
            keys[i],
            scheme=Scheme.UNCHAINED_G1,
            secrets=KeygenSecrets(
                X25519PrivateKey.from_private_bytes(rng.randbytes(32)), rng.randbytes
            ),
            deadlines=FAST_DKG,
        )
        host = CoreHost(group, machine, core, encode)  # type: ignore[arg-type]
        host.start()
        hosts.append(host)
        machines.append(machine)
    try:
        async with asyncio.timeout(30):
            while min(len(m.ticks) for m in machines) < 4:
                await asyncio.sleep(0.1)
        card = machines[0].card()
        assert card is not None
        ticks = list(machines[0].ticks)[:4]
        assert [t.round for t in ticks] == [1, 2, 3, 4]
        for t in ticks:
            assert verify_tick(Scheme.UNCHAINED_G1, card.group_key, t)
        for m in machines[1:]:
            assert list(m.ticks)[:4] == ticks  # every replica holds the same beacon
            assert m.card() == card
        assert all(h.committed > 0 for h in hosts)
    finally:
        for h in hosts:
            await h.aclose()
