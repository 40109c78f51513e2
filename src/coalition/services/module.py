"""What every module committee shares: its declaration (`ModuleSpec`), what a member is started
with (`MemberContext`), the one `ModuleMember` protocol and the member base class.

A module (Atlas, Almanac, Chronicle; Compute and Randomness from their own packages) is one
`ModuleSpec`: the organism declaration its verbs come from (ids from the CoalitionConfig, D3),
its pure machine, and ``start`` — what a member runs beside the committee (its pure cores,
hosted on the wall clock). `start_member` runs any of them the same way; the registry
(`services.registry`) lists which are runnable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import DecodeError, PeerId, SecretKey, UniqueId, decode
from pymosaik.primitives.aio import TaskScope
from pymosaik.tickets import TicketValidator
from pymosaik.transport import EndpointAddr

from ..config import CoalitionConfig
from ..framework.committee import CommitteeMember, SurfaceIds
from ..framework.core_host import CoreHost, MemberCore
from ..framework.hosted import surface_command
from ..framework.spec import OrganismSpec
from ..framework.surface import Extractor
from ..modules import ModuleKind
from ..retirement import AtSequence, ComponentKind, ComponentRef, RetirementMarker

if TYPE_CHECKING:  # web3 costs ~1 s to import; only anchoring members need it
    from .anchor import Anchor

__all__ = [
    "BaseModuleMember",
    "CoreHostedMember",
    "KeyRefresh",
    "MemberContext",
    "ModuleMember",
    "ModuleSpec",
    "module_ids",
    "module_organism",
    "module_params",
    "module_what",
    "wall_ms",
]

Item = TypeVar("Item")
Inner = TypeVar("Inner")


def wall_ms() -> int:
    """The member's wall clock (cores take the time as an input; hosts read it here)."""
    return time.time_ns() // 1_000_000


def module_params(coalition: CoalitionConfig, kind: ModuleKind) -> dict[str, object]:
    """The module's ``[<kind>.content.params]`` table ({} when it has none); `ValueError`
    when the module is not shipped or its content is not a parameter table."""
    slot = coalition.module(kind)
    if slot is None:
        raise ValueError(f"coalition {coalition.instance_name!r} ships no {kind.value} module")
    raw = slot.body.content.preimage
    if not raw:
        return {}
    try:
        params = decode(raw, dict)
    except DecodeError:
        raise ValueError(f"{kind.value} content is not a parameter table") from None
    return {str(k): v for k, v in params.items()}


def module_what(coalition: CoalitionConfig, kind: ModuleKind) -> str:
    return f"{kind.value} of coalition {coalition.instance_name!r}"


def module_ids(coalition: CoalitionConfig, kind: ModuleKind, *, writable: bool) -> SurfaceIds:
    committee = coalition.module_committee(kind)
    if committee is None:
        raise ValueError(f"coalition {coalition.instance_name!r} ships no {kind.value} module")
    return SurfaceIds.derive(committee, writable=writable)


def module_organism(
    kind: ModuleKind, item: type[Item], *, writable: bool
) -> OrganismSpec[CoalitionConfig, Item]:
    """The organism declaration of a module: ids and name from the CoalitionConfig."""
    return OrganismSpec(
        kind.value,
        item,
        lambda c: module_ids(c, kind, writable=writable),
        lambda c: module_what(c, kind),
    )


class ModuleMember(Protocol):
    """What `start_member` returns: the one contract the runtime relies on."""

    kind: ModuleKind

    def status(self) -> dict[str, object]: ...

    async def retire(self, successor: CoalitionConfig | None = None) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class MemberContext:
    """Everything one module member is started with."""

    network: Network
    coalition: CoalitionConfig
    committee: tuple[EndpointAddr, ...]
    operator_key: SecretKey
    data_dir: Path | None = None
    cadence_ms: int = 1000
    anchor: Anchor | None = None
    writers: TicketValidator | None = None
    raft: RaftConfig | None = None
    #: Atlas: stable id → the key of that member's own operator (D11).
    member_operators: Mapping[UniqueId, PeerId] | None = None

    @property
    def peers(self) -> list[PeerId]:
        return [a.peer_id for a in self.committee]

    @property
    def operator(self) -> PeerId:
        return self.operator_key.peer_id


