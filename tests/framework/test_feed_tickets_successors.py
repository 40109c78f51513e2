"""Ticket-gated writes and successor chains on a standalone organism, on loopback."""

from __future__ import annotations

import asyncio

import pytest

from coalition import AclClause, AclComposition, CoalitionConfig, OrganismConfig, TicketIssuerConfig
from coalition.framework import CommitteeMember, ConnectTimeout, OrganismRetired
from coalition.retirement import AtSequence, ComponentKind, ComponentRef, RetirementMarker
from coalition.ticket_issuer import TicketIssuer, recognise_coalition_issuer
from organisms.feed import Feed, FeedItem
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey

FAST = RaftConfig.loopback()
DISC = DiscoveryConfig.loopback()
ISSUER_KEY = SecretKey.generate()
COALITION = CoalitionConfig(
    instance_name="gated",
    ticket_issuer=TicketIssuerConfig(
        "issuer", AclComposition.all_of(AclClause.require_peer(ISSUER_KEY.peer_id.bytes))
    ),
)


async def network(nets: list[Network], **kw: object) -> Network:
    boot = [nets[0].addr] if nets else []
    net = await Network.create(bootstrap=boot, discovery=DISC, **kw)  # type: ignore[arg-type]
    nets.append(net)
    return net


async def committee(
    nets: list[Network], cfg: OrganismConfig, **kw: object
) -> list[CommitteeMember]:
    members = [await network(nets) for _ in range(3)]
    addrs = [n.addr for n in members]
    return [Feed.member(n, cfg, addrs, raft=FAST, **kw) for n in members]  # type: ignore[arg-type]


async def test_only_ticket_holders_can_write(nets: list[Network]) -> None:
    cfg = OrganismConfig("gated-feed")
    members = await committee(nets, cfg, writers=recognise_coalition_issuer(COALITION))
    outsider = await network(nets)
    issuer = TicketIssuer.for_coalition(COALITION, ISSUER_KEY)
    holder_key = SecretKey.generate()
    ticket = issuer.issue(holder_key.peer_id, outsider.network_id, outsider.clock.now_ms(), None)
    holder = await network(nets, secret_key=holder_key, tickets=[ticket])
    reader = Feed.read(outsider, cfg, timeout_s=15)
    writer = Feed.publish(holder, cfg)
    assert await writer.post(b"from a ticket holder", 1, timeout_s=15) == 0
    item = await reader.ready(drain=False)
    assert item == FeedItem(0, b"from a ticket holder", 1)
    rogue = Feed.publish(outsider, cfg)  # no ticket: the committee never subscribes to it
    with pytest.raises(ConnectTimeout):
        await rogue.post(b"spam", 2, timeout_s=2)
    assert all(m.machine.next_seq == 1 for m in members)
    for h in (reader, writer, rogue):
        await h.close()
    for m in members:
        await m.close()


async def test_reader_follows_a_rotation_to_the_successor(nets: list[Network]) -> None:
    old_cfg, new_cfg = OrganismConfig("feed-v1"), OrganismConfig("feed-v2")
    old = await committee(nets, old_cfg)
    new = await committee(nets, new_cfg)
    client = await network(nets)
    follower = Feed.read(client, old_cfg, timeout_s=15)
    follower.follow_successors = True
    stayer = Feed.read(client, old_cfg, timeout_s=15)
    w_old, w_new = Feed.publish(client, old_cfg), Feed.publish(client, new_cfg)
    await w_old.post(b"old", 1, timeout_s=15)
    assert (await follower.ready(drain=False)).payload == b"old"
    assert (await stayer.ready(drain=False)).payload == b"old"
    successor = ComponentRef(ComponentKind.ORGANISM, "feed-v2", new_cfg.organism_id())
    marker = RetirementMarker.rotation(AtSequence(1), successor)
    await old[0].retire(marker, new[0].ids.surface)
    with pytest.raises(OrganismRetired, match="feed-v2"):
        async with asyncio.timeout(10):
            await stayer.next()
    await w_new.post(b"new", 2, timeout_s=15)
    async with asyncio.timeout(10):
        item = await follower.next()
    assert item.payload == b"new" and follower.stats.successors_followed == 1
    for h in (follower, stayer, w_old, w_new):
        await h.close()
    for m in (*old, *new):
        await m.close()
