"""The data directory of a locally run coalition and its ``plan.json``.

The plan is created once by ``coalition up`` and reused on every restart, so
keys, peer ids and ports stay the same and members find their durable state
again. Paths inside the plan are relative to the data directory, so the
directory can be moved as a whole. The plan is JSON (never pickle) and holds
no secrets: keys live in separate 0600 files under ``keys/``.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import msgspec

from pymosaik.primitives import UNIVERSE, DecodeError, PeerId, SecretKey, decode
from pymosaik.transport import EndpointAddr
from pymosaik.transport.ports import free_ports as loopback_ports

from ..bounded_read import UnreadableFileError, read_bounded
from ..config import CoalitionConfig
from ..modules import ModuleKind
from ..services.registry import runnable
from .files import DIR_MODE, MAX_JSON_BYTES, read_key, write_key

__all__ = [
    "COMMITTEE_SIZE",
    "PLAN_FILE",
    "Plan",
    "PlanError",
    "ProcessPlan",
    "create_or_load",
    "default_data_dir",
    "free_ports",
    "load_plan",
    "runnable_modules",
]

PLAN_FILE: Final = "plan.json"
PLAN_VERSION: Final = 1
COMMITTEE_SIZE: Final = 3
HOST: Final = "127.0.0.1"
DEFAULT_CADENCE_MS: Final = 1000


class PlanError(Exception):
    """A data directory that cannot be used; the message is one line for the operator."""


class ProcessPlan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One member process: which committee seat it fills and where it lives."""

    module: str
    index: int
    peer_id: str
    host: str
    port: int
    key_file: str
    data_dir: str
    #: Where the member serves /metrics and /health (0: none; plans made before it existed).
    metrics_port: int = 0

    @property
    def name(self) -> str:
        return f"{self.module}-{self.index}"

    @property
    def kind(self) -> ModuleKind:
        return ModuleKind(self.module)

    def endpoint(self) -> EndpointAddr:
        return EndpointAddr.of(PeerId.from_hex(self.peer_id), (self.host, self.port))


class Plan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything a member process needs except secrets, and what ``status`` shows."""

    version: int
    instance_name: str
    fingerprint: str
    handshake_hex: str
    network_id: str
    cadence_ms: int
    operator_peer_id: str
    operator_key_file: str
    processes: tuple[ProcessPlan, ...]

    def coalition(self) -> CoalitionConfig:
        return CoalitionConfig.from_hex(self.handshake_hex)

    def modules(self) -> tuple[ModuleKind, ...]:
        return tuple(dict.fromkeys(p.kind for p in self.processes))

    def committee(self, kind: ModuleKind) -> tuple[ProcessPlan, ...]:
        return tuple(p for p in self.processes if p.module == kind.value)

    def process(self, kind: ModuleKind, index: int) -> ProcessPlan:
        for p in self.processes:
            if p.module == kind.value and p.index == index:
                return p
        raise PlanError(f"the plan has no {kind.value} member {index}")


def default_data_dir(cfg: CoalitionConfig, root: Path = Path(".coalition")) -> Path:
    """``root/<instance-name>``, with anything that is not a safe file name replaced by ``_``."""
    name = re.sub(r"[^\w.\-]", "_", cfg.instance_name).lstrip(".") or "_"
    return root / name


def runnable_modules(cfg: CoalitionConfig) -> tuple[ModuleKind, ...]:
    """The shipped modules this runtime starts committees for, in slot order (the registry
    says which modules have a committee implementation; the others are named and skipped)."""
    return tuple(k for k in cfg.shipped_modules() if k in runnable())


def cadence_of(cfg: CoalitionConfig) -> int:
    """The Almanac's ``tick_cadence_ms`` content parameter, else the default.

    A value that is present but not a positive integer is refused (it is in the fingerprint:
    silently running another cadence would contradict what the coalition published).
    """
    almanac = cfg.module(ModuleKind.ALMANAC)
    if almanac is None or not almanac.body.content.preimage:
        return DEFAULT_CADENCE_MS
    try:
        params = decode(almanac.body.content.preimage, dict)
    except DecodeError:
        return DEFAULT_CADENCE_MS  # content that is not a parameter table names no cadence
    if "tick_cadence_ms" not in params:
        return DEFAULT_CADENCE_MS
    value = params["tick_cadence_ms"]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PlanError(f"almanac tick_cadence_ms must be a positive integer, got {value!r}")
    return value


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports for the plan's processes."""
    return loopback_ports(count, HOST)


