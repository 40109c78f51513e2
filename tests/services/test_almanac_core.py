"""Almanac members' cores and the replicated machine under skewed clocks, crashes and lost
observations (the seeded campaign ``python -m organisms.sim almanac``): ticks are gap-free,
each observed by a strict majority of distinct members, never go back for any replica, and keep
coming while a majority runs. A machine that commits on a minority is caught."""

from __future__ import annotations

import pytest

from coalition.services.almanac import AlmanacCore, AlmanacMachine
from organisms.sim import almanac
from pymosaik.primitives import SecretKey


@pytest.mark.parametrize("seed", range(12))
def test_ticks_are_gap_free_majority_observed_and_keep_coming(seed: int) -> None:
    result = almanac.run_seed(seed)
    assert result.violations == []
    assert result.stats["ticks"] > 20


def test_a_machine_committing_on_a_minority_is_caught() -> None:
    for seed in range(5):
        kinds = {k for k, _ in almanac.run_seed(seed, "almanac-minority").violations}
        assert "majority" in kinds


def test_one_observation_per_boundary_of_the_members_own_clock() -> None:
    key = SecretKey.generate()
    core, m = AlmanacCore(key, 1_000), AlmanacMachine([key.peer_id])
    assert core.step(m, 10_500) == [] and core.deadline() == 11_000  # starts at the next one
    assert core.step(m, 10_999) == []
    (obs,) = core.step(m, 11_000)
    assert obs.seq == 1 and obs.observed_at_ms == 11_000 and obs.verify()
    assert core.step(m, 11_500) == []
    assert len(core.step(m, 14_200)) == 1  # a late wake-up observes once, not per missed boundary
    with pytest.raises(ValueError, match="positive"):
        AlmanacCore(key, 0)
