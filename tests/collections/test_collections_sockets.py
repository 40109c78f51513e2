"""Three members on loopback: a writer commits to a replicated Map, readers see it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from pymosaik.collections import CellHandle, MapHandle, SetHandle
from pymosaik.groups.access import GroupAccess
from pymosaik.groups.driver import GroupError, Groups
from pymosaik.groups.raft import FailReason, RaftConfig
from pymosaik.primitives import UNIVERSE, SecretKey, UniqueId, unique_id
from pymosaik.tickets import Expiration, InvalidTicketError, PeerIdentity, Ticket
from pymosaik.transport import Endpoint

FAST = RaftConfig.loopback()
#: The ``group_nodes`` fixture (tests/conftest.py): ``await group_nodes(n)``.
StartNodes = Callable[[int], Awaitable[list[tuple[Endpoint, Groups]]]]
SECRET = UniqueId.hash("collections loopback secret")


async def test_writer_updates_map_readers_see_it(group_nodes: StartNodes) -> None:
    nodes = await group_nodes(3)
    groups = [g for _, g in nodes]
    addrs = [ep.addr for ep, _ in nodes]
    maps = [
        MapHandle.join(g, SECRET, "prices: Map[str, int] v1", addrs, str, int, config=FAST, seed=i)
        for i, g in enumerate(groups)
    ]
    # A second collection on the same secret is a separate group.
    cells = [
        CellHandle.join(g, SECRET, "flag: Cell[str] v1", addrs, str, config=FAST, seed=i)
        for i, g in enumerate(groups)
    ]
    assert maps[0].group.group_id != cells[0].group.group_id
    writer, readers = maps[0], maps[1:]
    async with asyncio.timeout(15):
        await writer.group.when_leader_known()
        v1 = await writer.insert("ETH", 3812)
        assert writer.get("ETH") == 3812  # applied locally before returning
        v2 = await writer.extend([("BTC", 97000), ("SOL", 240)])
        v3, swapped = await writer.compare_exchange("ETH", 3812, 3900)
        assert swapped
        v4, swapped = await writer.compare_exchange("ETH", 1, 2)
        assert not swapped
        assert v1 < v2 < v3 < v4
        for reader in readers:
            assert await reader.when.reaches(v4) >= v4
            assert reader.items() == writer.items()
            assert reader.get("ETH") == 3900
            assert reader.get("DOGE") is None
            assert len(reader) == 3
        # A reader's wait for the next update wakes on the writer's next commit.
        waiter = asyncio.ensure_future(readers[0].when.updated())
        await asyncio.sleep(0)  # let the waiter register before the write
        v5 = await writer.remove("SOL")
        assert await waiter > v4
        await readers[1].when.reaches(v5)
        assert not readers[1].contains_key("SOL")
        # A Cell written from another member reaches the first.
        cv = await cells[2].write("ready")
        await cells[0].when.reaches(cv)
        assert cells[0].get() == "ready"


class AllowList:
    """Test validator: a ticket is the holder's PeerId bytes."""

    CLASS = unique_id("test.collections.allow")

    def ticket_class(self) -> UniqueId:
        return self.CLASS

    def signature(self) -> UniqueId:
        return unique_id("test.collections.allow.validator")

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        if data != peer.peer_id.bytes:
            raise InvalidTicketError("not the holder")
        return Expiration.never()


async def test_reader_handle_observes_without_voting(group_nodes: StartNodes) -> None:
    nodes = await group_nodes(5)
    eps = [ep for ep, _ in nodes]
    groups = [g for _, g in nodes]
    writers_addrs = [ep.addr for ep in eps[:3]]
    schema = "seen: Set[str] v1"
    gate = {"require_ticket": AllowList(), "config": FAST}

    def own(i: int) -> list[Ticket]:
        return [Ticket(AllowList.CLASS, eps[i].peer_id.bytes)]

    writers = [
        SetHandle.join(g, SECRET, schema, writers_addrs, str, seed=i, tickets=own(i), **gate)
        for i, g in enumerate(groups[:3])
    ]
    async with asyncio.timeout(15):
        await writers[0].group.when_leader_known()
        v1 = await writers[0].extend(["a", "b"])
        # A reader joins the running store later and replays what it missed; one
        # without a ticket is refused.
        reader = SetHandle.join(
            groups[3], SECRET, schema, writers_addrs, str, reader=True, tickets=own(3), **gate
        )
        refused = SetHandle.join(
            groups[4], SECRET, schema, writers_addrs, str, reader=True, tickets=own(0), **gate
        )
        assert reader.group.is_observer
        assert reader.group.group_id == writers[0].group.group_id
        await reader.when.reaches(v1)
        assert sorted(reader.items()) == ["a", "b"]
        v2 = await writers[1].insert("c")
        await reader.when.reaches(v2)
        assert reader.contains("c")
    for w in writers:
        assert w.group.observers == {eps[3].peer_id}
        assert eps[3].peer_id.bytes not in w.group.node.membership.voters
    assert not reader.group.is_leader
    assert not refused.group.links
    assert len(refused) == 0


async def test_reader_with_a_reader_ticket_reads_but_cannot_write() -> None:
    """Collections under GroupAccess: readers need a ticket; without forwarders, none writes."""
    eps = [Endpoint(SecretKey.generate(), UNIVERSE) for _ in range(5)]
    for ep in eps:
        await ep.start()
    groups = [Groups(ep) for ep in eps]
    writers_addrs = [ep.addr for ep in eps[:3]]
    schema = "seen: Set[str] v1"
    gate = {"access": GroupAccess(observers=AllowList(), forwarders=False), "config": FAST}

    def own(i: int) -> list[Ticket]:
        return [Ticket(AllowList.CLASS, eps[i].peer_id.bytes)]

    try:
        writers = [
            SetHandle.join(g, SECRET, schema, writers_addrs, str, seed=i, **gate)
            for i, g in enumerate(groups[:3])
        ]
        reader = SetHandle.join(
            groups[3],
            SECRET,
            schema,
            writers_addrs,
            str,
            reader=True,
            tickets=own(3),
            **gate,
        )
        stranger = SetHandle.join(
            groups[4],
            SECRET,
            schema,
            writers_addrs,
            str,
            reader=True,
            **gate,
        )
        async with asyncio.timeout(15):
            await writers[0].group.when_leader_known()
            v1 = await writers[0].extend(["a", "b"])
            await reader.when.reaches(v1)
            assert sorted(reader.items()) == ["a", "b"]
            while reader.group.leader not in reader.group.links:
                await asyncio.sleep(0.02)
            last = [w.group.node.last_index for w in writers]
            with pytest.raises(GroupError) as refused:
                await reader.insert("forged")
            assert refused.value.reason is FailReason.REJECTED
        assert [w.group.node.last_index for w in writers] == last
        assert not stranger.group.links
        assert len(stranger) == 0
    finally:
        for g in groups:
            await g.aclose()
        for ep in eps:
            await ep.aclose()
