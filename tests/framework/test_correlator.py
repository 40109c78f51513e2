"""A composite organism end to end: two Feeds, an Almanac, a Correlator aligning them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from coalition import CoalitionConfig, OrganismConfig, OrganismRef
from coalition.framework import EvidencePointer, SurfaceReader, evidence_digest
from coalition.modules import AlmanacConfig, ModuleConfig, ModuleKind
from coalition.services.committees import start_member
from organisms.correlator import (
    Alignment,
    Apply,
    Correlator,
    CorrelatorMachine,
    CorrelatorMember,
    CorrelatorResult,
    Observe,
)
from organisms.feed import Feed, FeedItem, FeedWriter
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups import ApplyContext
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey, UniqueId, decode, encode

FAST = RaftConfig.loopback()
DISC = DiscoveryConfig.loopback()
A, B = UniqueId.hash("member a"), UniqueId.hash("member b")
CTX = ApplyContext(1, 1, 1)


def test_machine_accepts_only_observed_evidence() -> None:
    m = CorrelatorMachine([A, B])
    p = EvidencePointer(A, 3, 0, evidence_digest(b"x"))
    forged = EvidencePointer(B, 3, 0, evidence_digest(b"y"))
    assert decode(m.apply(encode(Observe(p)), CTX), CorrelatorResult).ok
    refused = m.apply(encode(Apply(3, (p, forged))), CTX)
    assert b"unresolvable evidence pointer" in refused
    outsider = EvidencePointer(UniqueId.hash("c"), 3, 0, evidence_digest(b"z"))
    assert b"does not span" in m.apply(encode(Observe(outsider)), CTX)
    ok = decode(m.apply(encode(Apply(3, (p,))), CTX), CorrelatorResult)
    assert ok.alignment is not None and m.last_tick == 3
    assert ok.alignment.events == ((A, (p.digest,)),) and ok.alignment.missing == (B,)
    assert b"already applied" in m.apply(encode(Apply(3, (p,))), CTX)
    assert b"already cited" in m.apply(encode(Apply(4, (p,))), CTX)
    # replay from a snapshot gives the same decisions
    copy = CorrelatorMachine([A, B])
    copy.restore(m.snapshot())
    assert copy.snapshot() == m.snapshot()
    assert b"already cited" in copy.apply(encode(Apply(5, (p,))), CTX)


@dataclass
class Setup:
    """Three nodes each running Almanac, two Feeds and a Correlator member; a fourth integrates."""

    correlators: list[CorrelatorMember]
    alignments: SurfaceReader[Alignment]
    writers: dict[UniqueId, FeedWriter]
    posted: dict[UniqueId, list[UniqueId]] = field(default_factory=lambda: {A: [], B: []})

    async def post(self, i: int) -> None:
        """Event ``i`` on both feeds; its digest is what an alignment must cite."""
        for member, writer in self.writers.items():
            body = f"event {i}".encode()
            seq = await writer.post(body, 1000 + i, timeout_s=10)
            self.posted[member].append(evidence_digest(encode(FeedItem(seq, body, 1000 + i))))

    async def read_until_all_aligned(self) -> None:
        """One alignment per closed tick, in order, each member's items in order, none twice."""
        seen: dict[UniqueId, list[UniqueId]] = {A: [], B: []}
        last_tick = -1
        al = await self.alignments.ready(drain=False)
        while True:
            assert al.tick > last_tick
            last_tick = al.tick
            for member, digests in al.events:
                seen[member].extend(digests)
                assert seen[member] == self.posted[member][: len(seen[member])]
            if seen == self.posted:
                return
            al = await self.alignments.next()


@contextlib.asynccontextmanager
async def correlation(name: str) -> AsyncIterator[Setup]:
    coalition = CoalitionConfig(instance_name=name, almanac=AlmanacConfig(ModuleConfig("almanac")))
    feed_a, feed_b = OrganismConfig("feed-a"), OrganismConfig("feed-b")
    corr_cfg = OrganismConfig(
        "correlator",
        organisms=(OrganismRef.by_stable_id("a", A), OrganismRef.by_stable_id("b", B)),
    )
    nets: list[Network] = []
    for _ in range(4):
        boot = [nets[0].addr] if nets else []
        nets.append(await Network.create(bootstrap=boot, discovery=DISC))
    committee, integrator = [n.addr for n in nets[:3]], nets[3]
    running: list[object] = []
    correlators: list[CorrelatorMember] = []
    operator = SecretKey.generate()  # one coalition operator: it signs the members' tickets
    try:
        for net in nets[:3]:
            running.append(
                await start_member(
                    ModuleKind.ALMANAC,
                    net,
                    coalition,
                    committee=committee,
                    operator_key=operator,
                    cadence_ms=300,
                    raft=FAST,
                )
            )
            running.append(Feed.member(net, feed_a, committee, raft=FAST))
            running.append(Feed.member(net, feed_b, committee, raft=FAST))
            correlators.append(
                Correlator.member(
                    net,
                    corr_cfg,
                    committee,
                    spans={A: feed_a, B: feed_b},
                    coalition=coalition,
                    raft=FAST,
                )
            )
        setup = Setup(
            correlators,
            Correlator.read(integrator, corr_cfg, timeout_s=20),
            {A: Feed.publish(integrator, feed_a), B: Feed.publish(integrator, feed_b)},
        )
        try:
            yield setup
        finally:
            await setup.alignments.close()
            for w in setup.writers.values():
                await w.close()
    finally:
        for c in correlators:
            await c.close()
        for r in running:
            await r.close()  # type: ignore[attr-defined]
        for n in nets:
            await n.close()


async def test_correlator_aligns_two_feeds_on_almanac_ticks() -> None:
    async with correlation("correlation-test") as s, asyncio.timeout(40):
        for i in range(3):
            await s.post(i)
        await s.read_until_all_aligned()


async def test_no_item_is_lost_when_the_correlator_leader_goes() -> None:
    """The leader of the correlator committee stops mid-stream: what it observed and what
    arrived during the election is still aligned, once each, in order (the new leader carries
    on from the committed observations and its own buffer)."""
    async with correlation("correlation-failover") as s, asyncio.timeout(60):
        for i in range(3):
            await s.post(i)
        while not any(c.member.group.is_leader for c in s.correlators):
            await asyncio.sleep(0.05)
        leader = next(c for c in s.correlators if c.member.group.is_leader)
        await leader.close()  # mid-stream: its observations are in the log, not applied
        s.correlators.remove(leader)
        for i in range(3, 8):
            await s.post(i)  # some arrive while the committee elects a new leader
        await s.read_until_all_aligned()
