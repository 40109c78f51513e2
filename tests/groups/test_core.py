"""Unit tests of the sans-IO Raft core: elections, replication, commit rule, roles."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp, MapQuery, MapResult
from pymosaik.groups.raft import (
    CommandAssigned,
    CommandCommitted,
    CommandFailed,
    CommitConflict,
    Consistency,
    EntryKind,
    FailReason,
    HardState,
    LeadershipPreference,
    LogEntry,
    Membership,
    QueryAnswered,
    RaftConfig,
    RaftNode,
    Role,
    Vote,
)
from pymosaik.groups.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    RequestVote,
    RequestVoteResponse,
)
from pymosaik.groups.storage import MemoryStorage
from pymosaik.groups.storage.sqlite import SqliteStorage
from pymosaik.primitives import decode, encode
from pymosaik.sim.cluster import LocalCluster

A, B, C, D = b"a", b"b", b"c", b"d"
FAST = RaftConfig.loopback()


def put(key: bytes, value: bytes, seq: int, client: bytes = b"t") -> bytes:
    return encode(MapCommand(client, seq, MapOp.PUT, key, value))


def events_of(cluster: LocalCluster, node: bytes, kind: type) -> list:
    return [e for e in cluster.events[node] if isinstance(e, kind)]


def result_of(cluster: LocalCluster, node: bytes, request: int) -> CommandCommitted | None:
    for e in events_of(cluster, node, CommandCommitted):
        if e.request == request:
            return e
    return None


# ----------------------------------------------------------------- elections


def test_three_nodes_elect_exactly_one_leader() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    cluster.advance(1000)
    assert cluster.leaders() == [leader]
    term = cluster.nodes[leader].term
    for raft in cluster.nodes.values():
        assert raft.leader == leader
        assert raft.term == term


def test_no_election_before_bootstrap_delay() -> None:
    config = replace(FAST, bootstrap_delay_ms=3000)
    cluster = LocalCluster([A, B, C], config=config)
    cluster.advance(3000)
    assert cluster.leader() is None
    cluster.wait_for_leader(timeout_ms=2000)


def test_new_leader_after_leader_crash_keeps_committed_entries() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    first = cluster.wait_for_leader()
    request = cluster.submit(first, [put(b"k", b"v1", 1)])
    cluster.advance(100)
    assert result_of(cluster, first, request) is not None
    cluster.crash(first)
    second = cluster.wait_for_leader()
    assert second != first
    assert cluster.nodes[second].term > 1
    machine = cluster.nodes[second].machine
    assert isinstance(machine, MapMachine)
    assert machine.items[b"k"] == b"v1"


def test_reluctant_nodes_let_the_normal_node_lead() -> None:
    prefs = {B: LeadershipPreference.reluctant(), C: LeadershipPreference.reluctant()}
    for seed in range(5):
        cluster = LocalCluster([A, B, C], config=FAST, preferences=prefs, seed=seed)
        assert cluster.wait_for_leader() == A


# --------------------------------------------------------------- replication


def test_leader_replicates_and_every_node_applies_the_same_sequence() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    requests = [cluster.submit(leader, [put(b"k", b"v%d" % i, i + 1)]) for i in range(5)]
    cluster.advance(200)
    for request in requests:
        done = result_of(cluster, leader, request)
        assert done is not None
        assert decode(done.results[0], MapResult).ok
    sequences = {
        n: [(a.index, a.term, a.command) for a in cluster.applied[n]] for n in cluster.nodes
    }
    assert sequences[A] == sequences[B] == sequences[C]
    assert len([a for a in cluster.applied[A] if a.kind is EntryKind.COMMAND]) == 5


def test_commands_submitted_in_one_step_are_batched_into_one_append() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    cluster.advance(100)
    raft = cluster.nodes[leader]
    cluster.sent.clear()
    for i in range(4):
        raft.submit([put(b"k", b"v%d" % i, i + 1)], cluster.now)
    cluster.pump()
    appends = [m for src, _, m in cluster.sent if src == leader and isinstance(m, AppendEntries)]
    with_entries = [m for m in appends if m.entries]
    assert len(with_entries) == 2  # one per follower
    assert all(len(m.entries) == 4 for m in with_entries)


def test_follower_forwards_commands_and_strong_queries_to_the_leader() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    follower = next(n for n in (A, B, C) if n != leader)
    request = cluster.submit(follower, [put(b"k", b"fwd", 1)])
    cluster.advance(200)
    assigned = [e for e in events_of(cluster, follower, CommandAssigned) if e.request == request]
    assert len(assigned) == 1
    done = result_of(cluster, follower, request)
    assert done is not None
    assert done.first == assigned[0].first
    query = cluster.query(follower, encode(MapQuery(b"k")), Consistency.STRONG)
    cluster.advance(200)
    answers = [e for e in events_of(cluster, follower, QueryAnswered) if e.request == query]
    assert len(answers) == 1
    assert decode(answers[0].result, MapResult).value == b"fwd"


def test_commands_fail_offline_without_a_leader() -> None:
    cluster = LocalCluster([A, B, C], config=replace(FAST, bootstrap_delay_ms=5000))
    request = cluster.submit(A, [put(b"k", b"v", 1)])
    failures = [e for e in events_of(cluster, A, CommandFailed) if e.request == request]
    assert failures == [CommandFailed(request, FailReason.OFFLINE, maybe_applied=False)]


def test_forward_times_out_when_the_leader_is_unreachable() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    follower = next(n for n in (A, B, C) if n != leader)
    cluster.block(follower, leader)
    request = cluster.submit(follower, [put(b"k", b"v", 1)])
    cluster.advance(FAST.forward_timeout_ms + 50)
    failures = [e for e in events_of(cluster, follower, CommandFailed) if e.request == request]
    assert len(failures) == 1
    assert failures[0].reason is FailReason.TIMEOUT
    assert failures[0].maybe_applied


def test_strong_query_on_leader_waits_for_a_heartbeat_round() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    cluster.advance(100)
    for other in (A, B, C):
        if other != leader:
            cluster.block(leader, other)
    raft = cluster.nodes[leader]
    request = raft.query(encode(MapQuery(b"k")), Consistency.STRONG, cluster.now)
    cluster.pump()
    assert not [e for e in events_of(cluster, leader, QueryAnswered) if e.request == request]
    cluster.heal()
    cluster.advance(FAST.heartbeat_interval_ms + 20)
    assert [e for e in events_of(cluster, leader, QueryAnswered) if e.request == request]


# ----------------------------------------------------------- commit rule (D5)


def _leader_with_old_entry(config: RaftConfig) -> tuple[RaftNode, MemoryStorage]:
    """Node a holds an uncommitted term-2 entry and wins term 3 with b's vote."""
    storage = MemoryStorage()
    storage.append([LogEntry(1, EntryKind.COMMAND, put(b"k", b"1", 1))])
    storage.append([LogEntry(2, EntryKind.COMMAND, put(b"k", b"2", 2))])
    storage.set_hard_state(HardState(2, None))
    node = RaftNode(
        A,
        Membership.uniform([A, B, C]),
        storage,
        MapMachine(),
        rng=random.Random(1),
        now_ms=0,
        config=config,
    )
    node.tick(node.next_deadline())
    if node.role is Role.PRECANDIDATE:
        node.receive(B, RequestVoteResponse(3, Vote.GRANTED, prevote=True), node.next_deadline())
    assert node.role is Role.CANDIDATE
    assert node.term == 3
    node.receive(B, RequestVoteResponse(3, Vote.GRANTED, prevote=False), 0)
    assert node.role is Role.LEADER
    node.ready()
    return node, storage


