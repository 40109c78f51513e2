"""``coalition provider``: run a Compute provider against a coalition, from the command line.

Registered under the ``coalition.commands`` entry-point group (pyproject), so the coalition CLI
offers it without importing this package. ``add`` puts a workload in the provider's
content-addressed store and prints its pin (what a request names); ``run`` signs and registers
the provider's card (refreshed well before ``max_card_age_ms``), then runs every grant naming
it (`ProviderAgent`: hash checked before start, limits enforced, usage log committed, the
sealed receipt posted on the module's reply board) until stopped. Heavy imports happen inside
the commands: the coalition CLI loads this module on every start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich.console import Console

if TYPE_CHECKING:
    from coalition.config import CoalitionConfig
    from pymosaik.network import Network
    from pymosaik.primitives import NetworkId, PeerId, SecretKey
    from pymosaik.transport import EndpointAddr

    from .items import ProviderCard
    from .module import ProviderWriter
    from .provider import LocalProvider

__all__ = ["app"]

EXIT_BAD_INPUT: Final = 2
#: Share of ``max_card_age_ms`` after which the card is signed and registered again.
REFRESH_SHARE: Final = 3

app = typer.Typer(
    help="Run a Compute provider: add workloads to its store, serve the grants naming it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _BadInputError(Exception):
    """An operator mistake: one line on stderr, exit 2."""


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_BAD_INPUT)


StoreOpt = Annotated[
    Path, typer.Option("--store", help="The provider's workload store (a directory).")
]


@app.command()
def add(
    workload: Annotated[Path, typer.Argument(help="A Python file the provider will run.")],
    store: StoreOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Put WORKLOAD in the store and print its pin (the content hash a request names)."""
    from coalition.bounded_read import UnreadableFileError, read_bounded  # noqa: PLC0415

    from .provider import WorkloadStore  # noqa: PLC0415

    try:
        image = read_bounded(workload, MAX_WORKLOAD_BYTES)
        pin = WorkloadStore(store).put(image)
    except (UnreadableFileError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        out.print_json(json.dumps({"pin": pin.hex(), "bytes": len(image), "store": str(store)}))
    else:
        out.print(pin.hex())


MAX_WORKLOAD_BYTES: Final = 16 * 1024 * 1024


@dataclass(frozen=True)
class _Target:
    coalition: CoalitionConfig
    network_id: NetworkId | None  # None: the default network
    bootstrap: tuple[EndpointAddr, ...]
    operator: PeerId | None  # whose seat tickets prove the committee's members, when known


def _target(
    file: Path | None, data: Path | None, bootstrap: list[str], operator: str | None
) -> _Target:
    """Where the provider joins: a running ``coalition up`` on this host (``--data``: its plan
    names the coalition, the network and the Compute members) or FILE plus ``--bootstrap``."""
    from coalition.config_file import ConfigError, load_coalition  # noqa: PLC0415
    from coalition.modules import ModuleKind  # noqa: PLC0415
    from coalition.runtime.plan import PlanError, load_plan  # noqa: PLC0415
    from pymosaik.primitives import PeerId, UniqueId  # noqa: PLC0415

    if data is not None:
        try:
            plan = load_plan(data)
        except PlanError as exc:
            raise _BadInputError(str(exc)) from None
        coalition = plan.coalition()
        seats = tuple(p.endpoint() for p in plan.committee(ModuleKind.COMPUTE))
        extra = tuple(_endpoint(b, coalition) for b in bootstrap)
        network = UniqueId.from_hex(plan.network_id)
        return _Target(coalition, network, seats + extra, PeerId.from_hex(plan.operator_peer_id))
    if file is None:
        raise _BadInputError(
            "give the coalition FILE with --bootstrap, or --data of a running `up`"
        )
    if not bootstrap:
        raise _BadInputError("--bootstrap PEER@HOST:PORT is needed with FILE (or use --data)")
    try:
        coalition = load_coalition(file).config
    except ConfigError as exc:
        raise _BadInputError(str(exc)) from None
    try:
        who = None if operator is None else PeerId.from_hex(operator)
    except ValueError:
        raise _BadInputError(f"--operator {operator!r}: expected a peer id (64 hex)") from None
    return _Target(coalition, None, tuple(_endpoint(b, coalition) for b in bootstrap), who)


def _endpoint(text: str, coalition: CoalitionConfig) -> EndpointAddr:
    """``--bootstrap PEER@HOST:PORT`` (the parser ``coalition member run --peer`` uses)."""
    from coalition.runtime.hosts import parse_peer  # noqa: PLC0415
    from coalition.runtime.plan import PlanError  # noqa: PLC0415

    try:
        return parse_peer(text, coalition).endpoint
    except PlanError as exc:
        raise _BadInputError(f"--bootstrap: {exc}") from None


@dataclass(frozen=True)
class Offer:
    """What the card declares (from the command line)."""

    regions: tuple[str, ...]
    cpu_millicores: int
    ram_mib: int
    per_core_hour: int
    per_gib_hour: int

    def check(self) -> None:
        if not self.regions or any(not r or len(r) > 32 for r in self.regions):
            raise _BadInputError("--region: give at least one region name (1-32 characters)")
        if self.cpu_millicores <= 0 or self.ram_mib <= 0:
            raise _BadInputError("--cpu-millicores and --ram-mib must be positive")
        if self.per_core_hour < 0 or self.per_gib_hour < 0:
            raise _BadInputError("rates must be non-negative micro-units")


def card_of(key: SecretKey, reply_key: bytes, offer: Offer, now_ms: int) -> ProviderCard:
    from .items import Capabilities, DeclaredRates, ProviderCard  # noqa: PLC0415

    return ProviderCard(
        key.peer_id.bytes,
        Capabilities(offer.regions, False, offer.cpu_millicores, offer.ram_mib),
        DeclaredRates(offer.per_core_hour, offer.per_gib_hour),
        b"",
        reply_key,
        now_ms,
    )


@app.command()
def run(
    file: Annotated[
        Path | None, typer.Argument(help="The coalition TOML file (not needed with --data).")
    ] = None,
    *,
    key: Annotated[
        Path, typer.Option("--key", help="The provider's key file (created, mode 600).")
    ],
    store: StoreOpt,
    data: Annotated[
        Path | None, typer.Option("--data", help="The data directory of a running `up` here.")
    ] = None,
    bootstrap: Annotated[
        list[str] | None,
        typer.Option("--bootstrap", help="A member to join through (PEER@HOST:PORT); repeatable."),
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option(
            "--operator",
            help="The coalition operator's peer id (`coalition status --json`): only members "
            "whose seat tickets it signed are believed. Read from the plan with --data.",
        ),
    ] = None,
    region: Annotated[
        list[str] | None, typer.Option("--region", help="A region it serves; repeatable.")
    ] = None,
    cpu_millicores: Annotated[int, typer.Option("--cpu-millicores")] = 2000,
    ram_mib: Annotated[int, typer.Option("--ram-mib")] = 4096,
    per_core_hour: Annotated[
        int, typer.Option("--per-core-hour", help="Micro-units per core-hour.")
    ] = 1000,
    per_gib_hour: Annotated[
        int, typer.Option("--per-gib-hour", help="Micro-units per GiB-hour.")
    ] = 100,
    run_for: Annotated[
        float | None, typer.Option("--for", help="Stop after this many seconds.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line instead of text.")
    ] = False,
) -> None:
    """Register this provider's signed card and serve every grant naming it until stopped."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    offer = Offer(tuple(region or ["local"]), cpu_millicores, ram_mib, per_core_hour, per_gib_hour)
    try:
        offer.check()
        target = _target(file, data, bootstrap or [], operator)
        code = asyncio.run(_serve(_Run(target, key, store, offer, run_for, as_json)))
    except _BadInputError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


def _say(as_json: bool, event: str, text: str, **fields: object) -> None:
    if as_json:
        out.print(json.dumps({"event": event, **fields}), markup=False, highlight=False)
    else:
        out.print(text, markup=False)


@dataclass(frozen=True)
class _Run:
    """One ``run``: where, as whom, what it offers, for how long, how it reports."""

    target: _Target
    key_file: Path
    store: Path
    offer: Offer
    run_for: float | None
    as_json: bool


async def _serve(r: _Run) -> int:
    from coalition.framework.errors import OrganismError  # noqa: PLC0415
    from coalition.runtime.files import load_or_create_seed  # noqa: PLC0415
    from pymosaik.network import Network  # noqa: PLC0415
    from pymosaik.primitives import UNIVERSE, SecretKey  # noqa: PLC0415

    from .items import provider_id  # noqa: PLC0415
    from .module import Compute, compute_config  # noqa: PLC0415
    from .private import compute_replies  # noqa: PLC0415
    from .provider import LocalProvider, WorkloadStore  # noqa: PLC0415

    coalition = r.target.coalition
    try:
        cfg = compute_config(coalition)
    except (ValueError, AssertionError):
        raise _BadInputError(f"{coalition.instance_name} ships no usable Compute module") from None
    if compute_replies(coalition) is None:
        raise _BadInputError(
            f"{coalition.instance_name}'s Compute runs no shuffle (`shuffle = true`)"
        )
    try:
        key = SecretKey(load_or_create_seed(r.key_file))
        workloads = WorkloadStore(r.store)
        (r.store / "runs").mkdir(exist_ok=True)
    except (OSError, ValueError) as exc:
        raise _BadInputError(str(exc)) from None
    net = await Network.create(
        r.target.network_id or UNIVERSE, secret_key=key, bootstrap=list(r.target.bootstrap)
    )
    provider = LocalProvider(
        key, provider_id(key.peer_id.bytes), workloads, workdir=r.store / "runs"
    )
    writer = Compute.publish(net, coalition)
    try:
        if not await _register(r, writer, key, OrganismError):
            return 1
        await _serve_grants(
            r,
            net,
            provider=provider,
            writer=writer,
            max_card_age_ms=cfg.max_card_age_ms,
            refused=OrganismError,
        )
        return 0
    finally:
        with contextlib.suppress(Exception):
            await writer.close()
        await net.close()


async def _register(
    r: _Run, writer: ProviderWriter, key: SecretKey, refused: type[Exception]
) -> bool:
    from .items import SignedCard  # noqa: PLC0415

    card = card_of(key, _reply_key(key), r.offer, int(time.time() * 1000))
    pid, name = card.provider_id.hex(), r.target.coalition.instance_name
    try:
        await writer.register(SignedCard.signed(key, card), timeout_s=30)
    except refused as exc:
        err.print(f"error: provider {pid[:12]}: {exc}", markup=False)
        return False
    _say(r.as_json, "registered", f"provider {pid} registered in {name}", provider=pid)
    return True


async def _serve_grants(
    r: _Run,
    net: Network,
    *,
    provider: LocalProvider,
    writer: ProviderWriter,
    max_card_age_ms: int,
    refused: type[Exception],
) -> None:
    """Run the agent until a signal or ``--for``; report each grant; refresh the card."""
    from coalition.modules import ModuleKind  # noqa: PLC0415
    from coalition.services.committee_access import committee_members  # noqa: PLC0415

    from .agent import ProviderAgent  # noqa: PLC0415
    from .items import SignedCard  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    producers = None
    if r.target.operator is not None:
        producers = committee_members(r.target.coalition, ModuleKind.COMPUTE, r.target.operator)
    agent = ProviderAgent(net, r.target.coalition, provider, producers=producers)
    deadline = None if r.run_for is None else loop.time() + r.run_for
    period = max(1.0, max_card_age_ms / 1000 / REFRESH_SHARE)
    shown, next_refresh = 0, loop.time() + period
    try:
        while not stop.is_set() and (deadline is None or loop.time() < deadline):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
            for h in agent.handled[shown:]:
                grant = h.log.body.grant_id.hex() if h.log is not None else "-"
                _say(r.as_json, "grant", f"grant {grant[:16]}: {h.reason}", grant=grant,
                     reason=h.reason)  # fmt: skip
            shown = len(agent.handled)
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + period
                key = provider.key
                card = card_of(key, _reply_key(key), r.offer, int(time.time() * 1000))
                try:
                    await writer.register(SignedCard.signed(key, card), timeout_s=10)
                except refused as exc:  # the next refresh tries again
                    _say(r.as_json, "refresh-failed", f"card refresh failed: {exc}",
                         reason=str(exc))  # fmt: skip
    finally:
        await agent.close()


def _reply_key(key: SecretKey) -> bytes:
    """The card's X25519 key, derived from the provider's seed (stable across restarts)."""
    import blake3  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: PLC0415

    seed = blake3.blake3(key.seed_bytes(), derive_key_context="compute provider reply v1")
    return X25519PrivateKey.from_private_bytes(seed.digest()).public_key().public_bytes_raw()
