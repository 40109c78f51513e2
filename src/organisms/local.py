"""One in-process committee runner for the organisms' labelled harnesses, on the simulator kernel.

n replicas of a machine are fed one committed log in order, as a Raft group would, and each
member's pure core is stepped on the clock of a :class:`~pymosaik.sim.kernel.Kernel` (its own,
or one a harness shares with its own events): members are kernel hosts, each member's step is
an event, and after the members of one instant have stepped a commit event puts what they
proposed on every replica. Every replica must answer every command the same way; a divergence
raises at once. Faults: ``silent`` members are hosts that are down (withholding or crashed;
their core keeps what it held, as a member restarting from its disk would), ``mutate``
rewrites what a member proposes (a corrupt member), and ``partition`` cuts the committee into
sides as a Raft group would see it: only the side holding a majority commits; a member outside
it keeps proposing into its own outbox (its host retries until the group takes it) and its
replica falls behind, catching up on the log it missed when it is back. Used by the tests,
benchmarks and campaigns of unseal, the beacon and Compute; not a production path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pymosaik.sim.kernel import Host, Kernel

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


@dataclass(eq=False, kw_only=True)
class Seat(Host, Generic[M, C]):
    """A member as a kernel host: its core and the replica it reads."""

    core: Core[M, C]
    replica: M
    #: How much of the committed log its replica has applied (less while it is cut off).
    applied: int = 0
    #: What it proposed while cut off from the majority, oldest first.
    outbox: list[C] = field(default_factory=list)


class LocalRunner(Generic[M, C]):
    """``cores[i]`` steps against ``replicas[i]``; every replica applies the committed log."""

    def __init__(
        self,
        replicas: Sequence[M],
        cores: Sequence[Core[M, C]],
        *,
        mutate: Callable[[int, C], C] | None = None,
        kernel: Kernel[Any] | None = None,
    ) -> None:
        self.kernel: Kernel[Any] = Kernel() if kernel is None else kernel
        self.replicas = replicas
        self.cores = cores
        self.mutate = mutate
        self.log: list[C] = []
        #: (ok, reason) of each logged command, as every replica answered it.
        self.outcomes: list[tuple[bool, str]] = []
        self.seats = [
            Seat[M, C](name=f"m{core.index}", core=core, replica=replica)
            for core, replica in zip(cores, replicas, strict=True)
        ]
        self._proposed: list[tuple[Seat[M, C], C]] = []
        #: Each member's side while the committee is partitioned (None: one side).
        self._sides: dict[int, int] | None = None
        for seat in self.seats:
            self.kernel.boot(seat)

    @property
    def now_ms(self) -> int:
        return self.kernel.now

    @property
    def silent(self) -> frozenset[int]:
        """Indices of the members that are down."""
        return frozenset(s.core.index for s in self.seats if not s.up)

    @silent.setter
    def silent(self, members: Iterable[int]) -> None:
        """Take ``members`` down now and bring every other one back."""
        down = set(members)
        for seat in self.seats:
            if seat.core.index in down:
                self.kernel.crash(seat)
            else:
                self.kernel.restart(seat)

    def partition(self, *sides: Iterable[int]) -> None:
        """Cut the committee into ``sides`` (1-based member indices; members named in none
        form one more side) until :meth:`heal`."""
        where = {i: n for n, side in enumerate(sides) for i in side}
        self._sides = {s.core.index: where.get(s.core.index, len(sides)) for s in self.seats}

    def heal(self) -> None:
        """One side again: every replica catches up on what it missed."""
        self._sides = None
        self._catch_up(self.seats)

    @property
    def majority(self) -> frozenset[int]:
        """The members on the side that commits (empty when no side holds a majority)."""
        if self._sides is None:
            return frozenset(s.core.index for s in self.seats)
        counts: dict[int, int] = {}
        for side in self._sides.values():
            counts[side] = counts.get(side, 0) + 1
        best = max(counts, key=lambda side: counts[side])
        if 2 * counts[best] <= len(self.seats):
            return frozenset()
        return frozenset(i for i, side in self._sides.items() if side == best)

    def replace_core(self, index: int, core: Core[M, C]) -> None:
        """Member ``index`` (1-based) runs ``core`` from now on (it came back without its data)."""
        self.seats[index - 1].core = core

    def step(self, seat: Seat[M, C]) -> None:
        """``seat`` steps on its own clock; what it proposes waits for the next commit."""
        if not seat.up:
            return
        for out in seat.core.step(seat.replica, self.kernel.local(seat)):
            self._proposed.append((seat, self.mutate(seat.core.index, out) if self.mutate else out))

    def commit(self) -> None:
        """Put what the members on the majority side proposed (what they held back first, if
        they are up), in order, on their replicas; the others keep theirs."""
        majority = self.majority
        seats = [s for s in self.seats if s.core.index in majority]
        self._catch_up(seats)
        new: list[C] = []
        for seat in seats:
            if seat.up:  # a member that is down sends what it held once it is back
                new.extend(seat.outbox)
                seat.outbox = []
        for seat, cmd in self._proposed:
            if seat.core.index in majority:
                new.append(cmd)
            else:
                seat.outbox.append(cmd)
        self._proposed = []
        for cmd in new:
            self.log.append(cmd)
            answers = {(r.ok, r.reason) for r in (s.replica.step(cmd) for s in seats)}
            if len(answers) != 1:
                raise DivergenceError(f"replicas disagree on {type(cmd).__name__}: {answers}")
            self.outcomes.append(answers.pop())
            for seat in seats:
                seat.applied += 1

    def _catch_up(self, seats: Sequence[Seat[M, C]]) -> None:
        """Apply to each of ``seats``' replicas the part of the log it missed; every answer
        must be the one the log recorded."""
        for seat in seats:
            for i in range(seat.applied, len(self.log)):
                r = seat.replica.step(self.log[i])
                if (r.ok, r.reason) != self.outcomes[i]:
                    raise DivergenceError(
                        f"member {seat.core.index} catching up disagrees on entry {i}: "
                        f"{(r.ok, r.reason)} != {self.outcomes[i]}"
                    )
            seat.applied = len(self.log)

    def schedule_round(self, when: int) -> None:
        """Every member steps at ``when``, then what they proposed is committed."""
        for seat in self.seats:
            self.kernel.at(when, self.step, seat)
        self.kernel.at(when, self.commit)

    def every_round(self, period_ms: int) -> None:
        """Members step (and their proposals commit) now and every ``period_ms`` from now on."""
        for seat in self.seats:
            self.kernel.every(period_ms, self.step, seat)
        self.kernel.every(period_ms, self.commit)

    def pump(
        self, steps: int = 50, *, step_ms: int = 1_000, done: Callable[[], bool] | None = None
    ) -> int:
        """Run rounds ``step_ms`` apart until one commits nothing (and ``done``), at most
        ``steps``; returns commits."""
        start = len(self.log)
        for _ in range(steps):
            before = len(self.log)
            when = self.kernel.now + step_ms
            self.schedule_round(when)
            self.kernel.run_until(when)
            if len(self.log) == before and (done is None or done()):
                break
        return len(self.log) - start
