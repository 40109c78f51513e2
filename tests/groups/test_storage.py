"""Log storage: both stores behave alike; SQLite recovers what was synced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp
from pymosaik.groups.raft import EntryKind, HardState, LogEntry, RaftConfig, Snapshot
from pymosaik.groups.storage import LogStorage, MemoryStorage, SqliteStorage
from pymosaik.primitives import encode
from pymosaik.sim.cluster import LocalCluster


def entry(term: int, data: bytes = b"x") -> LogEntry:
    return LogEntry(term, EntryKind.COMMAND, data)


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], LogStorage]:
    if request.param == "memory":
        return MemoryStorage
    return lambda: SqliteStorage(tmp_path / "log.db")


def test_append_truncate_and_terms(make_store: Callable[[], LogStorage]) -> None:
    store = make_store()
    assert (store.first_index(), store.last_index(), store.term_at(0)) == (1, 0, 0)
    store.append([entry(1), entry(1), entry(2, b"y")])
    assert store.last_index() == 3
    assert [store.term_at(i) for i in range(5)] == [0, 1, 1, 2, None]
    assert store.entries(2, 3) == [entry(1), entry(2, b"y")]
    store.truncate_from(2)
    assert store.last_index() == 1
    store.append([entry(3)])
    assert store.entries(1, 2) == [entry(1), entry(3)]
    with pytest.raises(IndexError):
        store.entries(1, 3)


def test_snapshot_keeps_a_consistent_suffix(make_store: Callable[[], LogStorage]) -> None:
    store = make_store()
    store.append([entry(1), entry(1), entry(2), entry(2)])
    store.save_snapshot(Snapshot(2, 1, b"img"))
    assert (store.first_index(), store.last_index()) == (3, 4)
    assert store.term_at(2) == 1
    assert store.term_at(1) is None
    assert store.entries(3, 4) == [entry(2), entry(2)]
    with pytest.raises(IndexError):
        store.truncate_from(2)


def test_installed_snapshot_discards_a_conflicting_log(
    make_store: Callable[[], LogStorage],
) -> None:
    store = make_store()
    store.append([entry(1), entry(1)])
    store.save_snapshot(Snapshot(5, 3, b"img"))
    assert (store.first_index(), store.last_index()) == (6, 5)
    assert store.term_at(5) == 3
    store.append([entry(3)])
    assert store.last_index() == 6


def test_sqlite_recovers_everything_synced(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = SqliteStorage(path)
    store.set_hard_state(HardState(7, b"n2"))
    store.append([entry(1), entry(2), entry(7, b"z")])
    store.save_snapshot(Snapshot(1, 1, b"image"))
    store.sync()
    store.append([entry(7, b"unsynced")])
    store.set_hard_state(HardState(8, None))
    store.close()  # a crash before sync: the last step is lost

    again = SqliteStorage(path)
    assert again.hard_state() == HardState(7, b"n2")
    assert again.snapshot() == Snapshot(1, 1, b"image")
    assert (again.first_index(), again.last_index()) == (2, 3)
    assert again.entries(2, 3) == [entry(2), entry(7, b"z")]
    again.truncate_from(3)
    again.sync()
    again.close()
    third = SqliteStorage(path)
    assert third.last_index() == 2
    journal = third._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    third.close()


def test_group_survives_full_restart_on_sqlite(tmp_path: Path) -> None:
    config = RaftConfig(
        heartbeat_interval_ms=50,
        heartbeat_jitter_ms=10,
        election_timeout_ms=200,
        election_jitter_ms=100,
        bootstrap_delay_ms=100,
        snapshot_threshold=6,
    )
    names = [b"a", b"b", b"c"]

    def open_store(name: bytes) -> SqliteStorage:
        return SqliteStorage(tmp_path / f"{name.decode()}.db")

    cluster = LocalCluster(names, config=config, storage_factory=open_store)
    leader = cluster.wait_for_leader()
    for i in range(15):
        command = encode(MapCommand(b"t", i + 1, MapOp.PUT, b"k%d" % (i % 4), b"v%d" % i))
        cluster.submit(leader, [command])
        cluster.advance(20)
    cluster.advance(200)
    terms = {n: cluster.nodes[n].term for n in names}
    expected = cluster.nodes[leader].machine
    assert isinstance(expected, MapMachine)
    items = dict(expected.items)
    for name in names:
        cluster.crash(name)
        cluster.storages[name].close()

    reopened = LocalCluster(names, config=config, storage_factory=open_store, seed=1)
    for name in names:
        raft = reopened.nodes[name]
        assert raft.term == terms[name]
        assert reopened.storages[name].snapshot() is not None
    reopened.wait_for_leader()
    reopened.advance(300)
    for name in names:
        machine = reopened.nodes[name].machine
        assert isinstance(machine, MapMachine)
        assert machine.items == items
