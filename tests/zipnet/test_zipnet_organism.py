"""zipnet through its verbs, over loopback: three committee servers (`Zipnet.member`), the
aggregator (`Zipnet.aggregator`) and submitters (`await Zipnet.submit`), each on its own
network. Registration and submission are ticket-gated at the aggregator; the committee's
intake admits only the aggregator; a wrong Config meets nobody."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition import AclClause, AclComposition, CoalitionConfig, TicketIssuerConfig
from coalition.acl_validator import compile_acl
from coalition.framework import ConnectTimeout
from coalition.ticket_issuer import TicketIssuer, recognise_coalition_issuer
from organisms.zipnet.client import Outcome, unframe
from organisms.zipnet.dcnet import read_slot, slots
from organisms.zipnet.machine import ClientBundle, RegisterClient
from organisms.zipnet.organism import ZIPNET, Zipnet
from organisms.zipnet.params import RoundParams, ZipnetConfig, client_id, deployment_id
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey, encode

if TYPE_CHECKING:
    from tests.conftest import NewNetwork

PARAMS = RoundParams(num_slots=16, slot_bytes=64, tag_len=16, sched_slots=64)
ISSUER_KEY = SecretKey.generate()
COALITION = CoalitionConfig(
    instance_name="zipnet-verbs",
    ticket_issuer=TicketIssuerConfig(
        "issuer", AclComposition.all_of(AclClause.require_peer(ISSUER_KEY.peer_id.bytes))
    ),
)


async def _ticketed(new_network: NewNetwork, like: Network) -> Network:
    """A network whose key holds a coalition ticket (issued for ``like``'s network id)."""
    key = SecretKey.generate()
    ticket = TicketIssuer.for_coalition(COALITION, ISSUER_KEY).issue(
        key.peer_id, like.network_id, like.clock.now_ms(), None
    )
    return await new_network(secret_key=key, tickets=[ticket])


def _messages(record_broadcast: bytes, round_: int) -> list[bytes]:
    out = []
    for i, cell in enumerate(slots(PARAMS, record_broadcast)):
        payload = read_slot(PARAMS, round_, i, cell)
        if isinstance(payload, bytes):
            out.append(unframe(payload) or b"")
    return out


async def test_submitters_land_messages_through_the_aggregator(new_network: NewNetwork) -> None:
    rng = random.Random(11)
    cfg = ZipnetConfig("net.zipnet.verbs", PARAMS, rng.randbytes(32))
    agg_key = SecretKey.generate()
    only_aggregator = compile_acl(
        AclComposition.all_of(AclClause.require_peer(agg_key.peer_id.bytes)), None
    )
    nets = await asyncio.gather(*(new_network() for _ in range(3)))
    addrs = [n.addr for n in nets]
    servers = [
        Zipnet.member(
            n,
            cfg,
            addrs,
            dh=X25519PrivateKey.generate(),
            aggregators=only_aggregator,
            raft=RaftConfig.loopback(),
            period_ms=200,
            deadline_ms=3_000,
        )
        for n in nets
    ]
    aggregator = Zipnet.aggregator(
        await new_network(secret_key=agg_key),
        cfg,
        clients=recognise_coalition_issuer(COALITION),
        fold_ms=500,
    )
    client_nets = await asyncio.gather(*(_ticketed(new_network, nets[0]) for _ in range(3)))
    subs = list(await asyncio.gather(*(Zipnet.submit(n, cfg, timeout_s=20) for n in client_nets)))
    outsider = await new_network()  # no ticket: it may read, not register
    stranger = await Zipnet.submit(outsider, cfg)
    reader = Zipnet.read(outsider, cfg)
    try:
        async with asyncio.timeout(20):
            for s in subs:
                await s.registered()
        sent = {s.send(f"hello from {i}".encode()): s for i, s in enumerate(subs)}
        assert len(sent) == 1  # each submitter numbers its own submissions from 0
        landed: list[bytes] = []
        async with asyncio.timeout(30):
            for s in subs:
                while (r := await s.receipt()).outcome != Outcome.LANDED.value:
                    assert r.outcome in {o.value for o in Outcome}
            async for record in reader:
                assert record.garbled_slots == 0
                landed += [m for m in _messages(record.broadcast, record.round) if m]
                if len(landed) == 3:
                    break
        assert sorted(landed) == [b"hello from 0", b"hello from 1", b"hello from 2"]
        # the stranger's registration never passed the aggregator's ticket gate
        assert not stranger._registered.is_set()
        assert stranger.id not in servers[0].machine.clients
        assert all(s.id in servers[0].machine.clients for s in subs)
        # every server holds the same broadcasts
        n = min(len(x.machine.history) for x in servers)
        assert n > 0
        assert len({encode(tuple(x.machine.history)[:n]) for x in servers}) == 1
        assert servers[0].status()["servers"] == 3
        # ClientRegistry and ServerRegistry by key, from a replica of the committee's log
        replica = Zipnet.replica(outsider, cfg, addrs, raft=RaftConfig.loopback())
        await replica.ready(30)
        async with asyncio.timeout(20):
            while len(replica.clients) < len(subs):
                await asyncio.sleep(0.05)
        for s in subs:
            bundle = replica.clients.get(s.id)
            assert bundle is not None and bundle.dh_public == s.client.public
        assert stranger.id not in replica.clients
        assert sorted(replica.servers.keys()) == sorted(servers[0].machine.servers)
        await replica.close()
    finally:
        await asyncio.gather(*(h.close() for h in (reader, stranger, *subs, aggregator)))
        await asyncio.gather(*(s.close() for s in servers))


async def test_the_intake_admits_only_the_aggregator(new_network: NewNetwork) -> None:
    cfg = ZipnetConfig("net.zipnet.intake", PARAMS, bytes(32))
    nets = [await new_network() for _ in range(3)]
    addrs = [n.addr for n in nets]
    agg = SecretKey.generate()
    gate = compile_acl(AclComposition.all_of(AclClause.require_peer(agg.peer_id.bytes)), None)
    servers = [
        Zipnet.member(
            n,
            cfg,
            addrs,
            dh=X25519PrivateKey.generate(),
            aggregators=gate,
            raft=RaftConfig.loopback(),
        )
        for n in nets
    ]
    rogue = ZIPNET.writer(await new_network(), cfg)
    client = X25519PrivateKey.generate().public_key().public_bytes_raw()
    bundle = ClientBundle(client_id(deployment_id(cfg), client), client)
    try:
        with pytest.raises(ConnectTimeout):
            await rogue.submit(encode(RegisterClient(bundle)), timeout_s=2)
        assert all(not s.machine.clients for s in servers)
    finally:
        await rogue.close()
        for s in servers:
            await s.close()


async def test_a_wrong_config_is_a_connect_timeout(new_network: NewNetwork) -> None:
    cfg = ZipnetConfig("net.zipnet.nobody", PARAMS, bytes(32))
    net = await new_network()
    with pytest.raises(ConnectTimeout):
        await Zipnet.submit(net, cfg, timeout_s=1)
    reader = Zipnet.read(net, cfg, timeout_s=1)
    with pytest.raises(ConnectTimeout):
        await reader.next()
    await reader.close()
