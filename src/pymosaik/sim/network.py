"""A virtual network: per-message loss, duplication, delay (hence reordering) and partitions.

All randomness comes from the injected ``random.Random``; the network holds no
clock, it only says when (if ever) each copy of a message arrives. Nodes are named
by any hashable key (Raft uses node ids, streams peer ids). Faults apply to every
link unless a link has its own (:meth:`VirtualNetwork.set_link`).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


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


class VirtualNetwork(Generic[K]):
    """Decides delivery times; partitions block ordered pairs of nodes."""

    def __init__(self, rng: random.Random, faults: LinkFaults = CALM) -> None:
        self._rng = rng
        self.faults = faults
        self._blocked: set[tuple[K, K]] = set()
        self._links: dict[tuple[K, K], LinkFaults] = {}

    def partition(self, side_a: Iterable[K], side_b: Iterable[K]) -> None:
        """Cut every link between the two sides, both directions."""
        a, b = list(side_a), list(side_b)
        for x in a:
            for y in b:
                self._blocked.add((x, y))
                self._blocked.add((y, x))

    def isolate(self, node: K, others: Iterable[K]) -> None:
        self.partition([node], [o for o in others if o != node])

    def set_link(self, src: K, dst: K, faults: LinkFaults | None) -> None:
        """Give the ``src → dst`` link its own faults (None: back to the shared ones)."""
        if faults is None:
            self._links.pop((src, dst), None)
        else:
            self._links[(src, dst)] = faults

    def heal(self) -> None:
        """Reconnect every partitioned pair and drop per-link faults."""
        self._blocked.clear()
        self._links.clear()

    def connected(self, src: K, dst: K) -> bool:
        return (src, dst) not in self._blocked

    def _faults(self, src: K, dst: K) -> LinkFaults:
        return self._links.get((src, dst), self.faults) if self._links else self.faults

    def deliveries(self, src: K, dst: K) -> list[int]:
        """Delays (ms) of the copies of one message that will arrive; empty if lost."""
        if (src, dst) in self._blocked:
            return []
        faults = self._faults(src, dst)
        rng = self._rng
        if faults.loss and rng.random() < faults.loss:
            return []
        copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
        return [rng.randint(faults.min_delay_ms, faults.max_delay_ms) for _ in range(copies)]

    def stream_delay(self, src: K, dst: K, retransmit_ms: int) -> int:
        """Delay of one frame on a reliable ordered stream (TCP) over this link.

        Loss costs a retransmission timeout per lost copy, never the frame; keeping
        the order is the stream's business (its arrivals never overtake).
        """
        faults = self._faults(src, dst)
        rng = self._rng
        delay = rng.randint(faults.min_delay_ms, faults.max_delay_ms)
        while faults.loss and rng.random() < faults.loss:
            delay += retransmit_ms
        return delay
