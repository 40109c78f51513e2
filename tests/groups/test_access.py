"""The sans-IO parts of GroupAccess: role admission and the non-voter message gate."""

from __future__ import annotations

import pytest

from pymosaik.groups.access import (
    NOT_A_VOTER,
    NOT_A_WRITER,
    TERM_FROM_NON_VOTER,
    GroupAccess,
    refusal,
)
from pymosaik.groups.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    ForwardCommand,
    ForwardCommandAck,
    ForwardQuery,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    Vote,
)
from pymosaik.primitives import UNIVERSE, PeerId, SecretKey, UniqueId, unique_id
from pymosaik.tickets import Expiration, InvalidTicketError, PeerIdentity, PeerInfo, Ticket

CLASS = unique_id("test.access.unit")
NOW = 1_700_000_000_000


class Until:
    """A ticket is ``holder ‖ expiry ms`` (8 bytes, big-endian)."""

    def ticket_class(self) -> UniqueId:
        return CLASS

    def signature(self) -> UniqueId:
        return CLASS.derive("v")

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        if data[:32] != peer.peer_id.bytes:
            raise InvalidTicketError("another peer's")
        return Expiration.at(int.from_bytes(data[32:], "big"))


def _peer() -> PeerInfo:
    return PeerInfo(SecretKey.generate().peer_id, UNIVERSE)


def _ticket(peer: PeerId, until: int) -> Ticket:
    return Ticket(CLASS, peer.bytes + until.to_bytes(8, "big"))


def test_default_is_open_and_closed_refuses_everyone() -> None:
    peer = _peer()
    open_ = GroupAccess()
    assert open_.admit_observer([], peer, NOW) == Expiration.never()
    assert open_.admit_forwarder([], peer, NOW) == Expiration.never()
    assert open_.admit_voter([], peer, NOW) == Expiration.never()
    closed = GroupAccess(observers=False, forwarders=False)
    assert closed.admit_observer([], peer, NOW) is None
    assert closed.admit_forwarder([], peer, NOW) is None


def test_ticket_gates_admit_until_expiry_and_only_the_holder() -> None:
    peer, other = _peer(), _peer()
    access = GroupAccess(voters=Until(), observers=[Until()], forwarders=Until())
    good = [_ticket(peer.peer_id, NOW + 5000)]
    assert access.admit_observer(good, peer, NOW) == Expiration.at(NOW + 5000)
    assert access.admit_voter(good, peer, NOW) == Expiration.at(NOW + 5000)
    assert access.admit_forwarder(good, other, NOW) is None  # bound to its holder
    assert access.admit_observer([_ticket(peer.peer_id, NOW - 1)], peer, NOW) is None
    assert access.admit_observer([], peer, NOW) is None


def _all_messages(term: int) -> list[Message]:
    return [
        AppendEntries(term, b"x" * 32, 0, 0, (), 0, 1),
        InstallSnapshot(term, b"x" * 32, 1, 1, b"", 1),
        RequestVote(term, b"x" * 32, 0, 0, prevote=False),
        RequestVote(term, b"x" * 32, 0, 0, prevote=True),
        RequestVoteResponse(term, Vote.GRANTED, prevote=False),
        ForwardCommandAck(1, term, 1, 1),
    ]


@pytest.mark.parametrize("message", _all_messages(3))
def test_non_voters_never_lead_or_campaign(message: Message) -> None:
    assert refusal(message, may_write=True, term=3) == NOT_A_VOTER


def test_non_voters_read_write_with_a_ticket_and_never_raise_the_term() -> None:
    command = ForwardCommand((b"cmd",), 1)
    assert refusal(command, may_write=False, term=3) == NOT_A_WRITER
    assert refusal(command, may_write=True, term=3) is None
    assert refusal(ForwardQuery(b"q", 1), may_write=False, term=3) is None
    ack = AppendEntriesResponse(3, Vote.ABSTAINED, True, 7, 1)
    assert refusal(ack, may_write=False, term=3) is None
    assert refusal(InstallSnapshotResponse(3, 7, 1), may_write=False, term=3) is None
    higher = AppendEntriesResponse(4, Vote.ABSTAINED, False, 0, 1)
    assert refusal(higher, may_write=False, term=3) == TERM_FROM_NON_VOTER
    assert refusal(InstallSnapshotResponse(9, 0, 1), may_write=True, term=3) == TERM_FROM_NON_VOTER


def test_role_rules_are_named_apart() -> None:
    sigs = {
        tuple(GroupAccess(voters=Until()).signatures()),
        tuple(GroupAccess(observers=Until()).signatures()),
        tuple(GroupAccess(forwarders=Until()).signatures()),
        tuple(GroupAccess(observers=False).signatures()),
        tuple(GroupAccess(forwarders=False).signatures()),
    }
    assert len(sigs) == 5
    assert all(len(s) == 1 for s in sigs)
