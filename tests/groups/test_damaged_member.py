"""A member whose SQLite log was damaged notices, drops the damage and catches up safely.

Issue 12.3: one flipped byte in a stored entry left a Chronicle member serving a
divergent state with no error. Here the member finds the damage when it starts,
drops the damaged suffix, keeps from voting for anyone its undamaged log would
have refused, and ends with the state of the others.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp
from pymosaik.groups.raft import HardState, RaftConfig
from pymosaik.groups.storage import Record, SqliteStorage
from pymosaik.primitives import encode
from pymosaik.sim.cluster import LocalCluster

from .test_storage_integrity import flip_byte

A, B, C = b"a", b"b", b"c"
FAST = RaftConfig(
    heartbeat_interval_ms=50,
    heartbeat_jitter_ms=10,
    election_timeout_ms=200,
    election_jitter_ms=100,
    bootstrap_delay_ms=100,
)


def put(key: bytes, value: bytes, seq: int) -> bytes:
    return encode(MapCommand(b"t", seq, MapOp.PUT, key, value))


def sqlite_cluster(tmp_path: Path, config: RaftConfig = FAST) -> LocalCluster:
    return LocalCluster(
        [A, B, C], config=config, storage_factory=lambda n: SqliteStorage(tmp_path / n.decode())
    )


def items(cluster: LocalCluster, node: bytes) -> dict[bytes, bytes]:
    machine = cluster.nodes[node].machine
    assert isinstance(machine, MapMachine)
    return dict(machine.items)


def restart_with_flip(cluster: LocalCluster, tmp_path: Path, node: bytes, needle: bytes) -> None:
    cluster.crash(node)
    cluster.storages[node].close()
    flip_byte(tmp_path / node.decode(), needle, offset=2)
    cluster.storages[node] = SqliteStorage(tmp_path / node.decode())
    cluster.restart(node)


def test_a_flipped_entry_is_dropped_and_caught_up(tmp_path: Path) -> None:
    cluster = sqlite_cluster(tmp_path)
    leader = cluster.wait_for_leader()
    for i in range(1, 7):
        cluster.submit(leader, [put(b"k%d" % i, b"value-%d" % i, i)])
        cluster.advance(50)
    follower = next(n for n in (A, B, C) if n != leader)
    expected = items(cluster, leader)
    assert items(cluster, follower) == expected
    last = cluster.nodes[follower].last_index

    restart_with_flip(cluster, tmp_path, follower, b"value-3")
    raft = cluster.nodes[follower]
    damage = raft.damage
    assert damage is not None and damage.record is Record.ENTRY
    assert damage.detail == "checksum mismatch"
    assert raft.last_index == damage.index - 1 < last  # the damaged suffix is gone
    assert raft.repairing
    stored = cluster.storages[follower].hard_state()
    assert (stored.repair_term, stored.repair_index) == (raft.term, last)

    cluster.advance(1000)
    assert items(cluster, follower) == expected  # before the fix: value-3 came back damaged
    assert not raft.repairing
    assert cluster.storages[follower].hard_state().repair_index == 0
    commit = cluster.nodes[leader].commit_index
    logs = {n: cluster.storages[n].entries(1, commit) for n in (A, B, C)}
    assert logs[A] == logs[B] == logs[C]
    assert cluster.storages[follower].scan() is None


def test_a_damaged_snapshot_is_dropped_and_installed_again(tmp_path: Path) -> None:
    cluster = sqlite_cluster(tmp_path, replace(FAST, snapshot_threshold=4))
    leader = cluster.wait_for_leader()
    cluster.submit(leader, [put(b"in-snapshot", b"snapshot-only-value", 1)])
    for i in range(2, 12):
        cluster.submit(leader, [put(b"k%d" % (i % 3), b"v%d" % i, i)])
        cluster.advance(50)
    follower = next(n for n in (A, B, C) if n != leader)
    expected = items(cluster, leader)
    assert cluster.storages[follower].snapshot() is not None

    restart_with_flip(cluster, tmp_path, follower, b"snapshot-only-value")
    raft = cluster.nodes[follower]
    damage = raft.damage
    assert damage is not None and damage.record is Record.SNAPSHOT
    snapshot = cluster.storages[leader].snapshot()
    assert snapshot is not None and damage.index >= 4
    assert raft.last_index == 0 and raft.repairing
    stored = cluster.storages[follower].hard_state()
    assert (stored.repair_term, stored.repair_index) == (damage.term, damage.index)
    cluster.advance(1000)
    assert items(cluster, follower) == expected
    assert not raft.repairing


@pytest.mark.parametrize("unsafe", [False, True])
def test_a_repairing_member_votes_as_its_undamaged_log_would(tmp_path: Path, unsafe: bool) -> None:
    """The entry X is committed by the leader and the damaged member only.

    With the leader down, the third member lacks X: the damaged member must not
    elect it (nor itself). With ``vote_while_repairing`` it does, and X is lost.
    """
    cluster = sqlite_cluster(tmp_path, replace(FAST, vote_while_repairing=unsafe))
    leader = cluster.wait_for_leader()
    cluster.advance(200)
    damaged, behind = (n for n in (A, B, C) if n != leader)
    cluster.block(leader, behind)
    cluster.submit(leader, [put(b"x", b"committed-x", 1)])
    cluster.advance(100)
    assert items(cluster, damaged) == {b"x": b"committed-x"}  # committed: leader + damaged

    restart_with_flip(cluster, tmp_path, damaged, b"committed-x")
    assert cluster.nodes[damaged].repairing
    cluster.crash(leader)
    cluster.advance(3000)
    if unsafe:
        new = cluster.leader()
        assert new is not None and new != leader
        assert b"x" not in items(cluster, new)  # the committed write is lost
        return
    assert cluster.leader() is None  # safe: no leader without X while its holder is down

    cluster.restart(leader)
    cluster.heal()
    cluster.wait_for_leader()
    cluster.advance(1000)
    for node in (A, B, C):
        assert items(cluster, node) == {b"x": b"committed-x"}
    assert not cluster.nodes[damaged].repairing
    stored = cluster.storages[damaged].hard_state()
    assert stored == HardState(stored.term, stored.voted_for)  # repair point cleared
