"""Ticket-gated group bonds and observers over real loopback links."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from pymosaik.groups.driver import Group, GroupError, Groups, derive_group_id
from pymosaik.groups.machine import ApplyContext
from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp, MapQuery, MapResult
from pymosaik.groups.raft import Consistency, LeadershipPreference, RaftConfig
from pymosaik.primitives import (
    PeerId,
    SystemClock,
    UniqueId,
    decode,
    encode,
    unique_id,
)
from pymosaik.tickets import Expiration, InvalidTicketError, PeerIdentity, Ticket
from pymosaik.transport import Endpoint

FAST = RaftConfig.loopback(snapshot_threshold=0)
#: The ``group_nodes`` fixture (tests/conftest.py): ``await group_nodes(n)``.
StartNodes = Callable[[int], Awaitable[list[tuple[Endpoint, Groups]]]]
SECRET = UniqueId.hash("ticket group secret")
CLASS = unique_id("test.group.ticket")


class PeerTicket:
    """Accepts ``encode((peer_id, expires_ms))`` for that peer until ``expires_ms`` (0: never)."""

    def ticket_class(self) -> UniqueId:
        return CLASS

    def signature(self) -> UniqueId:
        return unique_id("test.group.ticket.validator")

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        pid, expires = decode(data, tuple[bytes, int])
        if pid != peer.peer_id.bytes:
            raise InvalidTicketError("ticket of another peer")
        if expires and expires <= now_ms:
            raise InvalidTicketError("expired")
        return Expiration.at(expires) if expires else Expiration.never()


def ticket(peer: PeerId, expires_ms: int = 0) -> Ticket:
    return Ticket(CLASS, encode((peer.bytes, expires_ms)))


def put(i: int, client: bytes = b"c") -> bytes:
    return encode(MapCommand(client, i + 1, MapOp.PUT, b"k%d" % i, b"v%d" % i))


@pytest.fixture
async def nodes(group_nodes: StartNodes) -> list[tuple[Endpoint, Groups]]:
    return await group_nodes(4)


async def _until(predicate: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def _execute(group: Group, command: bytes) -> bytes:
    async with asyncio.timeout(15):
        while True:
            try:
                return await group.execute(command)
            except GroupError:
                await asyncio.sleep(0.05)


def test_validator_signature_enters_the_group_id() -> None:
    plain = derive_group_id(SECRET, FAST, MapMachine())
    gated = derive_group_id(SECRET, FAST, MapMachine(), [PeerTicket().signature()])
    assert plain != gated


async def test_peer_without_a_valid_ticket_is_refused(
    nodes: list[tuple[Endpoint, Groups]],
) -> None:
    eps = [ep for ep, _ in nodes[:3]]
    addrs = [ep.addr for ep in eps]
    presented = [
        [ticket(eps[0].peer_id)],
        [ticket(eps[1].peer_id)],
        [ticket(eps[0].peer_id)],  # someone else's ticket: refused
    ]
    members = [
        g.join(SECRET, MapMachine(), addrs, config=FAST, require_ticket=PeerTicket(), tickets=t)
        for (_, g), t in zip(nodes[:3], presented, strict=True)
    ]
    await _until(lambda: eps[1].peer_id in members[0].links)
    result = decode(await _execute(members[0], put(0)), MapResult)
    assert result.ok  # two ticketed members are a quorum of three
    await asyncio.sleep(0.5)
    assert eps[2].peer_id not in members[0].links
    assert eps[2].peer_id not in members[1].links
    assert not members[2].links
    assert members[2].leader is None


async def test_expiring_ticket_drops_the_bond_and_a_renewal_restores_it(
    nodes: list[tuple[Endpoint, Groups]],
) -> None:
    eps = [ep for ep, _ in nodes[:2]]
    addrs = [ep.addr for ep in eps]
    clock = SystemClock()
    renewed = False
    first_expiry = clock.now_ms() + 1000

    def b_tickets() -> list[Ticket]:
        """Read at every hello: the short-lived ticket until renewed."""
        return [ticket(eps[1].peer_id, clock.now_ms() + 60_000 if renewed else first_expiry)]

    a = nodes[0][1].join(
        SECRET,
        MapMachine(),
        addrs,
        config=FAST,
        require_ticket=[PeerTicket()],
        tickets=[ticket(eps[0].peer_id)],
    )
    b = nodes[1][1].join(
        SECRET, MapMachine(), addrs, config=FAST, require_ticket=PeerTicket(), tickets=b_tickets
    )
    await _until(lambda: eps[1].peer_id in a.links)
    expiry = a.bond_expiry[eps[1].peer_id]
    assert not expiry.is_never
    # The bond goes when the ticket lapses, and the short-lived ticket is refused.
    await _until(lambda: eps[1].peer_id not in a.links, timeout=5)
    assert clock.now_ms() >= (expiry.at_ms or 0)
    await asyncio.sleep(0.5)
    assert eps[1].peer_id not in a.links
    renewed = True
    await _until(lambda: eps[1].peer_id in a.links and eps[0].peer_id in b.links)
    assert a.bond_expiry[eps[1].peer_id] > expiry


class CountingMap(MapMachine):
    """Counts applies and restores, to tell log replay from snapshot installation."""

    def __init__(self) -> None:
        super().__init__()
        self.applies = 0
        self.restores = 0

    def apply(self, command: bytes, ctx: ApplyContext) -> bytes:
        self.applies += 1
        return super().apply(command, ctx)

    def restore(self, data: bytes) -> None:
        self.restores += 1
        super().restore(data)


@pytest.mark.parametrize("by_snapshot", [False, True])
async def test_observer_joins_a_running_group_and_catches_up(
    nodes: list[tuple[Endpoint, Groups]], by_snapshot: bool
) -> None:
    config = replace(FAST, snapshot_threshold=50 if by_snapshot else 0)
    addrs = [ep.addr for ep, _ in nodes[:3]]
    members = [g.join(SECRET, MapMachine(), addrs, config=config) for _, g in nodes[:3]]
    writes = 300
    await _execute(members[0], put(0))
    for start in range(1, writes, 50):
        await members[0].execute_many([put(i) for i in range(start, min(start + 50, writes))])
    machine = CountingMap()
    observer = nodes[3][1].join(
        SECRET, machine, addrs, config=config, preference=LeadershipPreference.observer()
    )
    assert observer.is_observer
    await _until(lambda: len(machine.items) == writes)
    got = decode(await observer.query(encode(MapQuery(b"k299")), Consistency.WEAK), MapResult)
    assert got.value == b"v299"
    if by_snapshot:
        assert machine.restores >= 1
        assert machine.applies < writes
    else:
        assert machine.restores == 0
        assert machine.applies == writes
    for m in members:
        assert nodes[3][0].peer_id in m.observers
        assert m.node.membership.voters == tuple(sorted(a.peer_id.bytes for a in addrs))
    # It follows new writes, forwards its own and reads strongly through the leader.
    await members[1].execute(put(writes))
    await _until(lambda: len(machine.items) == writes + 1)
    assert decode(await observer.execute(put(writes + 1)), MapResult).ok
    got = decode(await observer.query(encode(MapQuery(b"k301"))), MapResult)
    assert got.value == b"v301"
    assert not observer.is_leader
    # Leaving: the members stop replicating to it.
    await observer.close()
    await _until(lambda: all(not m.observers for m in members))
