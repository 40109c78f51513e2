"""The shuffle's fault campaign: clean seeds pass; each deliberately broken core is caught by
the checker meant for it (so the checkers can fail)."""

from __future__ import annotations

import pytest

from organisms.sim.__main__ import main
from organisms.sim.shuffle import BROKEN, run_seed


def test_seeds_under_faults_have_no_violations() -> None:
    for seed in range(6):
        result = run_seed(seed)
        assert result.violations == [], (seed, result.violations[:3])
        assert result.stats["landed"] > 0


@pytest.mark.parametrize(("broken", "checker"), sorted(BROKEN.items()))
def test_each_broken_core_is_caught_by_its_checker(broken: str, checker: str) -> None:
    for seed in range(20):
        kinds = {kind for kind, _ in run_seed(seed, broken).violations}
        if checker in kinds:
            return
    pytest.fail(f"{broken} was not caught by {checker} in 20 seeds")


def test_cli_replays_one_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shuffle", "--seed", "3"]) == 0
    assert "seeds=1 violations=0" in capsys.readouterr().out
