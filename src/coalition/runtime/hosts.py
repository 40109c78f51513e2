"""Members on separate hosts: ``coalition member run``'s flags and ``coalition plan``'s layout.

``coalition up`` plans every seat on loopback in one data directory. Operators who each run
their own seats on their own hosts describe the hosts in a small TOML file instead::

    base_port = 7400            # optional; each host numbers its seats' ports from here
    [hosts.alpha]
    address = "10.0.0.1"        # the interface the members listen on (and advertise)
    [hosts.beta]
    address = "10.0.0.2"

`plan_hosts` deals the seats out (seat ``i`` of every committee on host ``i mod n``, so no host
holds a committee's majority when there are three or more) and `write_host_plan` writes one
directory per host: its seats' keys, the coalition operator key, and one ``SEAT.args`` file per
seat holding exactly the ``coalition member run`` flags for that seat. The systemd unit and the
container read those files (deploy/). `member_spec` turns the same flags into the
`MemberSpec` that ``up``'s members are also built into, so both paths run one function
(runtime.member.serve).
"""

from __future__ import annotations

import errno
import ipaddress
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from pymosaik.primitives import UNIVERSE, PeerId, SecretKey
from pymosaik.transport import EndpointAddr

from ..bounded_read import UnreadableFileError, read_bounded
from ..config import CoalitionConfig
from ..modules import ModuleKind
from .files import DIR_MODE, read_key, write_key
from .member import MemberSpec
from .plan import COMMITTEE_SIZE, PlanError, cadence_of, runnable_modules

__all__ = [
    "HostsFile",
    "SeatAddr",
    "member_spec",
    "parse_address",
    "parse_peer",
    "parse_seat",
    "plan_hosts",
    "read_hosts",
    "write_host_plan",
]

DEFAULT_BASE_PORT: Final = 7400
#: Metrics ports sit this far above the seat's network port.
METRICS_OFFSET: Final = 100
MAX_HOSTS_BYTES: Final = 64 * 1024
OPERATOR_KEY: Final = "operator.key"


def parse_seat(text: str, cfg: CoalitionConfig) -> tuple[ModuleKind, int]:
    """``atlas-0`` → (ATLAS, 0), refusing modules the coalition does not ship or run."""
    here = runnable_modules(cfg)
    module, _, index = text.rpartition("-")
    names = ", ".join(f"{k.value}-N" for k in here)
    kind = next((k for k in here if k.value == module), None)
    if kind is None or not index.isdigit():
        raise PlanError(f"unknown seat {text!r}; this coalition's seats are {names}")
    return kind, int(index)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) with a literal IP address: members advertise
    the address they listen on, so a wildcard (0.0.0.0, ::) is refused."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise PlanError(f"{text!r} is not HOST:PORT")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise PlanError(f"{text!r}: HOST must be an IP address, got {host!r}") from None
    if ip.is_unspecified:
        raise PlanError(f"{text!r}: listen on one interface's address, not a wildcard")
    return str(ip), int(port)


@dataclass(frozen=True)
class SeatAddr:
    """A peer given as ``[SEAT=]PEER@HOST:PORT`` (SEAT: it is in that committee)."""

    seat: tuple[ModuleKind, int] | None
    endpoint: EndpointAddr


def parse_peer(text: str, cfg: CoalitionConfig) -> SeatAddr:
    seat_text, eq, rest = text.partition("=")
    if not eq:
        seat_text, rest = "", text
    peer_hex, at, address = rest.partition("@")
    if not at:
        raise PlanError(f"peer {text!r} is not [SEAT=]PEER@HOST:PORT")
    try:
        peer = PeerId.from_hex(peer_hex)
    except ValueError:
        raise PlanError(f"peer {text!r}: PEER must be a 64-hex peer id") from None
    seat = parse_seat(seat_text, cfg) if seat_text else None
    return SeatAddr(seat, EndpointAddr.of(peer, parse_address(address)))


def read_key_file(path: Path) -> SecretKey:
    try:
        return read_key(path)
    except UnreadableFileError as exc:
        raise PlanError(str(exc)) from None
    except ValueError as exc:
        raise PlanError(f"{path}: {exc}") from None


