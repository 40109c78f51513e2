"""The data directory, the plan and the operator-facing errors of up/status/down (fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from coalition.cli import main
from coalition.config_file import load_coalition
from coalition.runtime.files import read_key, write_key
from coalition.runtime.member import FAKE_ENV
from coalition.runtime.plan import PlanError, create_or_load, default_data_dir, load_plan
from coalition.runtime.supervisor import parse_duration
from pymosaik.primitives import SecretKey

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[1] / "examples" / "coalitions"
TRIO = HERE / "trio.toml"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalition", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def one_line_error(
    capsys: pytest.CaptureFixture[str], *args: str, needles: tuple[str, ...]
) -> None:
    """Run the console entry point in-process (cheaper than a subprocess per case)."""
    with mock.patch.object(sys, "argv", ["coalition", *args]), pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    assert exc.value.code == 2, captured.out + captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    for needle in needles:
        assert needle in captured.err


@pytest.mark.parametrize(
    ("text", "seconds"), [("20s", 20.0), ("1.5m", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("3", 3.0)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-1s", "10 days", "s", "1e3"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_plan_is_created_once_and_reused(tmp_path: Path) -> None:
    cfg = load_coalition(TRIO).config
    data = tmp_path / "d"
    plan, created = create_or_load(data, cfg)
    assert created
    assert plan.fingerprint == cfg.stable_id().hex()
    assert plan.cadence_ms == 500  # the Almanac's tick_cadence_ms
    assert [(p.module, p.index) for p in plan.processes] == [
        (m, i) for m in ("atlas", "almanac", "chronicle") for i in range(3)
    ]
    for p in plan.processes:
        key = read_key(data / p.key_file)
        assert key.peer_id.hex() == p.peer_id
        assert (data / p.key_file).stat().st_mode & 0o777 == 0o600
        assert (data / p.data_dir).is_dir()
    assert read_key(data / plan.operator_key_file).peer_id.hex() == plan.operator_peer_id
    raw = json.loads((data / "plan.json").read_text("utf-8"))  # JSON an operator can read
    assert raw["instance_name"] == "runtime-trio.test" and "seed" not in json.dumps(raw)
    again, created_again = create_or_load(data, cfg)
    assert not created_again and again == plan == load_plan(data)


def test_default_data_dir_stays_inside_the_root() -> None:
    cfg = load_coalition(EXAMPLES / "oracle-gamma.toml").config
    assert default_data_dir(cfg) == Path(".coalition/oracle-γ")
    for name in ("../escape", "a/b", ".."):
        path = default_data_dir(cfg.replace(instance_name=name), Path("root"))
        assert path.parent == Path("root") and path.name not in ("", ".", "..")


def test_plan_refuses_another_coalitions_directory(tmp_path: Path) -> None:
    create_or_load(tmp_path, load_coalition(TRIO).config)
    other = load_coalition(EXAMPLES / "ethereum-superchain.toml").config
    with pytest.raises(PlanError, match=r"holds coalition 'runtime-trio\.test'"):
        create_or_load(tmp_path, other)


def test_plan_only_runs_atlas_almanac_chronicle(tmp_path: Path) -> None:
    plan, _ = create_or_load(tmp_path, load_coalition(EXAMPLES / "ethereum-superchain.toml").config)
    assert {p.module for p in plan.processes} == {"atlas", "almanac"}
    with pytest.raises(PlanError, match="ships none of atlas, almanac, chronicle"):
        create_or_load(tmp_path / "b", load_coalition(EXAMPLES / "bridge-beta.toml").config)


def test_key_files_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    key = SecretKey.generate()
    write_key(path, key)
    assert read_key(path).peer_id == key.peer_id
    with pytest.raises(FileExistsError):
        write_key(path, SecretKey.generate())  # a key is never overwritten
    path.chmod(0o644)
    with pytest.raises(ValueError, match="must be 600"):
        read_key(path)


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def check(*args: str, needles: tuple[str, ...]) -> None:
        one_line_error(capsys, *args, needles=needles)

    check("up", str(tmp_path / "missing.toml"), needles=("no such file",))
    check("up", str(TRIO), "--for", "soon", needles=("--for", "not a duration"))
    bridge = str(EXAMPLES / "bridge-beta.toml")
    check("up", bridge, "--data", str(tmp_path / "b"), needles=("ships none of",))
    check("status", "--data", str(tmp_path), needles=("no coalition data directory",))
    check("down", "--data", str(tmp_path), needles=("no coalition data directory",))
    create_or_load(tmp_path / "x", load_coalition(TRIO).config)
    create_or_load(tmp_path / "y", load_coalition(TRIO).config)
    check("status", "--data", str(tmp_path), needles=("several coalitions",))
    other = str(EXAMPLES / "ethereum-superchain.toml")
    check("up", other, "--data", str(tmp_path / "x"), needles=("holds coalition",))


def test_up_for_a_bounded_time_with_the_fake_member(tmp_path: Path) -> None:
    """The supervisor alone (no consensus): --for stops it cleanly and prints the table."""
    env = os.environ | {FAKE_ENV: "1"}
    data = tmp_path / "fake"
    oracle = EXAMPLES / "oracle-gamma.toml"  # Chronicle only: 3 members
    res = cli("up", str(oracle), "--data", str(data), "--for", "2s", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    fingerprint = load_coalition(oracle).config.stable_id().hex()
    assert f"fingerprint {fingerprint}" in res.stdout
    assert "stopped: duration elapsed" in res.stdout
    statuses = [json.loads(p.read_text()) for p in data.glob("*/*/status.json")]
    assert len(statuses) == 3 and {s["state"] for s in statuses} == {"stopped"}
    assert {s["module"] for s in statuses} == {"chronicle"}
    assert json.loads((data / "supervisor.json").read_text())["state"] == "stopped"
    assert not (data / "supervisor.pid").exists()
