"""Real processes (3 and 5 members), `kill -9` of random members (the leader included) under
a steady write load, restarts from durable storage: every acknowledged write is on every member
afterwards."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pymosaik.transport.ports import free_ports

MEMBER = Path(__file__).with_name("raft_member.py")


@pytest.mark.slow
@pytest.mark.parametrize("n", [3, 5])
def test_kill9_members_under_load_loses_no_acknowledged_write(tmp_path: Path, n: int) -> None:
    ports = free_ports(n)
    arg = ",".join(map(str, ports))

    def spawn(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(MEMBER), str(i), arg, str(tmp_path)],
            stderr=subprocess.DEVNULL,
        )

    procs = [spawn(i) for i in range(n)]
    rng = random.Random(9)
    kills = leader_kills = 0
    try:
        time.sleep(2.0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            leaders = [
                i
                for i in range(n)
                if (tmp_path / f"leader-{i}").exists()
                and (tmp_path / f"leader-{i}").read_text() == "1"
            ]
            victim = leaders[0] if leaders and kills % 2 == 0 else rng.randrange(n)
            leader_kills += victim in leaders
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            kills += 1
            time.sleep(rng.uniform(0.3, 0.8))
            procs[victim] = spawn(victim)
            time.sleep(rng.uniform(0.8, 1.5))
        (tmp_path / "stop").write_text("")
        for p in procs:
            assert p.wait(timeout=60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    acked: dict[str, str] = {}
    for i in range(n):
        for line in (tmp_path / f"acks-{i}.txt").read_text().splitlines():
            key, value = line.split()
            acked[key] = value
    assert kills >= 4
    assert leader_kills >= 1
    assert len(acked) > 50  # the load kept committing through the kills
    for i in range(n):
        state = json.loads((tmp_path / f"dump-{i}.json").read_text())
        missing = [k for k, v in acked.items() if state.get(k) != v]
        assert not missing, f"member {i} lost {len(missing)} acknowledged writes: {missing[:5]}"
    print(f"kills={kills} leader_kills={leader_kills} acknowledged={len(acked)}")
