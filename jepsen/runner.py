"""One campaign: a lab of namespaces, a committee member per seat, a client, a nemesis.

The members are real ``coalition member run`` processes started with ``ip netns exec`` in
their host's namespace (seats dealt by ``coalition plan``'s own `plan_hosts`); the workload
client runs in a namespace of its own. Every half second the runner reads each member's
``status.json`` (its sealed Chronicle length and head, its Almanac tick) into the history;
the nemesis injects a fault every few seconds and heals it before the next. At the end it
heals everything, lets the cluster settle, tells the client to make its final reads, stops
the members and runs the checkers over the merged history.

Members and the client die with the runner (PR_SET_PDEATHSIG); namespaces and links are
removed by `Lab.close` in a ``finally`` and on SIGTERM, and by ``python -m jepsen cleanup``
after a ``kill -9`` (the next run also removes leftovers whose owner is gone).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from coalition.config_file import load_coalition
from coalition.runtime.hosts import PlannedSeat, plan_hosts, seat_args, write_host_plan

from .checkers import CHECKERS, Violation
from .clock import HostClocks, build_shim
from .history import Event, dump, read_lines
from .nemesis import FAULTS, Nemesis
from .netns import Host, Lab
from .workload import WorkloadConfig

__all__ = ["Campaign", "Report", "run_campaign"]

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_COALITION: Final = ROOT / "examples" / "coalitions" / "local-trio.toml"
PR_SET_PDEATHSIG: Final = 1
SAMPLE_S: Final = 0.5


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the runner dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class Campaign:
    duration_s: float = 30.0
    hosts: int = 3
    seed: int = 0
    faults: tuple[str, ...] = FAULTS
    #: A fault is held for a random time in this range, then healed; then a quiet gap.
    hold_s: tuple[float, float] = (2.0, 5.0)
    quiet_s: tuple[float, float] = (1.0, 3.0)
    settle_s: float = 8.0
    coalition: Path = DEFAULT_COALITION
    cadence_ms: int = 500
    workdir: Path = Path("build/jepsen")
    start_timeout_s: float = 90.0


@dataclass
class Report:
    ops: dict[str, dict[str, int]]
    faults: list[str]
    violations: list[Violation]
    checked: list[str]
    duration_s: float
    workdir: str
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "duration_s": round(self.duration_s, 1),
            "ops": self.ops,
            "faults_injected": len(self.faults),
            "faults": self.faults,
            "checkers": self.checked,
            "violations": [{"checker": v.checker, "message": v.message} for v in self.violations],
            "workdir": self.workdir,
            "notes": self.notes,
        }

    def text(self) -> str:
        lines = [f"campaign: {self.duration_s:.1f}s, history in {self.workdir}/history.jsonl"]
        for f, counts in sorted(self.ops.items()):
            shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            lines.append(f"  {f:<10} {shown}")
        lines.append(f"faults injected: {len(self.faults)}")
        lines += [f"  {f}" for f in self.faults]
        lines.append(f"checkers: {', '.join(self.checked)}")
        lines += [f"note: {n}" for n in self.notes]
        if self.ok:
            lines.append("violations: none")
        else:
            lines.append(f"violations: {len(self.violations)}")
            lines += [f"  [{v.checker}] {v.message}" for v in self.violations]
        return "\n".join(lines)


@dataclass
class _Member:
    seat: PlannedSeat
    host: Host
    argv: list[str]
    log: Path
    data: Path
    env: dict[str, str] | None = None  # the clock shim's, when clock jumps are on
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False
    restarts: int = 0


class _Members:
    """The member processes (the nemesis's `Processes`)."""

    def __init__(self, members: Sequence[_Member]) -> None:
        self.by_seat = {m.seat.seat: m for m in members}

    def start(self, m: _Member) -> None:
        with m.log.open("ab") as log:
            m.process = subprocess.Popen(
                m.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                env=None if m.env is None else {**os.environ, **m.env},
            )
        m.paused = False

    def on_host(self, host: str) -> list[str]:
        return [s for s, m in self.by_seat.items() if m.host.name == host]

    def _signal(self, seat: str, sig: signal.Signals) -> None:
        proc = self.by_seat[seat].process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    def pause(self, seat: str) -> None:
        self._signal(seat, signal.SIGSTOP)
        self.by_seat[seat].paused = True

    def resume(self, seat: str) -> None:
        if self.by_seat[seat].paused:
            self._signal(seat, signal.SIGCONT)
            self.by_seat[seat].paused = False

    def kill(self, seat: str) -> None:
        self._signal(seat, signal.SIGKILL)
        proc = self.by_seat[seat].process
        if proc is not None:
            proc.wait()

    def restart_dead(self) -> list[str]:
        started = []
        for seat, m in self.by_seat.items():
            if m.process is None or m.process.poll() is not None:
                m.restarts += 1
                self.start(m)
                started.append(seat)
        return started

    def stop_all(self, grace: float = 5.0) -> None:
        live = [m.process for m in self.by_seat.values() if m.process and m.process.poll() is None]
        for seat in self.by_seat:
            self.resume(seat)
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
        deadline = time.monotonic() + grace
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def sample(self) -> list[Event]:
        """Each member's sealed Chronicle head and Almanac tick, from its status.json."""
        now = time.monotonic()
        events = []
        for seat, m in self.by_seat.items():
            try:
                st = json.loads((m.data / "status.json").read_text())
            except (OSError, ValueError):
                continue
            if st.get("state") != "running":
                continue
            figures = st.get("module_status") or {}
            pid = st.get("pid")
            length, head = figures.get("chronicle_length"), figures.get("chronicle_head")
            if isinstance(length, int):
                events.append(Event(seat, "ok", "chronicle", now, 0, None, length, head, pid))
                pending = figures.get("chronicle_pending")
                held = length + (pending if isinstance(pending, int) else 0)
                events.append(Event(seat, "ok", "held", now, 0, None, held, None, pid))
            tick = figures.get("almanac_seq")
            if isinstance(tick, int):
                events.append(Event(seat, "ok", "almanac", now, 0, None, tick, None, pid))
        return events

    def all_led(self) -> bool:
        for m in self.by_seat.values():
            try:
                st = json.loads((m.data / "status.json").read_text())
            except (OSError, ValueError):
                return False
            if st.get("state") != "running" or not (st.get("module_status") or {}).get("leader"):
                return False
        return True


def _summarise(history: Sequence[Event]) -> dict[str, dict[str, int]]:
    ops: dict[str, dict[str, int]] = {}
    for e in history:
        if e.f in ("upsert", "append", "read") and e.type != "invoke":
            ops.setdefault(e.f, {}).setdefault(e.type, 0)
            ops[e.f][e.type] += 1
    done = {e.op for e in history if e.type != "invoke" and e.op}
    for e in history:
        if e.type == "invoke" and e.op not in done:
            ops.setdefault(e.f, {}).setdefault("pending", 0)
            ops[e.f]["pending"] += 1
    obs: dict[str, int] = {}
    for e in history:
        if e.f in ("chronicle", "almanac"):
            obs[e.f] = obs.get(e.f, 0) + 1
    if obs:
        ops["observed"] = obs
    return ops


def _terminate_on_sigterm() -> None:
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)


