"""The Compute module run the way `coalition up` runs it: found through the registry (an
entry-point plugin), parameters from the coalition file, a provider registering its own signed
card through the committee's intake, a forged card refused, and the figures `status` shows."""

from __future__ import annotations

import asyncio

import pytest

from coalition import CoalitionConfig
from coalition.content import ContentParams
from coalition.framework import Refused
from coalition.modules import ComputeConfig, ModuleConfig, ModuleKind
from coalition.services.registry import runnable
from organisms.compute.items import Capabilities, DeclaredRates, ProviderCard, SignedCard
from organisms.compute.module import COMPUTE, Compute, compute_config
from pymosaik.primitives import SecretKey

CONTRACT = "0x" + "7e" * 20


def coalition(params: dict[str, object]) -> CoalitionConfig:
    body = ModuleConfig("compute", ContentParams.from_params(params))  # type: ignore[arg-type]
    return CoalitionConfig(instance_name="compute-module", compute=ComputeConfig(body))


def card(key: SecretKey, refreshed_at_ms: int) -> SignedCard:
    c = ProviderCard(
        key.peer_id.bytes,
        Capabilities(("eu",), False, 4_000, 8_192),
        DeclaredRates(1_000, 100),
        b"",
        bytes(32),
        refreshed_at_ms,
    )
    return SignedCard.signed(key, c)


def test_registered_and_parameters_checked() -> None:
    assert runnable()[ModuleKind.COMPUTE] is COMPUTE
    cfg = compute_config(coalition({"settlement_contract": CONTRACT, "max_card_age_ms": 5_000}))
    assert cfg.settlement_contract == bytes.fromhex("7e" * 20) and cfg.max_card_age_ms == 5_000
    with pytest.raises(ValueError, match="20-byte 0x address"):
        compute_config(coalition({"settlement_contract": "0x1234"}))
    with pytest.raises(ValueError, match="grace_ms must be a non-negative integer"):
        compute_config(coalition({"grace_ms": -1}))


async def test_a_provider_registers_itself_and_status_counts_it(module_committee) -> None:  # type: ignore[no-untyped-def]
    cfg = coalition({"settlement_contract": CONTRACT})
    nets, members = await module_committee(
        ModuleKind.COMPUTE, cfg, SecretKey.generate(), cadence_ms=300
    )
    provider = SecretKey.generate()
    writer = Compute.publish(nets[3], cfg)
    async with asyncio.timeout(30):
        await writer.register(card(provider, 1_000), timeout_s=20)
        forged = card(provider, 2_000)
        bad = SignedCard(forged.card, SecretKey.generate().sign(b"not the card"))
        with pytest.raises(Refused, match="card signature does not verify"):
            await writer.register(bad, timeout_s=20)
        while any(m.status()["compute_providers"] != 1 for m in members):
            await asyncio.sleep(0.1)
    assert members[0].status()["compute_open_grants"] == 0
    before = max(int(m.status()["committed"]) for m in members)
    await asyncio.sleep(2.0)
    after = max(int(m.status()["committed"]) for m in members)
    # an idle committee proposes no clearing (3 members at a 300 ms cadence would add ~20
    # entries); at most reader-count updates land (two if a leader change re-proposes it)
    assert after - before <= 2
    await writer.close()
