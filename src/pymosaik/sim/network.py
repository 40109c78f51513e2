"""A virtual network: per-message loss, duplication, delay (hence reordering) and partitions.

All randomness comes from the injected ``random.Random``; the network holds no
clock, it only says when (if ever) each copy of a message arrives.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkFaults:
    """Conditions applied to every message while they are in force."""

    loss: float = 0.0
    duplicate: float = 0.0
    min_delay_ms: int = 1
    max_delay_ms: int = 20

    def __post_init__(self) -> None:
        if not (0.0 <= self.loss <= 1.0 and 0.0 <= self.duplicate <= 1.0):
            raise ValueError("probabilities must be in [0, 1]")
        if not 0 <= self.min_delay_ms <= self.max_delay_ms:
            raise ValueError("need 0 <= min_delay <= max_delay")


CALM = LinkFaults()


class VirtualNetwork:
    """Decides delivery times; partitions block ordered pairs of nodes."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.faults = CALM
        self._blocked: set[tuple[bytes, bytes]] = set()

    def partition(self, side_a: Iterable[bytes], side_b: Iterable[bytes]) -> None:
        """Cut every link between the two sides, both directions."""
        a, b = list(side_a), list(side_b)
        for x in a:
            for y in b:
                self._blocked.add((x, y))
                self._blocked.add((y, x))

    def isolate(self, node: bytes, others: Iterable[bytes]) -> None:
        self.partition([node], [o for o in others if o != node])

    def heal(self) -> None:
        self._blocked.clear()

    def connected(self, src: bytes, dst: bytes) -> bool:
        return (src, dst) not in self._blocked

    def deliveries(self, src: bytes, dst: bytes) -> list[int]:
        """Delays (ms) of the copies of one message that will arrive; empty if lost."""
        if (src, dst) in self._blocked:
            return []
        faults = self.faults
        rng = self._rng
        if faults.loss and rng.random() < faults.loss:
            return []
        copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
        return [rng.randint(faults.min_delay_ms, faults.max_delay_ms) for _ in range(copies)]
