"""The driver template of a composite organism: subscriptions → ``Observe``, clock → ``Apply``.

The committee's leader reads every spanned member's public surface; each item
becomes an ``Observe`` carrying an `EvidencePointer` stamped with the current
Almanac tick. When tick *t+1* arrives, the window of tick *t* closes and the
driver asks the stall policy whether to ``Apply`` it:

* `StallPolicy.PARTIAL` applies at window close with whatever evidence came
  (the decision records which members were missing);
* `StallPolicy.STALL` holds the evidence back until every spanned member has
  contributed, then applies it all at the latest closed tick (book:
  "Composition — partial evidence vs stall").

Only the leader drives, so all pointers in a window come from one observer and
resolve; followers keep their subscriptions warm and take over on election.
The machine validates every cited pointer on replay (see `evidence`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pymosaik.groups.driver import GroupError
from pymosaik.primitives import UniqueId, encode
from pymosaik.primitives.aio import TaskScope

from .committee import CommitteeMember
from .evidence import EvidencePointer, evidence_digest
from .reader import SurfaceReader

__all__ = ["CompositeDriver", "StallPolicy"]

log = logging.getLogger("coalition.composite")


class StallPolicy(enum.Enum):
    PARTIAL = "partial"
    STALL = "stall"


#: ``(tick, pointers)`` → the organism's Apply command.
ApplyBuilder = Callable[[int, Sequence[EvidencePointer]], bytes]
#: ``pointer`` → the organism's Observe command.
ObserveBuilder = Callable[[EvidencePointer], bytes]


#: The organism's verdict on its own result bytes: did the machine accept the command?
Accepted = Callable[[bytes], bool]


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
    spans: Mapping[UniqueId, SurfaceReader[Any]]
    clock: SurfaceReader[T]
    observe: ObserveBuilder
    apply: ApplyBuilder
    accepted: Accepted
    policy: StallPolicy = StallPolicy.PARTIAL
    #: Open windows: tick → pointers the machine accepted in it.
    windows: dict[int, list[EvidencePointer]] = field(default_factory=dict)
    applied: list[int] = field(default_factory=list)
    #: Why a subscription ended (a retired or unreachable member, the clock): the stall is visible.
    failures: list[str] = field(default_factory=list)
    tick: int | None = None
    _scope: TaskScope = field(default_factory=lambda: TaskScope("composite"))
    _clock_started: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._scope.spawn(self._watch("clock", self._follow_clock()))
        for member, reader in self.spans.items():
            self._scope.spawn(self._watch(member.short(), self._follow_member(member, reader)))

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
            await self._clock_started.wait()
            tick, seq = self.tick, reader.last_seq
            if tick is None or seq is None or not self.member.group.is_leader:
                continue
            pointer = EvidencePointer(member, tick, seq, evidence_digest(encode(item)))
            try:
                result = await self.member.execute(self.observe(pointer))
            except GroupError:
                continue
            if result.ok and self.accepted(result.result):
                self.windows.setdefault(tick, []).append(pointer)

    async def _follow_clock(self) -> None:
        async for tick in self.clock:
            self.tick = tick.seq
            self._clock_started.set()
            if self.member.group.is_leader:
                await self._close_windows(tick.seq)
            else:
                self.windows.clear()  # a follower's windows are never applied

    async def _close_windows(self, now: int) -> None:
        closed = sorted(t for t in self.windows if t < now)
        if not closed:
            return
        cited = [p for t in closed for p in self.windows[t]]
        present = {p.member for p in cited}
        if self.policy is StallPolicy.STALL and present != set(self.spans):
            return  # hold the evidence; a later window may complete it
        try:
            result = await self.member.execute(self.apply(now - 1, tuple(cited)))
        except GroupError:
            return  # not committed (or unknown): the evidence stays for the next window
        done = set(cited)
        for t in closed:  # drop what was cited; keep what arrived while Apply was in flight
            kept = [p for p in self.windows.get(t, []) if p not in done]
            if kept:
                self.windows[t] = kept
            else:
                self.windows.pop(t, None)
        if result.ok and self.accepted(result.result):
            self.applied.append(now - 1)

    async def close(self) -> None:
        await self._scope.aclose()
