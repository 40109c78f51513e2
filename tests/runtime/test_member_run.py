"""``coalition plan`` and ``coalition member run``: one member on its own host."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
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
from coalition.runtime.hosts import member_spec, plan_hosts
from coalition.runtime.plan import PlanError
from pymosaik.transport.ports import free_ports

HERE = Path(__file__).parent
TRIO = HERE / "trio.toml"
HOSTS = '[hosts.a]\naddress = "127.0.0.1"\n[hosts.b]\naddress = "127.0.0.2"\n'


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with mock.patch.object(sys, "argv", ["coalition", *args]), pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


@pytest.fixture
def planned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(f"base_port = {free_ports(1, '127.0.0.1')[0]}\n{HOSTS}")
    code, out, err = run_main(capsys, "plan", str(TRIO), str(hosts), "--out", str(tmp_path / "p"))
    assert code == 0, err
    assert "wrote" in out
    return tmp_path / "p"


def seat_argv(plan: Path, host: str, seat: str, data: Path) -> list[str]:
    args = shlex.split((plan / host / f"{seat}.args").read_text())
    return [
        *("member", "run", str(TRIO), "--key", str(plan / host / f"{seat}.key")),
        *("--operator-key", str(plan / host / "operator.key"), "--data", str(data), *args),
    ]


def test_plan_deals_seats_round_robin_and_each_args_file_names_the_whole_committee(
    planned: Path,
) -> None:
    assert sorted(p.name for p in planned.iterdir()) == ["a", "b"]
    a = sorted(p.name for p in (planned / "a").iterdir())
    assert "operator.key" in a and "atlas-0.key" in a and "atlas-2.args" in a
    assert "atlas-1.key" in {p.name for p in (planned / "b").iterdir()}
    assert (planned / "a" / "atlas-0.key").stat().st_mode & 0o077 == 0
    args = shlex.split((planned / "a" / "atlas-0.args").read_text())
    peers = [args[i + 1] for i, a in enumerate(args) if a == "--peer"]
    assert len(peers) == 8  # every other seat of the three committees
    port = args[3].split(":")[1]  # atlas-1 is the first seat on b, as atlas-0 is on a
    assert any(p.startswith("atlas-1=") and p.endswith(f"@127.0.0.2:{port}") for p in peers)
    # the spec a member builds from these flags puts its own committee in seat order
    cfg = load_coalition(TRIO).config
    spec = member_spec(
        cfg,
        seat="atlas-0",
        key_file=planned / "a" / "atlas-0.key",
        operator_key_file=planned / "a" / "operator.key",
        listen=args[3],
        peers=peers,
        data_dir=planned / "d",
    )
    assert len(spec.committee) == 3
    assert spec.committee[0].peer_id == spec.key.peer_id
    assert len(spec.bootstrap) == 6


def test_plan_refuses_to_overwrite_keys(planned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = planned.parent / "hosts.toml"
    code, _, err = run_main(capsys, "plan", str(TRIO), str(hosts), "--out", str(planned))
    assert code == 2
    assert err.count("\n") == 1 and "refusing to overwrite keys" in err


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (("--seat", "compute-0"), "unknown seat 'compute-0'"),
        (("--seat", "atlas"), "unknown seat 'atlas'"),
        (("--listen", "0.0.0.0:7000"), "not a wildcard"),
        (("--listen", "localhost"), "is not HOST:PORT"),
        (("--key", "/nonexistent/k.key"), "/nonexistent/k.key"),
        (("--peer", "nothex@127.0.0.1:1"), "64-hex peer id"),
    ],
)
def test_bad_member_run_input_is_one_line(
    planned: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    needle: str,
) -> None:
    argv = seat_argv(planned, "a", "atlas-0", tmp_path / "m")
    flag = change[0]
    if flag == "--peer":
        argv = [a for a in argv if a != "--peer" and "@" not in a] + list(change)
    else:
        argv[argv.index(flag) + 1] = change[1]
    code, _, err = run_main(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert needle in err


def test_member_spec_refuses_a_seat_given_twice(planned: Path) -> None:
    cfg = load_coalition(TRIO).config
    seats = plan_hosts(cfg, {"a": "127.0.0.1"})
    with pytest.raises(PlanError, match="given twice"):
        member_spec(
            cfg,
            seat="atlas-0",
            key_file=planned / "a" / "atlas-0.key",
            operator_key_file=planned / "a" / "operator.key",
            listen="127.0.0.1:9",
            peers=[seats[1].peer_arg(), seats[1].peer_arg()],
            data_dir=planned / "d",
        )


def test_member_run_serves_status_and_metrics_then_stops_on_sigterm(
    planned: Path,
    tmp_path: Path,
    fake_member_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "m"
    argv = seat_argv(planned, "a", "atlas-0", data)
    metrics = argv[argv.index("--metrics") + 1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "coalition", *argv],
        env=fake_member_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        state = None
        while state != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            with contextlib.suppress(OSError, ValueError):
                state = json.loads((data / "status.json").read_text())["state"]
        assert state == "running"
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as reply:
            assert b"coalition_member_up" in reply.read()
        # the test double reports a leader: healthy, exit 0
        code, shown, _ = run_main(capsys, "member", "status", "--data", str(data))
        assert code == 0 and shown.startswith("atlas-0 healthy"), shown
        # a second member on the same address: one line naming the cause, exit 1
        again = list(argv)
        again[again.index("--data") + 1] = str(tmp_path / "x")
        taken = subprocess.run(
            [sys.executable, "-m", "coalition", *again],
            env=fake_member_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert json.loads((data / "status.json").read_text())["state"] == "stopped"
    code, shown, _ = run_main(capsys, "member", "status", "--data", str(data), "--json")
    assert code == 2 and json.loads(shown)["health"] == "not-running"
    assert all(json.loads(line)["seat"] == "atlas-0" for line in stderr.splitlines())
    assert taken.returncode == 1
    errors = [line for line in taken.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "cannot" in errors[0] and "Traceback" not in taken.stderr


def test_port_taken_before_start_is_named(
    planned: Path, tmp_path: Path, fake_member_env: dict[str, str]
) -> None:
    argv = seat_argv(planned, "a", "atlas-0", tmp_path / "m")
    host, port = argv[argv.index("--listen") + 1].split(":")
    with socket.socket() as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        done = subprocess.run(
            [sys.executable, "-m", "coalition", *argv],
            env=fake_member_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: atlas-0: cannot listen on {host}:{port}: address already in use"]


@pytest.mark.parametrize(
    ("status", "word", "code"),
    [
        ({"state": "running", "module_status": {"leader": "ab"}}, "healthy", 0),
        ({"state": "running", "module_status": {"leader": None}}, "degraded", 1),
        ({"state": "running", "module_status": {"leader": "ab", "repairing": True}}, "degraded", 1),
        ({"state": "running", "error": "cannot listen", "module_status": {}}, "degraded", 1),
        ({"state": "stopped", "module_status": {"leader": "ab"}}, "not-running", 2),
        (None, "not-running", 2),
    ],
)
def test_member_status_words_and_exit_codes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: dict[str, object] | None,
    word: str,
    code: int,
) -> None:
    if status is not None:  # this test's own process stands in for the member's
        (tmp_path / "status.json").write_text(json.dumps({**status, "pid": os.getpid()}))
    got, shown, _ = run_main(capsys, "member", "status", "--data", str(tmp_path), "--json")
    assert (got, json.loads(shown)["health"]) == (code, word)


def test_member_status_of_a_dead_process_is_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    running = {"state": "running", "pid": gone.pid, "module_status": {"leader": "ab"}}
    (tmp_path / "status.json").write_text(json.dumps(running))
    got, shown, _ = run_main(capsys, "member", "status", "--data", str(tmp_path))
    assert got == 2 and "not-running" in shown