def run_campaign(c: Campaign, log: IO[str] = sys.stderr) -> Report:
    """Run one campaign end to end; the lab is gone when this returns or raises."""
    _terminate_on_sigterm()
    started = time.monotonic()
    names = [f"h{i + 1}" for i in range(c.hosts)]
    lab = Lab.create([*names, "client"])
    try:
        run = _Run(c, lab, names, log)
        return run.execute(started)
    finally:
        lab.close()  # kills whatever still runs in its namespaces, then removes them


class _Run:
    def __init__(self, c: Campaign, lab: Lab, names: list[str], log: IO[str]) -> None:
        self.c, self.lab, self.names, self.log = c, lab, names, log
        self.rng = random.Random(c.seed)
        self.hosts = {h.name: h for h in lab.hosts}
        self.workdir = c.workdir / lab.prefix
        self.history: list[Event] = []
        self.faults: list[str] = []
        self.notes: list[str] = []
        self.clocks: HostClocks | None = None

    def say(self, line: str) -> None:
        print(f"[{self.lab.prefix}] {line}", file=self.log, flush=True)

    def members(self) -> tuple[list[PlannedSeat], _Members]:
        """Plan the seats over the hosts (as `coalition plan` does) and start every member."""
        c, workdir = self.c, self.workdir
        cfg = load_coalition(c.coalition).config
        seats = plan_hosts(cfg, {n: self.hosts[n].address for n in self.names})
        write_host_plan(workdir / "plan", seats)
        if "clock-jump" in c.faults:
            lib, why = build_shim(workdir / "clock")
            if lib is None:
                self.notes.append(why)
                self.say(why)
            else:
                self.clocks = HostClocks(lib, workdir / "clock", self.names)
        members = []
        for s in seats:
            keys = workdir / "plan" / s.host
            argv = self.hosts[s.host].exec_argv(
                sys.executable, "-m", "coalition", "member", "run", str(c.coalition),
                "--key", str(keys / f"{s.seat}.key"),
                "--operator-key", str(keys / "operator.key"),
                "--data", str(workdir / "data" / s.seat),
                "--cadence-ms", str(c.cadence_ms),
                *seat_args(s, seats),
            )  # fmt: skip
            log, data = workdir / f"{s.seat}.log", workdir / "data" / s.seat
            env = None if self.clocks is None else self.clocks.env(s.host)
            members.append(_Member(s, self.hosts[s.host], argv, log, data, env))
        procs = _Members(members)
        for m in members:
            procs.start(m)
        self.say(f"{len(members)} members on {', '.join(self.names)}")
        return seats, procs

    def client(self, seats: Sequence[PlannedSeat]) -> subprocess.Popen[bytes]:
        workdir = self.workdir
        client_cfg = WorkloadConfig(
            coalition=str(self.c.coalition),
            operator_key=str(workdir / "plan" / self.names[0] / "operator.key"),
            listen=f"{self.hosts['client'].address}:0",
            peers=[s.peer_arg() for s in seats],
            history=str(workdir / "client.jsonl"),
            final_flag=str(workdir / "final"),
            seed=self.c.seed,
        )
        (workdir / "client.json").write_bytes(msgspec.json.encode(client_cfg))
        with (workdir / "client.log").open("ab") as client_log:
            return subprocess.Popen(
                self.hosts["client"].exec_argv(
                    sys.executable, "-m", "jepsen.workload", str(workdir / "client.json")
                ),
                stdin=subprocess.DEVNULL,
                stdout=client_log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                cwd=ROOT,
            )

    def faults_for(self, procs: _Members, duration_s: float) -> None:
        """Sample the members and let the nemesis start and heal faults for ``duration_s``."""
        c, rng = self.c, self.rng
        faults = c.faults
        if self.clocks is None:
            faults = tuple(f for f in faults if f != "clock-jump")
        hosts = [self.hosts[n] for n in self.names]
        nemesis = Nemesis(hosts, procs, rng, faults, clocks=self.clocks)
        end = time.monotonic() + duration_s
        next_change = time.monotonic() + rng.uniform(*c.quiet_s)
        active = None
        while time.monotonic() < end:
            self.history += procs.sample()
            now = time.monotonic()
            if faults and now >= next_change:
                if active is None:
                    active = nemesis.start()
                    self.faults.append(active.describe())
                    self.say(f"fault: {active.describe()}")
                    note = active.describe()
                    next_change = now + rng.uniform(*c.hold_s)
                else:
                    active.heal()
                    active, note = None, "heal"
                    next_change = now + rng.uniform(*c.quiet_s)
                self.history.append(Event("nemesis", "info", "nemesis", now, note=note))
            time.sleep(SAMPLE_S)
        nemesis.heal_all()
        self.history.append(Event("nemesis", "info", "nemesis", time.monotonic(), note="heal all"))

    def execute(self, started: float) -> Report:
        c, workdir = self.c, self.workdir
        workdir.mkdir(parents=True, exist_ok=False)
        seats, procs = self.members()
        deadline = time.monotonic() + c.start_timeout_s
        while not procs.all_led():
            if time.monotonic() > deadline:
                raise RuntimeError(f"members did not elect leaders in {c.start_timeout_s:.0f}s")
            time.sleep(SAMPLE_S)
        self.say(f"every committee has a leader after {time.monotonic() - started:.1f}s")
        client = self.client(seats)
        self.faults_for(procs, c.duration_s)
        settle_end = time.monotonic() + c.settle_s
        while time.monotonic() < settle_end:
            self.history += procs.sample()
            time.sleep(SAMPLE_S)
        (workdir / "final").touch()
        try:
            client.wait(timeout=60)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
        self.history += procs.sample()
        procs.stop_all()
        client_path = workdir / "client.jsonl"
        if client_path.exists():
            self.history += read_lines(client_path.read_bytes().splitlines())
        history = sorted(self.history, key=lambda e: e.time)
        dump(history, workdir / "history.jsonl")
        notes = list(self.notes)
        if client.returncode != 0:
            notes.append(f"the client exited with {client.returncode} (see client.log)")
        restarts = sum(m.restarts for m in procs.by_seat.values())
        notes.append(f"{restarts} member restart(s) after kills")
        violations = [v for check in CHECKERS.values() for v in check(history)]
        elapsed = time.monotonic() - started
        return Report(
            _summarise(history), self.faults, violations, list(CHECKERS), elapsed,
            str(workdir), notes,
        )  # fmt: skip
