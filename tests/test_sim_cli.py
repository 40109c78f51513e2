"""`python -m pymosaik.sim organisms` runs the organisms' campaigns (found by entry point), and a
broken core makes a campaign fail with a replay line."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_the_substrate_cli_runs_every_organism_campaign() -> None:
    res = run("pymosaik.sim", "organisms", "--seeds", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    for name in ("almanac", "chronicle", "composite", "reader", "shuffle", "beacon", "compute"):
        assert f"{name}: seeds=" in res.stdout
    assert "violations=0" in res.stdout
    listing = run("pymosaik.sim", "--help")
    assert "registered campaigns: organisms" in listing.stdout


def test_a_broken_core_fails_its_campaign_with_a_replay_line() -> None:
    res = run("organisms.sim", "chronicle", "--seeds", "2", "--broken", "chronicle-skips")
    assert res.returncode == 1
    assert "replay: python -m organisms.sim chronicle --seed" in res.stdout