def load_plan(data_dir: Path) -> Plan:
    path = data_dir / PLAN_FILE
    try:
        raw = read_bounded(path, MAX_JSON_BYTES)
    except UnreadableFileError as exc:
        if exc.errno == errno.ENOENT:
            raise PlanError(
                f"{data_dir}: no {PLAN_FILE}; is this a coalition data directory?"
            ) from None
        raise PlanError(str(exc)) from None
    try:
        plan = msgspec.json.decode(raw, type=Plan)
    except msgspec.ValidationError as exc:
        raise PlanError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise PlanError(f"{path}: invalid JSON: {exc}") from None
    if plan.version != PLAN_VERSION:
        raise PlanError(f"{path}: plan version {plan.version}, this runtime reads {PLAN_VERSION}")
    return plan


def load_process_key(data_dir: Path, rel: str) -> SecretKey:
    try:
        return read_key(data_dir / rel)
    except UnreadableFileError as exc:
        if exc.errno == errno.ENOENT:
            raise PlanError(f"{data_dir / rel}: key file missing") from None
        raise PlanError(str(exc)) from None
    except ValueError as exc:
        raise PlanError(str(exc)) from None


def _new_plan(
    data_dir: Path, cfg: CoalitionConfig, modules: Sequence[ModuleKind], cadence_ms: int
) -> Plan:
    keys = data_dir / "keys"
    keys.mkdir(mode=DIR_MODE, exist_ok=True)
    operator = SecretKey.generate()
    write_key(keys / "operator.key", operator)
    ports = iter(free_ports(2 * COMMITTEE_SIZE * len(modules)))
    procs = []
    for kind in modules:
        (data_dir / kind.value).mkdir(mode=DIR_MODE, exist_ok=True)
        for index in range(COMMITTEE_SIZE):
            key = SecretKey.generate()
            key_rel = f"keys/{kind.value}-{index}.key"
            write_key(data_dir / key_rel, key)
            member_rel = f"{kind.value}/{index}"
            (data_dir / member_rel).mkdir(mode=DIR_MODE, exist_ok=True)
            procs.append(
                ProcessPlan(
                    kind.value,
                    index,
                    key.peer_id.hex(),
                    HOST,
                    next(ports),
                    key_rel,
                    member_rel,
                    metrics_port=next(ports),
                )
            )
    return Plan(
        PLAN_VERSION,
        cfg.instance_name,
        cfg.stable_id().hex(),
        cfg.to_hex(),
        UNIVERSE.hex(),
        cadence_ms,
        operator.peer_id.hex(),
        "keys/operator.key",
        tuple(procs),
    )


def create_or_load(
    data_dir: Path, cfg: CoalitionConfig, cadence_ms: int | None = None
) -> tuple[Plan, bool]:
    """The plan for ``cfg`` in ``data_dir``: created on first use, else reused (restart).

    Returns ``(plan, created)``. A directory holding another coalition's plan is
    refused rather than reused: its keys and state belong to that fingerprint.
    """
    modules = runnable_modules(cfg)
    if not modules:
        names = ", ".join(k.value for k in runnable())
        raise PlanError(f"the coalition ships none of {names}; there is no committee to run")
    if (data_dir / PLAN_FILE).exists():
        plan = load_plan(data_dir)
        if plan.fingerprint != cfg.stable_id().hex():
            raise PlanError(
                f"{data_dir} holds coalition {plan.instance_name!r} ({plan.fingerprint[:16]}…), "
                f"not {cfg.instance_name!r} ({cfg.stable_id().hex()[:16]}…); use another --data"
            )
        for p in plan.processes:
            load_process_key(data_dir, p.key_file)
        return plan, False
    try:
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise PlanError(f"{data_dir}: cannot create the data directory: {exc.strerror}") from None
    if (data_dir / "keys").exists():
        raise PlanError(f"{data_dir}: has keys/ but no {PLAN_FILE}; refusing to overwrite keys")
    plan = _new_plan(data_dir, cfg, modules, cadence_ms or cadence_of(cfg))
    tmp = data_dir / f".{PLAN_FILE}.tmp"
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(plan), indent=1) + b"\n")
    tmp.replace(data_dir / PLAN_FILE)
    return plan, True
