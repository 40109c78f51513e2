"""The short Jepsen campaign: real members on network namespaces, faults, checked history.

Needs root and ``ip netns`` (skipped with the reason otherwise). ``make jepsen`` runs the long
one (docs/operators/runbook.md, "Proving it across hosts").
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jepsen.netns import RUN_DIR, netns_available, sh
from jepsen.runner import ROOT, Campaign, run_campaign

WHY_NOT = netns_available()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"Jepsen campaign: {WHY_NOT}")


def namespaces(prefix: str) -> list[str]:
    return [n for n in sh("ip", "netns", "list").split() if n.startswith(f"{prefix}-")]


def test_short_campaign_injects_faults_and_finds_no_violation(tmp_path: Path) -> None:
    log = io.StringIO()
    campaign = Campaign(
        duration_s=14.0,
        seed=21,  # the nemesis's first picks: a clock jump, a kill, a partition
        faults=("partition-minority", "partition-oneway", "pause", "kill", "lossy", "clock-jump"),
        hold_s=(2.0, 3.0),
        quiet_s=(0.5, 1.5),
        settle_s=5.0,
        workdir=tmp_path,
    )
    report = run_campaign(campaign, log)
    assert report.violations == [], report.text()
    assert len(report.faults) >= 2, report.text()
    assert report.faults[0].startswith("clock-jump"), report.text()
    assert report.ops["upsert"]["ok"] > 10, report.text()
    assert report.ops["append"]["ok"] > 5, report.text()
    assert report.ops["read"] == {"ok": 3}, report.text()  # one final read per Atlas card
    assert report.ops["observed"]["chronicle"] > 0 and report.ops["observed"]["almanac"] > 0
    prefix = Path(report.workdir).name
    assert namespaces(prefix) == []  # the lab is gone
    assert (Path(report.workdir) / "history.jsonl").stat().st_size > 0


def test_a_killed_run_leaves_nothing_running_and_cleanup_removes_the_rest(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "jepsen", "run", "--duration", "60", "--workdir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "[jpXXXX] 9 members on h1, h2, h3"
    assert "members on" in line, line
    prefix = line[1 : line.index("]")]
    inside = [int(p) for ns in namespaces(prefix) for p in sh("ip", "netns", "pids", ns).split()]
    assert len(inside) == 9
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in inside) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in inside)  # members die with the runner (PDEATHSIG)
    assert namespaces(prefix)  # namespaces outlive a SIGKILL …
    done = subprocess.run(
        [sys.executable, "-m", "jepsen", "cleanup"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert prefix in done.stdout
    assert namespaces(prefix) == []  # … until cleanup
    assert not (RUN_DIR / f"{prefix}.pid").exists()
    assert f"{prefix}-br" not in sh("ip", "-o", "link", "show")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
