"""The reader's core under interleaved, repeated and late frames (the seeded campaign
``python -m organisms.sim reader``): each frame once and in order, none skipped when late by
less than the gap, gaps counted exactly. A core that keeps repeats and one that never waits are
both caught."""

from __future__ import annotations

import pytest

from coalition.framework.sequencer import FrameSequencer
from organisms.sim import reader


@pytest.mark.parametrize("seed", range(40))
def test_frames_come_once_in_order_and_gaps_are_counted_exactly(seed: int) -> None:
    result = reader.run_seed(seed)
    assert result.violations == []
    assert result.stats["duplicates"] > 0


@pytest.mark.parametrize("broken", sorted(reader.BROKEN))
def test_broken_cores_are_caught(broken: str) -> None:
    wanted = reader.BROKEN[broken]
    kinds = {k for s in range(10) for k, _ in reader.run_seed(s, broken).violations}
    assert wanted in kinds


def test_reset_starts_a_new_sequence() -> None:
    s: FrameSequencer[str] = FrameSequencer(gap_ms=100)
    s.offer(5, "a", 0)
    assert s.take(50) is None and s.deadline() == 100
    assert s.take(100) == "a"
    s.reset()
    s.offer(0, "b", 200)
    assert s.take(300) == "b" and s.last_seq == 0