def test_leader_does_not_commit_an_old_term_entry_by_counting() -> None:
    node, storage = _leader_with_old_entry(FAST)
    assert storage.term_at(3) == 3  # the leader's no-op
    node.receive(B, AppendEntriesResponse(3, Vote.GRANTED, True, 2, 1), 0)
    assert node.commit_index == 0  # index 2 (term 2) is on a majority but not committable
    node.receive(B, AppendEntriesResponse(3, Vote.GRANTED, True, 3, 1), 0)
    assert node.commit_index == 3  # the current-term no-op commits, and 2 with it


def test_any_term_commit_switch_restores_mosaiks_rule() -> None:
    node, storage = _leader_with_old_entry(replace(FAST, any_term_commit=True))
    assert storage.last_index() == 2  # no no-op in mosaik's variant
    node.receive(B, AppendEntriesResponse(3, Vote.GRANTED, True, 2, 1), 0)
    assert node.commit_index == 2


# ------------------------------------------------------------- votes (D5)


def _voter(config: RaftConfig, storage: MemoryStorage) -> RaftNode:
    return RaftNode(
        C,
        Membership.uniform([A, B, C]),
        storage,
        MapMachine(),
        rng=random.Random(2),
        now_ms=0,
        config=config,
    )


@pytest.mark.parametrize("volatile", [False, True])
def test_vote_survives_restart_unless_volatile(volatile: bool) -> None:
    config = replace(FAST, volatile_vote=volatile)
    storage = MemoryStorage()
    voter = _voter(config, storage)
    voter.receive(A, RequestVote(5, A, 0, 0, prevote=False), 0)
    out = voter.ready()
    assert out.messages[0].message == RequestVoteResponse(5, Vote.GRANTED, prevote=False)
    restarted = _voter(config, storage)  # crash: only storage survives
    restarted.receive(B, RequestVote(5, B, 0, 0, prevote=False), 0)
    answer = restarted.ready().messages[0].message
    assert isinstance(answer, RequestVoteResponse)
    assert answer.vote is (Vote.GRANTED if volatile else Vote.DENIED)


