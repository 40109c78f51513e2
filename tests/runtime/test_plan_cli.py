"""The data directory, the plan and the operator-facing errors of up/status/down (fast)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from unittest import mock

import pytest

from coalition.cli import main
from coalition.config_file import load_coalition
from coalition.runtime.anchoring import ExternalAnchor
from coalition.runtime.files import read_key, write_key
from coalition.runtime.plan import PlanError, create_or_load, default_data_dir, load_plan
from coalition.runtime.supervisor import Supervisor, parse_duration
from pymosaik.primitives import SecretKey
from tests.coalition_cli import cli

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[1] / "examples" / "coalitions"
TRIO = HERE / "trio.toml"


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


def test_plan_runs_the_runnable_modules_it_ships(tmp_path: Path) -> None:
    plan, _ = create_or_load(tmp_path, load_coalition(EXAMPLES / "ethereum-superchain.toml").config)
    assert {p.module for p in plan.processes} == {"atlas", "almanac"}
    bridge, _ = create_or_load(tmp_path / "b", load_coalition(EXAMPLES / "bridge-beta.toml").config)
    assert {p.module for p in bridge.processes} == {"compute"}  # a plugin module (entry point)
    with pytest.raises(PlanError, match="ships none of atlas, almanac, chronicle"):
        create_or_load(tmp_path / "s", load_coalition(EXAMPLES / "searcher-alpha.toml").config)


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
    searcher = str(EXAMPLES / "searcher-alpha.toml")  # ships no module
    check("up", searcher, "--data", str(tmp_path / "b"), needles=("ships none of",))
    check("status", "--data", str(tmp_path), needles=("no coalition data directory",))
    check("down", "--data", str(tmp_path), needles=("no coalition data directory",))
    create_or_load(tmp_path / "x", load_coalition(TRIO).config)
    create_or_load(tmp_path / "y", load_coalition(TRIO).config)
    check("status", "--data", str(tmp_path), needles=("several coalitions",))
    other = str(EXAMPLES / "ethereum-superchain.toml")
    check("up", other, "--data", str(tmp_path / "x"), needles=("holds coalition",))
    key = tmp_path / "anchor.key"
    key.write_text("11" * 32)
    key.chmod(0o644)
    url, contract = "http://127.0.0.1:8545", "0x" + "ab" * 20
    check("up", str(TRIO), "--anchor", "http://x", needles=("--anchor", "URL,CONTRACT,KEYFILE"))
    check("up", str(TRIO), "--anchor", f"{url},0x12,{key}", needles=("not a contract address",))
    check("up", str(TRIO), "--anchor", f"{url},{contract},{key}", needles=("must be 600",))
    key.chmod(0o600)
    both = ("--anchor", f"{url},{contract},{key}", "--no-anchor")
    check("up", str(TRIO), *both, needles=("exclude each other",))
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)  # private, but reading it would block forever
    check("up", str(TRIO), "--anchor", f"{url},{contract},{fifo}", needles=("is a FIFO",))
    # bad --data paths: one line naming the path, nothing created
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    long = str(tmp_path / ("d" * 300))
    for cmd in ("status", "down"):
        check(cmd, "--data", long, needles=(long, "file name too long"))
    check("up", str(TRIO), "--data", long, needles=(long, "file name too long"))
    check("up", str(TRIO), "--data", str(loop), needles=(str(loop), "symbolic links"))
    check("up", str(TRIO), "--data", str(key), needles=(str(key), "not a directory"))
    check("up", str(TRIO), "--data", f"{key}/d", needles=(f"{key}/d", "not a directory"))


def test_up_for_a_bounded_time_with_the_fake_member(
    tmp_path: Path, fake_member_env: dict[str, str]
) -> None:
    """The supervisor alone (no consensus): --for stops it cleanly and prints the table."""
    env = fake_member_env
    data = tmp_path / "fake"
    oracle = EXAMPLES / "oracle-gamma.toml"  # Chronicle only: 3 members
    res = cli("up", str(oracle), "--data", str(data), "--for", "2s", "--no-anchor", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    fingerprint = load_coalition(oracle).config.stable_id().hex()
    assert f"fingerprint {fingerprint}" in res.stdout
    assert "stopped: duration elapsed" in res.stdout
    statuses = [json.loads(p.read_text()) for p in data.glob("*/*/status.json")]
    assert len(statuses) == 3 and {s["state"] for s in statuses} == {"stopped"}
    assert {s["module"] for s in statuses} == {"chronicle"}
    supervisor = json.loads((data / "supervisor.json").read_text())
    assert supervisor["state"] == "stopped"
    assert supervisor["anchor"] == {"mode": "off"} and not (data / "anchor").exists()
    assert not (data / "supervisor.pid").exists()


def test_where_chronicle_members_anchor(tmp_path: Path) -> None:
    """Only Chronicle seats get an anchor; only the simulated mode runs the anchor node."""
    plan, _ = create_or_load(tmp_path / "d", load_coalition(TRIO).config)
    chronicle = next(p for p in plan.processes if p.module == "chronicle")
    almanac = next(p for p in plan.processes if p.module == "almanac")
    simulated = Supervisor(tmp_path / "d", plan)
    assert simulated.anchor_node is not None
    assert "--anchor-info" in simulated._member_argv(chronicle)
    assert not any(a.startswith("--anchor") for a in simulated._member_argv(almanac))
    external = ExternalAnchor("http://127.0.0.1:8545", "0x" + "ab" * 20, tmp_path / "k")
    remote = Supervisor(tmp_path / "d", plan, anchor=external)
    assert remote.anchor_node is None
    assert remote._member_argv(chronicle)[-2:] == external.as_args()
    assert Supervisor(tmp_path / "d", plan, anchor=None)._member_argv(chronicle)[-1] == "0"
    oracle_plan, _ = create_or_load(
        tmp_path / "o", load_coalition(EXAMPLES / "oracle-gamma.toml").config
    )
    assert Supervisor(tmp_path / "o", oracle_plan).anchor_node is not None
    atlas_only = tmp_path / "atlas.toml"
    atlas_only.write_text('instance_name = "a"\n[atlas]\nname = "a.atlas"\n')
    atlas_plan, _ = create_or_load(tmp_path / "a", load_coalition(atlas_only).config)
    assert Supervisor(tmp_path / "a", atlas_plan).anchor is None  # no Chronicle, no node


@pytest.mark.parametrize("attempt", range(4))
def test_racing_ups_one_runs_the_other_is_refused(
    tmp_path: Path, attempt: int, fake_member_env: dict[str, str]
) -> None:
    """Two `up`s started together on a fresh directory: the lock lets exactly one in.

    The loser prints one line naming the winner's pid and exits 2, without writing
    keys or a plan of its own (before the lock this sometimes ended in a traceback or
    in "has keys/ but no plan.json").
    """
    env = fake_member_env
    data = tmp_path / "race"
    argv = [sys.executable, "-m", "coalition", "up", str(EXAMPLES / "oracle-gamma.toml")]
    argv += ["--data", str(data), "--for", "2s", "--no-anchor"]
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.pid, *p.communicate(timeout=60), p.returncode) for p in procs]
    winners = [r for r in results if r[3] == 0]
    losers = [r for r in results if r[3] != 0]
    assert len(winners) == 1 and len(losers) == 1, results
    winner_pid, out, _, _ = winners[0]
    _, _, loser_err, loser_code = losers[0]
    assert "stopped: duration elapsed" in out
    assert loser_code == 2
    assert "Traceback" not in loser_err and len(loser_err.splitlines()) == 1, loser_err
    assert f"a supervisor is already running (pid {winner_pid})" in loser_err
    assert len(load_plan(data).processes) == 3
    assert (data / "supervisor.lock").read_text() == ""  # released: `up` works again
    again = cli("up", *argv[4:], env=env)
    assert again.returncode == 0, again.stderr


def test_up_names_what_it_does_not_run_and_refuses_a_bad_cadence(
    tmp_path: Path, fake_member_env: dict[str, str]
) -> None:
    infer = EXAMPLES / "infer-corp.toml"  # ships a ticket issuer, Atlas and Compute
    done = cli(
        "up",
        str(infer),
        "--data",
        str(tmp_path / "i"),
        "--for",
        "1s",
        "--no-anchor",
        env=fake_member_env,
    )
    assert done.returncode == 0, done.stderr
    assert "not run here: ticket issuer (no committee runtime for them yet)" in done.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(TRIO.read_text().replace("tick_cadence_ms = 500", "tick_cadence_ms = -5"))
    refused = cli("up", str(bad), "--data", str(tmp_path / "b"), "--for", "1s", env=fake_member_env)
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        == "error: almanac tick_cadence_ms must be a positive integer, got -5"
    )
    assert not (tmp_path / "b" / "plan.json").exists()


def test_up_warns_when_the_committees_of_its_data_directory_retired(
    tmp_path: Path, fake_member_env: dict[str, str]
) -> None:
    data = tmp_path / "d"
    first = cli(
        "up", str(TRIO), "--data", str(data), "--for", "1s", "--no-anchor", env=fake_member_env
    )
    assert first.returncode == 0, first.stderr
    assert "retired in this data directory" not in first.stdout
    plan = load_plan(data)
    for p in plan.processes:
        if p.module == "atlas":
            status = data / p.data_dir / "status.json"
            status.write_text(json.dumps({"state": "retired", "module_status": {"retired": True}}))
    again = cli(
        "up", str(TRIO), "--data", str(data), "--for", "1s", "--no-anchor", env=fake_member_env
    )
    assert "warning: atlas retired in this data directory" in again.stdout


def test_a_member_that_cannot_listen_is_reported_with_its_cause(
    tmp_path: Path, fake_member_env: dict[str, str]
) -> None:
    data = tmp_path / "d"
    first = cli(
        "up", str(TRIO), "--data", str(data), "--for", "1s", "--no-anchor", env=fake_member_env
    )
    assert first.returncode == 0, first.stderr
    seat = next(p for p in load_plan(data).processes if p.name == "almanac-2")
    with socket.socket() as squatter:
        squatter.bind((seat.host, seat.port))
        squatter.listen()
        done = cli(
            "up", str(TRIO), "--data", str(data), "--for", "3s", "--no-anchor", env=fake_member_env
        )
        status = cli("status", "--data", str(data), "--json")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines and all(
        line.startswith("error: almanac-2 failed: cannot listen on") for line in lines
    )
    assert "Traceback" not in done.stderr
    member = next(
        m
        for m in json.loads(status.stdout)["committees"]["almanac"]["members"]
        if m["name"] == "almanac-2"
    )
    assert "cannot listen on" in (member["error"] or "")
    log = (data / "supervisor.log").read_text()
    assert "almanac-2 exited with 1 (cannot listen on" in log


def test_logs_prints_each_seat_and_refuses_an_unknown_one(
    tmp_path: Path, fake_member_env: dict[str, str]
) -> None:
    data = tmp_path / "d"
    assert (
        cli(
            "up", str(TRIO), "--data", str(data), "--for", "1s", "--no-anchor", env=fake_member_env
        ).returncode
        == 0
    )
    (data / "supervisor.log").write_text("first\nsecond\nthird\n")
    out = cli("logs", "supervisor", "--data", str(data), "-n", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == ["supervisor     second", "supervisor     third"]
    every = cli("logs", "--data", str(data))
    assert every.returncode == 0 and "supervisor     third" in every.stdout
    bad = cli("logs", "nosuch", "--data", str(data))
    assert bad.returncode == 2 and bad.stderr.startswith("error: no seat 'nosuch'; seats: ")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_each_member_serves_metrics_and_health(
    tmp_path: Path, fake_member_env: dict[str, str]
) -> None:
    data = tmp_path / "d"
    argv = [sys.executable, "-m", "coalition", "up", str(TRIO), "--data", str(data)]
    argv += ["--for", "6s", "--no-anchor"]
    with subprocess.Popen(argv, env=fake_member_env, stdout=subprocess.DEVNULL) as up:
        try:
            deadline = time.monotonic() + 30
            while not (data / "plan.json").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            seat = load_plan(data).processes[0]
            assert seat.metrics_port and seat.metrics_port != seat.port
            base = f"http://{seat.host}:{seat.metrics_port}"
            metrics = health = ""
            while time.monotonic() < deadline:
                try:
                    metrics = urllib.request.urlopen(f"{base}/metrics", timeout=2).read().decode()
                    health = urllib.request.urlopen(f"{base}/health", timeout=2).read().decode()
                except OSError:
                    time.sleep(0.2)
                    continue
                if 'coalition_member_up{index="0",module="atlas"} 1.0' in metrics:
                    break
                time.sleep(0.2)
            assert 'coalition_member_up{index="0",module="atlas"} 1.0' in metrics, metrics[-500:]
            assert "coalition_raft_commit_index" in metrics
            assert json.loads(health)["status"] in ("ready", "degraded")
        finally:
            up.wait(timeout=60)
    assert up.returncode == 0
