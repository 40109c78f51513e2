"""`coalition`: the operator's command line.

``fingerprint`` / ``verify`` / ``handshake`` / ``inspect`` / ``demo`` work on
coalition files; ``up`` / ``status`` / ``down`` run a coalition's module
committees on this machine (coalition.runtime, docs/operators/runbook.md).

Bad input (missing or unreadable file, bad path, bad TOML, unknown key, wrong
type, malformed id or handshake) prints one line naming the file, the key and
the problem, and exits 2 without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from importlib import resources
from importlib.metadata import entry_points
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pymosaik.primitives import PeerId, UniqueId, encode

from .bounded_read import UnreadableFileError, os_reason, read_bounded
from .config import CoalitionConfig, HandshakeError
from .config_file import CoalitionFile, ConfigError, load_coalition, parse_id, printable
from .framework.errors import OrganismError
from .handshake_page import facts_of, write_pages
from .modules import ModuleKind
from .runtime.anchoring import AnchorMode, parse_anchor_option
from .runtime.files import MAX_JSON_BYTES, read_json
from .runtime.lock import DataDirLock
from .runtime.logs import render as render_log
from .runtime.plan import (
    PLAN_FILE,
    Plan,
    PlanError,
    create_or_load,
    default_data_dir,
    load_plan,
    load_process_key,
    runnable_modules,
)
from .runtime.republish import record_transition, transition
from .runtime.status import collect, member_health, render, supervisor_pid
from .runtime.supervisor import Supervisor, is_member_process, parse_duration, wait_gone
from .services.committee_access import CommitteeRole, issue_committee_ticket

EXIT_MISMATCH: Final = 1
EXIT_BAD_INPUT: Final = 2

app = typer.Typer(
    name="coalition",
    help="Derive, verify and publish coalition fingerprints; run a coalition's module committees.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Pipes and CI logs get a fixed width so tables are not squeezed to 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"coalition {package_version('ai-on-mosaik')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Derive, verify and publish coalition fingerprints; run a coalition's module committees."""


class BadInputError(Exception):
    """Raised for operator mistakes that end in one line on stderr and exit 2."""


def _os_error(exc: OSError, fallback: Path | None = None) -> str:
    """One line for an OS error on an operator-named path: the path and the reason."""
    name = exc.filename if exc.filename is not None else fallback
    return os_reason(exc) if name is None else f"{os.fsdecode(name)}: {os_reason(exc)}"


FileArg = Annotated[Path, typer.Argument(help="A coalition TOML file.", show_default=False)]


def _load(path: Path) -> CoalitionFile:
    try:
        return load_coalition(path)
    except ConfigError as exc:
        raise BadInputError(str(exc)) from None


@app.command()
def fingerprint(
    file: FileArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print the root, modules, issuer and members.")
    ] = False,
) -> None:
    """Print the coalition's handshake fingerprint (stable_id) as hex."""
    loaded = _load(file)
    if as_json:
        out.print_json(json.dumps(facts_of(loaded).as_json(), ensure_ascii=False))
    else:
        out.print(loaded.config.stable_id().hex())


@app.command()
def verify(
    file: FileArg,
    expect: Annotated[str, typer.Option("--expect", help="The published fingerprint (64 hex).")],
) -> None:
    """Exit 0 when FILE's fingerprint equals --expect, 1 with a one-line reason otherwise."""
    try:
        expected = parse_id(expect.strip())
    except ValueError as exc:
        raise BadInputError(f"--expect: {exc}") from None
    actual = _load(file).config.stable_id()
    if actual != expected:
        err.print(f"mismatch: {file} derives {actual.hex()}, expected {expected.hex()}")
        raise typer.Exit(EXIT_MISMATCH)
    out.print(f"ok: {file} derives {actual.hex()}")


