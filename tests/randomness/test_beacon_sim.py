"""The beacon's fault campaign: clean seeds pass (a member losing its share mid-run among them);
each broken core is caught by its checker."""

from __future__ import annotations

import pytest

from organisms.sim.beacon import BROKEN, run_seed


def test_seeds_under_faults_have_no_violations() -> None:
    lost = 0
    for seed in range(2):
        result = run_seed(seed)
        assert result.violations == [], (seed, result.violations[:3])
        assert result.stats["rounds"] > 20
        lost += result.stats["lost_shares"]
    assert lost >= 1  # a member lost its share mid-run and got the same one back


@pytest.mark.parametrize(("broken", "checker"), sorted(BROKEN.items()))
def test_each_broken_core_is_caught_by_its_checker(broken: str, checker: str) -> None:
    for seed in range(6):
        if checker in {kind for kind, _ in run_seed(seed, broken).violations}:
            return
    pytest.fail(f"{broken} was not caught by {checker}")
