"""The staging → promote → publish cycle over real links (E9; 819, 825–831).

A staging committee whose members hold only the agent's staging tickets (non-TDX) runs beside
production. A production consumer — its validator the coalition issuer, or a TDX measurement —
is refused at the bond with the reason, and a frame a staging member forges on the production
surface never reaches it; an experiment consumer that opted in with the staging clause reads
both sides. The report adopts the staging candidate without a marker; ``Promote`` names the
winner's production deployment (production tickets), the production committee commits the
rotation, and the production consumer follows it with its unchanged validator."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from coalition import AclClause, AclComposition, CoalitionConfig, OrganismConfig
from coalition import TicketIssuerConfig as IssuerConfig
from coalition.framework import CommitteeMember, ReadRefused
from coalition.framework.evidence import EvidencePointer
from coalition.framework.surface import Frame, Published
from coalition.retirement import ComponentKind, ComponentRef
from coalition.services.almanac import AlmanacRange
from coalition.ticket_issuer import TicketIssuer, recognise_coalition_issuer
from organisms.compute.items import ComputeGrant
from organisms.experiments.machine import (
    Body,
    ExperimentConfig,
    ExperimentMachine,
    ObserveGrant,
    ObserveOutcome,
    Promote,
    Propose,
    SealReport,
    Signed,
)
from organisms.experiments.shadow import Source, opt_in
from organisms.experiments.staging import bond, staging_clause, staging_issuer
from organisms.feed import FEED, Feed, FeedItem
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import UNIVERSE, PeerId, SecretKey, UniqueId, encode
from pymosaik.tee import SimulatedTdx, Tdx
from pymosaik.tickets import Ticket

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import NewNetwork

OPERATOR, AGENT_KEY = SecretKey.generate(), SecretKey.generate()
COALITION = CoalitionConfig(
    instance_name="staging-demo",
    ticket_issuer=IssuerConfig(
        "staging-demo", AclComposition.all_of(AclClause.require_peer(OPERATOR.peer_id.bytes))
    ),
)
PRODUCTION = OrganismConfig("forecaster")
STAGING = OrganismConfig("forecaster-staging")
PROMOTED = OrganismConfig("forecaster-v2")
#: Three committees on seven loopback nodes: 20-40 s on the shared two-core machine.
pytestmark = pytest.mark.slow

KEYS = [SecretKey(bytes([i]) * 32) for i in range(1, 4)]  # the experiment committee
ACTUAL = [100, 120, 90, 110]
MRTD = b"\x22" * 48
NO_TICKET = "no valid ticket of the required class"


def ref(cfg: OrganismConfig) -> ComponentRef:
    return ComponentRef(ComponentKind.ORGANISM, cfg.name, cfg.organism_id())


def grant(image: bytes, start: int, end: int, mrtd: bytes = b"") -> ComputeGrant:
    return ComputeGrant(
        UniqueId.hash(image).bytes, b"\x06" * 32, image, start, end, mrtd, 1, "", 1, 1, b""
    )


def error_bps(forecast: FeedItem, actual: int) -> int:
    return abs(int(forecast.payload) - actual) * 10_000 // actual


def pointer(cfg: OrganismConfig, item: FeedItem) -> EvidencePointer:
    return EvidencePointer(cfg.organism_id(), item.at_ms, item.seq, UniqueId.hash(item.payload))


async def committee(
    new_network: NewNetwork, cfg: OrganismConfig, issue: Callable[[PeerId], Ticket]
) -> tuple[list[Network], list[CommitteeMember]]:
    keys = [SecretKey.generate() for _ in range(3)]
    nets = [await new_network(secret_key=k, tickets=[issue(k.peer_id)]) for k in keys]
    return nets, await start(nets, cfg)


async def start(nets: list[Network], cfg: OrganismConfig) -> list[CommitteeMember]:
    """Members of ``cfg`` on ``nets``, once they elected a leader (on a loaded machine the
    loopback elections can take many terms; waiting here keeps that out of the write timeouts)."""
    addrs = [n.addr for n in nets]
    members = [Feed.member(n, cfg, addrs, raft=RaftConfig.loopback()) for n in nets]
    await asyncio.wait_for(members[0].group.when().leader_elected(), 60)
    return members


async def test_staging_is_invisible_to_production_and_publishes_through_promotion(
    new_network: NewNetwork,
) -> None:
    coalition_issuer = TicketIssuer.for_coalition(COALITION, OPERATOR)
    agent_id = PRODUCTION.organism_id()
    staging_tickets = staging_issuer(agent_id, AGENT_KEY)

    def production_ticket(peer: PeerId) -> Ticket:
        return coalition_issuer.issue(peer, UNIVERSE, 0, None)

    def staging_ticket(peer: PeerId) -> Ticket:
        return staging_tickets.issue(peer, UNIVERSE, 0, None)

    production_nets, production = await committee(new_network, PRODUCTION, production_ticket)
    staging_nets, staging = await committee(new_network, STAGING, staging_ticket)
    consumer = experimenter = await new_network()  # one node, two consumers (two validators)
    by_coalition = recognise_coalition_issuer(COALITION)  # a production consumer's validator
    by_tdx = Tdx.with_verifiers(SimulatedTdx(OPERATOR.peer_id)).allow_simulated().require_mrtd(MRTD)

    agent, cand = Feed.publish(experimenter, PRODUCTION), Feed.publish(experimenter, STAGING)
    for tick, actual in enumerate(ACTUAL):  # the agent is off by 20 %, the staged variant by 1 %
        await asyncio.gather(
            agent.post(str(actual * 12 // 10).encode(), tick, timeout_s=30),
            cand.post(str(actual * 101 // 100).encode(), tick, timeout_s=30),
        )

    # the production consumer reads production; the staging committee is refused at the bond
    reader = await bond(consumer, FEED, PRODUCTION, producers=by_coalition, timeout_s=30)
    reader.follow_successors = True
    own = [await asyncio.wait_for(reader.next(), 30) for _ in ACTUAL]
    assert [int(i.payload) for i in own] == [a * 12 // 10 for a in ACTUAL]
    staging_ids = {str(n.peer_id) for n in staging_nets}
    tries = [
        bond(consumer, FEED, STAGING, producers=v, timeout_s=2) for v in (by_coalition, by_tdx)
    ]
    for refused in await asyncio.gather(*tries, return_exceptions=True):
        assert isinstance(refused, ReadRefused), refused
        assert refused.reasons == dict.fromkeys(staging_ids, NO_TICKET)

    # a staging member forging frames on the production surface reaches no production reader
    surface = FEED.ids(PRODUCTION).surface
    forged = Frame(surface, len(ACTUAL), Published(encode(FeedItem(len(ACTUAL), b"1", 99))))
    rogue = staging_nets[0].streams.producer(Frame, stream_id=surface).build()

    async def forge() -> None:
        while True:
            if rogue.subscribed_count():
                rogue.try_send(forged)
            await asyncio.sleep(0.01)

    forging = asyncio.ensure_future(forge())
    await asyncio.sleep(0.5)
    await agent.post(b"120", len(ACTUAL), timeout_s=30)
    assert (await asyncio.wait_for(reader.next(), 30)).payload == b"120"
    assert rogue.subscribed_count() == 0  # the consumer never subscribed to the staging member
    forging.cancel()
    await rogue.close()

    # the experiment consumer opts in with the staging clause and reads both, labelled
    shadowed = opt_in(
        experimenter,
        FEED,
        PRODUCTION,
        STAGING,
        timeout_s=30,
        producers=by_coalition,
        shadow_producers=staging_clause(agent_id, [AGENT_KEY.peer_id]),
    )
    seen = [await asyncio.wait_for(shadowed.next(), 30) for _ in range(2 * len(ACTUAL) + 1)]
    shadow = [s.item for s in seen if s.source is Source.SHADOW]
    assert [int(i.payload) for i in shadow] == [a * 101 // 100 for a in ACTUAL]

    # the committee's report adopts the staged variant on its short grant, without a marker
    exp = ExperimentMachine(
        ExperimentConfig("trial", ref(PRODUCTION), min_observations=4, tick_ms=1_000),
        [k.peer_id for k in KEYS],
    )
    image, closes = b"\x11" * 32, len(ACTUAL) * 1_000
    short = grant(image, 0, closes)  # exactly the window (2862)
    steps: list[Body] = [
        Propose(ref(STAGING), AlmanacRange(0, len(ACTUAL) - 1), image, 0, staging=True),
        ObserveGrant(short),
    ]
    outcome = EvidencePointer(UniqueId.hash("outcomes"), 0, 0, UniqueId.hash("outcome"))
    for tick, (a, c) in enumerate(zip(own, shadow, strict=True)):
        steps.append(
            ObserveOutcome(
                tick,
                error_bps(a, ACTUAL[tick]),
                error_bps(c, ACTUAL[tick]),
                pointer(PRODUCTION, a),
                pointer(STAGING, c),
                outcome,
            )
        )
    for n, body in enumerate(steps):
        assert exp.step(Signed.by(KEYS[n % 3], 1 + n % 3, body)).ok
    sealed = exp.step(Signed.by(KEYS[0], 1, SealReport(len(ACTUAL))))
    assert sealed.report is not None and sealed.report.verdict == "adopt"
    assert sealed.rotation is None  # production still sees nothing of staging

    # promote: the winner's production deployment, on the production operator's nodes (which
    # hold production tickets) and its TDX grant; the published marker names it
    promoted = await start(production_nets, PROMOTED)
    tdx = grant(b"\x44" * 32, closes, 10**9, MRTD)  # the attested image, live after the window
    out = exp.step(Signed.by(KEYS[1], 2, Promote(ref(STAGING), ref(PROMOTED), MRTD, tdx, 5)))
    assert out.rotation is not None and out.rotation.replacement == ref(PROMOTED)
    await production[0].retire(out.rotation, promoted[0].ids.surface)
    successor = Feed.publish(experimenter, PROMOTED)
    await successor.post(b"now in production", 99, timeout_s=30)
    async with asyncio.timeout(30):  # the follower keeps its production validator
        item = await reader.next()
    assert item.payload == b"now in production" and reader.stats.successors_followed == 1
    assert reader.retirement is not None and reader.retirement.marker.replacement == ref(PROMOTED)

    for h in (reader, shadowed, agent, cand, successor):
        await h.close()
    for m in (*production, *staging, *promoted):
        await m.close()
