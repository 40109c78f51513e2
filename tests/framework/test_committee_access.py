"""Issue 12 item 4: holding the handshake does not let anyone into a committee's Raft log.

A stranger on the same network knows the public CoalitionConfig (so the group
secret) and the operator's PeerId (it signs every Atlas card), but holds no
ticket: it can neither bond as a voter, nor observe (read) the log, nor get a
command committed. Readers and writers with operator-issued tickets can.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from coalition import CoalitionConfig
from coalition.framework.surface import Wrapped
from coalition.modules import AtlasConfig, ModuleConfig, ModuleKind
from coalition.organism import LatticeConfig
from coalition.services.atlas import AtlasMachine, MemberCard, UpsertCard
from coalition.services.committee_access import (
    CommitteeRole,
    committee_members,
    issue_committee_ticket,
)
from coalition.services.committees import (
    Atlas,
    ModuleMember,
    module_machine,
    observe_module,
    start_member,
)
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.access import NOT_A_WRITER
from pymosaik.groups.driver import Group, GroupError
from pymosaik.groups.raft import FailReason, RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey, encode
from pymosaik.tickets import InvalidTicketError, Ticket
from pymosaik.transport import EndpointAddr

FAST = RaftConfig.loopback()
DISC = DiscoveryConfig.loopback()
KIND = ModuleKind.ATLAS


def coalition() -> CoalitionConfig:
    return CoalitionConfig(
        instance_name="bond-tickets",
        lattices=[LatticeConfig.derive("lattice-a")],
        atlas=AtlasConfig(ModuleConfig("atlas")),
    )


class Committee:
    def __init__(self) -> None:
        self.cfg = coalition()
        self.operator = SecretKey.generate()
        self.nets: list[Network] = []
        self.members: list[ModuleMember] = []
        self.groups: list[Group] = []

    async def network(self) -> Network:
        boot = [self.nets[0].addr] if self.nets else []
        net = await Network.create(bootstrap=boot, discovery=DISC)
        self.nets.append(net)
        return net

    async def start(self) -> None:
        nets = [await self.network() for _ in range(3)]
        for net in nets:
            self.members.append(
                await start_member(
                    KIND,
                    net,
                    self.cfg,
                    committee=self.addrs,
                    operator_key=self.operator,
                    cadence_ms=300,
                    raft=FAST,
                )
            )
        # Seeded: the operator's card for the lattice is committed on every member.
        async with asyncio.timeout(15):
            while not all(self.inner(i).cards() for i in range(3)):
                await asyncio.sleep(0.05)

    @property
    def addrs(self) -> list[EndpointAddr]:
        return [n.addr for n in self.nets[:3]]

    def inner(self, i: int) -> AtlasMachine:
        inner = self.members[i].inner  # type: ignore[attr-defined]
        assert isinstance(inner, AtlasMachine)
        return inner

    def group(self, i: int) -> Group:
        group: Group = self.members[i].member.group  # type: ignore[attr-defined]
        return group

    def leader(self) -> Group:
        return next(self.group(i) for i in range(3) if self.group(i).is_leader)

    def ticket(self, role: CommitteeRole, net: Network) -> Ticket:
        return issue_committee_ticket(
            self.cfg,
            KIND,
            role,
            operator_key=self.operator,
            holder=net.peer_id,
            network=net.network_id,
        )

    def observe(self, net: Network, tickets: list[Ticket]) -> tuple[Group, AtlasMachine]:
        group, inner = observe_module(
            KIND,
            net,
            self.cfg,
            committee=self.addrs,
            operator=self.operator.peer_id,
            tickets=tickets,
            raft=FAST,
        )
        self.groups.append(group)
        assert isinstance(inner, AtlasMachine)
        return group, inner

    async def close(self) -> None:
        for g in self.groups:
            await g.close()
        for m in self.members:
            await m.close()
        for n in self.nets:
            await n.close()


@pytest.fixture
async def committee() -> AsyncIterator[Committee]:
    c = Committee()
    try:
        await c.start()
        yield c
    finally:
        await c.close()


def forged_upsert() -> bytes:
    """A command a stranger would forward: an unsigned card (the machine would refuse it)."""
    card = MemberCard("lattice", coalition().lattices[0], 99).sign(SecretKey.generate())
    return encode(Wrapped(encode(UpsertCard(card)), None))


async def _settled(c: Committee) -> list[int]:
    """Every member's log length, once the seeding writes have stopped."""
    async with asyncio.timeout(10):
        while True:
            before = [c.group(i).node.last_index for i in range(3)]
            await asyncio.sleep(0.5)
            if before == [c.group(i).node.last_index for i in range(3)]:
                return before