def test_voter_denies_a_candidate_with_a_stale_log() -> None:
    storage = MemoryStorage()
    storage.append([LogEntry(2, EntryKind.COMMAND, b"x")])
    voter = _voter(FAST, storage)
    voter.receive(A, RequestVote(3, A, 5, 1, prevote=False), 0)
    answer = voter.ready().messages[0].message
    assert answer == RequestVoteResponse(3, Vote.DENIED, prevote=False)


# ---------------------------------------------------------------- pre-vote


@pytest.mark.parametrize("no_prevote", [False, True])
def test_rejoining_node_deposes_leader_only_without_prevote(no_prevote: bool) -> None:
    cluster = LocalCluster([A, B, C], config=replace(FAST, no_prevote=no_prevote))
    leader = cluster.wait_for_leader()
    term = cluster.nodes[leader].term
    loner = next(n for n in (A, B, C) if n != leader)
    cluster.isolate(loner)
    cluster.advance(2000)
    assert (cluster.nodes[loner].term > term) is no_prevote
    cluster.heal()
    cluster.advance(1000)
    deposed = cluster.leader() != leader or cluster.nodes[leader].term != term
    assert deposed is no_prevote
    assert len(cluster.leaders()) == 1


def test_prevote_does_not_raise_terms_of_the_voters() -> None:
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    term = cluster.nodes[leader].term
    other = next(n for n in (A, B, C) if n != leader)
    cluster.nodes[other].receive(B, RequestVote(term + 1, B, 100, term, prevote=True), 0)
    answer = cluster.nodes[other].ready().messages[0].message
    assert answer == RequestVoteResponse(term, Vote.DENIED, prevote=True)  # leader is alive
    assert cluster.nodes[other].term == term


# ----------------------------------------------------------------- observers


def test_observer_replicates_but_never_votes_or_leads() -> None:
    prefs = {D: LeadershipPreference.observer()}
    cluster = LocalCluster([A, B, C, D], config=FAST, preferences=prefs)
    assert cluster.membership.voters == (A, B, C)
    leader = cluster.wait_for_leader()
    request = cluster.submit(leader, [put(b"k", b"v", 1)])
    cluster.advance(200)
    assert result_of(cluster, leader, request) is not None
    machine = cluster.nodes[D].machine
    assert isinstance(machine, MapMachine)
    assert machine.items == {b"k": b"v"}
    responses = [
        m for src, _, m in cluster.sent if src == D and isinstance(m, AppendEntriesResponse)
    ]
    assert responses
    assert all(m.vote is Vote.ABSTAINED for m in responses)
    cluster.isolate(D)
    cluster.advance(3000)
    assert cluster.nodes[D].role is Role.FOLLOWER
    observer = cluster.nodes[D]
    observer.receive(A, RequestVote(observer.term + 1, A, 100, 100, prevote=False), cluster.now)
    answer = observer.ready().messages[0].message
    assert isinstance(answer, RequestVoteResponse)
    assert answer.vote is Vote.ABSTAINED


def test_leader_commits_without_observers_and_without_a_minority() -> None:
    prefs = {D: LeadershipPreference.observer()}
    cluster = LocalCluster([A, B, C, D], config=FAST, preferences=prefs)
    leader = cluster.wait_for_leader()
    slow = next(n for n in (A, B, C) if n != leader)
    cluster.isolate(slow)
    cluster.isolate(D)
    cluster.heal()
    cluster.isolate(slow)
    request = cluster.submit(leader, [put(b"k", b"v", 1)])
    cluster.advance(200)
    assert result_of(cluster, leader, request) is not None


