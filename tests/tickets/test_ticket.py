"""Ticket identity, Expiration order, composition semantics and signatures."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymosaik.primitives import DecodeError, SecretKey, UniqueId, decode, encode, unique_id
from pymosaik.tickets import (
    NEVER,
    AllOf,
    AnyOf,
    Expiration,
    InvalidTicketError,
    PeerIdentity,
    PeerInfo,
    Require,
    Ticket,
    TicketRequirement,
    TicketValidator,
    validate_ticket,
)

PEER = PeerInfo(SecretKey.from_id(unique_id("peer")).peer_id, unique_id("net"))
NOW = 1_700_000_000_000


def test_ticket_id_is_class_derive_data() -> None:
    cls = unique_id("my-app.auth")
    t = Ticket(cls, b"credential")
    assert t.id() == UniqueId.from_parts(cls.bytes, b"credential")
    assert decode(encode(t), Ticket) == t
    assert encode(t) == b"\x92\xc4\x20" + cls.bytes + b"\xc4\x0acredential"


def test_expiration_order_never_is_latest() -> None:
    a, b = Expiration.at(5), Expiration.at(9)
    assert a < b < NEVER
    assert min(NEVER, a) == a
    assert max(a, NEVER) == NEVER
    assert sorted([NEVER, b, a]) == [a, b, NEVER]
    assert Expiration.never() is NEVER
    assert Expiration.after(100, 50) == Expiration.at(150)


def test_expiration_queries() -> None:
    e = Expiration.at(1000)
    assert not e.is_expired(1000)
    assert e.is_expired(1001)
    assert e.remaining_ms(400) == 600
    assert e.remaining_ms(1001) is None
    assert NEVER.remaining_ms(0) is None
    assert not NEVER.is_expired(1 << 62)
    with pytest.raises(ValueError, match="out of range"):
        Expiration.at(-1)


@given(st.one_of(st.none(), st.integers(0, (1 << 63) - 1)))
def test_expiration_round_trips(at: int | None) -> None:
    e = Expiration(at)
    assert decode(encode(e), Expiration) == e


@given(st.binary(max_size=80))
def test_ticket_and_expiration_decoders_fuzz(data: bytes) -> None:
    for typ in (Ticket, Expiration):
        with contextlib.suppress(DecodeError):
            decode(data, typ)


@dataclass(frozen=True)
class Fixed:
    """A validator of class ``name`` accepting data b"ok:<expiry>" (or b"ok:never")."""

    name: str

    def ticket_class(self) -> UniqueId:
        return unique_id(self.name)

    def signature(self) -> UniqueId:
        return unique_id(self.name).derive("fixed")

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        if not data.startswith(b"ok:"):
            raise InvalidTicketError("no")
        rest = data[3:]
        exp = NEVER if rest == b"never" else Expiration.at(int(rest))
        if exp.is_expired(now_ms):
            raise InvalidTicketError("expired")
        return exp


A, B, C = Fixed("a"), Fixed("b"), Fixed("c")


def t(v: Fixed, data: bytes) -> Ticket:
    return Ticket(v.ticket_class(), data)


def test_protocols_are_structural() -> None:
    assert isinstance(A, TicketValidator)
    assert not isinstance(A, TicketRequirement)
    assert isinstance(AllOf(A), TicketRequirement)
    assert isinstance(PEER, PeerIdentity)


def test_validate_ticket_keeps_the_longest_valid_ticket_of_its_class() -> None:
    tickets = [t(A, b"ok:2000"), t(A, b"bad"), t(A, b"ok:5000"), t(B, b"ok:never")]
    assert validate_ticket(A, tickets, PEER, 1000) == Expiration.at(5000)
    with pytest.raises(InvalidTicketError):
        validate_ticket(C, tickets, PEER, 1000)
    with pytest.raises(InvalidTicketError):
        validate_ticket(A, tickets, PEER, 6000)  # both expired


def test_all_of_takes_the_earliest_expiry() -> None:
    tickets = [t(A, b"ok:5000"), t(B, b"ok:3000"), t(C, b"ok:never")]
    assert AllOf(A, B, C).evaluate(tickets, PEER, 1000) == Expiration.at(3000)
    assert AllOf(C).evaluate(tickets, PEER, 1000) == NEVER
    assert AllOf().evaluate([], PEER, 1000) == NEVER  # nothing required
    with pytest.raises(InvalidTicketError):
        AllOf(A, B).evaluate([t(A, b"ok:5000")], PEER, 1000)


def test_any_of_takes_the_latest_passing_expiry() -> None:
    tickets = [t(A, b"ok:5000"), t(B, b"ok:3000")]
    assert AnyOf(A, B, C).evaluate(tickets, PEER, 1000) == Expiration.at(5000)
    assert AnyOf(B, C).evaluate(tickets, PEER, 1000) == Expiration.at(3000)
    assert AnyOf(A, B).evaluate(tickets, PEER, 4000) == Expiration.at(5000)  # B lapsed
    with pytest.raises(InvalidTicketError):
        AnyOf(C).evaluate(tickets, PEER, 1000)
    with pytest.raises(InvalidTicketError):
        AnyOf().evaluate(tickets, PEER, 1000)


def test_nesting() -> None:
    tickets = [t(A, b"ok:9000"), t(B, b"ok:4000"), t(C, b"ok:7000")]
    req = AllOf(A, AnyOf(B, C))
    assert req.evaluate(tickets, PEER, 1000) == Expiration.at(7000)
    assert req.evaluate(tickets, PEER, 5000) == Expiration.at(7000)  # B lapsed, C holds
    with pytest.raises(InvalidTicketError):
        req.evaluate(tickets, PEER, 8000)  # B and C lapsed


def test_signatures_name_the_configuration() -> None:
    assert Require(A).signature() == A.signature()
    assert AllOf(A, B).signature() == AllOf(B, A).signature() == AllOf(A, B, A).signature()
    assert AllOf(A, B).signature() != AnyOf(A, B).signature()
    assert AllOf(A, B).signature() != AllOf(A, C).signature()
    assert AllOf(A).signature() != A.signature()
    assert AllOf(AnyOf(A, B), C).signature() != AllOf(A, B, C).signature()
    expected = unique_id("pymosaik.tickets.all_of.v1")
    for sig in sorted([A.signature(), B.signature()]):
        expected = expected.derive(sig.bytes)
    assert AllOf(B, A).signature() == expected
