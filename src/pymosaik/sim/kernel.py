"""The simulator kernel every seeded harness runs on: one event queue, one virtual clock,
a trace, and the violations found.

Events are ``(time, seq, action, args)``: ties break by insertion order, so a seed
replays exactly. An action is a plain callable with its arguments stored beside it
(no closure per event: the Raft campaign schedules millions). The network that
decides when messages arrive is :class:`~pymosaik.sim.network.VirtualNetwork`.

Machines are hosts (:class:`Host`): each has its own clock (rate and offset: skew) and a
life the kernel runs (``boot``, ``crash`` with an optional restart after a downtime);
what a boot builds and what a crash loses (unsynced writes, sessions) is the
harness's, in its ``on_boot`` / ``on_crash`` hooks. Events meant for one life of a
host carry its ``incarnation`` and are void after a restart.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar


@dataclass(frozen=True, slots=True)
class Violation:
    """A checker's finding: what rule broke, how, and when (virtual ms since the start)."""

    kind: str
    detail: str
    time_ms: int


@dataclass(eq=False, kw_only=True)
class Host:
    """A simulated machine: its clock (``local = offset + now * rate``) and its life."""

    name: str
    rate: float = 1.0
    offset: int = 0
    up: bool = False
    #: Lives so far: the first boot makes it 1.
    incarnation: int = 0
    #: A scheduled restart does nothing before this instant (a later crash moved it).
    down_until: int = 0


#: Trace lines kept as the context of the first violation.
TRACE_TAIL = 40

H = TypeVar("H", bound=Host)


class Kernel(Generic[H]):
    """Deterministic discrete-event loop on a virtual clock (milliseconds), and the life
    of its hosts of type ``H``."""

    def __init__(
        self, *, start_ms: int = 0, max_violations: int = 20, trace_lines: int = 400
    ) -> None:
        self.start_ms = start_ms
        self.now = start_ms
        self.max_violations = max_violations
        self.trace: deque[str] = deque(maxlen=trace_lines)
        self.violations: list[Violation] = []
        #: The trace tail at the first violation: what a replay starts from.
        self.first_trace: list[str] = []
        self._queue: list[tuple[int, int, Callable[..., object], tuple[Any, ...]]] = []
        self._seq = 0

    @property
    def elapsed(self) -> int:
        """Virtual milliseconds since the run started."""
        return self.now - self.start_ms

    def at(self, when: int, action: Callable[..., object], *args: Any) -> None:
        """Run ``action(*args)`` at virtual time ``when`` (after what is already due then)."""
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, action, args))

    def every(self, period: int, action: Callable[..., object], *args: Any) -> None:
        """Run ``action(*args)`` now and then every ``period`` ms, for the rest of the run.

        Periodic actions started together keep their order at each shared instant.
        """
        queue, none = self._queue, ()

        def fire() -> None:
            self._seq += 1
            heapq.heappush(queue, (self.now + period, self._seq, fire, none))
            action(*args)

        self.at(self.now, fire)

    def run_until(self, until: int | None = None, *, stop_on_violation: bool = False) -> bool:
        """Run every event due by ``until`` (None: until none is left); False if a violation
        stopped the run first.

        A completed run leaves the clock at ``until`` (or the last event); a stopped one at
        the event that found the violation (so the trace ends there).
        """
        queue = self._queue
        pop = heapq.heappop
        limit = math.inf if until is None else until
        while queue:
            if queue[0][0] > limit:
                break
            if stop_on_violation and self.violations:
                return False
            when, _, action, args = pop(queue)
            self.now = when
            action(*args)
        if stop_on_violation and self.violations:
            return False
        if until is not None:
            self.now = until
        return True

    # ---- hosts ---------------------------------------------------------------------
    def local(self, host: H) -> int:
        """What ``host``'s own clock reads now."""
        return host.offset + int(self.now * host.rate)

    def to_global(self, host: H, local: int) -> int:
        """The first instant (not before now) at which ``host``'s clock reads ``local``."""
        at = max(self.now, math.ceil((local - host.offset) / host.rate))
        while host.offset + int(at * host.rate) < local:
            at += 1
        return at

    def boot(self, host: H) -> None:
        """Start a new life of ``host`` (``on_boot`` builds it)."""
        host.incarnation += 1
        host.up = True
        self.on_boot(host)

    def crash(self, host: H, downtime: int | None = None) -> None:
        """Stop ``host`` (``on_crash`` decides what is lost); restart it after ``downtime``."""
        if not host.up:
            return
        host.up = False
        if downtime is not None:
            host.down_until = self.now + downtime
        self.on_crash(host)
        if downtime is not None:
            self.at(host.down_until, self.restart, host)

    def restart(self, host: H) -> None:
        """Boot ``host`` if it is down and its downtime is over (else nothing)."""
        if not host.up and self.now >= host.down_until:
            self.boot(host)

    def on_boot(self, host: H) -> None:
        """Hook: build the new life of ``host`` (its cores, timers, …)."""

    def on_crash(self, host: H) -> None:
        """Hook: tear ``host`` down (lose unsynced writes, break its links, …)."""

    # ---- trace and findings -----------------------------------------------------------
    def log(self, text: str) -> None:
        self.trace.append(f"{self.elapsed:>7} {text}")

    def violation(self, kind: str, detail: str) -> None:
        self.record(Violation(kind, detail, self.elapsed))

    def record(self, violation: Violation) -> None:
        """Keep ``violation`` (up to ``max_violations``) and the trace that led to the first."""
        if len(self.violations) >= self.max_violations:
            return
        self.violations.append(violation)
        self.log(f"VIOLATION {violation.kind}: {violation.detail}")
        if not self.first_trace:
            self.first_trace = list(self.trace)[-TRACE_TAIL:]
