"""The Randomness module run the way `coalition up` runs it: `start_member` finds it through
the registry (an entry-point plugin), each member keeps its key-generation seed in its data
directory, and an integrator reads verified rounds with their card."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from coalition import CoalitionConfig
from coalition.content import ContentParams
from coalition.crypto.beacon import Scheme, verify_tick
from coalition.modules import ModuleConfig, ModuleKind, RandomnessConfig
from coalition.services.registry import runnable
from organisms.randomness.module import RANDOMNESS, Randomness, randomness_config
from pymosaik.primitives import SecretKey

PARAMS = {"scheme": Scheme.UNCHAINED_G1.value, "period_ms": 500, "threshold": 2}


def coalition(params: dict[str, object]) -> CoalitionConfig:
    body = ModuleConfig("beacon", ContentParams.from_params(params))  # type: ignore[arg-type]
    return CoalitionConfig(instance_name="randomness-module", randomness=RandomnessConfig(body))


def test_the_module_is_registered_and_its_parameters_are_checked() -> None:
    assert runnable()[ModuleKind.RANDOMNESS] is RANDOMNESS
    cfg = randomness_config(coalition(PARAMS), 3)
    assert (cfg.t, cfg.n, cfg.period_ms, cfg.genesis_ms) == (2, 3, 500, 0)
    assert randomness_config(coalition({}), 5).t == 3  # a strict majority by default
    with pytest.raises(ValueError, match="scheme must be one of"):
        randomness_config(coalition({"scheme": "md5"}), 3)
    with pytest.raises(ValueError, match="period_ms must be a non-negative integer"):
        randomness_config(coalition({"period_ms": "fast"}), 3)
    with pytest.raises(ValueError, match="t ≤ n"):
        randomness_config(coalition({"threshold": 4}), 3)


async def test_members_produce_rounds_an_integrator_verifies(
    module_committee, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    cfg = coalition(PARAMS)
    nets, members = await module_committee(
        ModuleKind.RANDOMNESS, cfg, SecretKey.generate(), data_dir=lambda i: tmp_path / f"m{i}"
    )
    reader = Randomness.read(nets[3], cfg, timeout_s=40)
    async with asyncio.timeout(60):
        first = await reader.ready(drain=False)
        rounds = [first]
        while len(rounds) < 3:
            rounds.append(await reader.next())
    card = first.card
    assert card.t == 2 and card.n == 3 and card.genesis_ms > 0
    for r in rounds:
        assert r.card == card  # one key for the whole run
        assert verify_tick(Scheme(card.scheme), card.group_key, r.tick)
    numbers = [r.tick.round for r in rounds]
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    for i in range(3):
        seed = tmp_path / f"m{i}" / "keygen.seed"
        assert seed.stat().st_mode & 0o777 == 0o600
    status = members[0].status()
    assert status["module"] == "randomness"
    assert isinstance(status["beacon_round"], int) and status["beacon_round"] >= 1
    await reader.close()
