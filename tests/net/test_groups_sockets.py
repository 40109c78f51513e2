"""Raft groups over real loopback links: bonds, replication, failover, durable restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pymosaik.groups.driver import GroupError, Groups
from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp, MapQuery, MapResult
from pymosaik.groups.raft import Consistency, RaftConfig
from pymosaik.groups.storage.sqlite import SqliteStorage
from pymosaik.primitives import UniqueId, decode, encode
from pymosaik.transport import Endpoint

FAST = RaftConfig.loopback()
#: The ``group_nodes`` fixture (tests/conftest.py): ``await group_nodes(n)``.
StartNodes = Callable[[int], Awaitable[list[tuple[Endpoint, Groups]]]]
SECRET = UniqueId.hash("test group secret")


def put(client: bytes, seq: int, key: bytes, value: bytes) -> bytes:
    return encode(MapCommand(client, seq, MapOp.PUT, key, value))


@pytest.fixture
async def cluster(group_nodes: StartNodes) -> list[tuple[Endpoint, Groups]]:
    return await group_nodes(3)


async def test_three_members_elect_replicate_and_fail_over(
    cluster: list[tuple[Endpoint, Groups]],
) -> None:
    addrs = [ep.addr for ep, _ in cluster]
    members = [
        g.join(SECRET, MapMachine(), addrs, config=FAST, seed=i) for i, (_, g) in enumerate(cluster)
    ]
    async with asyncio.timeout(10):
        leader = await members[0].when_leader_known()
    # Commands from any member commit through the leader.
    for i, m in enumerate(members):
        result = decode(await m.execute(put(b"c%d" % i, 1, b"k%d" % i, b"v")), MapResult)
        assert result.ok
    for m in members:
        got = decode(await m.query(encode(MapQuery(b"k2")), Consistency.STRONG), MapResult)
        assert got.value == b"v"
    # Kill the leader's group; the others elect a new one and keep committing.
    old = next(m for m in members if m.peer_id == leader)
    rest = [m for m in members if m is not old]
    await old.close()
    async with asyncio.timeout(15):
        while True:
            try:
                r = decode(await rest[0].execute(put(b"after", 1, b"x", b"y")), MapResult)
                break
            except GroupError:
                await asyncio.sleep(0.1)
    assert r.ok
    new_leader = await rest[1].when_leader_known()
    assert new_leader != leader


async def test_wrong_secret_never_bonds(cluster: list[tuple[Endpoint, Groups]]) -> None:
    addrs = [ep.addr for ep, _ in cluster[:2]]
    a = cluster[0][1].join(SECRET, MapMachine(), addrs, config=FAST)
    b = cluster[1][1].join(UniqueId.hash("other secret"), MapMachine(), addrs, config=FAST)
    await asyncio.sleep(1.0)
    assert not a.links
    assert not b.links
    assert a.group_id != b.group_id


async def test_durable_member_restarts_with_its_log(
    tmp_path: Path, cluster: list[tuple[Endpoint, Groups]]
) -> None:
    addrs = [ep.addr for ep, _ in cluster]
    groups = [g for _, g in cluster]
    members = [
        g.join(
            SECRET, MapMachine(), addrs, config=FAST, storage=SqliteStorage(tmp_path / f"{i}.db")
        )
        for i, g in enumerate(groups)
    ]
    async with asyncio.timeout(10):
        await members[0].when_leader_known()
    for seq in range(20):
        await members[seq % 3].execute(put(b"w", seq + 1, b"k%d" % seq, b"%d" % seq))
    # Restart member 2 from its database (same key, new endpoint port is fine:
    # peers dial it by the address they were given, so it keeps its port here).
    await members[2].close()
    members[2] = groups[2].join(
        SECRET, MapMachine(), addrs, config=FAST, storage=SqliteStorage(tmp_path / "2.db")
    )
    async with asyncio.timeout(10):
        while True:
            got = decode(
                await members[2].query(encode(MapQuery(b"k19")), Consistency.WEAK), MapResult
            )
            if got.value == b"19":
                break
            await asyncio.sleep(0.05)


async def test_builder_when_conditions_and_handed_back_commands(
    cluster: list[tuple[Endpoint, Groups]],
) -> None:
    addrs = [ep.addr for ep, _ in cluster]
    members = [
        g.with_key(SECRET)
        .with_state_machine(MapMachine())
        .with_members(addrs)
        .with_config(FAST)
        .join()
        for _, g in cluster
    ]
    assert len({m.group_id for m in members}) == 1  # the builder derives the same GroupId
    async with asyncio.timeout(10):
        leader = await members[1].when().leader_elected()
        for m in members:
            await m.when().online()
        index = await members[0].feed(put(b"c", 1, b"k", b"v"))
        for m in members:
            await m.when().committed_reaches(index)
            await m.when().applied_reaches(index)
    assert all(m.applied_index >= index for m in members)
    old = next(m for m in members if m.peer_id == leader)
    other = next(m for m in members if m is not old)
    await old.close()
    async with asyncio.timeout(15):
        assert await other.when().leader_changed(leader) != leader
    commands = [put(b"c", 2, b"k", b"w"), put(b"c", 3, b"k", b"x")]
    with pytest.raises(GroupError) as refused:
        await old.execute_many(commands)  # closed: nothing was sent, both come back
    assert not refused.value.maybe_applied
    assert refused.value.commands == tuple(commands)
    with pytest.raises(ValueError, match="state machine"):
        cluster[0][1].with_key(SECRET).join()


class _BrokenMachine(MapMachine):
    def apply(self, command: bytes, ctx: object) -> bytes:  # type: ignore[override]
        raise ZeroDivisionError("machine bug")


async def test_a_node_loop_crash_fails_clients_and_close_raises_it(
    cluster: list[tuple[Endpoint, Groups]],
) -> None:
    ep, groups = cluster[0]
    solo = groups.join(SECRET, _BrokenMachine(), [ep.addr], config=FAST)
    async with asyncio.timeout(10):
        await solo.when_leader_known()
        with pytest.raises(GroupError):
            await solo.execute(put(b"c", 1, b"k", b"v"))
    with pytest.raises(GroupError):  # the crashed group takes no more work
        await solo.execute(put(b"c", 2, b"k", b"v"))
    with pytest.raises(ZeroDivisionError, match="machine bug"):
        await solo.close()
