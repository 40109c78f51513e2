"""`coalition up` runs the Randomness module of an example coalition (an entry-point plugin)
next to the basic services, and `coalition status --json` shows its beacon round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coalition.runtime.member import START_MEMBER_ENV

BEACON = Path(__file__).parents[2] / "examples" / "coalitions" / "local-beacon.toml"

pytestmark = pytest.mark.slow


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != START_MEMBER_ENV}
    return subprocess.run(
        [sys.executable, "-m", "coalition", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def test_up_runs_the_beacon_and_status_shows_its_round(tmp_path: Path) -> None:
    data = tmp_path / "beacon"
    up = cli("up", str(BEACON), "--data", str(data), "--for", "18s", "--no-anchor")
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    assert "not run here" not in up.stdout  # every shipped module ran
    status = cli("status", "--data", str(data), "--json")
    doc = json.loads(status.stdout)
    rows = doc["committees"]
    assert set(rows) == {"atlas", "almanac", "chronicle", "randomness"}
    assert rows["randomness"]["figures"]["beacon_round"] >= 1
    assert len(list((data / "randomness").rglob("keygen.seed"))) == 3  # one per member
