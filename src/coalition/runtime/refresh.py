"""Asking a running module committee for a key refresh (``coalition refresh MODULE``).

A threshold key (the Randomness beacon's) is refreshed through its committee's log (D12: every
share moves, the group key stays). The operator's command is signed with the coalition operator
key kept in the data directory and reaches the committee's intake under a writer ticket the same
key signs (the intake admits no one else). The module declares the command and how to read the
machine's answer (`ModuleSpec.key_refresh`), so this package never imports the module's types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pymosaik.network import Network
from pymosaik.primitives import NetworkId, SecretKey, UniqueId
from pymosaik.tickets import Ticket

from ..config import CoalitionConfig
from ..framework.errors import Refused
from ..modules import ModuleKind
from ..services.committee_access import CommitteeRole, issue_committee_ticket
from ..services.module import KeyRefresh, wall_ms
from ..services.registry import runnable
from .plan import Plan, PlanError, load_process_key

__all__ = ["key_refresh_of", "refresh_running", "submit_refresh", "writer_identity"]

#: How long the writer ticket the command rides on lives.
TICKET_TTL_MS: Final = 10 * 60_000


def key_refresh_of(coalition: CoalitionConfig, kind: ModuleKind) -> KeyRefresh:
    """``kind``'s key refresh; `PlanError` when the coalition ships no such module or the
    module's key is not refreshed by its operator."""
    if coalition.module(kind) is None:
        raise PlanError(f"coalition {coalition.instance_name!r} ships no {kind.value} module")
    spec = runnable().get(kind)
    if spec is None or spec.key_refresh is None:
        raise PlanError(f"the {kind.value} module has no key its operator refreshes")
    return spec.key_refresh


async def submit_refresh(
    network: Network,
    coalition: CoalitionConfig,
    kind: ModuleKind,
    operator_key: SecretKey,
    *,
    timeout_s: float = 30.0,
) -> int:
    """Submit the operator's refresh through ``network`` (whose discovery entry carries an
    operator writer ticket, `writer_identity`); the log index it opened at, or `Refused` with the
    committee's reason (`ConnectTimeout` when nobody answers)."""
    refresh = key_refresh_of(coalition, kind)
    spec = runnable()[kind]
    writer = spec.organism.writer(network, coalition)
    try:
        raw = await writer.submit(
            refresh.command(coalition, operator_key, wall_ms()), timeout_s=timeout_s
        )
    finally:
        await writer.close()
    opened, reason, index = refresh.outcome(raw)
    if not opened:
        raise Refused(writer.what, reason)
    return index


def writer_identity(
    coalition: CoalitionConfig, kind: ModuleKind, operator_key: SecretKey, network: NetworkId
) -> tuple[SecretKey, Ticket]:
    """A fresh network key and the operator writer ticket for it on ``kind``'s committee."""
    me = SecretKey.generate()
    ticket = issue_committee_ticket(
        coalition,
        kind,
        CommitteeRole.WRITER,
        operator_key=operator_key,
        holder=me.peer_id,
        network=network,
        ttl_ms=TICKET_TTL_MS,
    )
    return me, ticket


async def refresh_running(
    plan: Plan, data_dir: Path, kind: ModuleKind, *, timeout_s: float = 30.0
) -> int:
    """Open a key refresh of ``kind`` on the deployment ``plan`` describes (``coalition up``'s
    data directory); the log index it opened at."""
    coalition = plan.coalition()
    key_refresh_of(coalition, kind)  # one line before any network is made
    members = plan.committee(kind)
    if not members:
        raise PlanError(f"{plan.instance_name} runs no {kind.value} committee from {data_dir}")
    operator = load_process_key(data_dir, plan.operator_key_file)
    network_id = UniqueId.from_hex(plan.network_id)
    me, ticket = writer_identity(coalition, kind, operator, network_id)
    net = await Network.create(
        network_id, secret_key=me, bootstrap=[p.endpoint() for p in members], tickets=[ticket]
    )
    try:
        return await submit_refresh(net, coalition, kind, operator, timeout_s=timeout_s)
    finally:
        await net.close()
