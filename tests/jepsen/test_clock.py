"""The clock shim the nemesis jumps wall clocks with: wall time moves, monotonic does not."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jepsen.clock import HostClocks, build_shim

PROBE = """
import json, time
wall0, mono0 = time.time(), time.monotonic()
time.sleep(0.6)
print(json.dumps([wall0, time.time(), mono0, time.monotonic()]))
"""


def test_members_see_their_hosts_wall_clock_jump_and_timers_keep_running(tmp_path: Path) -> None:
    lib, why = build_shim(tmp_path / "shim")
    if lib is None:
        pytest.skip(why)
    clocks = HostClocks(lib, tmp_path / "clock", ["h1", "h2"])
    clocks.set("h1", -300_000)
    env = {**clocks.env("h1"), "PATH": "/usr/bin:/bin"}
    before = time.time()
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    wall0, wall1, mono0, mono1 = json.loads(out.stdout)
    assert abs((wall0 - before) + 300) < 5  # five minutes behind the real clock
    assert 0.5 < mono1 - mono0 < 5 and 0.5 < wall1 - wall0 < 5  # sleep and timers unaffected
    assert clocks.offsets == {"h1": -300_000, "h2": 0}
    clocks.reset_all()
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert abs(json.loads(out.stdout)[0] - time.time()) < 5  # healed