@app.command()
def handshake(
    file: FileArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the pages.")] = Path(
        "handshake"
    ),
) -> None:
    """Write the handshake page (Markdown, HTML and JSON) operators publish."""
    loaded = _load(file)
    try:
        written = write_pages(loaded, out_dir)
    except OSError as exc:
        raise BadInputError(_os_error(exc, out_dir)) from None
    for path in written:
        out.print(f"wrote {path}")


@app.command()
def inspect(
    handshake_hex: Annotated[str, typer.Argument(help="A serialised CoalitionConfig (to_hex).")],
) -> None:
    """Decode a published handshake hex string and show what it names."""
    try:
        cfg = CoalitionConfig.from_hex(handshake_hex.strip())
    except HandshakeError as exc:
        raise BadInputError(f"handshake: {exc}") from None
    out.print_json(json.dumps(facts_of(cfg).as_json(), ensure_ascii=False))


def _examples_dir() -> Path:
    """The bundled example coalitions: the repository's copy, else the installed one."""
    repo = Path(__file__).resolve().parents[2] / "examples" / "coalitions"
    if repo.is_dir():
        return repo
    return Path(str(resources.files("coalition") / "_examples" / "coalitions"))


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the pages.")] = Path(
        "build/handshakes"
    ),
    examples: Annotated[
        Path | None, typer.Option("--examples", help="Directory of coalition TOML files.")
    ] = None,
) -> None:
    """Derive and verify every example coalition and write its handshake pages."""
    folder = examples or _examples_dir()
    expected_file = folder / "fingerprints.json"
    try:
        expected: dict[str, str] = json.loads(read_bounded(expected_file, MAX_JSON_BYTES))
    except UnreadableFileError as exc:
        raise BadInputError(str(exc)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{expected_file}: invalid JSON: {exc}") from None
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise BadInputError(f"{folder}: no coalition files")
    table = Table(title="Example coalitions")
    for col in ("file", "instance", "fingerprint", "members", "modules", "issuer", "check"):
        table.add_column(col)
    failures = 0
    for path in files:
        loaded = _load(path)
        cfg = loaded.config
        fp = cfg.stable_id().hex()
        round_trip = CoalitionConfig.from_hex(cfg.to_hex()) == cfg
        want = expected.get(path.name)
        ok = round_trip and want == fp
        failures += not ok
        write_pages(loaded, out_dir)
        check = "ok" if ok else ("no expected value" if want is None else "MISMATCH")
        table.add_row(
            path.name,
            cfg.instance_name,
            fp[:16] + "…",
            str(len(cfg.member_ids())),
            ", ".join(k.value for k in cfg.shipped_modules()) or "-",
            "yes" if cfg.ticket_issuer else "-",
            f"[green]{check}[/]" if ok else f"[red]{check}[/]",
        )
    out.print(table)
    out.print(f"handshake pages written to {out_dir}/")
    if failures:
        err.print(f"{failures} example(s) failed verification")
        raise typer.Exit(EXIT_MISMATCH)


# -- running a coalition on this machine (docs/operators/runbook.md) -------------------

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Coalition data directory (default ./.coalition/<instance-name>/).",
        show_default=False,
    ),
]
DEFAULT_DATA_ROOT = Path(".coalition")
#: Without a terminal (CI, pipes) `up` prints the table this often instead of redrawing it.
PLAIN_REFRESH_S = 10.0


def _find_data(data: Path | None) -> Path:
    """``--data`` itself, or the single coalition directory under it (or ./.coalition)."""
    base = data or DEFAULT_DATA_ROOT
    try:
        if (base / PLAN_FILE).is_file():
            return base
        found = sorted(p.parent for p in base.glob(f"*/{PLAN_FILE}"))
    except OSError as exc:
        raise BadInputError(_os_error(exc, base)) from None
    if not found:
        raise BadInputError(f"{base}: no coalition data directory here; run `coalition up FILE`")
    if len(found) > 1:
        names = ", ".join(str(p) for p in found)
        raise BadInputError(f"{base}: several coalitions ({names}); choose one with --data")
    return found[0]


