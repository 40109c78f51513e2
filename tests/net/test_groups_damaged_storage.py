"""Group members over real links whose SQLite log is damaged: loud, then whole again."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pymosaik.groups.driver import Group, GroupError, Groups
from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp
from pymosaik.groups.raft import RaftConfig
from pymosaik.groups.storage.sqlite import SqliteStorage
from pymosaik.primitives import UNIVERSE, SecretKey, UniqueId, encode
from pymosaik.transport import Endpoint

FAST = RaftConfig.loopback()
SECRET = UniqueId.hash("damaged storage group")


def put(seq: int, key: bytes, value: bytes) -> bytes:
    return encode(MapCommand(b"w", seq, MapOp.PUT, key, value))


def items(member: Group) -> dict[bytes, bytes]:
    machine = member.node.machine
    assert isinstance(machine, MapMachine)
    return dict(machine.items)


class Trio:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.eps = [Endpoint(SecretKey.generate(), UNIVERSE) for _ in range(3)]
        self.groups: list[Groups] = []
        self.members: list[Group] = []

    def db(self, i: int) -> Path:
        return self.tmp_path / f"{i}.db"

    def join(self, i: int) -> Group:
        storage = SqliteStorage(self.db(i))
        addrs = [ep.addr for ep in self.eps]
        return self.groups[i].join(SECRET, MapMachine(), addrs, config=FAST, storage=storage)

    async def write(self, seqs: range, via: int = 0) -> None:
        for seq in seqs:
            async with asyncio.timeout(10):
                while True:
                    try:
                        await self.members[via].execute(put(seq, b"k%d" % seq, b"value-%d" % seq))
                        break
                    except GroupError:
                        await asyncio.sleep(0.05)

    async def converged(self) -> None:
        async with asyncio.timeout(15):
            while True:
                views = [items(m) for m in self.members]
                commits = {m.node.commit_index for m in self.members}
                if views[0] == views[1] == views[2] and len(commits) == 1:
                    return
                await asyncio.sleep(0.05)


@pytest.fixture
async def trio(tmp_path: Path) -> AsyncIterator[Trio]:
    trio = Trio(tmp_path)
    for ep in trio.eps:
        await ep.start()
    trio.groups = [Groups(ep) for ep in trio.eps]
    trio.members = [trio.join(i) for i in range(3)]
    yield trio
    for g in trio.groups:
        await g.aclose()
    for ep in trio.eps:
        await ep.aclose()


def flip_stored_value(db: Path, needle: bytes) -> None:
    """Change one byte of the stored entry holding ``needle`` (a failing disk, not SQL)."""
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute("SELECT idx, data FROM log").fetchall()
        (idx, data), *more = [(i, bytes(d)) for i, d in rows if needle in d]
        assert not more
        flipped = bytearray(data)
        flipped[data.index(needle) + 2] ^= 0x04
        conn.execute("UPDATE log SET data = ? WHERE idx = ?", (bytes(flipped), idx))


async def test_member_restarted_on_a_damaged_log_reports_and_catches_up(
    trio: Trio, caplog: pytest.LogCaptureFixture
) -> None:
    await trio.write(range(1, 11))
    await trio.converged()
    await trio.members[2].close()
    flip_stored_value(trio.db(2), b"value-4")
    with caplog.at_level(logging.ERROR, logger="pymosaik.groups.driver"):
        trio.members[2] = trio.join(2)
    member = trio.members[2]
    assert member.storage_fault is not None
    assert "damaged entry at index" in member.storage_fault
    assert str(trio.db(2)) in member.storage_fault
    assert any("catching up from peers" in r.getMessage() for r in caplog.records)
    assert member.repairing
    await trio.converged()
    assert items(member)[b"k4"] == b"value-4"
    assert not member.repairing


async def test_leader_reading_a_damaged_entry_restarts_and_the_group_heals(
    trio: Trio, caplog: pytest.LogCaptureFixture
) -> None:
    await trio.write(range(1, 4))
    async with asyncio.timeout(10):
        leader_id = await trio.members[0].when_leader_known()
    leader = next(i for i, m in enumerate(trio.members) if m.peer_id == leader_id)
    lagging = (leader + 1) % 3
    await trio.members[lagging].close()
    await trio.write(range(4, 12), via=leader)  # the lagging member misses these
    flip_stored_value(trio.db(leader), b"value-7")
    with caplog.at_level(logging.ERROR, logger="pymosaik.groups.driver"):
        # Rejoining, the lagging member needs value-7: the leader reads it to send.
        trio.members[lagging] = trio.join(lagging)
        async with asyncio.timeout(10):
            while trio.members[leader].storage_fault is None:
                await asyncio.sleep(0.02)
    assert "damaged entry at index" in (trio.members[leader].storage_fault or "")
    assert any("restarting the member" in r.getMessage() for r in caplog.records)
    await trio.write(range(12, 14))
    await trio.converged()
    for m in trio.members:
        assert items(m)[b"k7"] == b"value-7"
        assert len(items(m)) == 13
