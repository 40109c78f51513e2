"""One in-process committee runner for the organisms' labelled harnesses.

n replicas of a machine are fed one committed log in order, as a Raft group would, and each
member's pure core is stepped on a simulated clock. Every replica must answer every command the
same way; a divergence raises at once. Faults are switches: ``silent`` members propose nothing,
``mutate`` rewrites what a member proposes (a corrupt member). Used by the tests and benchmarks
of unseal and the beacon; not a production path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)
M_contra = TypeVar("M_contra", contravariant=True)


class _Outcome(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def reason(self) -> str: ...


class Replica(Protocol[C_contra]):
    def step(self, cmd: C_contra, /) -> _Outcome: ...


M = TypeVar("M", bound=Replica[Any])


class Core(Protocol[M_contra, C]):
    @property
    def index(self) -> int: ...

    def step(self, m: M_contra, now_ms: int, /) -> list[C]: ...


class DivergenceError(AssertionError):
    """Two replicas answered one committed command differently."""


@dataclass
class LocalRunner(Generic[M, C]):
    replicas: Sequence[M]
    cores: Sequence[Core[M, C]]
    log: list[C] = field(default_factory=list)
    #: (ok, reason) of each logged command, as every replica answered it.
    outcomes: list[tuple[bool, str]] = field(default_factory=list)
    now_ms: int = 0
    silent: set[int] = field(default_factory=set)
    mutate: Callable[[int, C], C] | None = None

    def pump(
        self, steps: int = 50, *, step_ms: int = 1_000, done: Callable[[], bool] | None = None
    ) -> int:
        """Step every member until nothing new is proposed (and ``done``); returns commits."""
        committed = 0
        for _ in range(steps):
            self.now_ms += step_ms
            new: list[C] = []
            for core, replica in zip(self.cores, self.replicas, strict=True):
                if core.index in self.silent:
                    continue
                for out in core.step(replica, self.now_ms):
                    new.append(self.mutate(core.index, out) if self.mutate else out)
            for cmd in new:
                self.log.append(cmd)
                answers = {(r.ok, r.reason) for r in (rep.step(cmd) for rep in self.replicas)}
                if len(answers) != 1:
                    raise DivergenceError(f"replicas disagree on {type(cmd).__name__}: {answers}")
                self.outcomes.append(answers.pop())
            committed += len(new)
            if not new and (done is None or done()):
                break
        return committed