def _load_plan(data_dir: Path) -> Plan:
    try:
        return load_plan(data_dir)
    except PlanError as exc:
        raise BadInputError(str(exc)) from None


@app.command()
def up(
    file: FileArg,
    *,
    data: DataOpt = None,
    run_for: Annotated[
        str | None,
        typer.Option("--for", help="Stop (without retiring) after this long, e.g. 20s or 2m."),
    ] = None,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds members get to stop before SIGKILL.")
    ] = 10.0,
    backoff: Annotated[
        float, typer.Option("--backoff", help="First restart delay in seconds (doubles, max 10).")
    ] = 0.5,
    cadence_ms: Annotated[
        int | None,
        typer.Option(
            "--cadence-ms",
            help="Almanac tick / Chronicle anchor cadence for a new data directory "
            "(default: the Almanac's tick_cadence_ms, else 1000).",
        ),
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="URL,CONTRACT,KEYFILE",
            help="Anchor Chronicle heads on this JSON-RPC chain (ChronicleAnchor at CONTRACT, "
            "signing with the hex key in KEYFILE, mode 600) instead of the simulated local chain.",
        ),
    ] = None,
    no_anchor: Annotated[
        bool, typer.Option("--no-anchor", help="Do not anchor Chronicle heads at all.")
    ] = False,
    web: Annotated[
        str | None,
        typer.Option(
            "--web",
            metavar="HOST:PORT",
            help="Also serve the web status page there (e.g. 127.0.0.1:8480).",
        ),
    ] = None,
) -> None:
    """Run 3 committee members per runnable shipped module on loopback.

    Ctrl-C or `coalition down` stops them without retiring the modules;
    `coalition down --retire` commits the retirement markers first. With a Chronicle,
    its sealed heads are anchored at every cadence boundary on a SIMULATED local chain
    (in memory: fresh on every `up`) unless --anchor or --no-anchor says otherwise.
    """
    duration = None
    if run_for is not None:
        try:
            duration = parse_duration(run_for)
        except ValueError as exc:
            raise BadInputError(f"--for: {exc}") from None
    if grace < 0 or backoff <= 0 or (cadence_ms is not None and cadence_ms <= 0):
        raise BadInputError("--grace must be >= 0, --backoff and --cadence-ms > 0")
    anchor_mode: AnchorMode = None if no_anchor else "simulated"
    if anchor is not None:
        if no_anchor:
            raise BadInputError("--anchor and --no-anchor exclude each other")
        try:
            anchor_mode = parse_anchor_option(anchor)
        except ValueError as exc:
            raise BadInputError(f"--anchor: {exc}") from None
    listen = _listen_option("--web", web) if web is not None else None
    cfg = _load(file).config
    data_dir = data or default_data_dir(cfg, DEFAULT_DATA_ROOT)
    try:
        # the lock comes first: nothing is written to data_dir by a refused `up`
        lock = DataDirLock.acquire(data_dir)
    except PlanError as exc:
        raise BadInputError(str(exc)) from None
    with lock:
        try:
            plan, created = create_or_load(data_dir, cfg, cadence_ms)
        except PlanError as exc:
            raise BadInputError(str(exc)) from None
        sup = Supervisor(data_dir, plan, grace=grace, backoff=backoff, anchor=anchor_mode)
        _run_supervisor(sup, cfg, created, duration, listen)


def _listen_option(name: str, text: str) -> tuple[str, int]:
    """A HOST:PORT option, checked now: one line if it is malformed or the port is taken."""
    from .runtime.web import parse_listen  # noqa: PLC0415 - the web kit loads only when asked

    try:
        host, port = parse_listen(text)
    except ValueError as exc:
        raise BadInputError(f"{name}: {exc}") from None
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        raise BadInputError(f"{name}: cannot listen on {host}:{port}: {exc.strerror}") from None
    return host, port


