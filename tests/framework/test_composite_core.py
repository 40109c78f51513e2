"""The composite core under leader changes (the seeded campaign ``python -m organisms.sim
composite``): no item is lost, none is cited twice, each member's items stay in commit order,
one alignment per tick. A core that keeps nothing while it follows (the old driver) is caught."""

from __future__ import annotations

import pytest

from coalition.framework.composite_core import StallPolicy
from organisms.sim import composite


@pytest.mark.parametrize("seed", range(40))
def test_no_item_is_lost_or_cited_twice_across_leader_changes(seed: int) -> None:
    result = composite.run_seed(seed)
    assert result.violations == []
    assert result.stats["items"] > 50


@pytest.mark.parametrize("seed", range(10))
def test_stall_policy_waits_for_every_member_and_loses_nothing(seed: int) -> None:
    assert composite.run_seed(seed, policy=StallPolicy.STALL).violations == []


def test_a_core_that_forgets_while_following_is_caught() -> None:
    caught = sum(bool(composite.run_seed(s, "composite-forgetful").violations) for s in range(40))
    assert caught >= 20, f"the checker caught the forgetful core in only {caught}/40 seeds"
