"""Compute's fault campaign: three members on a Raft group under partitions; clean seeds pass,
each broken core is caught by its checker, and a seed replays exactly."""

from __future__ import annotations

from collections import Counter

import pytest

from organisms.sim.compute import BROKEN, NAMES, _Compute, run_seed


def test_seeds_under_partitions_have_no_violations() -> None:
    totals: Counter[str] = Counter()
    for seed in range(6):
        result = run_seed(seed)
        assert result.violations == [], (seed, result.violations[:3])
        totals += result.stats
    assert totals["grants"] > 0 and totals["refusals"] > 0
    # every kind of cut happened, and each was healed
    assert totals["cut-member"] and totals["cut-leader"] and totals["cut-providers"]
    assert totals["heals"] == totals["partitions"] > 0
    assert totals["elections"] > 6  # a leader cut off makes the others elect another
    assert totals["logs-late"] + totals["logs-after-grace"] > 0
    assert totals["retries"] > 0 and totals["provider-crashes"] > 0


@pytest.mark.parametrize(("broken", "checker"), sorted(BROKEN.items()))
def test_each_broken_core_is_caught_by_its_checker(broken: str, checker: str) -> None:
    for seed in range(10):
        if checker in {kind for kind, _ in run_seed(seed, broken).violations}:
            return
    pytest.fail(f"{broken} was not caught by {checker}")


def test_a_seed_replays_exactly() -> None:
    runs = [_Compute(4, None) for _ in range(2)]
    results = [r.run() for r in runs]
    assert results[0] == results[1]
    a, b = (r.cluster.applied[NAMES[0]] for r in runs)
    assert [e.command for e in a] == [e.command for e in b] and len(a) > 100