def _run_supervisor(
    sup: Supervisor,
    cfg: CoalitionConfig,
    created: bool,
    duration: float | None,
    listen: tuple[str, int] | None = None,
) -> None:
    data_dir, plan = sup.data_dir, sup.plan
    out.print(f"coalition {cfg.instance_name}")
    out.print(f"fingerprint {cfg.stable_id().hex()}")
    action = "created" if created else "reusing keys, ports and state of"
    out.print(f"{action} {data_dir}/ ({len(plan.processes)} members, pid {os.getpid()})")
    skipped = [k.value for k in cfg.shipped_modules() if k not in runnable_modules(cfg)]
    if cfg.ticket_issuer is not None:
        skipped.append("ticket issuer")
    if skipped:
        out.print(f"not run here: {', '.join(skipped)} (no committee runtime for them yet)")
    if not created and (
        retired := [c.module for c in collect(data_dir, plan).committees if c.retired]
    ):
        out.print(
            f"warning: {', '.join(retired)} retired in this data directory; their readers get "
            "OrganismRetired (run the successor coalition instead)"
        )
    if sup.anchor == "simulated":
        out.print("anchor: SIMULATED local chain (in memory, fresh on every up), see anchor/")
    elif sup.anchor is not None:
        out.print(f"anchor: {sup.anchor.url}, contract {sup.anchor.contract}")
    if listen is not None:
        out.print(f"web: http://{listen[0]}:{listen[1]}/")
    reason = asyncio.run(_supervise(sup, duration, listen))
    out.print(render(collect(data_dir, plan)))
    out.print(f"stopped: {reason}" + (f", {sup.killed} member(s) killed" if sup.killed else ""))
    if failed := sup.failed_members():
        for name, cause in sorted(failed.items()):
            err.print(f"error: {name} failed: {cause}")
        raise typer.Exit(EXIT_MISMATCH)


async def _supervise(
    sup: Supervisor, duration: float | None, listen: tuple[str, int] | None = None
) -> str:
    if listen is None:
        return await _supervise_table(sup, duration)
    from .runtime.web import WebServer  # noqa: PLC0415 - the web kit loads only when asked

    server = WebServer(sup.data_dir, *listen)
    serving = asyncio.create_task(server.serve())
    try:
        return await _supervise_table(sup, duration)
    finally:
        server.stop()
        await serving


async def _supervise_table(sup: Supervisor, duration: float | None) -> str:
    sup.install_signals()

    def table() -> Table:
        return render(collect(sup.data_dir, sup.plan))

    if out.is_terminal:
        with Live(table(), console=out, refresh_per_second=2, transient=True) as live:
            last = 0.0

            def redraw() -> None:
                nonlocal last
                if time.monotonic() - last >= 0.5:
                    last = time.monotonic()
                    live.update(table())

            return await sup.run(duration, redraw)
    last_print = time.monotonic()

    def plain() -> None:
        nonlocal last_print
        if sup.state == "running" and time.monotonic() - last_print >= PLAIN_REFRESH_S:
            last_print = time.monotonic()
            out.print(table())

    return await sup.run(duration, plain)


