"""The ``coalition up`` supervisor: one process per committee seat, kept alive.

It spawns every planned member (``python -m coalition.runtime.member``) in its
own session (so a terminal's Ctrl-C reaches only the supervisor, which then
stops the members in order), restarts a member that exits unexpectedly with
exponential backoff, and writes ``supervisor.json`` (its pid, state and each
member's pid and restart count) atomically every half second.

When the coalition ships a Chronicle and no external chain was named, it first
starts the SIMULATED anchor node (``python -m coalition.services.anchor_node``,
``anchor/anchor.json`` and ``anchor/anchor.log``), supervised like a member, and
hands the Chronicle members that file's path (each waits until it exists). The
node keeps its port for the whole run and its contract address is the same on
every fresh chain, so members survive a node restart (they register again; see
runtime.anchor_client).

Stopping: SIGINT / SIGTERM (Ctrl-C, ``coalition down``) → SIGTERM to every
member, wait ``grace`` seconds, then SIGKILL; modules are *not* retired.
SIGUSR1 (``coalition down --retire``) → first ask every member to retire
(``retire`` flag file plus SIGUSR1), wait until all report ``retired`` (or
``retire_timeout``), then stop as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..modules import ModuleKind
from .anchoring import ANCHOR_INFO, ANCHOR_LOG, AnchorMode, ExternalAnchor
from .files import DIR_MODE, now, pid_alive, read_json, write_json_atomic
from .member import RETIRE_FILE, STATUS_FILE
from .plan import HOST, PLAN_FILE, Plan, ProcessPlan, free_ports
from .status import SUPERVISOR_FILE, SUPERVISOR_PID

__all__ = ["Supervisor", "is_anchor_node", "is_member_process", "parse_duration", "wait_gone"]

TICK: Final = 0.25
#: A member that ran this long before dying starts over at the shortest backoff.
HEALTHY_AFTER: Final = 30.0
MAX_BACKOFF: Final = 10.0
ANCHOR_NODE_MODULE: Final = "coalition.services.anchor_node"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """``"20s"``, ``"1.5m"``, ``"500ms"``, ``"2h"`` or plain seconds → seconds (> 0)."""
    m = _DURATION.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 20s, 2m, 500ms)")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class _Proc:
    """Mutable bookkeeping for one supervised process (not a data type)."""

    name: str
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    next_start: float = 0.0
    restarts: int = 0
    failures: int = 0
    spawned_once: bool = False
    last_exit: int | None = None
    #: The cause the process gave for its last failure (its status file's ``error``).
    last_error: str | None = None


@dataclass
class _Child(_Proc):
    """A member seat."""

    plan: ProcessPlan = field(kw_only=True)


class Supervisor:
    def __init__(
        self,
        data_dir: Path,
        plan: Plan,
        *,
        grace: float = 10.0,
        backoff: float = 0.5,
        retire_timeout: float = 30.0,
        anchor: AnchorMode = "simulated",
    ) -> None:
        self.data_dir = data_dir
        self.plan = plan
        self.grace = grace
        self.backoff = backoff
        self.retire_timeout = retire_timeout
        self.children = [_Child(p.name, plan=p) for p in plan.processes]
        #: where Chronicle anchors (None: it does not, or the coalition ships no Chronicle)
        self.anchor: AnchorMode = anchor if ModuleKind.CHRONICLE in plan.modules() else None
        self.anchor_node = _Proc("anchor") if self.anchor == "simulated" else None
        self.anchor_port = free_ports(1)[0] if self.anchor_node is not None else 0
        self.state = "starting"
        self.started_at = now()
        self.stop_requested = asyncio.Event()
        self.retire_requested = False
        self.hurry = False
        self.killed = 0

    # -- pid file -------------------------------------------------------------

    def acquire(self) -> None:
        """Write ``supervisor.pid`` for ``status`` and ``down``.

        The caller holds the directory's `DataDirLock` (runtime.lock), which is what
        keeps a second supervisor out; this only publishes who is running.
        """
        write_json_atomic(self.data_dir / SUPERVISOR_PID, os.getpid())  # "<pid>\n"
        # Stale retire requests from an interrupted `down --retire` must not fire now.
        for p in self.plan.processes:
            (self.data_dir / p.data_dir / RETIRE_FILE).unlink(missing_ok=True)
        # A node left behind by a killed supervisor holds a stale chain: end it.
        info = read_json(self.data_dir / ANCHOR_INFO) or {}
        if isinstance(pid := info.get("pid"), int) and is_anchor_node(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        (self.data_dir / ANCHOR_INFO).unlink(missing_ok=True)

    def release(self) -> None:
        path = self.data_dir / SUPERVISOR_PID
        with contextlib.suppress(OSError, ValueError):
            if int(path.read_text("ascii")) == os.getpid():
                path.unlink()

    # -- signals ----------------------------------------------------------------

    def request_stop(self, *, retire: bool = False) -> None:
        if self.stop_requested.is_set() and not retire:
            self.hurry = True  # a second Ctrl-C: skip the grace period
        self.retire_requested |= retire
        self.stop_requested.set()

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGUSR1, lambda: self.request_stop(retire=True))

    # -- children ---------------------------------------------------------------

    def _member_argv(self, p: ProcessPlan) -> list[str]:
        argv = ["-m", "coalition.runtime.member", "--plan", str(self.data_dir / PLAN_FILE)]
        argv += ["--module", p.module, "--index", str(p.index)]
        if p.kind is ModuleKind.CHRONICLE:
            if isinstance(self.anchor, ExternalAnchor):
                argv += self.anchor.as_args()
            elif self.anchor == "simulated":
                argv += ["--anchor-info", str(self.data_dir / ANCHOR_INFO)]
        return argv

    def _anchor_argv(self) -> list[str]:
        argv = ["-m", ANCHOR_NODE_MODULE, "--host", HOST, "--port", str(self.anchor_port)]
        return [*argv, "--out", str(self.data_dir / ANCHOR_INFO), "--exit-with-parent"]

    async def _spawn(self, child: _Proc) -> None:
        if isinstance(child, _Child):
            log_path = self.data_dir / child.plan.data_dir / "member.log"
            argv = self._member_argv(child.plan)
        else:
            log_path = self.data_dir / ANCHOR_LOG
            argv = self._anchor_argv()
        log_path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            child.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        child.started = time.monotonic()
        if child.spawned_once:
            child.restarts += 1
        child.spawned_once = True

    def _reap(self, child: _Proc) -> None:
        """Notice an unexpected exit and schedule the restart with backoff."""
        proc = child.process
        if proc is None or proc.returncode is None:
            return
        child.last_exit = proc.returncode
        child.process = None
        if isinstance(child, _Child):
            st = read_json(self.data_dir / child.plan.data_dir / "status.json") or {}
            error = st.get("error")
            child.last_error = error if isinstance(error, str) else None
        t = time.monotonic()
        child.failures = 1 if t - child.started > HEALTHY_AFTER else child.failures + 1
        delay = min(self.backoff * 2 ** (child.failures - 1), MAX_BACKOFF)
        child.next_start = t + delay
        cause = f" ({child.last_error})" if child.last_error else ""
        self._log(f"{child.name} exited with {proc.returncode}{cause}; restarting in {delay:.1f}s")

    def failed_members(self) -> dict[str, str]:
        """Members still failed when ``up`` stops, with the cause they gave (a member that
        failed once and then served again is not one: its last status is ``stopped``)."""
        failed = {}
        for c in self.children:
            st = read_json(self.data_dir / c.plan.data_dir / "status.json") or {}
            if c.last_error and st.get("state") == "failed":
                failed[c.name] = c.last_error
        return failed

    def _log(self, line: str) -> None:
        path = self.data_dir / "supervisor.log"
        with contextlib.suppress(OSError), path.open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")

    async def _keep_alive(self) -> None:
        t = time.monotonic()
        # the anchor node first; Chronicle members wait for its anchor.json themselves
        # (meanwhile they import web3 and join the network, which saves seconds)
        anchor = [self.anchor_node] if self.anchor_node is not None else []
        for child in [*anchor, *self.children]:
            self._reap(child)
            if child.process is None and t >= child.next_start:
                try:
                    await self._spawn(child)
                except OSError as exc:
                    child.failures += 1
                    child.next_start = t + MAX_BACKOFF
                    self._log(f"cannot spawn {child.name}: {exc}")

    def _anchor_state(self) -> dict[str, object]:
        if isinstance(self.anchor, ExternalAnchor):
            return {"mode": "external", "url": self.anchor.url, "contract": self.anchor.contract}
        node = self.anchor_node
        if node is None:
            return {"mode": "off"}
        info = read_json(self.data_dir / ANCHOR_INFO) or {}
        return {
            "mode": "simulated",
            "url": f"http://{HOST}:{self.anchor_port}",
            "contract": info.get("contract"),
            "ready": bool(info),
            "pid": node.process.pid if node.process and node.process.returncode is None else None,
            "restarts": node.restarts,
            "last_exit": node.last_exit,
        }

    def write_state(self) -> None:
        write_json_atomic(
            self.data_dir / SUPERVISOR_FILE,
            {
                "pid": os.getpid(),
                "state": self.state,
                "started_at": self.started_at,
                "updated_at": now(),
                "fingerprint": self.plan.fingerprint,
                "anchor": self._anchor_state(),
                "members": {
                    c.plan.name: {
                        "pid": c.process.pid
                        if c.process and c.process.returncode is None
                        else None,
                        "restarts": c.restarts,
                        "last_exit": c.last_exit,
                        "last_error": c.last_error,
                    }
                    for c in self.children
                },
            },
        )

    def _all_retired(self) -> bool:
        for c in self.children:
            st = read_json(self.data_dir / c.plan.data_dir / STATUS_FILE) or {}
            if st.get("retired") is not True:
                return False
        return True

    async def _retire_all(self, refresh: Callable[[], None]) -> bool:
        self.state = "retiring"
        for c in self.children:
            (self.data_dir / c.plan.data_dir / RETIRE_FILE).touch()
            if c.process is not None and c.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    c.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + self.retire_timeout
        while time.monotonic() < deadline and not self.hurry:
            await self._keep_alive()  # retirement needs a quorum: keep members up
            self.write_state()
            refresh()
            if self._all_retired():
                self._log("every member reports retired")
                return True
            await asyncio.sleep(TICK)
        self._log("retirement did not complete on every member before the timeout")
        return False

    async def _stop_children(self, refresh: Callable[[], None]) -> None:
        self.state = "stopping"
        live = [c for c in self.children if c.process is not None and c.process.returncode is None]
        for c in live:
            assert c.process is not None
            with contextlib.suppress(ProcessLookupError):
                c.process.terminate()
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and not self.hurry:
            if all(c.process is None or c.process.returncode is not None for c in live):
                break
            self.write_state()
            refresh()
            await asyncio.sleep(TICK)
        for c in live:
            assert c.process is not None
            if c.process.returncode is None:
                self.killed += 1
                self._log(f"{c.plan.name} did not stop within {self.grace}s; SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    c.process.kill()
            await c.process.wait()
        await self._stop_anchor_node()
        # Members outlive nobody: also end any member a previous supervisor left behind.
        for c in self.children:
            st = read_json(self.data_dir / c.plan.data_dir / STATUS_FILE) or {}
            pid = st.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and is_member_process(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    async def _stop_anchor_node(self) -> None:
        """After the members (they may be anchoring): SIGTERM, then SIGKILL after 5 s."""
        node = self.anchor_node
        if node is None or node.process is None or node.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            node.process.terminate()
        try:
            await asyncio.wait_for(node.process.wait(), 5.0)
        except TimeoutError:
            self.killed += 1
            self._log("anchor node did not stop within 5s; SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                node.process.kill()
            await node.process.wait()

    async def run(self, duration: float | None, refresh: Callable[[], None]) -> str:
        """Supervise until asked to stop or ``duration`` elapses; returns why it stopped."""
        self.acquire()
        self._log(f"supervisor {os.getpid()} starting {len(self.children)} members")
        if self.anchor_node is not None:
            self._log(f"anchor: SIMULATED local chain on {HOST}:{self.anchor_port} (in memory)")
        elif isinstance(self.anchor, ExternalAnchor):
            self._log(f"anchor: external chain {self.anchor.url}, contract {self.anchor.contract}")
        reason = "stop requested"
        try:
            self.state = "running"
            deadline = None if duration is None else time.monotonic() + duration
            while not self.stop_requested.is_set():
                await self._keep_alive()
                self.write_state()
                refresh()
                if deadline is not None and time.monotonic() >= deadline:
                    reason = "duration elapsed"
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_requested.wait(), TICK)
            if self.retire_requested:
                reason = "retired" if await self._retire_all(refresh) else "retire timed out"
        finally:
            await self._stop_children(refresh)
            self.state = "stopped"
            self.write_state()
            self.release()
            self._log(f"supervisor stopped ({reason}, {self.killed} killed)")
        return reason


def is_anchor_node(pid: int) -> bool:
    """True for a live simulated anchor node process (never an unrelated reused pid)."""
    if not pid_alive(pid):
        return False
    try:
        return ANCHOR_NODE_MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def is_member_process(pid: int) -> bool:
    """True for a live ``coalition.runtime.member`` process (never an unrelated reused pid)."""
    if not pid_alive(pid):
        return False
    try:
        return b"coalition.runtime.member" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def wait_gone(pid: int, timeout: float) -> bool:
    """Poll until ``pid`` has exited; False on timeout."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True
