"""The operator's key refresh on a running beacon committee (members under `start_member`, as
``coalition up`` runs them): the command reaches the intake under an operator writer ticket,
opens the refresh, every member deals, every share moves while the group key stays, and the
beacon keeps producing rounds that verify against the card. The intake admits no one else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from coalition import CoalitionConfig
from coalition.content import ContentParams
from coalition.crypto.beacon import Scheme, verify_tick
from coalition.framework.errors import ConnectTimeout, Refused
from coalition.modules import ModuleConfig, ModuleKind, RandomnessConfig
from coalition.runtime.refresh import submit_refresh, writer_identity
from organisms.randomness.module import Randomness, RandomnessMember
from pymosaik.discovery import DiscoveryConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey

PARAMS = {"scheme": Scheme.UNCHAINED_G1.value, "period_ms": 500, "threshold": 2}


def coalition() -> CoalitionConfig:
    body = ModuleConfig("beacon", ContentParams.from_params(PARAMS))  # type: ignore[arg-type]
    return CoalitionConfig(instance_name="operator-refresh", randomness=RandomnessConfig(body))


async def writer(boot: Network, cfg: CoalitionConfig, signer: SecretKey) -> Network:
    """A network whose discovery entry carries a writer ticket ``signer`` signed."""
    me, ticket = writer_identity(cfg, ModuleKind.RANDOMNESS, signer, boot.network_id)
    return await Network.create(
        secret_key=me,
        bootstrap=[boot.addr],
        discovery=DiscoveryConfig.loopback(),
        tickets=[ticket],
    )


async def test_the_operator_refreshes_a_running_beacon(module_committee, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = coalition()
    operator = SecretKey.generate()
    nets, members = await module_committee(
        ModuleKind.RANDOMNESS, cfg, operator, data_dir=lambda i: tmp_path / f"m{i}"
    )
    beacon: list[RandomnessMember] = members
    reader = Randomness.read(nets[3], cfg, timeout_s=40)
    async with asyncio.timeout(60):
        first = await reader.ready(drain=False)
        while not all(m.core is not None and m.core.share is not None for m in beacon):
            await asyncio.sleep(0.1)
    card = first.card
    before = [m.core.share for m in beacon if m.core is not None]

    # a writer whose ticket someone else signed sends the operator's own command alongside
    outsider = await writer(nets[0], cfg, SecretKey.generate())
    net = await writer(nets[0], cfg, operator)
    shut_out = asyncio.create_task(
        submit_refresh(outsider, cfg, ModuleKind.RANDOMNESS, operator, timeout_s=8)
    )
    try:
        index = await submit_refresh(net, cfg, ModuleKind.RANDOMNESS, operator, timeout_s=20)
        assert index > 0
        async with asyncio.timeout(30):
            while not all(
                m.inner is not None and m.inner.keygen.recovery.refreshes == 1 for m in beacon
            ):
                await asyncio.sleep(0.1)
            while not all(m.status()["beacon_key"] == "ready" for m in beacon):
                await asyncio.sleep(0.1)
        # the operator's writer ticket, but a command someone else signed: refused, with why
        with pytest.raises(Refused, match="not signed by the coalition operator"):
            await submit_refresh(net, cfg, ModuleKind.RANDOMNESS, SecretKey.generate())
        # the intake never admitted the outsider, though the operator's writer got through
        with pytest.raises(ConnectTimeout):
            await shut_out
    finally:
        shut_out.cancel()
        await asyncio.gather(shut_out, return_exceptions=True)
        await asyncio.gather(outsider.close(), net.close())

    after = [m.core.share for m in beacon if m.core is not None]
    for old, new in zip(before, after, strict=True):
        assert old is not None and new is not None and old.secret != new.secret  # every share moved
    inner = beacon[0].inner
    assert inner is not None and inner.card() == card  # the same group key
    assert not inner.bad  # no honest partial was taken for a bad one across the switch
    assert beacon[0].status()["key_refreshes"] == 1
    # the beacon keeps producing rounds the same card verifies
    refreshed_at = inner.ticks[-1].round
    later = []
    async with asyncio.timeout(30):
        while not later or later[-1].tick.round <= refreshed_at + 2:
            later.append(await reader.next())
    for r in later:
        assert r.card == card
        assert verify_tick(Scheme(card.scheme), card.group_key, r.tick)
    rounds = [t.round for t in inner.ticks]
    assert rounds == list(range(rounds[0], rounds[0] + len(rounds)))  # none skipped
    await reader.close()
