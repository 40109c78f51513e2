"""`coalition up` runs all five basic services of an example coalition — the Randomness and
Compute modules are entry-point plugins, Compute with its shuffle — and `coalition status
--json` shows the beacon's round and the Compute committee's figures, the shuffle's included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coalition.runtime.member import START_MEMBER_ENV

BEACON = Path(__file__).parents[2] / "examples" / "coalitions" / "local-beacon.toml"

pytestmark = pytest.mark.slow


def status(data: Path) -> dict[str, object]:
    res = subprocess.run(
        [sys.executable, "-m", "coalition", "status", "--data", str(data), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return json.loads(res.stdout) if res.stdout.strip() else {}


def test_up_runs_all_five_services_and_status_shows_the_beacon_round(tmp_path: Path) -> None:
    data = tmp_path / "beacon"
    env = {k: v for k, v in os.environ.items() if k != START_MEMBER_ENV}
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen(
        [sys.executable, "-m", "coalition", "up", str(BEACON), "--data", str(data), "--no-anchor"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    rows: dict[str, dict[str, object]] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            doc = status(data)
            rows = doc.get("committees", {}) if doc else {}  # type: ignore[assignment]
            figures = rows.get("randomness", {}).get("figures", {})
            shuffle = rows.get("compute", {}).get("figures", {})
            if (
                isinstance(figures, dict)
                and figures.get("beacon_round", 0) >= 2
                and isinstance(shuffle, dict)
                and shuffle.get("unseal_ready") == 1
            ):
                break
            time.sleep(1)
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)
        log.close()
    assert up.returncode == 0, (tmp_path / "up.log").read_text()[-2000:]
    assert "not run here" not in (tmp_path / "up.log").read_text()  # every shipped module ran
    assert set(rows) == {"atlas", "almanac", "chronicle", "randomness", "compute"}
    assert rows["randomness"]["figures"]["beacon_round"] >= 2  # type: ignore[index]
    assert rows["compute"]["figures"]["compute_providers"] == 0  # type: ignore[index]
    # the module's shuffle ran its key generation; no client yet, so no round
    assert rows["compute"]["figures"]["unseal_ready"] == 1  # type: ignore[index]
    assert rows["compute"]["figures"]["unseal_lag"] == 0  # type: ignore[index]
    assert rows["compute"]["figures"]["shuffle_round"] == 0  # type: ignore[index]
    assert len(list((data / "compute").rglob("unseal.seed"))) == 3
    assert len(list((data / "randomness").rglob("keygen.seed"))) == 3  # one per member
