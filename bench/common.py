"""Helpers shared by the benchmarks: ports, percentiles, message stamps, result files."""

from __future__ import annotations

import json
import os
import platform
import socket
import struct
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
MSG_SIZE = 256
_STAMP = struct.Struct("<QI")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_message(seq: int, size: int = MSG_SIZE) -> bytes:
    """``size`` bytes: monotonic send time (ns), sequence number, zero padding."""
    head = _STAMP.pack(time.monotonic_ns(), seq)
    return head + bytes(size - len(head))


def read_stamp(msg: bytes) -> tuple[int, int]:
    sent_ns, seq = _STAMP.unpack_from(msg)
    return sent_ns, seq


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def _cpus() -> int:
    return len(os.sched_getaffinity(0))
