"""The keyed registry on loopback: 3 committee members, 2 readers, a leader change.

Readers replicate the committee log as observers, so they must converge on
the same entries (same seq, same log index, same bytes) and see every
version of a key, across the leader's death; a reader without a readership
ticket is refused at the bond; a watchdog with no ticket reads the committed
reader count.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from coalition import OrganismConfig
from coalition.framework import CommitteeMember, SurfaceIds, SurfaceReader
from coalition.framework.history import HistoryResolver
from coalition.framework.keyed_read import ReadRefused
from coalition.framework.surface import SubscriberCount
from coalition.ticket_issuer import RecogniseIssuer, TicketIssuer
from organisms.feed import Feed
from organisms.registry import Registry, RegistryEntry, RegistryReader
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import SecretKey, UniqueId, encode

FAST = RaftConfig.loopback()

if TYPE_CHECKING:
    from tests.conftest import NewNetwork, OrganismCommittee


def addrs(members: list[CommitteeMember]) -> list:  # type: ignore[type-arg]
    return [m.network.addr for m in members]


def snapshot(r: RegistryReader) -> list[tuple[int, int, bytes, bytes | None]]:
    return [(e.seq, e.index, e.key, e.value) for e in r.entries.log.entries]


async def converged(readers: list[RegistryReader], entries: int) -> None:
    async with asyncio.timeout(15):
        while any(len(r.entries.log.entries) < entries for r in readers):
            await asyncio.sleep(0.02)
    assert all(snapshot(r) == snapshot(readers[0]) for r in readers)


async def test_two_readers_converge_by_key_with_history_across_a_leader_change(
    new_network: NewNetwork,
    organism_committee: OrganismCommittee,
) -> None:
    cfg = OrganismConfig("registry-convergence")
    members = await organism_committee(Registry.member, cfg)
    readers = [Registry.read(await new_network(), cfg, addrs(members), raft=FAST) for _ in "ab"]
    writer = Registry.publish(await new_network(), cfg)
    waits = [asyncio.ensure_future(r.entries.when().updated("alice")) for r in readers]
    # the first write waits for the committee to form: slow on a loaded machine
    assert await writer.put("alice", RegistryEntry(b"v1", 1), timeout_s=30) == 0
    assert await writer.put("bob", RegistryEntry(b"b1", 2), timeout_s=15) == 1
    assert await writer.put("alice", RegistryEntry(b"v2", 3), timeout_s=15) == 2
    for r in readers:
        await r.ready(30)  # observers replicate the log first: slow on a loaded machine
    for w in waits:  # both readers wake on alice's first version, then see the second
        assert (await asyncio.wait_for(w, 15)).value == RegistryEntry(b"v1", 1)
    await converged(readers, 3)
    for r in readers:
        second = await asyncio.wait_for(r.entries.when().updated("alice"), 15)
        assert second.value == RegistryEntry(b"v2", 3)
        assert r.entries.get("bob") == RegistryEntry(b"b1", 2)
        assert r.writes.items() == ["alice", "bob", "alice"]
    old = readers[0].entries.pointer("alice", seq=0)

    leader = next(m for m in members if m.group.is_leader)
    await leader.close()
    survivors = [m for m in members if m is not leader]
    pending = [asyncio.ensure_future(r.entries.when().updated("alice")) for r in readers]
    assert await writer.put("alice", RegistryEntry(b"v3", 4), timeout_s=20) == 3
    assert await writer.remove("bob", timeout_s=15) == 4
    for p in pending:
        assert (await asyncio.wait_for(p, 15)).value == RegistryEntry(b"v3", 4)
    await converged(readers, 5)
    assert any(m.group.is_leader for m in survivors)
    for r in readers:
        history = r.entries.history("alice")
        assert [v.value.data for v in history if v.value] == [b"v1", b"v2", b"v3"]
        assert [v.seq for v in history] == [0, 2, 3]
        assert history[0].index < history[1].index < history[2].index
        assert r.entries.get("bob") is None and r.entries.history("bob")[-1].value is None
        assert r.entries.keys() == ["alice"]
        # A pointer cited before the leader change still resolves on the other reader.
        resolver = HistoryResolver()
        resolver.follow(r.reader.store)
        assert resolver.resolve(old) == encode(RegistryEntry(b"v1", 1))
    for h in [*readers, writer]:
        await h.close()
    for m in survivors:
        await m.close()


async def test_a_reader_needs_a_readership_ticket(
    new_network: NewNetwork, organism_committee: OrganismCommittee
) -> None:
    cfg = OrganismConfig("registry-acl")
    operator = SecretKey.generate()
    root = UniqueId.from_parts(b"registry-acl readers")
    readers_acl = RecogniseIssuer(root, [operator.peer_id])
    members = await organism_committee(Registry.member, cfg, readers=readers_acl)
    writer = Registry.publish(await new_network(), cfg)
    await writer.put("k", RegistryEntry(b"secret", 1), timeout_s=15)

    stranger_net = await new_network()
    stranger = Registry.read(stranger_net, cfg, addrs(members), readers=readers_acl, raft=FAST)
    with pytest.raises(ReadRefused, match="NotAllowed"):
        await stranger.ready(10)
    assert stranger.entries.get("k") is None and not stranger.entries.log.entries

    holder_net = await new_network()
    issuer = TicketIssuer(root, operator)
    ticket = issuer.issue(
        holder_net.peer_id, holder_net.network_id, holder_net.clock.now_ms(), None
    )
    holder = Registry.read(
        holder_net, cfg, addrs(members), readers=readers_acl, tickets=[ticket], raft=FAST
    )
    await holder.ready(15)
    assert holder.entries.get("k") == RegistryEntry(b"secret", 1)
    for h in (stranger, holder, writer):
        await h.close()
    for m in members:
        await m.close()


async def test_a_watchdog_reads_the_committed_subscriber_count(
    new_network: NewNetwork, organism_committee: OrganismCommittee
) -> None:
    cfg = OrganismConfig("registry-watchdog")
    members = await organism_committee(Registry.member, cfg)
    ids = SurfaceIds.derive(cfg.organism_id(), writable=True)
    watchdog = SurfaceReader.of(await new_network(), "count", ids.subscribers, SubscriberCount)

    async def count_becomes(n: int) -> SubscriberCount:
        async with asyncio.timeout(15):
            while (latest := await watchdog.next()).count != n:
                pass
        return latest

    readers = [Registry.read(await new_network(), cfg, addrs(members), raft=FAST) for _ in "ab"]
    for r in readers:
        await r.ready(30)  # observers replicate the log first: slow on a loaded machine
    two = await count_becomes(2)
    await readers[0].close()
    one = await count_becomes(1)
    assert one.seq > two.seq and one.index > two.index
    assert all(m.status()["subscribers"] in (1, 2) for m in members)  # the followers may lag
    for h in (readers[1], watchdog):
        await h.close()
    for m in members:
        await m.close()


async def test_a_late_reader_gets_the_whole_history_through_a_snapshot(
    new_network: NewNetwork,
    organism_committee: OrganismCommittee,
) -> None:
    cfg = OrganismConfig("registry-snapshot")
    raft = RaftConfig.loopback(snapshot_threshold=8)  # members compact the log every 8 entries
    members = await organism_committee(Registry.member, cfg, raft=raft)
    writer = Registry.publish(await new_network(), cfg)
    for i in range(20):
        assert await writer.put("k", RegistryEntry(b"%d" % i, i), timeout_s=15) == i
    late = Registry.read(await new_network(), cfg, addrs(members), raft=raft)
    restored: list[int] = []
    store = late.reader.store
    real_restore = store.restore
    store.restore = lambda data: (restored.append(len(data)), real_restore(data))[1]  # type: ignore[method-assign]
    await late.ready(15)
    # ready() may return between the snapshot and the entries after it: wait for the last write
    await asyncio.wait_for(late.entries.when().reaches(20), 15)
    assert restored, "the late reader was expected to start from a snapshot"
    history = late.entries.history("k")
    assert [v.value.data for v in history if v.value] == [b"%d" % i for i in range(20)]
    assert late.writes.items() == ["k"] * 20
    for h in (late, writer):
        await h.close()
    for m in members:
        await m.close()


async def test_a_stream_subscriber_is_counted_too(
    new_network: NewNetwork, organism_committee: OrganismCommittee
) -> None:
    cfg = OrganismConfig("feed-count")
    members = await organism_committee(Feed.member, cfg)
    ids = SurfaceIds.derive(cfg.organism_id(), writable=True)
    watchdog = SurfaceReader.of(await new_network(), "count", ids.subscribers, SubscriberCount)
    assert (await watchdog.ready(drain=False)).count == 0
    reader = Feed.read(await new_network(), cfg)
    async with asyncio.timeout(15):
        while (await watchdog.next()).count != 1:
            pass
    for h in (reader, watchdog):
        await h.close()
    for m in members:
        await m.close()
