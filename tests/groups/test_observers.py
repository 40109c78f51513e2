"""Observers added to a running group (non-voting learners): catch-up, never counted."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from pymosaik.groups.machine import ApplyContext
from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp
from pymosaik.groups.raft import (
    CommandCommitted,
    LeadershipPreference,
    Membership,
    RaftConfig,
    RaftNode,
    Role,
)
from pymosaik.groups.raft.messages import AppendEntries, InstallSnapshot, InstallSnapshotResponse
from pymosaik.groups.storage import MemoryStorage
from pymosaik.primitives import encode
from pymosaik.sim.cluster import LocalCluster

A, B, C, D = b"a", b"b", b"c", b"d"
FAST = RaftConfig.loopback(snapshot_threshold=0)


def put(i: int) -> bytes:
    return encode(MapCommand(b"t", i + 1, MapOp.PUT, b"k%d" % i, b"v%d" % i))


def _write(cluster: LocalCluster, leader: bytes, count: int) -> None:
    for i in range(count):
        cluster.submit(leader, [put(i)])
        cluster.advance(10)
    cluster.advance(200)


def _add_observer(cluster: LocalCluster) -> None:
    """Start D (which knows itself as an observer) and tell every voter about it."""
    prefs = {**cluster.preferences, D: LeadershipPreference.observer()}
    cluster.preferences = prefs
    cluster.membership = Membership.of(prefs)
    cluster.storages[D] = MemoryStorage()
    cluster.incarnations[D] = 0
    cluster.events[D] = []
    cluster.applied[D] = []
    cluster.start(D)
    for voter in (A, B, C):
        if voter in cluster.nodes:  # a crashed voter learns D from membership on restart
            assert cluster.nodes[voter].add_observer(D)
            assert not cluster.nodes[voter].add_observer(D)  # idempotent


def _items(cluster: LocalCluster, node: bytes) -> dict[bytes, bytes]:
    machine = cluster.nodes[node].machine
    assert isinstance(machine, MapMachine)
    return dict(machine.items)


def test_new_observer_catches_up_by_log_replay() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    _write(cluster, leader, 150)
    cluster.sent.clear()
    _add_observer(cluster)
    cluster.advance(500)
    assert _items(cluster, D) == _items(cluster, leader)
    assert len(_items(cluster, D)) == 150
    assert cluster.nodes[D].applied_index == cluster.nodes[leader].commit_index
    assert not any(isinstance(m, InstallSnapshot) for _, _, m in cluster.sent)
    assert any(isinstance(m, AppendEntries) and m.entries for _, dst, m in cluster.sent if dst == D)
    assert cluster.nodes[D].role is Role.FOLLOWER
    assert cluster.nodes[leader].membership.voters == (A, B, C)


def test_new_observer_catches_up_by_snapshot() -> None:
    config = replace(FAST, snapshot_threshold=20)
    cluster = LocalCluster([A, B, C], config=config)
    leader = cluster.wait_for_leader()
    _write(cluster, leader, 100)
    assert cluster.storages[leader].first_index() > 1  # compacted
    cluster.sent.clear()
    _add_observer(cluster)
    cluster.advance(500)
    assert any(isinstance(m, InstallSnapshot) and dst == D for _, dst, m in cluster.sent)
    assert _items(cluster, D) == _items(cluster, leader)
    assert cluster.nodes[D].applied_index == cluster.nodes[leader].commit_index


def test_observer_is_not_counted_in_the_quorum_and_can_be_removed() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    _add_observer(cluster)
    cluster.advance(200)
    for voter in (A, B, C):
        if voter != leader:
            cluster.isolate(voter)
    request = cluster.submit(leader, [put(0)])
    cluster.advance(150)  # less than an election timeout: the leader is still leading
    assert cluster.nodes[leader].is_leader
    assert not [
        e
        for e in cluster.events[leader]
        if isinstance(e, CommandCommitted) and e.request == request
    ]
    # Removal: the leader stops replicating to D.
    cluster.heal()
    for voter in (A, B, C):
        assert cluster.nodes[voter].remove_observer(D)
        assert not cluster.nodes[voter].remove_observer(D)
        assert D not in cluster.nodes[voter].membership.members
    cluster.sent.clear()
    cluster.advance(300)
    assert not any(dst == D for _, dst, _ in cluster.sent)


def test_snapshot_larger_than_a_chunk_arrives_in_chunks() -> None:
    config = replace(FAST, snapshot_threshold=20, snapshot_chunk_bytes=256)
    cluster = LocalCluster([A, B, C], config=config)
    leader = cluster.wait_for_leader()
    _write(cluster, leader, 100)
    snapshot = cluster.storages[leader].snapshot()
    assert snapshot is not None
    assert len(snapshot.data) > 4 * 256
    cluster.sent.clear()
    _add_observer(cluster)
    cluster.advance(1000)
    chunks = [m for _, dst, m in cluster.sent if dst == D and isinstance(m, InstallSnapshot)]
    assert len({m.offset for m in chunks}) >= 4
    assert all(len(m.data) <= 256 for m in chunks)
    assert _items(cluster, D) == _items(cluster, leader)
    assert cluster.nodes[D].applied_index == cluster.nodes[leader].commit_index


def test_follower_assembles_chunks_and_reports_gaps_and_duplicates() -> None:
    source = MapMachine()
    for i in range(30):
        source.apply(put(i), ApplyContext(index=i + 1, term=1, committed=i + 1))
    data = source.snapshot()
    size = len(data) // 3 + 1
    parts = [data[k : k + size] for k in range(0, len(data), size)]
    assert len(parts) == 3
    node = RaftNode(
        D,
        Membership.uniform([A, B, C, D]),
        MemoryStorage(),
        MapMachine(),
        rng=random.Random(1),
        now_ms=0,
        config=FAST,
    )

    def send(part: int, *, term: int = 2) -> InstallSnapshotResponse:
        offset = sum(len(p) for p in parts[:part])
        done = part == len(parts) - 1
        node.receive(A, InstallSnapshot(term, A, 30, 1, parts[part], 1, offset, done), 10)
        (out,) = node.ready().messages
        assert isinstance(out.message, InstallSnapshotResponse)
        return out.message

    assert send(0).received == len(parts[0])
    assert send(2).received == len(parts[0])  # gap: resend from here
    assert send(0).received == len(parts[0])  # duplicate of the first chunk
    assert send(1).received == len(parts[0]) + len(parts[1])
    assert send(0, term=3).received == len(parts[0])  # a new leader starts over
    assert send(1, term=3).received == len(parts[0]) + len(parts[1])
    assert node.applied_index == 0
    done = send(2, term=3)
    assert (done.received, done.last_index) == (0, 30)
    assert node.applied_index == 30
    machine = node.machine
    assert isinstance(machine, MapMachine)
    assert machine.items == source.items


@pytest.mark.parametrize("seed", range(12))
def test_seeded_faults_with_a_churning_observer_and_chunked_snapshots(seed: int) -> None:
    """Partitions, crashes, observer removal and re-adding, 64-byte snapshot chunks: no
    two nodes ever apply different commands at one index, and the observer converges."""
    rng = random.Random(seed)
    config = replace(FAST, snapshot_threshold=8, snapshot_chunk_bytes=64)
    cluster = LocalCluster([A, B, C], config=config, seed=seed)
    cluster.wait_for_leader()
    seq = 0
    for step in range(60):
        if step == 10:
            _add_observer(cluster)
        roll = rng.random()
        alive = sorted(cluster.nodes)
        if roll < 0.5:
            seq += 1
            cluster.submit(rng.choice(alive), [put(seq)])
        elif roll < 0.6:
            cluster.isolate(rng.choice([A, B, C, D]))
        elif roll < 0.7:
            cluster.heal()
        elif roll < 0.78 and len(alive) == len(cluster.storages):
            cluster.crash(rng.choice([A, B, C]))
        elif roll < 0.85:
            for name in cluster.storages:
                if name not in cluster.nodes:
                    cluster.restart(name)
        elif roll < 0.92 and D in cluster.nodes:
            voter = rng.choice([n for n in (A, B, C) if n in cluster.nodes])
            cluster.nodes[voter].remove_observer(D)
            cluster.advance(rng.randrange(0, 200))
            cluster.nodes[voter].add_observer(D)
        cluster.advance(rng.randrange(20, 300))
    cluster.heal()
    for name in cluster.storages:
        if name not in cluster.nodes:
            cluster.restart(name)
    seq += 1
    leader = cluster.wait_for_leader()
    cluster.submit(leader, [put(seq)])
    cluster.advance(3000)
    leader = cluster.wait_for_leader()
    assert _items(cluster, D) == _items(cluster, leader)
    assert cluster.nodes[D].applied_index == cluster.nodes[leader].commit_index
    assert not cluster.nodes[D].is_leader
    seen: dict[int, tuple[int, bytes]] = {}
    for name, applied in cluster.applied.items():
        for entry in applied:
            known = seen.setdefault(entry.index, (entry.term, entry.command))
            assert known == (entry.term, entry.command), (name, entry.index)