def member_spec(
    cfg: CoalitionConfig,
    *,
    seat: str,
    key_file: Path,
    operator_key_file: Path,
    listen: str,
    peers: Sequence[str],
    data_dir: Path,
    metrics: str | None = None,
    cadence_ms: int | None = None,
) -> MemberSpec:
    """``coalition member run``'s flags as a `MemberSpec`; `PlanError` (one line) if wrong."""
    kind, index = parse_seat(seat, cfg)
    addr = parse_address(listen)
    key = read_key_file(key_file)
    operator = read_key_file(operator_key_file)
    parsed = [parse_peer(p, cfg) for p in peers]
    if not parsed:
        raise PlanError("give the other members as --peer SEAT=PEER@HOST:PORT (or a bootstrap)")
    mine: dict[int, EndpointAddr] = {index: EndpointAddr.of(key.peer_id, addr)}
    for p in parsed:
        if p.seat is None or p.seat[0] is not kind:
            continue
        if p.seat[1] in mine:
            raise PlanError(f"seat {kind.value}-{p.seat[1]} given twice")
        mine[p.seat[1]] = p.endpoint
    if len(mine) < 2:
        raise PlanError(f"no other {kind.value} member among the peers: name them SEAT=…")
    committee = tuple(mine[i] for i in sorted(mine))
    return MemberSpec(
        coalition=cfg,
        kind=kind,
        index=index,
        key=key,
        operator_key=operator,
        network_id=UNIVERSE,
        listen=addr,
        committee=committee,
        bootstrap=tuple(p.endpoint for p in parsed if p.endpoint not in committee),
        data_dir=data_dir,
        cadence_ms=cadence_ms or cadence_of(cfg),
        metrics=parse_address(metrics) if metrics else None,
    )


# ---- the per-host plan -----------------------------------------------------------------


class Host(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    address: str


class HostsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    hosts: dict[str, Host]
    base_port: int = DEFAULT_BASE_PORT


def read_hosts(path: Path) -> HostsFile:
    try:
        raw = read_bounded(path, MAX_HOSTS_BYTES)
    except UnreadableFileError as exc:
        raise PlanError(str(exc)) from None
    try:
        hosts = msgspec.toml.decode(raw, type=HostsFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PlanError(f"{path}: {exc}") from None
    if not hosts.hosts:
        raise PlanError(f"{path}: no [hosts.NAME] tables")
    if not 0 < hosts.base_port < 65536 - 2 * METRICS_OFFSET:
        raise PlanError(f"{path}: base_port {hosts.base_port} out of range")
    for name, host in hosts.hosts.items():
        if not name.replace("-", "").replace("_", "").isalnum():
            raise PlanError(f"{path}: host name {name!r} must be letters, digits, - or _")
        parse_address(f"{host.address}:1")
    return hosts


@dataclass(frozen=True)
class PlannedSeat:
    host: str
    kind: ModuleKind
    index: int
    key: SecretKey
    listen: tuple[str, int]
    metrics: tuple[str, int]

    @property
    def seat(self) -> str:
        return f"{self.kind.value}-{self.index}"

    def peer_arg(self) -> str:
        host, port = self.listen
        shown = f"[{host}]" if ":" in host else host
        return f"{self.seat}={self.key.peer_id.hex()}@{shown}:{port}"


def plan_hosts(
    cfg: CoalitionConfig, hosts: Mapping[str, str], base_port: int = DEFAULT_BASE_PORT
) -> list[PlannedSeat]:
    """Every committee seat with a fresh key, dealt round-robin over ``hosts`` (name → IP)."""
    modules = runnable_modules(cfg)
    if not modules:
        raise PlanError("the coalition ships no module this runtime runs")
    names = list(hosts)
    used: dict[str, int] = dict.fromkeys(names, 0)
    seats = []
    for kind in modules:
        for index in range(COMMITTEE_SIZE):
            host = names[index % len(names)]
            port = base_port + used[host]
            used[host] += 1
            addr = hosts[host]
            seats.append(
                PlannedSeat(
                    host,
                    kind,
                    index,
                    SecretKey.generate(),
                    (addr, port),
                    (addr, port + METRICS_OFFSET),
                )
            )
    return seats


def seat_args(seat: PlannedSeat, seats: Sequence[PlannedSeat]) -> list[str]:
    """The ``coalition member run`` flags for ``seat`` (keys and data dir are the unit's)."""
    host, port = seat.listen
    mhost, mport = seat.metrics
    args = ["--seat", seat.seat, "--listen", f"{host}:{port}", "--metrics", f"{mhost}:{mport}"]
    for other in seats:
        if other is not seat:
            args += ["--peer", other.peer_arg()]
    return args


def write_host_plan(
    out: Path, seats: Sequence[PlannedSeat], operator: SecretKey | None = None
) -> list[Path]:
    """``out/HOST/{operator.key, SEAT.key, SEAT.args}`` for every host; the written dirs."""
    if out.exists() and any(out.iterdir()):
        raise PlanError(f"{out}: not empty; refusing to overwrite keys")
    operator = operator or SecretKey.generate()
    dirs: dict[str, Path] = {}
    try:
        for seat in seats:
            d = dirs.get(seat.host)
            if d is None:
                d = dirs[seat.host] = out / seat.host
                d.mkdir(mode=DIR_MODE, parents=True)
                write_key(d / OPERATOR_KEY, operator)
            write_key(d / f"{seat.seat}.key", seat.key)
            (d / f"{seat.seat}.args").write_text(
                shlex.join(seat_args(seat, seats)) + "\n", encoding="utf-8"
            )
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise PlanError(f"{exc.filename}: exists; refusing to overwrite keys") from None
        raise PlanError(f"{out}: cannot write the plan: {exc.strerror}") from None
    return list(dirs.values())
