"""Ticket-gated writes and successor chains on a standalone organism, on loopback."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from coalition import AclClause, AclComposition, CoalitionConfig, OrganismConfig, TicketIssuerConfig
from coalition.acl_validator import AclContext
from coalition.framework import ConnectTimeout, OrganismRetired
from coalition.retirement import AtSequence, ComponentKind, ComponentRef, RetirementMarker
from coalition.ticket_issuer import TicketIssuer, recognise_coalition_issuer
from organisms.feed import FEED, Feed, FeedItem
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import SecretKey
from pymosaik.tickets import InvalidTicketError, PeerInfo

FAST = RaftConfig.loopback()
ISSUER_KEY = SecretKey.generate()
COALITION = CoalitionConfig(
    instance_name="gated",
    ticket_issuer=TicketIssuerConfig(
        "issuer", AclComposition.all_of(AclClause.require_peer(ISSUER_KEY.peer_id.bytes))
    ),
)

if TYPE_CHECKING:
    from tests.conftest import NewNetwork, OrganismCommittee


async def test_only_ticket_holders_can_write(
    new_network: NewNetwork, organism_committee: OrganismCommittee
) -> None:
    cfg = OrganismConfig("gated-feed")
    members = await organism_committee(
        Feed.member, cfg, writers=recognise_coalition_issuer(COALITION)
    )
    outsider = await new_network()
    issuer = TicketIssuer.for_coalition(COALITION, ISSUER_KEY)
    holder_key = SecretKey.generate()
    ticket = issuer.issue(holder_key.peer_id, outsider.network_id, outsider.clock.now_ms(), None)
    holder = await new_network(secret_key=holder_key, tickets=[ticket])
    reader = Feed.read(outsider, cfg, timeout_s=15)
    writer = Feed.publish(holder, cfg)
    assert await writer.post(b"from a ticket holder", 1, timeout_s=15) == 0
    item = await reader.ready(drain=False)
    assert item == FeedItem(0, b"from a ticket holder", 1)
    rogue = Feed.publish(outsider, cfg)  # no ticket: the committee never subscribes to it
    with pytest.raises(ConnectTimeout):
        await rogue.post(b"spam", 2, timeout_s=2)
    assert all(m.machine.next_seq == 1 for m in members)
    # nor does it hear the replies: only the ticket holder's writer is subscribed to them
    assert all(m.replies is not None and m.replies.subscribed_count() <= 1 for m in members)
    assert any(m.replies is not None and m.replies.subscribed_count() == 1 for m in members)
    for h in (reader, writer, rogue):
        await h.close()
    for m in members:
        await m.close()


async def test_the_configs_published_acl_gates_the_intake(
    new_network: NewNetwork, organism_committee: OrganismCommittee
) -> None:
    """No ``writers`` given: the committee enforces the ACL the Config publishes (and which its
    id folds in), compiled at run time; a clause whose lookup is missing fails closed."""
    root = COALITION.ticket_issuer_root()
    assert root is not None
    ctx = AclContext(issuer_keys=lambda r: [ISSUER_KEY.peer_id] if r == root else [])
    cfg = OrganismConfig("acl-feed", acl=AclComposition.all_of(AclClause.recognise_issuer(root)))
    assert FEED.writers(OrganismConfig("open-feed")) is None
    members = await organism_committee(Feed.member, cfg, acl_context=ctx)
    outsider = await new_network()
    holder_key = SecretKey.generate()
    issuer = TicketIssuer.for_coalition(COALITION, ISSUER_KEY)
    ticket = issuer.issue(holder_key.peer_id, outsider.network_id, outsider.clock.now_ms(), None)
    holder = await new_network(secret_key=holder_key, tickets=[ticket])
    writer = Feed.publish(holder, cfg)
    assert await writer.post(b"admitted by the published acl", 1, timeout_s=15) == 0
    rogue = Feed.publish(outsider, cfg)
    with pytest.raises(ConnectTimeout):
        await rogue.post(b"spam", 2, timeout_s=2)
    assert all(m.machine.next_seq == 1 for m in members)
    # the same ACL with a reputation floor and no reputation lookup: nobody passes
    floor = AclComposition.all_of(
        AclClause.recognise_issuer(root), AclClause.reputation_floor(root, 1)
    )
    strict = FEED.writers(OrganismConfig("strict-feed", acl=floor), ctx)
    assert strict is not None
    with pytest.raises(InvalidTicketError, match="no reputation organism"):
        strict.evaluate(
            [ticket], PeerInfo(holder_key.peer_id, holder.network_id), holder.clock.now_ms()
        )
    for h in (writer, rogue):
        await h.close()
    for m in members:
        await m.close()


async def test_reader_follows_a_rotation_to_the_successor(
    new_network: NewNetwork, organism_committee: OrganismCommittee
) -> None:
    old_cfg, new_cfg = OrganismConfig("feed-v1"), OrganismConfig("feed-v2")
    old = await organism_committee(Feed.member, old_cfg)
    new = await organism_committee(Feed.member, new_cfg)
    client = await new_network()
    follower = Feed.read(client, old_cfg, timeout_s=15)
    follower.follow_successors = True
    stayer = Feed.read(client, old_cfg, timeout_s=15)
    w_old, w_new = Feed.publish(client, old_cfg), Feed.publish(client, new_cfg)
    await w_old.post(b"old", 1, timeout_s=30)  # the first write waits for both committees
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
