"""`coalition up / status / down` end to end: real member processes on loopback.

One supervisor runs the trio coalition (Atlas, Almanac, Chronicle; 9 members)
through the scenario in order: leaders elected; one member killed with
SIGKILL keeps the committee serving and is restarted; a killed majority stalls
the committee, which resumes with its history intact once the supervisor has
restarted the members; ``down`` leaves no process behind; ``up`` again on the
same data directory keeps keys, ports and state; ``down --retire`` commits the
retirement markers. Chronicle anchors its sealed head on the simulated anchor
node (checked over JSON-RPC against the entry read from the network), again after
the node is killed with a member and restarted, and again on the fresh chain of a
restarted ``up``. The tests share the running coalition and run in file order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from coalition.cli import main
from coalition.config_file import load_coalition
from coalition.modules import ModuleKind
from coalition.runtime.anchoring import ANCHOR_INFO
from coalition.runtime.files import pid_alive
from coalition.runtime.member import START_MEMBER_ENV
from coalition.runtime.plan import load_plan
from coalition.runtime.status import Snapshot, collect
from coalition.services.anchor import EvmAnchor
from coalition.services.anchor_node import read_info
from coalition.services.chronicle_log import ChronicleEntry, MembershipChanged
from coalition.services.committees import Chronicle
from pymosaik import UniqueId
from pymosaik.network import Network

TRIO = Path(__file__).parent / "trio.toml"
#: The supervisor waits this long before the first restart of a dead member, so a
#: killed majority is observably stalled before it comes back.
BACKOFF_S = 3.0
DEADLINE_S = 45.0

pytestmark = pytest.mark.slow


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != START_MEMBER_ENV}
    return subprocess.run(
        [sys.executable, "-m", "coalition", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=env,
    )


class Running:
    """A `coalition up` subprocess and helpers to read its data directory."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.log = (data.parent / f"up-{time.monotonic_ns()}.log").open("w")
        env = {k: v for k, v in os.environ.items() if k != START_MEMBER_ENV}
        args = ["up", str(TRIO), "--data", str(data), "--backoff", str(BACKOFF_S), "--grace", "5"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coalition", *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def snap(self) -> Snapshot:
        return collect(self.data, load_plan(self.data))

    def wait(self, what: str, cond: Callable[[Snapshot], bool]) -> Snapshot:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the supervisor exited"
            if (self.data / "plan.json").exists() and cond(snap := self.snap()):
                return snap
            time.sleep(0.25)
        pytest.fail(f"timed out waiting for {what}: {self.snap().as_json()}")

    def member_pids(self) -> list[int]:
        pids = []
        for status in self.data.glob("*/*/status.json"):
            pid = json.loads(status.read_text()).get("pid")
            if isinstance(pid, int):
                pids.append(pid)
        return pids


def committee(snap: Snapshot, module: str) -> Any:
    return next(c for c in snap.committees if c.module == module)


def all_led(snap: Snapshot) -> bool:
    return len(snap.committees) == 3 and all(c.up == 3 and c.leader for c in snap.committees)


def seq(snap: Snapshot) -> int:
    return int(committee(snap, "almanac").figures.get("almanac_seq", -1))


def anchored(snap: Snapshot) -> int:
    return int(committee(snap, "chronicle").figures.get("anchored_seq", -1))


def chain_latest(data: Path) -> tuple[int, UniqueId] | None:
    """``latest(chronicle)`` of the ChronicleAnchor contract, over JSON-RPC."""
    info = read_info(data / ANCHOR_INFO)
    chronicle = load_plan(data).coalition().module_root(ModuleKind.CHRONICLE)
    assert chronicle is not None
    return EvmAnchor.json_rpc(info.url, info.contract, info.private_key).latest(chronicle)


def wait_chain(data: Path, what: str, cond: Callable[[tuple[int, UniqueId] | None], bool]) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    latest: tuple[int, UniqueId] | None = None
    while time.monotonic() < deadline:
        try:
            latest = chain_latest(data)
        except (OSError, ValueError):
            latest = None  # the node is (re)starting
        if cond(latest):
            return latest
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}: chain says {latest}")


def read_head(data: Path) -> ChronicleEntry:
    """The Chronicle's newest sealed entry, read from the running committee like a client."""
    plan = load_plan(data)

    async def read() -> ChronicleEntry:
        net = await Network.create(
            UniqueId.from_hex(plan.network_id), bootstrap=[p.endpoint() for p in plan.processes]
        )
        try:
            async with Chronicle.read(net, plan.coalition(), timeout_s=20) as reader:
                return await reader.ready()
        finally:
            await net.close()

    return asyncio.run(read())


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and pid_alive(int(proc.name)):
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("runtime") / "trio"
    yield path
    for pid in processes_mentioning(str(path)):  # never leave processes behind
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def running(data: Path) -> Iterator[Running]:
    run = Running(data)
    yield run
    if run.proc.poll() is None:
        run.proc.terminate()
        run.proc.wait(30)


