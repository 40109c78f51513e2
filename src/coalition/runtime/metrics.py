"""Each member's Prometheus metrics and health endpoint, on its own planned port.

The member's event loop publishes a plain record (the same one it writes to ``status.json``)
every half second; a small HTTP server in a daemon thread reads only that record, never the
live group, so a scrape can neither race the loop nor slow it. ``/metrics`` is the Prometheus
text format (prometheus-client), ``/health`` answers ``ready`` (200), ``degraded`` (200: serving,
but no leader known, repairing a damaged log or anchoring failing) or ``down`` (503).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

#: The record the member last published (``status.json``'s content).
Record = Mapping[str, Any]


def health(record: Record) -> str:
    figures = record.get("module_status") or {}
    if record.get("state") not in ("running", "retiring", "retired"):
        return "down"
    troubled = (
        figures.get("repairing") or figures.get("storage_fault") or figures.get("anchor_error")
    )
    if not figures.get("leader") or troubled:
        return "degraded"
    return "ready"


class _MemberCollector(Collector):
    def __init__(self, source: MetricsServer) -> None:
        self._source = source

    def collect(
        self,
    ) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        rec = self._source.record
        labels = ["module", "index"]
        values = [str(rec.get("module", "")), str(rec.get("index", ""))]
        figures = rec.get("module_status") or {}

        def gauge(name: str, doc: str, value: object) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=labels)
            g.add_metric(values, float(value) if isinstance(value, int | float) else 0.0)
            return g

        yield gauge(
            "coalition_member_up", "1 while the member serves", rec.get("state") == "running"
        )
        yield gauge("coalition_member_healthy", "1 when /health says ready", health(rec) == "ready")
        yield gauge("coalition_raft_term", "Raft term", figures.get("term"))
        yield gauge("coalition_raft_commit_index", "Raft commit index", figures.get("committed"))
        yield gauge("coalition_raft_applied_index", "Raft applied index", figures.get("applied"))
        yield gauge("coalition_raft_is_leader", "1 on the leader", bool(figures.get("is_leader")))
        yield gauge("coalition_raft_bonds", "bonded committee links", figures.get("bonds"))
        yield gauge("coalition_surface_frames", "frames published", figures.get("frames"))
        yield gauge(
            "coalition_surface_lag",
            "frames queued for the slowest reader of the surface",
            figures.get("stream_lag"),
        )
        dropped = CounterMetricFamily(
            "coalition_surface_dropped", "frames readers of the surface missed", labels=labels
        )
        dropped.add_metric(values, float(figures.get("stream_dropped") or 0))
        yield dropped
        yield gauge(
            "coalition_surface_subscribers",
            "readers of the surface (committed count)",
            figures.get("subscribers"),
        )
        yield gauge(
            "coalition_storage_damaged",
            "1 after a damaged record",
            bool(figures.get("storage_fault")),
        )
        yield gauge(
            "coalition_storage_repairing", "1 while catching up", bool(figures.get("repairing"))
        )
        yield gauge(
            "coalition_anchor_failing", "1 while anchoring fails", bool(figures.get("anchor_error"))
        )
        changes = CounterMetricFamily(
            "coalition_raft_leader_changes", "leader changes this member saw", labels=labels
        )
        changes.add_metric(values, float(self._source.leader_changes))
        yield changes
        refused = CounterMetricFamily(
            "coalition_refused_messages",
            "outsider messages dropped before the log",
            labels=[*labels, "reason"],
        )
        for reason, count in (figures.get("refused") or {}).items():
            refused.add_metric([*values, str(reason)], float(count))
        yield refused
        fsync = figures.get("fsync")
        if isinstance(fsync, dict) and isinstance(fsync.get("buckets"), dict):
            hist = HistogramMetricFamily(
                "coalition_raft_fsync_seconds",
                "time of each durable commit of the Raft log (one WAL fsync)",
                labels=labels,
            )
            buckets = [(le, float(n)) for le, n in fsync["buckets"].items()]
            hist.add_metric(
                values,
                [*buckets, ("+Inf", float(fsync.get("count", 0)))],
                float(fsync.get("sum_s", 0.0)),
            )
            yield hist


class MetricsServer:
    """``/metrics`` and ``/health`` for one member; ``publish`` is called from the event loop."""

    def __init__(self, host: str, port: int) -> None:
        self.record: Record = {}
        self.leader_changes = 0
        self._leader: object = None
        self.registry = CollectorRegistry()
        self.registry.register(_MemberCollector(self))
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, ctype, code = (
                        generate_latest(server.registry),
                        "text/plain; version=0.0.4",
                        200,
                    )
                elif self.path == "/health":
                    word = health(server.record)
                    body = json.dumps({"status": word}).encode()
                    ctype, code = "application/json", 503 if word == "down" else 200
                else:
                    body, ctype, code = b"not found\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes are not worth a log line each

        self._http = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def publish(self, record: Record) -> None:
        leader = (record.get("module_status") or {}).get("leader")
        if leader is not None and self._leader is not None and leader != self._leader:
            self.leader_changes += 1
        if leader is not None:
            self._leader = leader
        self.record = dict(record)

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
