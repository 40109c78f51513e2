"""Committee opinions under faults: clean seeds pass; each broken machine is caught by its
checker; a seed replays exactly."""

from __future__ import annotations

import pytest

from organisms.sim.opinions import BROKEN, run_seed


def test_seeds_have_no_violations_and_the_outlier_is_dissent() -> None:
    for seed in range(6):
        result = run_seed(seed)
        assert result.violations == [], (seed, result.violations[:3])
        assert result.stats["decided"] > 0 and result.stats["liar-dissents"] > 0
        assert result.stats["lost"] > 0 and result.stats["duplicated"] > 0


def test_a_seed_replays_exactly() -> None:
    assert run_seed(4).stats == run_seed(4).stats


@pytest.mark.parametrize(("broken", "checker"), sorted(BROKEN.items()))
def test_each_broken_machine_is_caught_by_its_checker(broken: str, checker: str) -> None:
    for seed in range(20):
        if checker in {kind for kind, _ in run_seed(seed, broken).violations}:
            return
    pytest.fail(f"{broken} was not caught by {checker}")