@app.command()
def web(
    data: DataOpt = None,
    listen: Annotated[
        str, typer.Option("--listen", metavar="HOST:PORT", help="Where to serve the page.")
    ] = "127.0.0.1:8480",
) -> None:
    """Serve the web status page (and /api/status, /health) of a data directory."""
    import uvicorn  # noqa: PLC0415 - the web kit loads only when asked

    from .runtime.web import make_app  # noqa: PLC0415

    data_dir = _find_data(data)
    _load_plan(data_dir)  # one line now if this is not a coalition's data directory
    host, port = _listen_option("--listen", listen)
    out.print(f"web: http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(make_app(data_dir), host=host, port=port, log_level="warning", lifespan="off")


@app.command()
def status(
    data: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Print the committees' status once, from the members' status files.

    Exit status: 0 healthy, 1 degraded (a member down or repairing, every quorum held),
    2 below quorum or not running. The caption names a bootstrap address for integrators.
    """
    data_dir = _find_data(data)
    plan = _load_plan(data_dir)
    snap = collect(data_dir, plan)
    if as_json:
        out.print_json(json.dumps(snap.as_json(), ensure_ascii=False))
    else:
        out.print(render(snap))
    raise typer.Exit(snap.health()[1])


@app.command()
def logs(
    seat: Annotated[
        str | None,
        typer.Argument(help="A member seat (e.g. almanac-2), or 'supervisor'; default: all."),
    ] = None,
    data: DataOpt = None,
    lines: Annotated[
        int, typer.Option("-n", "--lines", help="Lines from the end of each log.")
    ] = 20,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The JSON lines as written.")] = False,
) -> None:
    """Print the members' (and the supervisor's) logs, each line prefixed with its seat."""
    data_dir = _find_data(data)
    plan = _load_plan(data_dir)
    files = {p.name: data_dir / p.data_dir / "member.log" for p in plan.processes}
    files["supervisor"] = data_dir / "supervisor.log"
    if seat is not None:
        if seat not in files:
            raise BadInputError(f"no seat {seat!r}; seats: {', '.join(sorted(files))}")
        files = {seat: files[seat]}
    offsets: dict[str, int] = {}
    for name, path in files.items():
        try:
            with path.open("rb") as fh:  # the tail only: a log can be large
                fh.seek(max(0, path.stat().st_size - 1_000_000))
                text = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise BadInputError(_os_error(exc, path)) from None
        for line in text.splitlines()[-lines:] if lines > 0 else []:
            out.print(f"{name:<14} {line if as_json else render_log(line)}", markup=False)
        offsets[name] = path.stat().st_size if path.exists() else 0
    while follow:
        time.sleep(0.5)
        for name, path in files.items():
            size = path.stat().st_size if path.exists() else 0
            if size < offsets[name]:
                offsets[name] = 0  # rotated or truncated
            if size > offsets[name]:
                with path.open("rb") as fh:
                    fh.seek(offsets[name])
                    chunk = fh.read(size - offsets[name]).decode("utf-8", "replace")
                offsets[name] = size
                for line in chunk.splitlines():
                    out.print(f"{name:<14} {line if as_json else render_log(line)}", markup=False)


@app.command()
def down(
    data: DataOpt = None,
    retire: Annotated[
        bool, typer.Option("--retire", help="Commit every module's RetirementMarker first.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the supervisor to exit.")
    ] = 60.0,
) -> None:
    """Stop the supervisor of a running `coalition up` (and with it every member)."""
    data_dir = _find_data(data)
    plan = _load_plan(data_dir)
    pid = supervisor_pid(data_dir)
    if pid is None:
        leftovers = _stop_leftover_members(data_dir, plan)
        out.print(
            f"{data_dir}: not running"
            + (f"; stopped {leftovers} stray member(s)" if leftovers else "")
        )
        return
    os.kill(pid, signal.SIGUSR1 if retire else signal.SIGTERM)
    what = "retiring and stopping" if retire else "stopping"
    out.print(f"{what} supervisor {pid} of {plan.instance_name}…")
    if not asyncio.run(wait_gone(pid, timeout)):
        err.print(f"supervisor {pid} still running after {timeout:g}s")
        raise typer.Exit(EXIT_MISMATCH)
    snap = collect(data_dir, plan)
    out.print(render(snap))
    if retire and not all(c.retired for c in snap.committees):
        err.print("stopped, but not every module reports its retirement marker committed")
        raise typer.Exit(EXIT_MISMATCH)
    out.print("stopped")


@app.command()
def republish(
    file: FileArg,
    *,
    data: DataOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each Chronicle commit.")
    ] = 30.0,
) -> None:
    """Record a republication (new members, new fingerprint) in the running Chronicle."""
    data_dir = _find_data(data)
    plan = _load_plan(data_dir)
    successor = _load(file).config
    try:
        change = transition(plan.coalition(), successor)
    except PlanError as exc:
        raise BadInputError(f"{file}: {exc}") from None
    try:
        published, changed = asyncio.run(
            record_transition(plan, data_dir, change, timeout_s=timeout)
        )
    except OrganismError as exc:
        err.print(f"{plan.instance_name}: {exc}")
        raise typer.Exit(EXIT_MISMATCH) from None
    out.print(
        f"chronicle of {plan.instance_name}: CoalitionPublished at seq {published}, "
        f"MembershipChanged (+{len(change.added)} −{len(change.removed)}) at seq {changed}"
    )
    out.print(f"new fingerprint {successor.stable_id().hex()}")
    out.print(f"next: `coalition down --data {data_dir}` then `coalition up {file}`")


@app.command()
def ticket(
    module: Annotated[
        str, typer.Argument(help="The module whose committee it admits, e.g. compute.")
    ],
    holder: Annotated[str, typer.Option("--holder", help="The holder's peer id (64 hex).")],
    *,
    role: Annotated[
        str, typer.Option("--role", help="reader (replicate the log) or writer (submit).")
    ] = "reader",
    data: DataOpt = None,
    ttl: Annotated[str, typer.Option("--ttl", help="How long it is valid, e.g. 1h, 30m.")] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Issue a committee ticket for HOLDER, signed by the data directory's operator key: a
    reader replicates the committee's log (keyed surfaces such as Compute.replica), a writer
    submits through its intake. Prints the encoded ticket as hex."""
    data_dir = _find_data(data)
    plan = _load_plan(data_dir)
    here = plan.modules()
    try:
        kind = ModuleKind(module)
    except ValueError:
        names = ", ".join(k.value for k in here)
        raise BadInputError(f"{module!r} is not a module ({names})") from None
    if kind not in here:
        raise BadInputError(f"{plan.instance_name} runs no {kind.value} committee here")
    try:
        which = CommitteeRole(role)
        if which is CommitteeRole.MEMBER:
            raise ValueError
    except ValueError:
        raise BadInputError(f"--role {role!r}: reader or writer") from None
    try:
        peer = PeerId.from_hex(holder.strip())
        ttl_ms = int(parse_duration(ttl) * 1000)
    except ValueError as exc:
        raise BadInputError(f"--holder/--ttl: {exc}") from None
    try:
        operator = load_process_key(data_dir, plan.operator_key_file)
    except PlanError as exc:
        raise BadInputError(str(exc)) from None
    issued = issue_committee_ticket(
        plan.coalition(), kind, which, operator_key=operator, holder=peer,
        network=UniqueId.from_hex(plan.network_id), ttl_ms=ttl_ms,
    )  # fmt: skip
    text = encode(issued).hex()
    if as_json:
        doc = {"module": kind.value, "role": which.value, "holder": peer.hex(), "ticket": text}
        out.print_json(json.dumps(doc))
    else:
        out.print(text)


@app.command()
def refresh(
    module: Annotated[
        str, typer.Argument(help="The module whose key to refresh: randomness.", show_default=False)
    ],
    *,
    data: DataOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the committee's answer.")
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Open a key refresh of a running module's threshold key: every share moves, the group
    key stays (the operator's command, through the committee's log)."""
    from .runtime import refresh as rt  # noqa: PLC0415 - only this command needs it

    try:
        kind = ModuleKind(module)
    except ValueError:
        raise BadInputError(f"{module!r} is not a module; try randomness") from None
    data_dir = _find_data(data)
    plan = _load_plan(data_dir)
    try:
        rt.key_refresh_of(plan.coalition(), kind)
    except PlanError as exc:
        raise BadInputError(str(exc)) from None
    if supervisor_pid(data_dir) is None:
        raise BadInputError(f"{data_dir}: not running; start it with `coalition up`")
    try:
        index = asyncio.run(rt.refresh_running(plan, data_dir, kind, timeout_s=timeout))
    except PlanError as exc:
        raise BadInputError(str(exc)) from None
    except OrganismError as exc:
        if as_json:
            doc = {"module": kind.value, "coalition": plan.instance_name, "error": str(exc)}
            out.print_json(json.dumps(doc, ensure_ascii=False))
        else:
            err.print(f"{plan.instance_name}: {printable(str(exc))}", markup=False)
        raise typer.Exit(EXIT_MISMATCH) from None
    if as_json:
        opened = {"module": kind.value, "coalition": plan.instance_name, "opened_at": index}
        out.print_json(json.dumps(opened, ensure_ascii=False))
        return
    out.print(
        f"{kind.value} of {plan.instance_name}: key refresh opened at log index {index}; "
        "every share moves, the group key stays",
        markup=False,
    )


member_app = typer.Typer(
    help="Run one committee member on this host (members on separate hosts).",
    no_args_is_help=True,
)
app.add_typer(member_app, name="member")


@member_app.command("run")
def member_run(
    file: FileArg,
    *,
    seat: Annotated[str, typer.Option("--seat", help="The seat it holds, e.g. atlas-0.")],
    key: Annotated[Path, typer.Option("--key", help="This member's key file (hex, mode 600).")],
    operator_key: Annotated[
        Path, typer.Option("--operator-key", help="The coalition operator's key file.")
    ],
    listen: Annotated[
        str, typer.Option("--listen", metavar="HOST:PORT", help="A real interface address.")
    ],
    peer: Annotated[
        list[str],
        typer.Option(
            "--peer",
            metavar="[SEAT=]PEER@HOST:PORT",
            help="Another member (SEAT= for its committee seat) or a bootstrap; repeatable.",
        ),
    ],
    data: Annotated[Path, typer.Option("--data", help="This member's own data directory.")],
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", metavar="HOST:PORT", help="Serve /metrics and /health here."),
    ] = None,
    cadence_ms: Annotated[
        int | None, typer.Option("--cadence-ms", help="Default: the Almanac's tick_cadence_ms.")
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="URL,CONTRACT,KEYFILE",
            help="Chronicle seats: anchor sealed heads on this chain (default: no anchoring).",
        ),
    ] = None,
) -> None:
    """Run ONE committee member (the same member `up` runs) until SIGTERM.

    Logs are JSON lines on stderr; status.json is rewritten in --data every half second.
    `coalition plan` writes each seat's flags for a deployment over several hosts.
    """
    from .runtime.hosts import member_spec  # noqa: PLC0415 - only this command needs it
    from .runtime.logs import configure as configure_logs  # noqa: PLC0415
    from .runtime.member import serve  # noqa: PLC0415

    if cadence_ms is not None and cadence_ms <= 0:
        raise BadInputError("--cadence-ms must be > 0")
    cfg = _load(file).config
    try:
        spec = member_spec(
            cfg,
            seat=seat,
            key_file=key,
            operator_key_file=operator_key,
            listen=listen,
            peers=peer,
            data_dir=data,
            metrics=metrics,
            cadence_ms=cadence_ms,
        )
        source = parse_anchor_option(anchor) if anchor is not None else None
    except (PlanError, ValueError) as exc:
        raise BadInputError(str(exc)) from None
    configure_logs(spec.seat)
    outcome = asyncio.run(serve(spec, source))
    if outcome.error is not None:
        err.print(f"error: {spec.seat}: {printable(outcome.error)}", markup=False)
    raise typer.Exit(outcome.code)


@member_app.command("status")
def member_status(
    data: Annotated[Path, typer.Option("--data", help="The member's own data directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print its status.json as JSON.")] = False,
) -> None:
    """The status of ONE member run on this host, from its status.json.

    Exit status: 0 healthy (running, knows a leader), 1 degraded (running without a leader,
    repairing its log or reporting an error), 2 not running. Its logs are its stderr (JSON
    lines): under systemd, `journalctl -u coalition-member@SEAT`.
    """
    st = read_json(data / "status.json")
    if st is None and not data.is_dir():
        raise BadInputError(f"{data}: no such member data directory")
    word, code = member_health(st)
    if as_json:
        out.print_json(json.dumps({"health": word, "status": st}, ensure_ascii=False))
        raise typer.Exit(code)
    if st is None:
        out.print(f"{data}: {word} (no status.json yet)", markup=False)
        raise typer.Exit(code)
    figures = st.get("module_status") or {}
    leader = figures.get("leader") if isinstance(figures, dict) else None
    shown = {
        k: v for k, v in (figures.items() if isinstance(figures, dict) else ())
        if isinstance(v, int) and not isinstance(v, bool)
    }  # fmt: skip
    line = f"{st.get('module', '?')}-{st.get('index', '?')} {word} pid {st.get('pid')}"
    line += f" state {st.get('state')} leader {str(leader)[:16] if leader else 'none'}"
    if st.get("error"):
        line += f" error {printable(str(st['error']))}"
    out.print(line, markup=False)
    out.print("  " + ", ".join(f"{k} {v}" for k, v in sorted(shown.items())), markup=False)
    raise typer.Exit(code)


@app.command("plan")
def plan_cmd(
    file: FileArg,
    hosts: Annotated[Path, typer.Argument(help="HOSTS.toml: [hosts.NAME] address = IP.")],
    out_dir: Annotated[Path, typer.Option("--out", help="A new directory for the plan.")] = Path(
        "coalition-plan"
    ),
) -> None:
    """Deal the committee seats over several hosts: keys and `member run` flags per host."""
    from .runtime.hosts import plan_hosts, read_hosts, write_host_plan  # noqa: PLC0415

    cfg = _load(file).config
    try:
        spec = read_hosts(hosts)
        seats = plan_hosts(cfg, {n: h.address for n, h in spec.hosts.items()}, spec.base_port)
        written = write_host_plan(out_dir, seats)
    except PlanError as exc:
        raise BadInputError(str(exc)) from None
    for d in written:
        held = [s.seat for s in seats if s.host == d.name]
        out.print(f"wrote {d}/ ({', '.join(held)})")
    out.print("copy each host's directory to it; see docs/operators/runbook.md")


def _stop_leftover_members(data_dir: Path, plan: Plan) -> int:
    """Members whose supervisor died (they also exit on their own within ~0.5 s)."""
    count = 0
    for p in plan.processes:
        st = read_json(data_dir / p.data_dir / "status.json") or {}
        pid = st.get("pid")
        if isinstance(pid, int) and is_member_process(pid):
            os.kill(pid, signal.SIGTERM)
            count += 1
    return count


COMMANDS_GROUP: Final = "coalition.commands"


def _add_plugin_commands() -> None:
    """Sub-commands higher layers register (``coalition provider``, ...): typer apps under the
    ``coalition.commands`` entry-point group. A broken plugin is named and skipped."""
    for ep in entry_points(group=COMMANDS_GROUP):
        try:
            sub = ep.load()
        except Exception as exc:
            err.print(f"warning: command {ep.name!r} not loaded: {exc}", markup=False)
            continue
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=ep.name)


_add_plugin_commands()


def main() -> None:
    try:
        app()
    except BadInputError as exc:
        message = str(exc)
    except OSError as exc:  # a path problem no command anticipated: still one line
        message = _os_error(exc)
    else:
        return
    err.print(f"error: {printable(message)}", markup=False)
    sys.exit(EXIT_BAD_INPUT)
