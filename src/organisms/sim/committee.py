"""A committee on the simulator kernel, shared by the organisms' campaigns.

Members are kernel hosts, each with its key, its replica index and a pure member core
that every boot builds afresh (a crash loses what the core held). ``churn`` is the
campaigns' crash fault: now and then a member crashes (never the last one up) or a
crashed one restarts.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pymosaik.primitives import SecretKey
from pymosaik.sim.kernel import Host, Kernel

from .result import SeedResult

C = TypeVar("C")


@dataclass(eq=False, kw_only=True)
class Member(Host, Generic[C]):
    index: int
    key: SecretKey
    #: The member core of the current life (None before the first boot).
    core: C | None = None


class Committee(Kernel[Member[C]]):
    """One seed's committee: ``new_core(key)`` builds a member's core at each boot."""

    def __init__(
        self,
        seed: int,
        rng: random.Random,
        keys: Sequence[SecretKey],
        new_core: Callable[[SecretKey], C],
        *,
        offsets: Sequence[int] | None = None,
    ) -> None:
        super().__init__(max_violations=50)
        self.seed = seed
        self.rng = rng
        self.new_core = new_core
        self.members = [
            Member[C](name=f"m{i}", index=i, key=k, offset=offsets[i] if offsets else 0)
            for i, k in enumerate(keys)
        ]
        self.n = len(self.members)
        self.stats: Counter[str] = Counter()

    def on_boot(self, member: Member[C]) -> None:
        member.core = self.new_core(member.key)

    @property
    def down(self) -> int:
        return sum(not m.up for m in self.members)

    def churn(self, chance: float = 0.01) -> None:
        """With ``chance``, crash a random member (unless it is the last one up) or, if it
        is down, restart it."""
        if self.rng.random() >= chance:
            return
        member = self.members[self.rng.randrange(self.n)]
        if not member.up:
            self.restart(member)
            self.stats["restarts"] += 1
        elif self.down + 1 < self.n:
            self.crash(member)
            self.stats["crashes"] += 1

    def churn_until(self, end_ms: int) -> None:
        """``churn`` until ``end_ms``; after it (the quiet tail) every member comes back."""
        if self.now < end_ms:
            self.churn()
            return
        for member in self.members:
            self.restart(member)

    def result(self) -> SeedResult:
        return SeedResult.of(self.seed, self.violations, self.stats)