async def test_stranger_can_neither_bond_nor_read_nor_write(committee: Committee) -> None:
    c = committee
    log = await _settled(c)
    stranger_net = await c.network()
    # As a voter: it lists itself with the committee and presents what it can mint.
    machine, _ = module_machine(KIND, c.cfg, [a.peer_id for a in c.addrs], c.operator.peer_id)
    voter = stranger_net.groups.join(
        c.group(0).secret,  # the public group secret
        machine,
        [*c.addrs, stranger_net.addr],
        config=FAST,
        access=c.group(0).access,
        tickets=[],
    )
    c.groups.append(voter)
    assert voter.group_id == c.group(0).group_id  # it knows everything public
    # As an observer on another node: no ticket, and a reader ticket it signed itself.
    reader_net, forger_net = await c.network(), await c.network()
    reader, reader_inner = c.observe(reader_net, [])
    self_signed = issue_committee_ticket(
        c.cfg,
        KIND,
        CommitteeRole.READER,
        operator_key=forger_net.endpoint.secret_key,
        holder=forger_net.peer_id,
        network=forger_net.network_id,
    )
    forger, forger_inner = c.observe(forger_net, [self_signed])
    await asyncio.sleep(1.5)
    outsiders = {stranger_net.peer_id, reader_net.peer_id, forger_net.peer_id}
    for i in range(3):
        assert outsiders.isdisjoint(c.group(i).links)
        assert not c.group(i).observers
    for g in (reader, forger):
        assert set(g.bond_refusals) == {a.peer_id for a in c.addrs}
        assert {r.name for r in g.bond_refusals.values()} == {"NotAllowed"}
    for g in (voter, reader, forger):
        assert not g.links
        assert g.applied_index == 0
        with pytest.raises(GroupError) as refused:
            await g.execute(forged_upsert())
        assert refused.value.reason is FailReason.OFFLINE
        assert not refused.value.maybe_applied
    assert not reader_inner.cards()
    assert not forger_inner.cards()
    assert [c.group(i).node.last_index for i in range(3)] == log


async def test_reader_reads_and_only_a_writer_gets_into_the_log(committee: Committee) -> None:
    c = committee
    log = await _settled(c)
    reader_net, writer_net = await c.network(), await c.network()
    reader, reader_inner = c.observe(reader_net, [c.ticket(CommitteeRole.READER, reader_net)])
    writer, _ = c.observe(writer_net, [c.ticket(CommitteeRole.WRITER, writer_net)])
    async with asyncio.timeout(15):
        while not (
            reader.applied_index > log[0]  # the leader commits the new reader count
            and reader.leader is not None
            and writer.leader in writer.links
        ):
            await asyncio.sleep(0.05)
    log = await _settled(c)
    async with asyncio.timeout(15):
        await reader.when().applied_reaches(log[0])
    assert c.members[0].member.status()["subscribers"] == 2  # type: ignore[attr-defined]
    assert reader_inner.cards() == c.inner(0).cards()  # it reads the committee's state
    for i in range(3):
        assert c.group(i).observers == {reader_net.peer_id, writer_net.peer_id}
    # The reader's forward is refused by the leader before it is proposed.
    with pytest.raises(GroupError) as refused:
        await reader.execute(forged_upsert())
    assert refused.value.reason is FailReason.REJECTED
    assert c.leader().refused[NOT_A_WRITER] == 1
    assert {NOT_A_WRITER: 1} in [m.status()["refused"] for m in c.members]  # in status.json
    await asyncio.sleep(0.3)
    assert [c.group(i).node.last_index for i in range(3)] == log
    # The writer's forward is committed (the Atlas machine judges it, as for any command).
    async with asyncio.timeout(10):
        await writer.execute(forged_upsert())
    assert c.leader().node.last_index == log[0] + 1


async def test_members_carry_their_seat_ticket_and_readers_can_require_it(
    committee: Committee,
) -> None:
    """Each member's discovery entry carries an operator-signed member ticket for itself, so a
    reader can take the committee's surface from its members only (``producers=``)."""
    members = committee_members(committee.cfg, KIND, committee.operator.peer_id)
    stranger = await committee.network()
    now = stranger.clock.now_ms()
    for net in committee.nets[:3]:
        seats = [t for t in net.discovery.local().tickets if t.class_id == members.ticket_class()]
        assert len(seats) == 1
        assert members.validate(seats[0].data, net, now) is not None
        with pytest.raises(InvalidTicketError):  # a seat ticket is its holder's only
            members.validate(seats[0].data, stranger, now)
    assert not [
        t for t in stranger.discovery.local().tickets if t.class_id == members.ticket_class()
    ]
    reader = Atlas.read(stranger, committee.cfg, timeout_s=15, producers=members)
    try:
        directory = await reader.ready(drain=False)
        assert directory is not None  # the members' surface, admitted by their seat tickets
    finally:
        await reader.close()
