"""One seed's outcome, shared by every campaign."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pymosaik.sim.kernel import Violation


@dataclass
class SeedResult:
    seed: int
    violations: list[tuple[str, str]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, detail: str) -> None:
        if len(self.violations) < 50:
            self.violations.append((kind, detail))

    @classmethod
    def of(cls, seed: int, violations: Iterable[Violation], stats: Counter[str]) -> SeedResult:
        """The outcome of a campaign run on the simulator kernel."""
        return cls(seed, [(v.kind, v.detail) for v in violations], stats)
