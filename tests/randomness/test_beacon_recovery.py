"""A beacon member that loses its data directory gets its share back (D12), run the way
`coalition up` runs the module: three members over real loopback networks, each with its Raft
log and key-generation seed in its data directory. Member 3 stops, its data directory is wiped
and it restarts with the same member key: it finds the key generation done and no share of its
own, asks for recovery through the log and gets the *same* share (its verification key checks).
The beacon runs on at 2 of 3 meanwhile; then member 2's operator refreshes the key (every
share moves, the card stays), member 1 stops for good and every later round needs member 3's
partials, so they verify again."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from coalition import CoalitionConfig
from coalition.content import ContentParams
from coalition.crypto.beacon import Scheme, verify_tick
from coalition.modules import ModuleConfig, ModuleKind, RandomnessConfig
from coalition.services.committees import start_member
from organisms.randomness.module import RandomnessMember
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey

PARAMS = {"scheme": Scheme.UNCHAINED_G1.value, "period_ms": 400, "threshold": 2}


def coalition() -> CoalitionConfig:
    body = ModuleConfig("beacon", ContentParams.from_params(PARAMS))  # type: ignore[arg-type]
    return CoalitionConfig(instance_name="beacon-recovery", randomness=RandomnessConfig(body))


async def wait_for(cond: Callable[[], bool], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.1)


def last_round(m: RandomnessMember) -> int:
    assert m.inner is not None
    return m.inner.ticks[-1].round if m.inner.ticks else 0


async def test_a_member_that_lost_its_data_recovers_its_share(
    module_committee, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    cfg = coalition()
    operator = SecretKey.generate()
    data = [tmp_path / f"m{i}" for i in range(3)]
    nets, members = await module_committee(
        ModuleKind.RANDOMNESS, cfg, operator, data_dir=lambda i: data[i]
    )
    ms: list[RandomnessMember] = list(members)
    await wait_for(lambda: min(last_round(m) for m in ms) >= 2, 40)
    lost = ms[2]
    assert lost.core is not None and lost.inner is not None
    before = lost.core.share
    assert before is not None
    vk = lost.inner.keygen.registry[3].verification_key
    old_seed = (data[2] / "keygen.seed").read_bytes()

    key, port = nets[2].endpoint.secret_key, nets[2].addr.addrs[0].port
    committee = [n.addr for n in nets[:3]]
    await lost.close()
    await nets[2].close()
    shutil.rmtree(data[2])  # the Raft log and the seed are gone; the member key is not
    down_at = last_round(ms[0])
    # the beacon runs on at 2 of 3 while member 3 is gone
    await wait_for(lambda: min(last_round(m) for m in ms[:2]) >= down_at + 3, 20)

    net = await Network.create(
        secret_key=key, port=port, bootstrap=[nets[0].addr], discovery=DiscoveryConfig.loopback()
    )
    back: RandomnessMember | None = None
    try:
        back = await start_member(  # type: ignore[assignment]
            ModuleKind.RANDOMNESS,
            net,
            cfg,
            committee=committee,
            operator_key=operator,
            raft=RaftConfig.loopback(),
            data_dir=data[2],
        )
        assert back is not None and back.core is not None and back.inner is not None
        core, machine = back.core, back.inner
        await wait_for(lambda: core.share is not None, 40)
        after = core.share
        assert after is not None and after.secret == before.secret and core.keygen.recovered
        assert (data[2] / "keygen.seed").read_bytes() != old_seed  # it really had a new seed
        assert machine.keygen.registry[3].verification_key == vk
        assert back.status()["beacon_key"] == "ready"
        card_before = machine.card()
        assert card_before is not None

        # then its operator refreshes the key: every share moves (the recovered one too)
        ms[1].refresh()
        everyone = [ms[0], ms[1], back]

        def moved(m: RandomnessMember) -> bool:  # its replica has the refresh, its core moved
            share = m.core.share if m.core is not None else None
            return (
                m.inner is not None
                and m.inner.keygen.recovery.refreshes == 1
                and (share is not None and share.result == m.inner.keygen.result)
            )

        await wait_for(lambda: all(moved(m) for m in everyone), 20)
        assert after is not None and core.share is not None and core.share.secret != after.secret
        assert machine.card() == card_before and not any(m.inner and m.inner.bad for m in everyone)

        await ms[0].close()  # from now on every round needs member 3's partials
        survivors = [ms[1], back]
        start = last_round(ms[1])
        await wait_for(lambda: min(last_round(m) for m in survivors) >= start + 3, 30)
        card = machine.card()
        assert card is not None
        later = [t for t in machine.ticks if t.round > start]
        assert [t.round for t in later] == list(range(start + 1, start + 1 + len(later)))
        assert all(verify_tick(Scheme(card.scheme), card.group_key, t) for t in later)
        rounds = [t.round for t in machine.ticks]
        assert rounds == list(range(rounds[0], rounds[0] + len(rounds)))  # none skipped
    finally:
        if back is not None:
            await back.close()
        await net.close()
