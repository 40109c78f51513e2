"""The shared campaign runner: failures reported as found, stats summed, stop on first,
the summary line last and the exit code."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field

import pytest

from pymosaik.sim.campaign import Campaign, add_seed_arguments


@dataclass
class Outcome:
    seed: int
    violations: list[str]
    stats: Counter[str] = field(default_factory=Counter)


def fake_seed(seed: int) -> Outcome:
    """Seeds divisible by 3 fail; every seed does ``seed`` units of work."""
    return Outcome(seed, ["boom"] if seed % 3 == 0 else [], Counter(work=seed))


def describe(r: Outcome) -> str:
    return f"seed {r.seed} failed: replay --seed {r.seed}"


def test_run_sums_stats_and_stops_on_first_failure() -> None:
    campaign = Campaign(fake_seed, describe)
    outcome = campaign.run(range(1, 8))
    assert (outcome.seeds, outcome.violations, outcome.totals["work"]) == (7, 2, 28)
    assert [r.seed for r in outcome.failing] == [3, 6]
    first = campaign.run(range(1, 8), stop_on_first=True)
    assert (first.seeds, [r.seed for r in first.failing]) == (3, [3])


def test_main_prints_failures_footer_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    campaign = Campaign(fake_seed, describe, footer=lambda t: [f"coverage: work={t['work']}"])
    assert campaign.main([1, 2, 3, 4], progress=True) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [
        "seed 1: ok work=1",
        "seed 2: ok work=2",
        "seed 3: FAIL work=3",
        "seed 3 failed: replay --seed 3",
    ]
    assert lines[-2] == "coverage: work=10"
    assert lines[-1].startswith("seeds=4 violations=1 time=")
    clean = Campaign(fake_seed, describe, totals_in_summary=True)
    assert clean.main([1, 2]) == 0
    assert capsys.readouterr().out.startswith("seeds=2 violations=0 work=3 time=")


def test_cli_options_select_a_range_or_one_seed(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_seed_arguments(parser, seeds=10)
    campaign = Campaign(fake_seed, describe)
    assert campaign.cli(parser.parse_args(["--start", "4", "--seeds", "2"])) == 0
    assert "seeds=2 violations=0" in capsys.readouterr().out
    assert campaign.cli(parser.parse_args(["--seed", "9"])) == 1
    out = capsys.readouterr().out
    assert "seed 9 failed" in out and "seeds=1 violations=1" in out
