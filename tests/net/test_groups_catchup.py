"""Real processes: a member killed while the others keep writing restarts from its SQLite
log and catches up — by log replay, or by snapshot once the leader has compacted past it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pymosaik.transport.ports import free_ports

from .test_groups_kill9 import MEMBER


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [0, 16])
def test_lagging_member_process_catches_up(tmp_path: Path, threshold: int) -> None:
    ports = free_ports(3)
    arg = ",".join(map(str, ports))

    def spawn(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(MEMBER), str(i), arg, str(tmp_path), str(threshold)],
            stderr=subprocess.DEVNULL,
        )

    def acks(i: int) -> int:
        path = tmp_path / f"acks-{i}.txt"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def wait_for(predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 60  # generous: process start-up on a loaded machine
        while not predicate():
            assert time.monotonic() < deadline, "the group stopped committing"
            time.sleep(0.1)

    procs = [spawn(i) for i in range(3)]
    try:
        wait_for(lambda: acks(2) >= 10)
        procs[2].send_signal(signal.SIGKILL)
        procs[2].wait()
        # The others write on; with a threshold they compact past member 2.
        behind = acks(0) + 2 * max(threshold, 20)
        wait_for(lambda: acks(0) >= behind)
        restarted_at = acks(2)
        procs[2] = spawn(2)
        wait_for(lambda: acks(2) >= restarted_at + 10)  # back online, writing again
        time.sleep(1.0)
        (tmp_path / "stop").write_text("")
        for p in procs:
            assert p.wait(timeout=60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    acked: dict[str, str] = {}
    for i in range(3):
        for line in (tmp_path / f"acks-{i}.txt").read_text().splitlines():
            key, value = line.split()
            acked[key] = value
    state = json.loads((tmp_path / "dump-2.json").read_text())
    missing = [k for k, v in acked.items() if state.get(k) != v]
    assert not missing, f"the restarted member lacks {len(missing)} writes: {missing[:5]}"
    installed = int((tmp_path / "restores-2.txt").read_text())
    if threshold:
        assert installed >= 1  # behind the compaction point: InstallSnapshot
    else:
        assert installed == 0  # no compaction: log replay only