# ----------------------------------------------------------------- snapshots


def test_lagging_follower_catches_up_through_install_snapshot() -> None:
    config = replace(FAST, snapshot_threshold=5)
    cluster = LocalCluster([A, B, C], config=config)
    leader = cluster.wait_for_leader()
    lagging = next(n for n in (A, B, C) if n != leader)
    cluster.crash(lagging)
    for i in range(20):
        cluster.submit(leader, [put(b"k%d" % (i % 3), b"v%d" % i, i + 1)])
        cluster.advance(20)
    assert cluster.storages[leader].first_index() > 2  # compacted
    cluster.sent.clear()
    cluster.restart(lagging)
    cluster.advance(500)
    assert any(isinstance(m, InstallSnapshot) and dst == lagging for _, dst, m in cluster.sent)
    leader_machine = cluster.nodes[leader].machine
    lagging_machine = cluster.nodes[lagging].machine
    assert isinstance(leader_machine, MapMachine)
    assert isinstance(lagging_machine, MapMachine)
    assert lagging_machine.items == leader_machine.items
    assert cluster.nodes[lagging].applied_index == cluster.nodes[leader].commit_index


def test_restart_recovers_state_from_snapshot_and_log() -> None:
    config = replace(FAST, snapshot_threshold=4)
    cluster = LocalCluster([A, B, C], config=config)
    leader = cluster.wait_for_leader()
    for i in range(10):
        cluster.submit(leader, [put(b"k", b"v%d" % i, i + 1)])
        cluster.advance(20)
    cluster.advance(200)
    follower = next(n for n in (A, B, C) if n != leader)
    cluster.crash(follower)
    raft = cluster.restart(follower)
    machine = raft.machine
    assert isinstance(machine, MapMachine)
    snapshot = cluster.storages[follower].snapshot()
    assert snapshot is not None
    assert raft.applied_index == snapshot.index  # snapshot restored before any message
    cluster.advance(300)
    assert machine.items[b"k"] == b"v9"


# ------------------------------------------------------------ log handling


def test_follower_overwrites_only_conflicting_uncommitted_entries() -> None:
    storage = MemoryStorage()
    storage.append([LogEntry(1, EntryKind.COMMAND, put(b"k", b"%d" % i, i)) for i in range(3)])
    storage.append([LogEntry(2, EntryKind.COMMAND, put(b"k", b"stale", 9))])
    follower = _voter(FAST, storage)
    new = LogEntry(3, EntryKind.COMMAND, put(b"k", b"new", 10))
    follower.receive(A, AppendEntries(3, A, 4, 3, (), 0, 1), 0)  # mismatch at 4
    reply = follower.ready().messages[0].message
    assert isinstance(reply, AppendEntriesResponse)
    assert not reply.accepted
    assert storage.last_index() == 3  # only the conflicting entry went
    follower.receive(A, AppendEntries(3, A, 3, 1, (new,), 2, 2), 0)
    reply = follower.ready().messages[0].message
    assert reply == AppendEntriesResponse(3, Vote.GRANTED, True, 4, 2)
    assert storage.entries(1, 4)[-1] == new
    assert follower.commit_index == 2


def test_heartbeat_does_not_commit_unverified_suffix() -> None:
    storage = MemoryStorage()
    storage.append([LogEntry(1, EntryKind.COMMAND, put(b"k", b"%d" % i, i)) for i in range(1, 4)])
    follower = _voter(FAST, storage)
    follower.receive(A, AppendEntries(2, A, 1, 1, (), 3, 1), 0)
    reply = follower.ready().messages[0].message
    assert reply == AppendEntriesResponse(2, Vote.GRANTED, True, 1, 1)
    assert follower.commit_index == 1  # entries 2..3 were not verified by this leader


@pytest.mark.parametrize("no_prevote", [False, True])
def test_stale_messages_are_ignored(no_prevote: bool) -> None:
    storage = MemoryStorage()
    storage.set_hard_state(HardState(4, None))
    follower = _voter(replace(FAST, no_prevote=no_prevote), storage)
    follower.receive(A, RequestVote(3, A, 0, 0, prevote=False), 0)
    follower.receive(A, AppendEntries(3, A, 0, 0, (), 0, 1), 0)
    sent = [o.message for o in follower.ready().messages]
    # mosaik ignores stale leaders; with pre-vote on they learn the newer term
    assert sent == ([] if no_prevote else [AppendEntriesResponse(4, Vote.DENIED, False, 0, 1)])
    assert follower.leader is None
    assert follower.term == 4


