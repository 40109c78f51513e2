"""Reading a running (or stopped) coalition back from its files, as one table.

``coalition up`` redraws this table live and ``coalition status`` prints it
once; both read only files (the members' ``status.json`` and the
supervisor's ``supervisor.json``, whose ``anchor`` entry says where Chronicle
anchors and whether the simulated anchor node is alive), so ``status`` works
from any terminal and never talks to the network. A member counts as up while its status file is
fresh (rewritten within `STALE_AFTER` seconds) and its pid is alive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rich.table import Table

from ..modules import ModuleKind
from ..services.registry import runnable
from .files import now, pid_alive, read_json
from .plan import Plan

__all__ = ["AnchorView", "CommitteeView", "MemberView", "Snapshot", "collect", "render"]

STALE_AFTER: Final = 3.0
SUPERVISOR_FILE: Final = "supervisor.json"
SUPERVISOR_PID: Final = "supervisor.pid"
LIVE_STATES: Final = frozenset({"running", "retiring", "retired"})
#: How long a member may report ``starting`` before it counts as down.
BOOT_GRACE_S: Final = 60.0


def module_figures(kind: ModuleKind) -> tuple[tuple[str, str], ...]:
    """The figures ``kind``'s committee row shows, in order (declared by its `ModuleSpec`)."""
    spec = runnable().get(kind)
    return spec.figures if spec is not None else ()


@dataclass(frozen=True)
class MemberView:
    name: str
    index: int
    peer_id: str
    up: bool
    state: str
    pid: int | None
    restarts: int
    is_leader: bool
    leader: str | None
    figures: Mapping[str, Any]
    error: str | None
    #: A damaged record the member found in its Raft log (it dropped it and caught up).
    storage_fault: str | None = None
    #: Still catching up after dropping it (guarded votes, no campaigns).
    repairing: bool = False
    #: Alive and booting (e.g. a Chronicle member waiting for its anchor), within `BOOT_GRACE_S`.
    starting: bool = False


@dataclass(frozen=True)
class CommitteeView:
    module: str
    members: tuple[MemberView, ...]
    leader: str | None  # the leader's process name (e.g. "almanac-1") or its short peer id
    figures: Mapping[str, int]
    retired: bool

    @property
    def up(self) -> int:
        return sum(m.up for m in self.members)

    @property
    def restarts(self) -> int:
        return sum(m.restarts for m in self.members)


@dataclass(frozen=True)
class AnchorView:
    """Where Chronicle anchors: ``simulated`` (the local node), ``external`` or ``off``."""

    mode: str
    url: str | None
    contract: str | None
    pid: int | None
    up: bool  # the simulated node runs and wrote anchor.json; an external chain: unknown, True
    restarts: int
    state: str = "up"  # up, starting (no anchor.json yet), down, stopped (no supervisor)

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "simulated": self.mode == "simulated",
            "url": self.url,
            "contract": self.contract,
            "pid": self.pid,
            "up": self.up,
            "state": self.state,
            "restarts": self.restarts,
        }


#: ``coalition status`` exit codes (what a health check or a script tests).
EXIT_HEALTHY: Final = 0
EXIT_DEGRADED: Final = 1
EXIT_DOWN: Final = 2


@dataclass(frozen=True)
class Snapshot:
    instance_name: str
    fingerprint: str
    supervisor_pid: int | None
    supervisor_state: str
    committees: tuple[CommitteeView, ...]
    anchor: AnchorView | None = None
    #: ``peer_id@host:port`` of every live member: what an integrator bootstraps from.
    bootstrap: tuple[str, ...] = ()
    #: The operator's peer id: members' seat tickets are signed by it (``committee_members``).
    operator: str = ""

    def health(self) -> tuple[str, int]:
        """(word, exit code): healthy (0); starting (1): members still booting, within their
        grace; degraded (1): a member down, repairing or with a damaged disk, or the anchor
        down, every quorum held; below-quorum or not-running (2)."""
        if self.supervisor_pid is None:
            return "not-running", EXIT_DOWN
        members = [m for c in self.committees for m in c.members]
        booting = any(m.starting for m in members)
        if any(
            2 * (c.up + sum(m.starting for m in c.members)) <= len(c.members)
            for c in self.committees
        ):
            return "below-quorum", EXIT_DOWN
        if booting and all(m.up or m.starting for m in members):
            return "starting", EXIT_DEGRADED
        anchor_down = self.anchor is not None and self.anchor.state == "down"
        if anchor_down or any(not m.up or m.repairing or m.storage_fault for m in members):
            return "degraded", EXIT_DEGRADED
        return "healthy", EXIT_HEALTHY

    def as_json(self) -> dict[str, Any]:
        return {
            "instance_name": self.instance_name,
            "fingerprint": self.fingerprint,
            "health": self.health()[0],
            "bootstrap": list(self.bootstrap),
            "operator": self.operator,
            "supervisor": {"pid": self.supervisor_pid, "state": self.supervisor_state},
            "anchor": None if self.anchor is None else self.anchor.as_json(),
            "committees": {
                c.module: {
                    "up": c.up,
                    "size": len(c.members),
                    "leader": c.leader,
                    "restarts": c.restarts,
                    "retired": c.retired,
                    "figures": dict(c.figures),
                    "members": [
                        {
                            "name": m.name,
                            "up": m.up,
                            "state": m.state,
                            "pid": m.pid,
                            "restarts": m.restarts,
                            "is_leader": m.is_leader,
                            "peer_id": m.peer_id,
                            "error": m.error,
                            "storage_fault": m.storage_fault,
                            "repairing": m.repairing,
                            "starting": m.starting,
                            "figures": dict(m.figures),
                        }
                        for m in c.members
                    ],
                }
                for c in self.committees
            },
        }


