"""Recording a coalition's republication in its running Chronicle (``coalition republish``).

A new CoalitionConfig is a new fingerprint, hence new module committees (D3):
the running Chronicle is the old coalition's log, and it records the
transition — ``CoalitionPublished`` for the new handshake, then
``MembershipChanged`` naming who joined and who left — before the operator
stops the old coalition and starts the new one. The operator signs both
entries with the coalition operator key kept in the data directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pymosaik.network import Network
from pymosaik.primitives import UniqueId

from ..config import CoalitionConfig
from ..modules import ModuleKind
from ..services.chronicle_log import CoalitionPublished, MembershipChanged
from ..services.committees import Chronicle
from .plan import Plan, PlanError, load_process_key

__all__ = ["Transition", "record_transition", "transition"]


@dataclass(frozen=True)
class Transition:
    previous: CoalitionConfig
    successor: CoalitionConfig
    added: tuple[UniqueId, ...]
    removed: tuple[UniqueId, ...]


def _members(cfg: CoalitionConfig) -> list[UniqueId]:
    return [*cfg.lattices, *(ref.stable_id for ref in cfg.organisms)]


def transition(previous: CoalitionConfig, successor: CoalitionConfig) -> Transition:
    """Who joins and who leaves; refuses a republication that changes nothing."""
    if previous.stable_id() == successor.stable_id():
        raise PlanError("the new file has the running coalition's fingerprint: nothing to record")
    if previous.module(ModuleKind.CHRONICLE) is None:
        raise PlanError(f"coalition {previous.instance_name!r} ships no Chronicle to record in")
    before, after = _members(previous), _members(successor)
    added = tuple(sorted(m for m in after if m not in before))
    removed = tuple(sorted(m for m in before if m not in after))
    return Transition(previous, successor, added, removed)


async def record_transition(
    plan: Plan, data_dir: Path, change: Transition, *, timeout_s: float = 30.0
) -> tuple[int, int]:
    """Append both entries through the running committee; their sequence numbers."""
    operator = load_process_key(data_dir, plan.operator_key_file)
    net = await Network.create(
        UniqueId.from_hex(plan.network_id), bootstrap=[p.endpoint() for p in plan.processes]
    )
    try:
        writer = Chronicle.publish(net, change.previous, operator)
        try:
            published = await writer.record(
                CoalitionPublished(change.successor.stable_id(), change.successor.to_bytes()),
                timeout_s=timeout_s,
            )
            changed = await writer.record(
                MembershipChanged(change.previous.stable_id(), change.added, change.removed),
                timeout_s=timeout_s,
            )
        finally:
            await writer.close()
    finally:
        await net.close()
    return published, changed
