"""Issuing tickets under the coalition root; opting in; rotation affects only pinners."""

import pytest

from coalition import AclClause, AclComposition, CoalitionConfig, TicketIssuerConfig
from coalition.ticket_issuer import (
    RecogniseIssuer,
    TicketIssuer,
    recognise_coalition_issuer,
)
from pymosaik.primitives import UNIVERSE, SecretKey, UniqueId, unique_id
from pymosaik.tickets import AllOf, InvalidTicketError, PeerInfo, Require, Ticket

OPERATOR = SecretKey.from_id(UniqueId.from_u8(1))
NEW_OPERATOR = SecretKey.from_id(UniqueId.from_u8(2))
HOLDER = SecretKey.from_id(UniqueId.from_u8(3)).peer_id
NOW = 1_700_000_000_000


def coalition(op: SecretKey) -> CoalitionConfig:
    acl = AclComposition.all_of(AclClause.require_peer(op.peer_id.bytes))
    return CoalitionConfig(instance_name="tix", ticket_issuer=TicketIssuerConfig("tix", acl))


V1 = coalition(OPERATOR)
V2 = coalition(NEW_OPERATOR)  # the issuer ACL rotated


def holder(network: UniqueId = UNIVERSE) -> PeerInfo:
    return PeerInfo(HOLDER, network)


def test_issue_and_recognise() -> None:
    ticket = TicketIssuer.for_coalition(V1, OPERATOR).issue(HOLDER, UNIVERSE, NOW, 60_000)
    assert ticket.class_id == V1.ticket_issuer_root()
    validator = recognise_coalition_issuer(V1)
    expiry = Require(validator).evaluate([ticket], holder(), NOW + 1)
    assert expiry.remaining_ms(NOW) == 60_000


@pytest.mark.parametrize(
    ("peer", "now", "message"),
    [
        (PeerInfo(SecretKey.from_id(UniqueId.from_u8(9)).peer_id, UNIVERSE), NOW, "another peer"),
        (PeerInfo(HOLDER, unique_id("other.net")), NOW, "another network"),
        (PeerInfo(HOLDER, UNIVERSE), NOW + 120_000, "expired"),
    ],
)
def test_refusals(peer: PeerInfo, now: int, message: str) -> None:
    ticket = TicketIssuer.for_coalition(V1, OPERATOR).issue(HOLDER, UNIVERSE, NOW, 60_000)
    with pytest.raises(InvalidTicketError, match=message):
        recognise_coalition_issuer(V1).validate(ticket.data, peer, now)


def test_forged_and_unauthorised_signers_refused() -> None:
    root = V1.ticket_issuer_root()
    assert root is not None
    rogue = TicketIssuer(root, NEW_OPERATOR).issue(HOLDER, UNIVERSE, NOW, None)
    with pytest.raises(InvalidTicketError, match="does not authorise"):
        recognise_coalition_issuer(V1).validate(rogue.data, holder(), NOW)
    real = TicketIssuer.for_coalition(V1, OPERATOR).issue(HOLDER, UNIVERSE, NOW, None)
    tampered = bytearray(real.data)
    tampered[-1] ^= 1
    with pytest.raises(InvalidTicketError):
        recognise_coalition_issuer(V1).validate(bytes(tampered), holder(), NOW)
    with pytest.raises(InvalidTicketError, match="malformed"):
        recognise_coalition_issuer(V1).validate(b"\x00\x01", holder(), NOW)
    with pytest.raises(ValueError, match="not in the ticket issuer's ACL"):
        TicketIssuer.for_coalition(V1, NEW_OPERATOR)


def test_rotation_invalidates_old_tickets_only_for_pinners_of_the_new_root() -> None:
    old = TicketIssuer.for_coalition(V1, OPERATOR).issue(HOLDER, UNIVERSE, NOW, None)
    new = TicketIssuer.for_coalition(V2, NEW_OPERATOR).issue(HOLDER, UNIVERSE, NOW, None)
    assert V1.ticket_issuer_root() != V2.ticket_issuer_root()
    pinned_old = Require(recognise_coalition_issuer(V1))
    pinned_new = Require(recognise_coalition_issuer(V2))
    not_pinned = AllOf()  # a component that recognises no coalition issuer
    assert pinned_old.evaluate([old], holder(), NOW).is_never
    with pytest.raises(InvalidTicketError):
        pinned_new.evaluate([old], holder(), NOW)  # pinned the new root: old ticket fails
    assert pinned_new.evaluate([new], holder(), NOW).is_never
    with pytest.raises(InvalidTicketError):
        pinned_old.evaluate([new], holder(), NOW)  # still on the old root until it upgrades
    assert not_pinned.evaluate([old], holder(), NOW).is_never
    assert not_pinned.evaluate([], holder(), NOW).is_never


def test_validator_signature_names_root_and_keys() -> None:
    a = recognise_coalition_issuer(V1)
    assert a.signature() == recognise_coalition_issuer(V1).signature()
    assert a.signature() != recognise_coalition_issuer(V2).signature()
    root = V1.ticket_issuer_root()
    assert root is not None
    both = RecogniseIssuer(root, [OPERATOR.peer_id, NEW_OPERATOR.peer_id])
    assert both.signature() != a.signature()
    with pytest.raises(ValueError, match="ships no ticket issuer"):
        recognise_coalition_issuer(CoalitionConfig(instance_name="none"))
    assert isinstance(Ticket(root, b""), Ticket)
