"""The asyncio host of a pure member core on a real Raft group.

A member core (unseal's, the beacon's, …) is ``step(machine, now_ms) -> commands``: it reads
its own replica of the committee's machine and says what to propose. The host wakes when the
group applies something or a tick passes, steps the core, and commits what it returns, in
order, retrying each command until the group accepts it: cores mark what they have sent, so a
command lost in a leader change must not be dropped. The same cores run under the in-process
harnesses and the fault campaigns (``organisms.sim``), so what is proven there is what runs here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from pymosaik.groups.driver import Group, GroupError
from pymosaik.primitives.aio import TaskScope
from pymosaik.primitives.clock import Clock, SystemClock

log = logging.getLogger("coalition.framework.core_host")

M_contra = TypeVar("M_contra", contravariant=True)
C = TypeVar("C")
M = TypeVar("M")


class MemberCore(Protocol[M_contra, C]):
    def step(self, m: M_contra, now_ms: int, /) -> list[C]: ...


class CoreHost(Generic[M, C]):
    """Runs ``core`` against ``machine`` (the replica ``group`` applies into)."""

    def __init__(
        self,
        group: Group,
        machine: M,
        core: MemberCore[M, C],
        encode: Callable[[C], bytes],
        *,
        tick_s: float = 0.1,
        retry_s: float = 0.2,
        clock: Clock | None = None,
    ) -> None:
        self.group, self.machine, self.core = group, machine, core
        self._encode = encode
        self._tick_s, self._retry_s = tick_s, retry_s
        self._clock = clock or SystemClock()
        self._outbox: deque[bytes] = deque()
        self._scope = TaskScope("core-host")
        self.committed = 0
        self.retries = 0

    def start(self) -> None:
        self._scope.spawn(self._run(), name="core-host")

    async def _run(self) -> None:
        while True:
            applied = self.group.applied_index
            for cmd in self.core.step(self.machine, self._clock.now_ms()):
                self._outbox.append(self._encode(cmd))
            await self._drain()
            try:
                async with asyncio.timeout(self._tick_s):
                    await self.group.when().applied_reaches(applied + 1)
            except TimeoutError:
                pass

    async def _drain(self) -> None:
        while self._outbox:
            try:
                await self.group.execute(self._outbox[0])
            except GroupError as exc:
                self.retries += 1
                log.debug("command not committed (%s); retrying", exc)
                await asyncio.sleep(self._retry_s)
                return
            self._outbox.popleft()
            self.committed += 1

    async def aclose(self) -> None:
        await self._scope.aclose()