def test_membership_rules() -> None:
    with pytest.raises(ValueError, match="at most"):
        Membership(voters=(A, B, C, D, b"e", b"f"), members=(A, B, C, D, b"e", b"f"))
    with pytest.raises(ValueError, match="observers never vote"):
        Membership(voters=(A,), members=(A, B), observers=frozenset({A}))
    with pytest.raises(ValueError, match="not a member"):
        RaftNode(
            D,
            Membership.uniform([A]),
            MemoryStorage(),
            MapMachine(),
            rng=random.Random(0),
            now_ms=0,
        )


def test_node_with_a_higher_term_tells_the_stale_leader() -> None:
    storage = MemoryStorage()
    storage.set_hard_state(HardState(4, None))
    follower = _voter(FAST, storage)
    follower.receive(A, AppendEntries(3, A, 0, 0, (), 0, 7), 0)
    reply = follower.ready().messages[0].message
    assert reply == AppendEntriesResponse(4, Vote.DENIED, False, 0, 7)
    assert follower.term == 4


def test_partitioned_node_with_raised_term_rejoins() -> None:
    """A node that won a pre-vote, raised its term and was then cut off must not stay out."""
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    term = cluster.nodes[leader].term
    other = next(n for n in (A, B, C) if n != leader)
    cluster.isolate(other)
    raft = cluster.nodes[other]
    raft.receive(leader, AppendEntries(term + 1, leader, 0, 0, (), 0, 1), cluster.now)
    assert raft.term == term + 1
    cluster.heal()
    cluster.advance(3000)
    assert len(cluster.leaders()) == 1
    assert len({r.term for r in cluster.nodes.values()}) == 1
    assert len({r.commit_index for r in cluster.nodes.values()}) == 1


def test_leader_sends_before_its_sync_but_counts_itself_only_after() -> None:
    """Thesis §10.2.1: appends may leave before the leader's fsync, its vote may not."""
    cluster = LocalCluster([A, B, C], config=FAST)
    leader = cluster.wait_for_leader()
    cluster.advance(100)
    raft = cluster.nodes[leader]
    follower = next(n for n in cluster.nodes if n != leader)
    request = raft.submit([put(b"k", b"v", 1)], cluster.now)
    early = raft.take_early_messages()
    assert {o.to for o in early} == set(cluster.nodes) - {leader}
    assert all(isinstance(o.message, AppendEntries) and o.message.entries for o in early)
    to_follower = next(o.message for o in early if o.to == follower)
    cluster.nodes[follower].receive(leader, to_follower, cluster.now)
    acks = [o.message for o in cluster.nodes[follower].ready().messages]
    assert any(isinstance(m, AppendEntriesResponse) and m.accepted for m in acks)
    before = raft.commit_index
    for ack in acks:
        raft.receive(follower, ack, cluster.now)
    # One durable follower plus a leader whose own write is not yet synced: no quorum.
    assert raft.commit_index == before
    assert raft.take_early_messages() == []  # nothing new to replicate
    out = raft.ready()  # syncs: now the leader counts itself
    assert raft.commit_index == raft.last_index > before
    assert any(isinstance(e, CommandCommitted) and e.request == request for e in out.events)
    assert not any(isinstance(o.message, AppendEntries) and o.message.entries for o in out.messages)


