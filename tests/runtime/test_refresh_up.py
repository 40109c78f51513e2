"""`coalition refresh randomness` against a real `coalition up` (member processes, real sockets):
the operator's command opens a key refresh through the beacon committee's intake, status counts
it once every member dealt, the beacon keeps producing rounds, and a second refresh later is
taken too (each command is signed for its own time)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.coalition_cli import cli, start_up, status

pytestmark = pytest.mark.slow

BEACON_ONLY = """\
instance_name = "refresh-up.test"

[randomness]
name = "refresh-up.randomness"

[randomness.content.params]
period_ms = 500
threshold = 2
"""


def beacon_figures(data: Path) -> dict[str, int]:
    doc = status(data)
    figures = doc.get("committees", {}).get("randomness", {}).get("figures", {})  # type: ignore[union-attr]
    return figures if isinstance(figures, dict) else {}


def wait_for(data: Path, key: str, at_least: int, seconds: float) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    figures: dict[str, int] = {}
    while time.monotonic() < deadline:
        figures = beacon_figures(data)
        if (figures.get(key) or 0) >= at_least:
            return figures
        time.sleep(0.5)
    raise AssertionError(f"{key} never reached {at_least}: {figures}")


def test_refresh_randomness_on_a_running_deployment(tmp_path: Path) -> None:
    file = tmp_path / "beacon.toml"
    file.write_text(BEACON_ONLY, "utf-8")
    data = tmp_path / "data"
    log = (tmp_path / "up.log").open("w")
    up = start_up(file, data, log)
    try:
        wait_for(data, "beacon_round", 1, 60)
        first = cli("refresh", "randomness", "--data", str(data))
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("randomness of refresh-up.test: key refresh opened at log")
        assert "every share moves, the group key stays" in first.stdout
        figures = wait_for(data, "key_refreshes", 1, 30)
        assert figures["bad_partials"] == 0
        second = cli("refresh", "randomness", "--data", str(data), "--json")
        assert second.returncode == 0, second.stdout + second.stderr
        doc = json.loads(second.stdout)
        index = int(first.stdout.split("log index ")[1].split(";")[0])
        assert doc["module"] == "randomness" and doc["opened_at"] > index
        figures = wait_for(data, "key_refreshes", 2, 30)
        after = figures["beacon_round"]
        figures = wait_for(data, "beacon_round", after + 2, 15)  # the beacon goes on
        assert figures["bad_partials"] == 0
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)
        log.close()
    assert up.returncode == 0, (tmp_path / "up.log").read_text()[-2000:]