def test_up_elects_a_leader_in_every_committee(
    running: Running, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = running.wait("three led committees", all_led)
    assert [c.module for c in snap.committees] == ["atlas", "almanac", "chronicle"]
    plan = json.loads((data / "plan.json").read_text())
    assert len(plan["processes"]) == 9
    assert len({p["port"] for p in plan["processes"]}) == 9
    keys = sorted((data / "keys").iterdir())
    assert len(keys) == 10 and all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    # the module figures come from the real committees
    running.wait("atlas cards and a ticking almanac", lambda s: seq(s) >= 1)
    atlas = committee(
        running.wait(
            "atlas cards", lambda s: committee(s, "atlas").figures.get("atlas_members") == 3
        ),
        "atlas",
    )
    assert atlas.figures["atlas_members"] == 3
    res = cli("status", "--data", str(data))
    assert res.returncode == 0, res.stderr
    assert "almanac" in res.stdout and "3/3" in res.stdout
    # a second supervisor on the same directory is refused before it spawns anything
    argv = ["coalition", "up", str(TRIO), "--data", str(data)]
    with mock.patch.object(sys, "argv", argv), pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "already running" in capsys.readouterr().err


ANCHORED: dict[str, Any] = {}


def test_chronicle_anchors_its_head_on_the_simulated_chain(running: Running, data: Path) -> None:
    snap = running.wait("an anchored chronicle head", lambda s: anchored(s) >= 0)
    assert snap.anchor is not None and snap.anchor.mode == "simulated" and snap.anchor.up
    info = data / ANCHOR_INFO
    assert info.stat().st_mode & 0o777 == 0o600
    assert json.loads(info.read_text())["simulated"] is True
    head = read_head(data)
    seq = anchored(snap)
    assert head.seq >= seq
    # what the contract holds is the digest of the sealed entry at the anchored seq
    latest = wait_chain(data, "the anchor on chain", lambda x: x is not None and x[0] >= seq)
    if head.seq == latest[0]:
        assert latest[1] == head.digest()
    assert latest[0] == anchored(running.snap())
    ANCHORED.update(seq=latest[0], digest=latest[1], head=head)
    assert "anchored" in cli("status", "--data", str(data)).stdout


def test_republish_records_the_transition_in_the_chronicle(
    running: Running, data: Path, tmp_path: Path
) -> None:
    before = int(committee(running.snap(), "chronicle").figures.get("chronicle_length", 0))
    grown = tmp_path / "trio-grown.toml"
    grown.write_text(
        TRIO.read_text() + '\n[[organisms]]\nrole = "auditor"\ninstance_name = "trio.auditor"\n'
    )
    same = cli("republish", str(TRIO), "--data", str(data))
    assert same.returncode == 2 and "nothing to record" in same.stderr
    done = cli("republish", str(grown), "--data", str(data))
    assert done.returncode == 0, done.stderr
    assert "MembershipChanged (+1 −0)" in done.stdout
    running.wait(
        "two more sealed chronicle entries",
        lambda s: int(committee(s, "chronicle").figures.get("chronicle_length", 0)) >= before + 2,
    )
    head = read_head(data)
    assert isinstance(head.kind, MembershipChanged)
    assert head.kind.previous == load_plan(data).coalition().stable_id()
    auditor = load_coalition(grown).config.organisms_by_name("auditor")
    assert auditor is not None
    assert head.kind.added == (auditor.stable_id,) and head.kind.removed == ()


def test_killed_member_and_anchor_node_are_restarted(running: Running) -> None:
    snap = running.wait("led almanac", all_led)
    almanac = committee(snap, "almanac")
    victim = next(m for m in almanac.members if not m.is_leader and m.name != almanac.leader)
    assert victim.pid is not None
    before = seq(snap)
    os.kill(victim.pid, signal.SIGKILL)
    # the anchor node dies at the same time (its fresh chain is checked below)
    assert snap.anchor is not None and snap.anchor.pid is not None
    os.kill(snap.anchor.pid, signal.SIGKILL)
    # the two survivors keep committing ticks while the victim is down (backoff 3 s)
    served = running.wait("ticks with one member down", lambda s: seq(s) >= before + 2)
    assert not next(m for m in committee(served, "almanac").members if m.name == victim.name).up
    back = running.wait(
        "restart of the victim",
        lambda s: (
            committee(s, "almanac").up == 3
            and next(m for m in committee(s, "almanac").members if m.name == victim.name).restarts
            == 1
        ),
    )
    assert committee(back, "almanac").restarts == 1
    running.wait(
        "the anchor node back",
        lambda s: s.anchor is not None and s.anchor.restarts == 1 and s.anchor.up,
    )
    # a fresh chain: the members register again and the leader anchors the head again
    latest = wait_chain(
        running.data,
        "the head on the new chain",
        lambda x: x is not None and x[0] >= ANCHORED["seq"],
    )
    if latest[0] == ANCHORED["seq"]:
        assert latest[1] == ANCHORED["digest"]


def test_killed_majority_stalls_then_resumes(running: Running) -> None:
    snap = running.wait("led almanac", all_led)
    almanac = committee(snap, "almanac")
    # the leader and one follower, preferring members not killed before (a second
    # quick death doubles the restart backoff)
    ranked = sorted(almanac.members, key=lambda m: (m.restarts, m.name != almanac.leader))
    victims = ranked[:2]
    for m in victims:
        assert m.pid is not None
        os.kill(m.pid, signal.SIGKILL)
    survivor = next(m for m in almanac.members if m not in victims)
    time.sleep(0.7)  # anything in flight at the kill has landed
    stalled = seq(running.snap())
    time.sleep(1.5)  # still well inside the 3 s restart backoff
    assert seq(running.snap()) == stalled, "a committee without a majority committed a tick"
    resumed = running.wait(
        "the almanac to resume on all three members",
        lambda s: (
            committee(s, "almanac").up == 3
            and all(
                (m.figures.get("almanac_seq") or -1) > stalled
                for m in committee(s, "almanac").members
            )
        ),
    )
    assert committee(resumed, "almanac").leader is not None
    # no corruption: the survivor's history continued, nothing was rewritten below it
    surv = next(m for m in committee(resumed, "almanac").members if m.name == survivor.name)
    assert surv.figures["almanac_seq"] > stalled


LAST_SEQ: dict[str, int] = {}


def test_down_stops_everything(running: Running, data: Path) -> None:
    snap = running.wait("led committees", all_led)
    LAST_SEQ["almanac"] = seq(snap)
    LAST_SEQ["chronicle"] = int(committee(snap, "chronicle").figures.get("chronicle_length", 0))
    pids = [*running.member_pids(), running.proc.pid]
    res = cli("down", "--data", str(data))
    assert res.returncode == 0, res.stderr
    assert "stopped" in res.stdout
    assert running.proc.wait(10) == 0
    assert not [p for p in pids if pid_alive(p)]
    assert processes_mentioning(str(data)) == []
    assert not (data / "supervisor.pid").exists()
    assert "not running" in cli("down", "--data", str(data)).stdout


def test_restart_on_same_data_keeps_keys_and_state(data: Path) -> None:
    peers = [p.peer_id for p in load_plan(data).processes]
    run = Running(data)
    try:
        seen: list[int] = []

        def check(s: Snapshot) -> bool:
            # the committee's tick as its live members report it (the stale files of the
            # previous run do not count)
            live = [
                m.figures["almanac_seq"]
                for m in committee(s, "almanac").members
                if m.up and isinstance(m.figures.get("almanac_seq"), int)
            ]
            if live:
                seen.append(max(live))
            return all_led(s) and seq(s) > LAST_SEQ["almanac"]

        snap = run.wait("the almanac to tick past its last run", check)
        assert seen, "no live almanac member reported a tick"
        assert min(seen) >= LAST_SEQ["almanac"], "the almanac went backwards on restart"
        # the Chronicle reports once its members have replayed their logs (it may boot later
        # than the Almanac: it waits for its anchor); a member that lost its entries would not
        # get back to the last run's length
        snap = run.wait(
            "the chronicle to report the entries of its last run",
            lambda s: (
                committee(s, "chronicle").figures.get("chronicle_length", 0)
                >= LAST_SEQ["chronicle"]
            ),
        )
        assert committee(snap, "atlas").figures.get("atlas_members") == 3
        assert [p.peer_id for p in load_plan(data).processes] == peers
        # a fresh simulated chain: anchoring resumes there with the same head
        latest = wait_chain(data, "anchoring on the new chain", lambda x: x is not None)
        assert latest[0] >= ANCHORED["seq"]
        if latest[0] == ANCHORED["seq"]:
            assert latest[1] == ANCHORED["digest"]
        res = cli("down", "--retire", "--data", str(data))
        assert res.returncode == 0, res.stdout + res.stderr
        assert run.proc.wait(10) == 0
        final = collect(data, load_plan(data))
        assert all(c.retired for c in final.committees)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
