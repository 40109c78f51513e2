"""An experiment over real links: the candidate publishes a shadow stream that only opted-in
consumers see (labelled), the committee's report adopts it, and the rotation marker moves
readers that follow successors onto the candidate."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from coalition import OrganismConfig
from coalition.framework import OrganismRetired
from coalition.framework.evidence import EvidencePointer
from coalition.retirement import ComponentKind, ComponentRef
from coalition.services.almanac import AlmanacRange
from organisms.compute.items import ComputeGrant
from organisms.experiments.machine import (
    ExperimentConfig,
    ExperimentMachine,
    ObserveGrant,
    ObserveOutcome,
    Propose,
    SealReport,
    Signed,
    Verdict,
)
from organisms.experiments.shadow import ShadowReader, Source, opt_in
from organisms.feed import FEED, Feed, FeedItem
from pymosaik.primitives import SecretKey, UniqueId

PRODUCTION, CANDIDATE = OrganismConfig("forecaster"), OrganismConfig("forecaster-b")
KEYS = [SecretKey(bytes([i]) * 32) for i in range(1, 4)]
ACTUAL = [100, 120, 90, 110]  # what happened at each tick

if TYPE_CHECKING:
    from tests.conftest import NewNetwork, OrganismCommittee


async def drain_until_retired(reader: ShadowReader[FeedItem]) -> None:
    async def drain() -> None:
        while True:
            await asyncio.wait_for(reader.next(), 30)

    with pytest.raises(OrganismRetired):
        await drain()


def error_bps(forecast: int, actual: int) -> int:
    return abs(forecast - actual) * 10_000 // actual


def pointer(cfg: OrganismConfig, item: FeedItem) -> EvidencePointer:
    return EvidencePointer(cfg.organism_id(), item.at_ms, item.seq, UniqueId.hash(item.payload))


async def test_shadow_stream_report_and_rotation(
    new_network: NewNetwork, organism_committee: OrganismCommittee
) -> None:
    production, candidate = (
        await organism_committee(Feed.member, PRODUCTION),
        await organism_committee(Feed.member, CANDIDATE),
    )
    client = await new_network()
    plain = FEED.read(client, PRODUCTION, timeout_s=30)  # did not opt in
    plain.follow_successors = True
    shadowed = opt_in(client, FEED, PRODUCTION, CANDIDATE, timeout_s=30)
    agent, cand = Feed.publish(client, PRODUCTION), Feed.publish(client, CANDIDATE)
    for tick, actual in enumerate(ACTUAL):  # the agent is off by 20 %, the candidate by 1 %
        await agent.post(str(actual * 12 // 10).encode(), tick, timeout_s=30)
        await cand.post(str(actual * 101 // 100).encode(), tick, timeout_s=30)

    seen = [await asyncio.wait_for(shadowed.next(), 30) for _ in range(2 * len(ACTUAL))]
    own = [s.item for s in seen if s.source is Source.PRODUCTION]
    shadow = [s.item for s in seen if s.source is Source.SHADOW]
    assert [i.at_ms for i in own] == [i.at_ms for i in shadow] == list(range(len(ACTUAL)))
    got = [await asyncio.wait_for(plain.next(), 30) for _ in range(len(ACTUAL))]
    assert got == own  # the plain consumer saw production only, in order

    # the committee scores both on the same outcomes and seals its report at the window's end
    ref = ComponentRef(ComponentKind.ORGANISM, CANDIDATE.name, CANDIDATE.organism_id())
    agent_ref = ComponentRef(ComponentKind.ORGANISM, PRODUCTION.name, PRODUCTION.organism_id())
    exp = ExperimentMachine(
        ExperimentConfig("forecast-trial", agent_ref, min_observations=4, margin_bps=100),
        [k.peer_id for k in KEYS],
    )
    window, image = AlmanacRange(0, len(ACTUAL) - 1), b"\x11" * 32
    closes = len(ACTUAL) * exp.cfg.tick_ms
    assert exp.step(Signed.by(KEYS[0], 1, Propose(ref, window, image, 0))).ok
    # the candidate's short grant, as the Compute committee committed it: exactly the window
    grant = ComputeGrant(b"\x05" * 32, b"\x06" * 32, image, 0, closes, b"", 10, "", 1, 1, b"")
    assert exp.step(Signed.by(KEYS[2], 3, ObserveGrant(grant))).ok
    outcome = EvidencePointer(UniqueId.hash("outcomes"), 0, 0, UniqueId.hash("outcome"))
    for tick, (a, c) in enumerate(zip(own, shadow, strict=True)):
        obs = ObserveOutcome(
            tick,
            error_bps(int(a.payload), ACTUAL[tick]),
            error_bps(int(c.payload), ACTUAL[tick]),
            pointer(PRODUCTION, a),
            pointer(CANDIDATE, c),
            outcome,
        )
        assert exp.step(Signed.by(KEYS[tick % 3], 1 + tick % 3, obs)).ok
    sealed = exp.step(Signed.by(KEYS[1], 2, SealReport(len(ACTUAL))))
    assert sealed.report is not None and sealed.report.verdict == Verdict.ADOPT.value
    assert sealed.rotation is not None and sealed.rotation.replacement == ref

    # adoption: the production surface commits the rotation; followers move to the candidate
    await production[0].retire(sealed.rotation, candidate[0].ids.surface)
    await cand.post(b"now in production", 99, timeout_s=30)
    followed = []
    async with asyncio.timeout(30):  # the successor is read from its first frame (documented)
        while not followed or followed[-1].payload != b"now in production":
            followed.append(await plain.next())
    assert followed == [*shadow, followed[-1]] and plain.stats.successors_followed == 1
    await drain_until_retired(shadowed)  # the opted-in reader's production side ended
    for h in (plain, shadowed, agent, cand):
        await h.close()
    for m in (*production, *candidate):
        await m.close()
