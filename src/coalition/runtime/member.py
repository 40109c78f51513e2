"""One module committee member as an OS process: ``python -m coalition.runtime.member``.

``--plan DATA/plan.json --module KIND --index I`` loads the plan, its own key
and the coalition operator key, joins the network on its planned loopback port
with every other planned process as a bootstrap peer, and runs the module's
committee member (`coalition.services.committees.start_member`). A Chronicle
member given ``--anchor-info DATA/anchor/anchor.json`` (the simulated anchor node;
it waits for the file) or ``--anchor URL,CONTRACT,KEYFILE`` anchors its sealed heads
over JSON-RPC (runtime.anchor_client); without either it does not anchor.

Every ~0.5 s it rewrites ``status.json`` in its own directory (atomically):
pid, module, index, peer id, times, ``state`` (starting, running, retiring,
retired, stopping, stopped, failed) and the member's own figures under
``module_status``.

Signals and requests:

* SIGTERM / SIGINT: ordinary stop — close the member and the network, no retirement;
* SIGUSR1, or a file named ``retire`` in its directory: commit the module's
  RetirementMarker (``member.retire()``), then keep serving until stopped;
* the supervisor going away (parent pid changes) is treated as SIGTERM, so a
  killed supervisor never leaves members behind.

Exit status: 0 after a clean stop, 1 when the member could not start or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from pymosaik.network import Network
from pymosaik.primitives import SecretKey, UniqueId
from pymosaik.transport import EndpointAddr

from ..config import CoalitionConfig
from ..modules import ModuleKind
from ..services.committee_access import SEAT_RENEW_MS, advertise_seat
from ..services.module import ModuleMember
from .anchoring import ExternalAnchor, parse_anchor_option
from .files import now, write_json_atomic
from .logs import configure as configure_logs
from .metrics import MetricsServer
from .plan import PlanError, load_plan, load_process_key

if TYPE_CHECKING:  # web3 costs ~1 s to import: only Chronicle members load the client
    from ..services.anchor import EvmAnchor

__all__ = [
    "START_MEMBER_ENV",
    "MemberExit",
    "MemberSpec",
    "ModuleMember",
    "StartMember",
    "load_start_member",
    "main",
    "serve",
    "spec_from_plan",
]

log = logging.getLogger("coalition.runtime.member")

STATUS_FILE: Final = "status.json"
RETIRE_FILE: Final = "retire"
STATUS_INTERVAL: Final = 0.5
CLOSE_TIMEOUT: Final = 5.0
#: Tests only: ``module:function`` replacing the real committees' `start_member` (the
#: supervisor's tests run a stand-in without consensus this way; the stand-in lives in tests/).
START_MEMBER_ENV: Final = "COALITION_RUNTIME_START_MEMBER"
REAL_START_MEMBER: Final = "coalition.services.committees:start_member"


class StartMember(Protocol):
    def __call__(
        self,
        kind: ModuleKind,
        network: Network,
        coalition: CoalitionConfig,
        *,
        committee: Sequence[EndpointAddr],
        operator_key: SecretKey,
        data_dir: Path,
        cadence_ms: int = ...,
        anchor: Any = ...,
    ) -> Coroutine[Any, Any, ModuleMember]: ...


def load_start_member() -> StartMember:
    """The real committees, unless a test named a stand-in through `START_MEMBER_ENV`."""
    spec = os.environ.get(START_MEMBER_ENV) or REAL_START_MEMBER
    module, _, name = spec.partition(":")
    return cast(StartMember, getattr(importlib.import_module(module), name))


class _Member:
    """The process's state between loop iterations: the member, its tasks, its status."""

    def __init__(self, status_path: Path, base: dict[str, object]) -> None:
        self.status_path = status_path
        self.base = base
        self.state = "starting"
        self.error: str | None = None
        self.member: ModuleMember | None = None
        self.starting: asyncio.Task[ModuleMember] | None = None
        self.retiring: asyncio.Task[None] | None = None
        self.retired = False
        self.anchor: EvmAnchor | None = None
        self.metrics: MetricsServer | None = None
        #: Renews the seat ticket in discovery (start_member put the first; it lives a day).
        self.renew_seat: Callable[[], None] | None = None
        self._renew_at = time.monotonic() + SEAT_RENEW_MS / 1000

    def write(self) -> None:
        figures: dict[str, object] = {}
        if self.member is not None:
            try:
                figures = self.member.status()
            except Exception as exc:  # a status bug must not kill a serving member
                figures = {"status_error": repr(exc)}
        if self.anchor is not None:  # anchor_error, if any, comes with the member's figures
            figures = figures | {"anchor": self.anchor.label}
        record = self.base | {
            "state": self.state,
            "error": self.error,
            "retired": self.retired or figures.get("retired") is True,
            "updated_at": now(),
            "module_status": figures,
        }
        if self.metrics is not None:
            self.metrics.publish(record)
        try:
            write_json_atomic(self.status_path, record)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.status_path, exc)

    def step(self, wants_retire: bool) -> bool:
        """Advance start-up, retirement and the seat ticket; False once the member failed to
        start."""
        if self.renew_seat is not None and time.monotonic() >= self._renew_at:
            self._renew_at = time.monotonic() + SEAT_RENEW_MS / 1000
            self.renew_seat()
        if self.member is None and self.starting is not None and self.starting.done():
            if (failure := self.starting.exception()) is not None:
                self.state, self.error = "failed", f"start_member: {failure!r}"
                log.error("start_member failed", exc_info=failure)
                return False
            self.member = self.starting.result()
            self.state = "running"
            log.info("member started")
        if self.member is not None and wants_retire and not self.retired and not self.retiring:
            log.info("retiring: committing the RetirementMarker")
            self.state = "retiring"
            self.retiring = asyncio.create_task(self.member.retire())
        if self.retiring is not None and self.retiring.done():
            if (failure := self.retiring.exception()) is not None:
                self.error = f"retire: {failure!r}"
                log.warning("retire failed, will retry", exc_info=failure)
            else:
                self.retired, self.state, self.error = True, "retired", None
                log.info("retired")
            self.retiring = None
        return True

    async def open_anchor(self, source: AnchorSource, stop: asyncio.Event) -> int | None:
        """Build the anchor client; an exit code when the process must end instead."""
        if source is None:
            return None
        try:
            self.anchor = await open_anchor(source, stop)
        except PlanError as exc:
            self.state, self.error = "failed", f"anchor: {exc}"
            log.error("%s", self.error)
            return 1
        if self.anchor is None:  # stopped while waiting for the anchor node
            return 0
        log.info("anchoring sealed heads to %s", self.anchor.label)
        return None

    async def shutdown(self, net: Network) -> None:
        """Ordinary stop: cancel pending work, close the member, then the network."""
        if self.state != "failed":
            self.state = "stopping"
        self.write()
        for task in (self.starting, self.retiring):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self.member is not None:
            try:
                await asyncio.wait_for(self.member.close(), CLOSE_TIMEOUT)
            except Exception as exc:
                log.warning("member close: %r", exc)
        try:
            await asyncio.wait_for(net.close(), CLOSE_TIMEOUT)
        except Exception as exc:
            log.warning("network close: %r", exc)
        if self.state != "failed":
            self.state = "stopped"
        self.write()
        if self.metrics is not None:
            self.metrics.close()
        log.info("stopped (%s)", self.state)


