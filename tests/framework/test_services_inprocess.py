"""The basic services as committees on loopback: three members, one integrator, one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from coalition import CoalitionConfig, OrganismRef
from coalition.framework import ConnectTimeout, OrganismRetired, Refused, SurfaceReader
from coalition.modules import AlmanacConfig, AtlasConfig, ChronicleConfig, ModuleConfig, ModuleKind
from coalition.organism import LatticeConfig
from coalition.services.almanac import AlmanacTick
from coalition.services.anchor import EvmAnchor
from coalition.services.atlas import MemberCard
from coalition.services.chronicle_log import MembershipChanged, check_against_anchor
from coalition.services.committees import Almanac, Atlas, Chronicle, ModuleMember, start_member
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey, UniqueId

FAST = RaftConfig.loopback()
DISC = DiscoveryConfig.loopback()
ORACLE = OrganismRef.by_stable_id("oracle", UniqueId.hash("test oracle"))


def coalition(name: str = "inproc-test") -> CoalitionConfig:
    return CoalitionConfig(
        instance_name=name,
        lattices=[LatticeConfig.derive("lattice-a")],
        organisms=[ORACLE],
        atlas=AtlasConfig(ModuleConfig("atlas")),
        almanac=AlmanacConfig(ModuleConfig("almanac")),
        chronicle=ChronicleConfig(ModuleConfig("chronicle")),
    )


class Cluster:
    def __init__(self) -> None:
        self.nets: list[Network] = []
        self.members: list[ModuleMember] = []

    async def network(self) -> Network:
        boot = [self.nets[0].addr] if self.nets else []
        net = await Network.create(bootstrap=boot, discovery=DISC)
        self.nets.append(net)
        return net

    async def committee(
        self, cfg: CoalitionConfig, kinds: tuple[ModuleKind, ...], operator: SecretKey, **kw: object
    ) -> list[Network]:
        nets = [await self.network() for _ in range(3)]
        addrs = [n.addr for n in nets]
        for kind in kinds:
            for net in nets:
                member = await start_member(
                    kind,
                    net,
                    cfg,
                    committee=addrs,
                    operator_key=operator,
                    cadence_ms=300,
                    raft=FAST,
                    **kw,  # type: ignore[arg-type]
                )
                self.members.append(member)
        return nets

    async def close(self) -> None:
        for m in self.members:
            await m.close()
        for n in self.nets:
            await n.close()


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        await c.close()


async def test_integrator_reads_atlas_almanac_and_chronicle(cluster: Cluster) -> None:
    cfg, operator = coalition(), SecretKey.generate()
    anchor = EvmAnchor.in_process()
    await cluster.committee(
        cfg, (ModuleKind.ATLAS, ModuleKind.ALMANAC, ModuleKind.CHRONICLE), operator, anchor=anchor
    )
    integrator = await cluster.network()

    atlas = Atlas.read(integrator, cfg, timeout_s=15)
    view = await atlas.ready()
    while len(view.cards) < 2:
        view = await atlas.next()
    assert {c.card.stable_id for c in view.cards} == {cfg.lattices[0], ORACLE.stable_id}
    assert all(c.verify() and c.signer == operator.peer_id.bytes for c in view.cards)

    almanac = Almanac.read(integrator, cfg, timeout_s=15)
    first = await almanac.ready(drain=False)
    second = await almanac.next()
    assert second.seq > first.seq
    assert len(second.observed_at) >= 2  # a majority of the 3-member committee observed it

    chronicle = Chronicle.read(integrator, cfg, timeout_s=15)
    entry0 = await chronicle.ready(drain=False)
    assert entry0.seq == 0 and entry0.coalition == cfg.stable_id()
    writer = Chronicle.publish(integrator, cfg, operator)
    change = MembershipChanged(cfg.stable_id(), (UniqueId.hash("new member"),), ())
    seq = await writer.record(change)
    assert seq == 1
    entry1 = await chronicle.next()
    assert entry1.kind == change and entry1.prev == entry0.digest()
    assert entry1.has_quorum([n.peer_id for n in cluster.nets[:3]])

    chronicle_id = cfg.module_root(ModuleKind.CHRONICLE)
    assert chronicle_id is not None
    async with asyncio.timeout(10):  # the leader anchors at the next cadence boundary
        while (anchor.latest(chronicle_id) or (-1,))[0] < 1:
            await asyncio.sleep(0.1)
    anchored = [(1, anchor.digest_at(chronicle_id, 1))]
    assert check_against_anchor([entry0, entry1], anchored) is None  # type: ignore[list-item]
    forged = MembershipChanged(cfg.stable_id(), (UniqueId.hash("someone else"),), ())
    rewritten = entry1.__class__(1, forged, entry1.coalition, entry1.prev, entry1.committed_at_ms)
    report = check_against_anchor([entry0, rewritten], anchored)  # type: ignore[list-item]
    assert report is not None and report.seq == 1

    # a write not signed by the coalition operator is refused by the committee
    rogue = Chronicle.publish(integrator, cfg, SecretKey.generate())
    with pytest.raises(Exception, match="not signed by a coalition operator"):
        await rogue.record(change)
    for handle in (atlas, almanac, chronicle):
        await handle.close()
    await writer.close()
    await rogue.close()


async def test_wrong_config_is_a_connect_timeout(cluster: Cluster) -> None:
    cfg, operator = coalition(), SecretKey.generate()
    await cluster.committee(cfg, (ModuleKind.ALMANAC,), operator)
    integrator = await cluster.network()
    good = Almanac.read(integrator, cfg, timeout_s=15)
    await good.ready()
    typo = Almanac.read(integrator, coalition("inproc-tset"), timeout_s=1.5)
    with pytest.raises(ConnectTimeout, match="inproc-tset"):
        await typo.ready()
    await good.close()
    await typo.close()


async def read_until_end(reader: SurfaceReader[AlmanacTick]) -> None:
    async with asyncio.timeout(10):
        while True:
            await reader.next()


async def test_retirement_marker_ends_readers(cluster: Cluster) -> None:
    cfg, operator = coalition(), SecretKey.generate()
    await cluster.committee(cfg, (ModuleKind.ALMANAC,), operator)
    integrator = await cluster.network()
    reader = Almanac.read(integrator, cfg, timeout_s=15)
    await reader.ready()
    await cluster.members[0].retire()
    with pytest.raises(OrganismRetired, match="retired"):
        await read_until_end(reader)
    # every member refuses further observations: the surface stays retired
    async with asyncio.timeout(10):  # followers apply the marker at their next commit
        while not all(m.status()["retired"] for m in cluster.members):
            await asyncio.sleep(0.05)
    late = Almanac.read(integrator, cfg, timeout_s=15)
    with pytest.raises(OrganismRetired):
        await late.ready()
    await reader.close()
    await late.close()


async def test_member_operator_signs_its_own_card(cluster: Cluster) -> None:
    cfg, operator, oracle_op = coalition(), SecretKey.generate(), SecretKey.generate()
    await cluster.committee(
        cfg, (ModuleKind.ATLAS,), operator, member_operators={ORACLE.stable_id: oracle_op.peer_id}
    )
    integrator = await cluster.network()
    atlas = Atlas.read(integrator, cfg, timeout_s=15)
    writer = Atlas.publish(integrator, cfg)
    card = MemberCard("oracle", ORACLE.stable_id, 2, endpoint_hints=("oracle.example:443",))
    await writer.upsert(card.sign(oracle_op), timeout_s=15)
    with pytest.raises(Refused, match="not this member's operator"):
        await writer.upsert(card.sign(SecretKey.generate()), timeout_s=15)
    lattice_card = MemberCard("lattice", cfg.lattices[0], 2)
    with pytest.raises(Refused, match="not this member's operator"):
        await writer.upsert(lattice_card.sign(oracle_op), timeout_s=15)  # not its member
    async with asyncio.timeout(15):
        view = await atlas.ready()
        while (got := view.card(ORACLE.stable_id)) is None or got.version < 2:
            view = await atlas.next()
    assert got.endpoint_hints == ("oracle.example:443",)
    await atlas.close()
    await writer.close()