def supervisor_pid(data_dir: Path) -> int | None:
    """The running supervisor's pid, or None (missing, stale, or reused by another program)."""
    try:
        pid = int((data_dir / SUPERVISOR_PID).read_text("ascii").strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc: trust the pid file
    return pid if b"coalition" in cmdline else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _anchor_view(sup: Mapping[str, Any], supervisor_running: bool) -> AnchorView | None:
    raw = sup.get("anchor")
    if not isinstance(raw, dict) or not isinstance(mode := raw.get("mode"), str):
        return None
    url, contract = raw.get("url"), raw.get("contract")
    pid = _int(raw.get("pid"))
    alive = bool(pid and pid_alive(pid))
    if not supervisor_running:
        up, state = False, "stopped"
    elif mode == "simulated":
        up = alive and raw.get("ready") is True
        state = "up" if up else "starting" if alive else "down"
    else:
        up, state = mode == "external", "up"
    return AnchorView(
        mode,
        url if isinstance(url, str) else None,
        contract if isinstance(contract, str) else None,
        pid,
        up,
        _int(raw.get("restarts")) or 0,
        state,
    )


def collect(data_dir: Path, plan: Plan) -> Snapshot:
    sup = read_json(data_dir / SUPERVISOR_FILE) or {}
    sup_members = sup.get("members") if isinstance(sup.get("members"), dict) else {}
    assert isinstance(sup_members, dict)
    pid = supervisor_pid(data_dir)
    sup_state = str(sup.get("state", "never started")) if pid is not None else "not running"
    names = {p.peer_id: p.name for p in plan.processes}
    t = now()
    committees = []
    for kind in plan.modules():
        views = []
        for p in plan.committee(kind):
            st = read_json(data_dir / p.data_dir / "status.json") or {}
            figures = st.get("module_status")
            figures = figures if isinstance(figures, dict) else {}
            member_pid = _int(st.get("pid"))
            updated = st.get("updated_at")
            fresh = isinstance(updated, int | float) and t - updated < STALE_AFTER
            state = str(st.get("state", "never started"))
            alive = bool(fresh and member_pid and pid_alive(member_pid))
            up = alive and state in LIVE_STATES
            started = st.get("started_at")
            starting = (
                alive
                and state == "starting"
                and isinstance(started, int | float)
                and t - started < BOOT_GRACE_S
            )
            info = sup_members.get(p.name)
            restarts = _int(info.get("restarts")) if isinstance(info, dict) else None
            leader = figures.get("leader")
            error = st.get("error")
            if not up and not isinstance(error, str) and isinstance(info, dict):
                error = info.get("last_error")  # the cause it gave when it last failed
            fault = figures.get("storage_fault")
            views.append(
                MemberView(
                    p.name,
                    p.index,
                    p.peer_id,
                    up,
                    state if up or starting or state in ("stopped", "failed") else "down",
                    member_pid,
                    restarts or 0,
                    bool(figures.get("is_leader")) and up,
                    leader if isinstance(leader, str) else None,
                    figures,
                    error if isinstance(error, str) else None,
                    fault if isinstance(fault, str) else None,
                    figures.get("repairing") is True,
                    starting,
                )
            )
        live = [v for v in views if v.up]
        leader_peer: str | None = None
        if claimed := [v.peer_id for v in live if v.is_leader]:
            leader_peer = claimed[0]
        elif votes := Counter(v.leader for v in live if v.leader):
            leader_peer = votes.most_common(1)[0][0]
        leader = None if leader_peer is None else names.get(leader_peer, leader_peer[:8])
        figure_keys = [k for k, _ in module_figures(kind)] + ["committed"]
        # Followers may lag the leader; the committee has committed at least the maximum.
        agg = {
            key: max(vals)
            for key in figure_keys
            if (vals := [x for v in views if (x := _int(v.figures.get(key))) is not None])
        }
        retired = bool(views) and all(
            v.figures.get("retired") is True or v.state == "retired" for v in views
        )
        committees.append(CommitteeView(kind.value, tuple(views), leader, agg, retired))
    anchor = _anchor_view(sup, pid is not None)
    serving = {m.name for c in committees for m in c.members if m.up}
    bootstrap = tuple(f"{p.peer_id}@{p.host}:{p.port}" for p in plan.processes if p.name in serving)
    return Snapshot(
        plan.instance_name,
        plan.fingerprint,
        pid,
        sup_state,
        tuple(committees),
        anchor,
        bootstrap,
        plan.operator_peer_id,
    )


def _anchor_caption(a: AnchorView) -> str:
    if a.mode == "off":
        return "anchor off"
    where = f"{a.url or '?'}" + (f" contract {a.contract[:10]}…" if a.contract else "")
    if a.mode == "external":
        return f"anchor external {where}"
    colour = {"up": "green", "starting": "yellow", "stopped": "default"}.get(a.state, "red")
    state = f"[{colour}]{a.state}[/]" + (f" (pid {a.pid})" if a.up else "")
    restarts = f", {a.restarts} restart(s)" if a.restarts else ""
    return f"anchor SIMULATED local chain {where} {state}{restarts}"


def _storage_note(m: MemberView) -> str:
    if m.storage_fault is None:
        return ""
    state = "repairing" if m.repairing else "repaired"
    return f" [red]disk damaged, {state}[/] ({m.storage_fault[:60]})"


def render(snap: Snapshot) -> Table:
    sup = (
        f"supervisor {snap.supervisor_state} (pid {snap.supervisor_pid})"
        if snap.supervisor_pid is not None
        else "supervisor not running"
    )
    if snap.anchor is not None:
        sup += "\n" + _anchor_caption(snap.anchor)
    word, code = snap.health()
    colour = ("green", "yellow", "red")[code]
    sup += f"\nhealth [{colour}]{word}[/]"
    if snap.bootstrap:
        sup += f"\nbootstrap {snap.bootstrap[0]}"
    table = Table(
        title=f"coalition {snap.instance_name}  {snap.fingerprint[:16]}…",
        caption=sup,
    )
    for col in ("committee", "up", "leader", "figures", "committed", "restarts", "members"):
        table.add_column(col)
    for c in snap.committees:
        kind = ModuleKind(c.module)
        figures = ", ".join(
            f"{label} {c.figures[key]}" for key, label in module_figures(kind) if key in c.figures
        )
        if c.retired:
            figures = (figures + ", " if figures else "") + "[yellow]retired[/]"
        quorum = c.up * 2 > len(c.members)
        up = f"{c.up}/{len(c.members)}"
        members = " ".join(
            f"{m.index}:{'[green]' if m.up else '[yellow]' if m.starting else '[red]'}{m.state}[/]"
            + (f" ({m.error[:40]})" if m.error and not m.up else "")
            + _storage_note(m)
            for m in c.members
        )
        table.add_row(
            c.module,
            f"[green]{up}[/]" if quorum else f"[red]{up}[/]",
            c.leader or "[red]none[/]",
            figures or "-",
            str(c.figures.get("committed", "-")),
            str(c.restarts),
            members,
        )
    return table


def member_health(st: Mapping[str, Any] | None) -> tuple[str, int]:
    """(word, exit code) of ONE member from its own ``status.json`` (a member run on its own
    host, `coalition member run`): healthy (0) while its process runs and it knows a leader;
    degraded (1) while it runs without a leader, repairs its log or reports an error;
    not-running (2) when the file is missing, the member stopped, or its process is gone."""
    if st is None:
        return "not-running", EXIT_DOWN
    pid = _int(st.get("pid"))
    if st.get("state") != "running" or pid is None or not pid_alive(pid):
        return "not-running", EXIT_DOWN
    figures = st.get("module_status") or {}
    if not isinstance(figures, Mapping):
        figures = {}
    if st.get("error") or figures.get("repairing") or figures.get("storage_fault"):
        return "degraded", EXIT_DEGRADED
    if not figures.get("leader"):
        return "degraded", EXIT_DEGRADED
    return "healthy", EXIT_HEALTHY
