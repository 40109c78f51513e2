"""The asyncio host of a composite organism's member (``composite_core`` holds the logic).

Every member subscribes to every spanned member's public surface and to the clock, and feeds
what arrives to its `CompositeCore`; the core, stepped against the member's own replica, says
what to propose (``Observe`` with an `EvidencePointer` stamped with the current tick, then
``Apply`` for a closed tick citing what the log holds as observed). Only the leader's core
proposes, but every core keeps what it saw, so a new leader carries on where the old one
stopped. The machine validates every cited pointer on replay (see `evidence`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pymosaik.groups.driver import GroupError
from pymosaik.primitives import UniqueId, encode
from pymosaik.primitives.aio import TaskScope

from .committee import CommitteeMember
from .composite_core import (
    ApplyCmd,
    CompositeCmd,
    CompositeCore,
    CompositeState,
    ObserveCmd,
    StallPolicy,
)
from .evidence import EvidencePointer, evidence_digest
from .reader import SurfaceReader

__all__ = ["CompositeDriver", "StallPolicy"]

log = logging.getLogger("coalition.composite")

#: ``(tick, pointers)`` → the organism's Apply command.
ApplyBuilder = Callable[[int, Sequence[EvidencePointer]], bytes]
#: ``pointer`` → the organism's Observe command.
ObserveBuilder = Callable[[EvidencePointer], bytes]
#: The organism's verdict on its own result bytes: did the machine accept the command?
Accepted = Callable[[bytes], bool]

#: How often the core is stepped when nothing arrives (leadership may have changed).
STEP_S = 0.2


class Tick(Protocol):
    """What the driver needs of a clock item: its sequence number.

    A protocol rather than Almanac's tick type, because framework code never
    imports a service (Almanac's ``AlmanacTick`` fits it).
    """

    @property
    def seq(self) -> int: ...


T = TypeVar("T", bound=Tick)


@dataclass
class CompositeDriver(Generic[T]):
    member: CommitteeMember
    state: CompositeState
    spans: Mapping[UniqueId, SurfaceReader[Any]]
    clock: SurfaceReader[T]
    observe: ObserveBuilder
    apply: ApplyBuilder
    accepted: Accepted
    policy: StallPolicy = StallPolicy.PARTIAL
    #: Ticks this member's proposals applied (as leader).
    applied: list[int] = field(default_factory=list)
    #: Why a subscription ended (a retired or unreachable member, the clock): the stall is visible.
    failures: list[str] = field(default_factory=list)
    core: CompositeCore = field(init=False)
    _scope: TaskScope = field(default_factory=lambda: TaskScope("composite"))
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.core = CompositeCore(sorted(self.spans), self.policy)

    def start(self) -> None:
        self._scope.spawn(self._watch("clock", self._follow_clock()))
        for member, reader in self.spans.items():
            self._scope.spawn(self._watch(member.short(), self._follow_member(member, reader)))
        self._scope.spawn(self._steps(), name="composite:steps")

    async def _watch(self, what: str, loop: Coroutine[Any, Any, None]) -> None:
        try:
            await loop
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures.append(f"{what}: {exc}")
            log.error("composite %s: subscription %s ended: %s", self.member.what, what, exc)

    async def _follow_member(self, member: UniqueId, reader: SurfaceReader[Any]) -> None:
        async for item in reader:
            seq = reader.last_seq
            if seq is not None:
                self.core.seen(member, seq, evidence_digest(encode(item)))
                self._wake.set()

    async def _follow_clock(self) -> None:
        async for tick in self.clock:
            self.core.clock(tick.seq)
            self._wake.set()

    async def _steps(self) -> None:
        while True:
            leader = self.member.group.is_leader
            for cmd in self.core.step(self.state, leader):
                await self._propose(cmd)
            self._wake.clear()
            try:
                async with asyncio.timeout(STEP_S):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _propose(self, cmd: CompositeCmd) -> None:
        raw = (
            self.observe(cmd.pointer)
            if isinstance(cmd, ObserveCmd)
            else self.apply(cmd.tick, cmd.pointers)
        )
        try:
            result = await self.member.execute(raw)
        except GroupError:
            self.core.failed(cmd)  # not committed (or unknown): the core proposes it again
            return
        ok = result.ok and self.accepted(result.result)
        if isinstance(cmd, ApplyCmd):
            if ok:
                self.applied.append(cmd.tick)
            else:
                self.core.failed(cmd)

    async def close(self) -> None:
        await self._scope.aclose()