#: Where a Chronicle member anchors: the simulated node's info file, an external chain, or none.
AnchorSource = Path | ExternalAnchor | None


async def open_anchor(source: AnchorSource, stop: asyncio.Event) -> EvmAnchor | None:
    """The anchor client for ``source`` (web3 is imported only here, for Chronicle members)."""
    if source is None:
        return None
    client = importlib.import_module("coalition.runtime.anchor_client")
    opened: EvmAnchor | None = await client.open_anchor(source, stop)
    return opened


@dataclass(frozen=True)
class MemberSpec:
    """Everything one member needs to run, however it was told: ``up``'s plan or
    ``coalition member run``'s flags (runtime.seats) both end here, in `serve`."""

    coalition: CoalitionConfig
    kind: ModuleKind
    index: int
    key: SecretKey
    operator_key: SecretKey
    network_id: UniqueId
    #: The address it listens on and advertises (a real interface, or loopback for ``up``).
    listen: tuple[str, int]
    #: Its module committee, itself included, in seat order (every member must agree).
    committee: tuple[EndpointAddr, ...]
    #: Other nodes to join the network through (the other committees, a bootstrap).
    bootstrap: tuple[EndpointAddr, ...]
    data_dir: Path
    cadence_ms: int
    #: Where /metrics and /health are served (None: not at all).
    metrics: tuple[str, int] | None = None
    #: Stop when the parent process goes away (``up``'s members; not a systemd unit).
    watch_parent: bool = False

    @property
    def seat(self) -> str:
        return f"{self.kind.value}-{self.index}"


