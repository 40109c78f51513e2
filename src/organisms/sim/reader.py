"""Seeded campaigns over the reader's `FrameSequencer`: a surface's frames from three members,
each with its own delay, some twice (a replay to a new reader, a republish after a leader
change). Checkers:

- ``once-in-order``  sequence numbers come strictly increasing (no repeat, no reorder);
- ``no-skip``        when every copy arrives within the gap window, none is skipped;
- ``gaps``           the gaps counted are exactly the numbers never delivered.
"""

from __future__ import annotations

import itertools

from coalition.framework.sequencer import FrameSequencer
from pymosaik.sim.kernel import Host, Kernel
from pymosaik.sim.rng import seeded

from .result import SeedResult

FRAMES = 200


class _NoDedup(FrameSequencer[int]):
    """Broken: keeps a repeat of a frame it already delivered (and delivers it again)."""

    def offer(self, seq: int, frame: int, now_ms: int) -> None:
        self._pending[seq] = frame
        if self._gap_since is None and self._next() is None:
            self._gap_since = now_ms


BROKEN = {"reader-repeats": "once-in-order", "reader-impatient": "no-skip"}


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    rng = seeded(seed)
    res = SeedResult(seed)
    jitter = rng.choice([50, 200, 1_500])  # below the 250 ms gap, near it, far above it
    core: FrameSequencer[int] = (
        _NoDedup(gap_ms=250)
        if broken == "reader-repeats"
        else FrameSequencer(gap_ms=0 if broken == "reader-impatient" else 250)
    )
    arrivals: list[tuple[int, int, int]] = []
    for seq in range(FRAMES):
        for _member in range(3):
            for _ in range(2 if rng.random() < 0.2 else 1):
                at = seq * 20 + rng.randint(0, jitter)
                arrivals.append((at, rng.randrange(1 << 30), seq))
    kernel: Kernel[Host] = Kernel()
    delivered: list[int] = []

    def take() -> None:
        """Deliver what is due, then wake when a waiting gap expires."""
        while (frame := core.take(kernel.now)) is not None:
            delivered.append(frame)
        deadline = core.deadline()
        if deadline is not None:
            kernel.at(deadline, wake, deadline)

    def wake(deadline: int) -> None:
        if core.deadline() == deadline:  # else a later arrival moved or closed the gap
            take()

    def arrive(seq: int) -> None:
        core.offer(seq, seq, kernel.now)
        kernel.at(kernel.now, take)  # after every copy arriving in the same instant

    # Copies arriving in the same instant come in a random order (the draw beside each).
    for at, _, seq in sorted(arrivals):
        kernel.at(at, arrive, seq)
    kernel.run_until()
    res.stats["delivered"] += len(delivered)
    res.stats["duplicates"] += core.stats.duplicates
    res.stats["gaps"] += core.stats.gaps
    if any(b <= a for a, b in itertools.pairwise(delivered)):
        res.add("once-in-order", "a frame came twice or out of order")
        return res
    missing = set(range(FRAMES)) - set(delivered)
    if jitter < 250 and missing:
        res.add("no-skip", f"{len(missing)} frames skipped although they came in time")
    first = delivered[0] if delivered else 0
    if core.stats.gaps != len(missing - set(range(first))):
        res.add("gaps", "the gap count does not match what was never delivered")
    return res
