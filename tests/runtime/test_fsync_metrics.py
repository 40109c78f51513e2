"""Raft fsync latency: measured around every durable commit of the SQLite log and exported as a
Prometheus histogram by each member's /metrics."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from coalition.runtime.metrics import MetricsServer
from pymosaik.groups.raft.log import EntryKind, LogEntry
from pymosaik.groups.storage.sqlite import SYNC_BUCKETS, SqliteStorage


def test_every_commit_is_timed(tmp_path: Path) -> None:
    store = SqliteStorage(tmp_path / "raft.sqlite3")
    try:
        for i in range(1, 6):
            store.append([LogEntry(1, EntryKind.COMMAND, b"x%d" % i)])
            store.sync()
        store.sync()  # nothing pending: no commit, nothing timed
        stats = store.sync_stats
        assert stats.count == 5
        assert stats.total_s > 0
        assert stats.buckets == sorted(stats.buckets)  # cumulative
        assert stats.buckets[-1] <= 5
        doc = stats.as_json()
        assert list(doc["buckets"]) == [str(b) for b in SYNC_BUCKETS]  # type: ignore[arg-type]
    finally:
        store.close()


def test_the_histogram_is_exported() -> None:
    server = MetricsServer("127.0.0.1", 0)
    server.publish(
        {
            "module": "atlas",
            "index": 0,
            "state": "running",
            "module_status": {
                "stream_lag": 7,
                "stream_dropped": 2,
                "fsync": {
                    "count": 3,
                    "sum_s": 0.009,
                    "buckets": {str(b): (0 if b < 0.002 else 3) for b in SYNC_BUCKETS},
                },
            },
        }
    )
    text = generate_latest(server.registry).decode()
    assert 'coalition_raft_fsync_seconds_bucket{index="0",le="0.001",module="atlas"} 0.0' in text
    assert 'coalition_raft_fsync_seconds_bucket{index="0",le="0.005",module="atlas"} 3.0' in text
    assert 'coalition_raft_fsync_seconds_count{index="0",module="atlas"} 3.0' in text
    assert 'coalition_raft_fsync_seconds_sum{index="0",module="atlas"} 0.009' in text
    assert 'coalition_surface_lag{index="0",module="atlas"} 7.0' in text
    assert 'coalition_surface_dropped_total{index="0",module="atlas"} 2.0' in text
