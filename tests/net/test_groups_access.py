"""Per-role bond rules (GroupAccess): voters, readers and writers over real loopback links.

The group secret here is public (anyone can derive it, as for coalition
committees); what keeps a stranger out is the tickets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pymosaik.groups.access import NOT_A_VOTER, NOT_A_WRITER, TERM_FROM_NON_VOTER, GroupAccess
from pymosaik.groups.driver import Group, GroupError, Groups, derive_group_id
from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp, MapQuery, MapResult
from pymosaik.groups.raft import (
    Consistency,
    FailReason,
    LeadershipPreference,
    RaftConfig,
    encode_message,
)
from pymosaik.groups.raft.messages import AppendEntries, AppendEntriesResponse, Vote
from pymosaik.primitives import UNIVERSE, PeerId, SecretKey, UniqueId, decode, encode, unique_id
from pymosaik.tickets import Expiration, InvalidTicketError, PeerIdentity, Ticket
from pymosaik.transport import Endpoint

FAST = RaftConfig.loopback(snapshot_threshold=0)
PUBLIC_SECRET = UniqueId.hash("derived from a public config")


class RoleTicket:
    """Accepts a ticket whose data is the holder's PeerId, in this role's class."""

    def __init__(self, role: str) -> None:
        self.cls = unique_id(f"test.access.{role}")

    def ticket_class(self) -> UniqueId:
        return self.cls

    def signature(self) -> UniqueId:
        return self.cls.derive("validator")

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        if data != peer.peer_id.bytes:
            raise InvalidTicketError("ticket of another peer")
        return Expiration.never()

    def ticket(self, peer: PeerId) -> Ticket:
        return Ticket(self.cls, peer.bytes)


MEMBER, READER, WRITER = RoleTicket("member"), RoleTicket("reader"), RoleTicket("writer")
ACCESS = GroupAccess(voters=MEMBER, observers=READER, forwarders=WRITER)


def put(i: int) -> bytes:
    return encode(MapCommand(b"c", i + 1, MapOp.PUT, b"k%d" % i, b"v%d" % i))


@pytest.fixture
async def nodes() -> AsyncIterator[list[tuple[Endpoint, Groups]]]:
    out = []
    for _ in range(6):
        ep = Endpoint(SecretKey.generate(), UNIVERSE)
        await ep.start()
        out.append((ep, Groups(ep)))
    yield out
    for ep, groups in out:
        await groups.aclose()
        await ep.aclose()


async def _until(predicate: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def _committee(nodes: list[tuple[Endpoint, Groups]]) -> tuple[list[Group], Group]:
    """Three ticketed voters with one committed entry; returns them and the leader."""
    addrs = [ep.addr for ep, _ in nodes[:3]]
    members = [
        g.join(
            PUBLIC_SECRET,
            MapMachine(),
            addrs,
            config=FAST,
            access=ACCESS,
            tickets=[MEMBER.ticket(ep.peer_id)],
        )
        for ep, g in nodes[:3]
    ]
    async with asyncio.timeout(15):
        leader_id = await members[0].when().leader_elected()
        leader = next(m for m in members if m.peer_id == leader_id)
        assert decode(await leader.execute(put(0)), MapResult).ok
    await _until(lambda: all(m.applied_index == leader.applied_index for m in members))
    return members, leader


def _observe(node: tuple[Endpoint, Groups], tickets: list[Ticket], addrs: list[object]) -> Group:
    return node[1].join(
        PUBLIC_SECRET,
        MapMachine(),
        addrs,  # type: ignore[arg-type]
        config=FAST,
        access=ACCESS,
        preference=LeadershipPreference.observer(),
        tickets=tickets,
    )


def test_role_rules_enter_the_group_id() -> None:
    plain = derive_group_id(PUBLIC_SECRET, FAST, MapMachine())
    assert GroupAccess().signatures() == []
    ids = {
        plain,
        derive_group_id(PUBLIC_SECRET, FAST, MapMachine(), ACCESS.signatures()),
        derive_group_id(
            PUBLIC_SECRET, FAST, MapMachine(), GroupAccess(observers=False).signatures()
        ),
        derive_group_id(
            PUBLIC_SECRET, FAST, MapMachine(), GroupAccess(forwarders=READER).signatures()
        ),
    }
    assert len(ids) == 4


async def test_stranger_can_neither_bond_nor_read_nor_write(
    nodes: list[tuple[Endpoint, Groups]],
) -> None:
    members, _leader = await _committee(nodes)
    addrs = [ep.addr for ep, _ in nodes[:3]]
    log_before = [m.node.last_index for m in members]
    stranger_ep = nodes[3][0]
    # As a voter: it lists itself, but the members do not list it (and it has no ticket).
    voter = nodes[3][1].join(PUBLIC_SECRET, MapMachine(), addrs, config=FAST, access=ACCESS)
    # As an observer on another node without a ticket, and one showing a member's ticket.
    reader = _observe(nodes[4], [], addrs)
    borrowed = _observe(nodes[5], [READER.ticket(nodes[0][0].peer_id)], addrs)
    await asyncio.sleep(1.0)
    for m in members:
        assert {stranger_ep.peer_id, nodes[4][0].peer_id, nodes[5][0].peer_id}.isdisjoint(m.links)
        assert not m.observers
    for g in (reader, borrowed):  # the would-be voter dials only members above its id
        assert {r.name for r in g.bond_refusals.values()} == {"NotAllowed"}
        assert set(g.bond_refusals) == {a.peer_id for a in addrs}
    assert all(r.name == "NotAllowed" for r in voter.bond_refusals.values())
    for g in (voter, reader, borrowed):
        assert not g.links
        assert g.leader is None
        assert g.applied_index == 0  # read nothing of the log
        with pytest.raises(GroupError) as refused:
            await g.execute(put(7))
        assert refused.value.reason is FailReason.OFFLINE
        assert not refused.value.maybe_applied
    assert [m.node.last_index for m in members] == log_before


async def test_reader_reads_but_its_forwards_never_reach_the_log(
    nodes: list[tuple[Endpoint, Groups]],
) -> None:
    members, leader = await _committee(nodes)
    addrs = [ep.addr for ep, _ in nodes[:3]]
    me = nodes[3][0].peer_id
    reader = _observe(nodes[3], [READER.ticket(me)], addrs)
    await _until(lambda: reader.applied_index == leader.applied_index and reader.leader is not None)
    await _until(lambda: all(me in m.links for m in members))
    got = decode(await reader.query(encode(MapQuery(b"k0")), Consistency.WEAK), MapResult)
    assert got.value == b"v0"
    got = decode(await reader.query(encode(MapQuery(b"k0"))), MapResult)  # strong, via leader
    assert got.value == b"v0"
    log_before = [m.node.last_index for m in members]
    # A forwarded command: refused by the leader before it is proposed.
    with pytest.raises(GroupError) as refused:
        await reader.execute(put(1))
    assert refused.value.reason is FailReason.REJECTED
    assert leader.refused[NOT_A_WRITER] == 1
    # Raw Raft messages only a voter may send: a high-term AppendEntries carrying an
    # entry, and a response that would raise the members' term.
    term = leader.node.term
    forged = AppendEntries(term + 5, me.bytes, leader.node.last_index, term, (), 0, 1)
    bump = AppendEntriesResponse(term + 5, Vote.ABSTAINED, False, 0, 1)
    for link in reader.links.values():
        link.feed_raw(encode_message(forged))
        link.feed_raw(encode_message(bump))
        await link.flush()
    await asyncio.sleep(0.5)
    assert [m.node.term for m in members] == [term] * 3
    assert leader.is_leader
    assert [m.node.last_index for m in members] == log_before
    for m in members:
        assert m.refused[NOT_A_VOTER] == 1
        assert m.refused[TERM_FROM_NON_VOTER] == 1


async def test_writer_ticket_lets_an_observer_write(
    nodes: list[tuple[Endpoint, Groups]],
) -> None:
    members, leader = await _committee(nodes)
    addrs = [ep.addr for ep, _ in nodes[:3]]
    me = nodes[3][0].peer_id
    writer = _observe(nodes[3], [READER.ticket(me), WRITER.ticket(me)], addrs)
    await _until(lambda: all(me in m.links for m in members) and writer.leader is not None)
    assert decode(await writer.execute(put(1)), MapResult).ok
    await _until(lambda: all(m.applied_index == leader.node.last_index for m in members))
    for m in members:
        assert not m.refused
        assert me.bytes not in m.node.membership.voters
    got = decode(await members[0].query(encode(MapQuery(b"k1")), Consistency.WEAK), MapResult)
    assert got.value == b"v1"


async def test_listed_member_without_a_voter_ticket_is_refused(
    nodes: list[tuple[Endpoint, Groups]],
) -> None:
    addrs = [ep.addr for ep, _ in nodes[:3]]
    presented = [[MEMBER.ticket(nodes[0][0].peer_id)], [MEMBER.ticket(nodes[1][0].peer_id)], []]
    members = [
        g.join(PUBLIC_SECRET, MapMachine(), addrs, config=FAST, access=ACCESS, tickets=t)
        for (_, g), t in zip(nodes[:3], presented, strict=True)
    ]
    await _until(lambda: nodes[1][0].peer_id in members[0].links)
    async with asyncio.timeout(10):
        await members[0].when().online()  # the two ticketed members are a quorum
        assert decode(await members[0].execute(put(0)), MapResult).ok
    await asyncio.sleep(0.5)
    # A ticketed member dialling it gets its (valid) hello, then refuses its own: the
    # unticketed side may hold that link for a moment, but nothing flows over it.
    await _until(lambda: not members[2].links, timeout=2)
    assert members[2].leader is None
    assert members[2].applied_index == 0
    assert nodes[2][0].peer_id not in members[0].links
    assert nodes[2][0].peer_id not in members[1].links