def spec_from_plan(plan_path: Path, kind: ModuleKind, index: int) -> MemberSpec:
    """``up``'s member: its seat in ``plan.json``, every other planned process a bootstrap."""
    data_dir = plan_path.parent
    plan = load_plan(data_dir)
    me = plan.process(kind, index)
    return MemberSpec(
        coalition=plan.coalition(),
        kind=kind,
        index=index,
        key=load_process_key(data_dir, me.key_file),
        operator_key=load_process_key(data_dir, plan.operator_key_file),
        network_id=UniqueId.from_hex(plan.network_id),
        listen=(me.host, me.port),
        committee=tuple(p.endpoint() for p in plan.committee(kind)),
        bootstrap=tuple(p.endpoint() for p in plan.processes if p != me),
        data_dir=data_dir / me.data_dir,
        cadence_ms=plan.cadence_ms,
        metrics=(me.host, me.metrics_port) if me.metrics_port else None,
        watch_parent=True,
    )


def _socket_reason(exc: OSError) -> str:
    """``address already in use`` rather than asyncio's sentence around it."""
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


@dataclass(frozen=True)
class MemberExit:
    code: int
    #: The one-line cause when the member could not start or failed.
    error: str | None = None


async def serve(spec: MemberSpec, anchor_source: AnchorSource = None) -> MemberExit:
    """Run one member until SIGTERM/SIGINT (or its parent going away, if watched)."""
    kind, index, my_dir = spec.kind, spec.index, spec.data_dir
    host, port = spec.listen
    try:
        my_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return MemberExit(1, f"{my_dir}: cannot create the data directory: {exc.strerror}")
    start_member = load_start_member()
    proc = _Member(
        my_dir / STATUS_FILE,
        {"pid": os.getpid(), "module": kind.value, "index": index}
        | {"peer_id": spec.key.peer_id.hex(), "port": port, "started_at": now()},
    )

    def failed(error: str) -> MemberExit:
        proc.state, proc.error = "failed", error
        proc.write()
        log.error("%s", error)
        return MemberExit(1, error)

    if spec.metrics is not None:
        try:
            proc.metrics = MetricsServer(*spec.metrics)
        except OSError as exc:
            where = f"{spec.metrics[0]}:{spec.metrics[1]}"
            return failed(f"cannot serve metrics on {where}: {_socket_reason(exc)}")
        proc.metrics.start()

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    retire_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, retire_requested.set)
    parent = os.getppid()
    proc.write()

    try:
        net = await Network.create(
            spec.network_id,
            secret_key=spec.key,
            host=host,
            port=port,
            bootstrap=list(spec.bootstrap),
        )
    except OSError as exc:
        if proc.metrics is not None:
            proc.metrics.close()
        return failed(f"cannot listen on {host}:{port}: {_socket_reason(exc)}")
    log.info("%s up as %s on %s:%d", spec.seat, spec.key.peer_id.hex()[:8], host, port)
    source = anchor_source if kind is ModuleKind.CHRONICLE else None
    if (exit_code := await proc.open_anchor(source, stop)) is not None:
        await proc.shutdown(net)
        return MemberExit(exit_code, proc.error)
    proc.starting = asyncio.create_task(
        start_member(
            kind,
            net,
            spec.coalition,
            committee=list(spec.committee),
            operator_key=spec.operator_key,
            data_dir=my_dir,
            cadence_ms=spec.cadence_ms,
            anchor=proc.anchor,
        )
    )
    proc.renew_seat = functools.partial(
        advertise_seat, spec.coalition, kind, operator_key=spec.operator_key, network=net
    )
    try:
        while not stop.is_set():
            wants_retire = retire_requested.is_set() or (my_dir / RETIRE_FILE).exists()
            if not proc.step(wants_retire):
                return MemberExit(1, proc.error)
            if spec.watch_parent and os.getppid() != parent:
                log.warning("supervisor went away; stopping")
                break
            proc.write()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_INTERVAL)
    finally:
        await proc.shutdown(net)
    return MemberExit(0)


async def run(
    plan_path: Path, kind: ModuleKind, index: int, anchor_source: AnchorSource = None
) -> int:
    """``up``'s member process: `serve` the seat ``plan.json`` gives it."""
    return (await serve(spec_from_plan(plan_path, kind, index), anchor_source)).code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coalition.runtime.member")
    parser.add_argument("--plan", type=Path, required=True, help="DATA/plan.json")
    parser.add_argument("--module", required=True, choices=[k.value for k in ModuleKind])
    parser.add_argument("--index", type=int, required=True)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--anchor-info", type=Path, help="the simulated anchor node's anchor.json (Chronicle)"
    )
    where.add_argument("--anchor", help="URL,CONTRACT,KEYFILE of an external chain (Chronicle)")
    args = parser.parse_args(argv)
    source: AnchorSource = args.anchor_info
    if args.anchor is not None:
        try:
            source = parse_anchor_option(args.anchor)
        except ValueError as exc:
            parser.error(f"--anchor: {exc}")
    configure_logs(f"{args.module}-{args.index}")
    try:
        return asyncio.run(run(args.plan, ModuleKind(args.module), args.index, source))
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
