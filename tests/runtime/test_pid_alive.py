"""Process liveness as status and the supervisor see it: running, zombie, gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from coalition.runtime.files import pid_alive


def test_running_zombie_and_reaped_processes() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(0) and not pid_alive(-1)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while pid_alive(child.pid):  # exits, then lingers as a zombie until reaped: not alive
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert child.poll() is not None
    assert not pid_alive(child.pid)  # reaped