@pytest.mark.parametrize("synced", [False, True])
def test_a_ready_is_acted_on_only_after_sync_and_advance(tmp_path: Path, synced: bool) -> None:
    """take_ready hands out the step; nothing overlaps it; a crash loses all of it or none."""
    cluster = LocalCluster(
        [A, B, C], config=FAST, storage_factory=lambda n: SqliteStorage(tmp_path / n.decode())
    )
    leader = cluster.wait_for_leader()
    cluster.advance(100)
    raft = cluster.nodes[leader]
    raft.submit([put(b"k", b"v", 1)], cluster.now)
    append = raft.take_early_messages()[0]
    assert isinstance(append.message, AppendEntries) and append.message.entries
    follower = cluster.nodes[append.to]
    before = follower.last_index
    follower.receive(leader, append.message, cluster.now)
    ready = follower.take_ready()
    assert ready.persist  # the append wrote: sync before acting
    ack = ready.messages[0].message
    assert isinstance(ack, AppendEntriesResponse) and ack.accepted
    # Until advance(): no input, no second Ready (the storage may be mid-sync).
    with pytest.raises(RuntimeError):
        follower.receive(leader, append.message, cluster.now)
    with pytest.raises(RuntimeError):
        follower.tick(cluster.now)
    with pytest.raises(RuntimeError):
        follower.take_ready()
    if synced:
        follower.storage.sync()  # durable, then the power fails before advance()
    cluster.crash(append.to)
    cluster.storages[append.to].close()
    cluster.storages[append.to] = SqliteStorage(tmp_path / append.to.decode())
    restarted = cluster.restart(append.to)
    # The whole step or nothing: the entry is there exactly when the sync completed.
    assert restarted.last_index == (before + 1 if synced else before)
    last = restarted.last_index
    heartbeat = AppendEntries(
        raft.term, leader, last, restarted.storage.term_at(last) or 0, (), raft.commit_index, 99
    )
    restarted.receive(leader, heartbeat, cluster.now)
    quiet = restarted.take_ready()
    assert not quiet.persist  # nothing written: the driver skips the sync
    restarted.advance()


def test_lone_voter_sends_nothing_early_before_its_new_term_is_durable() -> None:
    """A sole voter wins in the step that raised its term; no append may precede that sync."""
    prefs = {A: LeadershipPreference.normal(), D: LeadershipPreference.observer()}
    raft = RaftNode(
        A,
        Membership.of(prefs),
        MemoryStorage(),
        MapMachine(),
        rng=random.Random(1),
        now_ms=0,
        config=FAST,
    )
    raft.tick(raft.next_deadline())
    assert raft.is_leader and raft.term == 1
    assert raft.take_early_messages() == []  # term 1 and the vote are not synced yet
    first = raft.ready()
    assert {o.to for o in first.messages if isinstance(o.message, AppendEntries)} == {D}
    raft.submit([put(b"k", b"v", 1)], raft.next_deadline() - 1)
    early = raft.take_early_messages()
    assert [o.to for o in early] == [D]
    assert raft.commit_index < raft.last_index  # not counted before its own sync
    raft.ready()
    assert raft.commit_index == raft.last_index


def test_leader_crash_between_early_send_and_sync_keeps_logs_consistent(tmp_path: Path) -> None:
    """The follower holds an entry its leader lost in the crash; Raft carries on safely."""
    cluster = LocalCluster(
        [A, B, C], config=FAST, storage_factory=lambda n: SqliteStorage(tmp_path / n.decode())
    )
    leader = cluster.wait_for_leader()
    cluster.advance(100)
    raft = cluster.nodes[leader]
    term, before = raft.term, raft.last_index
    raft.submit([put(b"lost?", b"v", 1)], cluster.now)
    early = raft.take_early_messages()
    follower = early[0].to
    cluster.nodes[follower].receive(leader, early[0].message, cluster.now)
    cluster.nodes[follower].ready()  # durable on the follower; its ack never arrives
    assert cluster.nodes[follower].last_index == before + 1
    cluster.crash(leader)  # before ready(): the leader's transaction rolls back
    cluster.storages[leader].close()
    cluster.storages[leader] = SqliteStorage(tmp_path / leader.decode())
    restarted = cluster.restart(leader)
    assert (restarted.term, restarted.voted_for, restarted.last_index) == (term, leader, before)
    cluster.advance(3000)
    now_leader = cluster.wait_for_leader()
    request = cluster.submit(now_leader, [put(b"k", b"after", 2)])
    cluster.advance(500)
    assert result_of(cluster, now_leader, request) is not None
    commit = min(r.commit_index for r in cluster.nodes.values())
    assert commit >= before + 2
    logs = {n: cluster.storages[n].entries(1, commit) for n in cluster.nodes}
    assert logs[A] == logs[B] == logs[C]
    machines = [r.machine for r in cluster.nodes.values()]
    items = [m.items for m in machines if isinstance(m, MapMachine)]
    assert items[0] == items[1] == items[2]
    assert items[0][b"k"] == b"after"
    assert not any(events_of(cluster, n, CommitConflict) for n in cluster.nodes)
    for storage in cluster.storages.values():
        storage.close()