#: ``(coalition, committee peers, operator, member operators)`` → (inner machine, extractor).
MachineFactory = Callable[
    [CoalitionConfig, Sequence[PeerId], PeerId, Mapping[UniqueId, PeerId] | None],
    tuple[Inner, Extractor],
]


@dataclass(frozen=True)
class KeyRefresh:
    """A module whose threshold key its operator refreshes through the committee's log
    (``coalition refresh KIND``, `coalition.runtime.refresh`): the coalition side connects and
    submits under an operator writer ticket; the module says what the command and its result
    are, so the coalition package never imports the module's types."""

    #: (coalition, the coalition operator's key, wall ms) → the operator-signed command.
    command: Callable[[CoalitionConfig, SecretKey, int], bytes]
    #: The machine's result → (opened, the reason when refused, the log index when opened).
    outcome: Callable[[bytes], tuple[bool, str, int]]


@dataclass(frozen=True)
class ModuleSpec(Generic[Item, Inner]):
    """A module, declared once: its organism declaration, machine and member side."""

    kind: ModuleKind
    organism: OrganismSpec[CoalitionConfig, Item]
    machine: MachineFactory[Inner]
    #: Starts what a member runs beside its committee (pure cores on the wall clock).
    start: Callable[[MemberContext, CommitteeMember, Inner], ModuleMember]
    #: What ``coalition status`` shows for the committee: (key of ``status()``, label).
    figures: tuple[tuple[str, str], ...] = ()
    #: Its intake (if writable) admits only holders of an operator-signed writer ticket
    #: (`committee_access.operator_writers`); otherwise it is open and the machine checks
    #: each command's own signature.
    operator_writes: bool = False
    #: How its operator asks for a key refresh (None: its key is not refreshed this way).
    key_refresh: KeyRefresh | None = None


@dataclass
class BaseModuleMember:
    """A running module member: its committee member, its own tasks, status and retirement."""

    kind: ModuleKind
    member: CommitteeMember
    ctx: MemberContext
    scope: TaskScope = field(default_factory=lambda: TaskScope("module member"))

    def spawn(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.scope.spawn(loop())

    @property
    def key(self) -> SecretKey:
        return self.ctx.network.endpoint.secret_key

    def status(self) -> dict[str, object]:
        return {"module": self.kind.value, **self.member.status(), **self.extra()}

    def extra(self) -> dict[str, object]:
        return {}

    async def retire(self, successor: CoalitionConfig | None = None) -> None:
        """Commit the retirement marker; with ``successor``, a rotation to its module.

        Readers built with ``follow_successors=True`` move to the successor's
        surface; others get `OrganismRetired` naming it.
        """
        at = AtSequence(self.member.machine.next_seq)
        if successor is None:
            await self.member.retire(RetirementMarker.retired(at))
            return
        ref = successor.module_ref(self.kind)
        if ref is None:
            raise ValueError(f"the successor coalition ships no {self.kind.value} module")
        marker = RetirementMarker.rotation(
            at, ComponentRef(ComponentKind.MODULE, ref.role, ref.stable_id, ref.content_hash)
        )
        surface = module_ids(successor, self.kind, writable=False).surface
        await self.member.retire(marker, surface)

    async def close(self) -> None:
        try:
            await self.scope.aclose()
        finally:
            await self.member.close()


@dataclass
class CoreHostedMember(BaseModuleMember):
    """A module member whose own side is a pure member core, hosted on its committee."""

    host: CoreHost[Any, Any] | None = None

    def host_core(self, machine: object, core: MemberCore[Any, Any]) -> None:
        """Step ``core`` against ``machine`` (this member's replica) and commit what it says."""
        self.host = CoreHost(self.member.group, machine, core, surface_command)
        self.host.start()

    async def close(self) -> None:
        try:
            if self.host is not None:
                await self.host.aclose()
        finally:
            await super().close()
