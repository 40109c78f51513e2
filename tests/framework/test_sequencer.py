"""The reader's core under interleaved, repeated and late frames from several members.

A seeded harness: a committee commits frames 0..N over time; three members publish each one,
each with its own delay, some frames twice (a replay to a new reader, a republish after a leader
change). The checker: the reader delivers sequence numbers strictly increasing, each once, and
when every copy arrives within the gap window of its predecessor, none is skipped; the gaps it
counts are exactly the numbers it never delivered. A core that does not drop repeats, and one
that never waits for a gap, are both caught.
"""

from __future__ import annotations

import heapq
import itertools
import random

import pytest

from coalition.framework.sequencer import FrameSequencer


class NoDedup(FrameSequencer[int]):
    """Keeps a repeat of a frame it already delivered (and delivers it again)."""

    def offer(self, seq: int, frame: int, now_ms: int) -> None:
        self._pending[seq] = frame
        if self._gap_since is None and self._next() is None:
            self._gap_since = now_ms


def run(seed: int, *, jitter_ms: int, core: FrameSequencer[int] | None = None) -> list[int]:
    rng = random.Random(seed)
    seqr = core or FrameSequencer(gap_ms=250)
    arrivals: list[tuple[int, int, int]] = []  # (at_ms, tiebreak, seq)
    n = 200
    for seq in range(n):
        committed = seq * 20
        for _member in range(3):
            copies = 2 if rng.random() < 0.2 else 1
            for _ in range(copies):
                at = committed + rng.randint(0, jitter_ms)
                heapq.heappush(arrivals, (at, rng.randrange(1 << 30), seq))
    delivered: list[int] = []
    now = 0
    while arrivals or seqr.deadline() is not None:
        nxt = arrivals[0][0] if arrivals else None
        dl = seqr.deadline()
        now = min(t for t in (nxt, dl) if t is not None)
        while arrivals and arrivals[0][0] <= now:
            _, _, seq = heapq.heappop(arrivals)
            seqr.offer(seq, seq, now)
        while (frame := seqr.take(now)) is not None:
            delivered.append(frame)
    return delivered


def violations(delivered: list[int], core: FrameSequencer[int], *, expect_all: bool) -> list[str]:
    out = []
    if any(b <= a for a, b in itertools.pairwise(delivered)):
        out.append("not strictly increasing (a repeat or a reorder)")
    missing = set(range(200)) - set(delivered)
    if expect_all and missing:
        out.append(f"{len(missing)} frames skipped although they arrived in time")
    if not out and core.stats.gaps != len(missing - set(range(min(delivered or [0])))):
        out.append("gap count does not match what was never delivered")
    return out


@pytest.mark.parametrize("seed", range(30))
def test_frames_come_once_in_order_and_none_is_skipped_when_late_by_less_than_the_gap(
    seed: int,
) -> None:
    core: FrameSequencer[int] = FrameSequencer(gap_ms=250)
    delivered = run(seed, jitter_ms=200, core=core)
    assert violations(delivered, core, expect_all=True) == []
    assert core.stats.duplicates > 0


@pytest.mark.parametrize("seed", range(10))
def test_very_late_frames_become_counted_gaps_never_reorders(seed: int) -> None:
    core: FrameSequencer[int] = FrameSequencer(gap_ms=250)
    delivered = run(seed, jitter_ms=1_500, core=core)
    assert violations(delivered, core, expect_all=False) == []


def test_broken_cores_are_caught() -> None:
    no_dedup = NoDedup(gap_ms=250)
    assert violations(run(1, jitter_ms=200, core=no_dedup), no_dedup, expect_all=True)
    impatient: FrameSequencer[int] = FrameSequencer(gap_ms=0)
    assert violations(run(1, jitter_ms=200, core=impatient), impatient, expect_all=True)


def test_reset_starts_a_new_sequence() -> None:
    s: FrameSequencer[str] = FrameSequencer(gap_ms=100)
    s.offer(5, "a", 0)
    assert s.take(50) is None and s.deadline() == 100
    assert s.take(100) == "a"
    s.reset()
    s.offer(0, "b", 200)
    assert s.take(300) == "b" and s.last_seq == 0
