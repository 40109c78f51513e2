"""Module committee bond rules: which ticket admits whom, per role and per module."""

from __future__ import annotations

from coalition import AclClause, AclComposition, CoalitionConfig, TicketIssuerConfig
from coalition.modules import AtlasConfig, ChronicleConfig, ModuleConfig, ModuleKind
from coalition.services.committee_access import (
    CommitteeRole,
    issue_committee_ticket,
    member_tickets,
    module_access,
)
from coalition.ticket_issuer import TicketIssuer
from pymosaik.primitives import UNIVERSE, ManualClock, SecretKey, UniqueId
from pymosaik.tickets import Expiration, PeerInfo, Ticket

OPERATOR = SecretKey.from_id(UniqueId.from_u8(1))
ISSUER = SecretKey.from_id(UniqueId.from_u8(2))
HOLDER = PeerInfo(SecretKey.from_id(UniqueId.from_u8(3)).peer_id, UNIVERSE)
NOW = 1_700_000_000_000


def coalition(issuer: TicketIssuerConfig | None = None) -> CoalitionConfig:
    return CoalitionConfig(
        instance_name="access",
        atlas=AtlasConfig(ModuleConfig("atlas")),
        chronicle=ChronicleConfig(ModuleConfig("chronicle")),
        ticket_issuer=issuer,
    )


def ticket(
    cfg: CoalitionConfig, kind: ModuleKind, role: CommitteeRole, key: SecretKey = OPERATOR
) -> Ticket:
    return issue_committee_ticket(
        cfg, kind, role, operator_key=key, holder=HOLDER.peer_id, network=UNIVERSE, now_ms=NOW
    )


def test_each_role_ticket_admits_its_role_only() -> None:
    cfg = coalition()
    access = module_access(cfg, ModuleKind.ATLAS, OPERATOR.peer_id)
    member = [ticket(cfg, ModuleKind.ATLAS, CommitteeRole.MEMBER)]
    reader = [ticket(cfg, ModuleKind.ATLAS, CommitteeRole.READER)]
    writer = [ticket(cfg, ModuleKind.ATLAS, CommitteeRole.WRITER)]
    never = Expiration.never()
    assert access.admit_voter(member, HOLDER, NOW) == never
    assert access.admit_voter(reader, HOLDER, NOW) is None
    assert access.admit_voter(writer, HOLDER, NOW) is None
    assert access.admit_observer(reader, HOLDER, NOW) == never
    assert access.admit_observer(writer, HOLDER, NOW) == never  # a writer may also read
    assert access.admit_observer(member, HOLDER, NOW) is None
    assert access.admit_forwarder(writer, HOLDER, NOW) == never
    assert access.admit_forwarder(reader, HOLDER, NOW) is None
    assert access.admit_observer([], HOLDER, NOW) is None


def test_tickets_do_not_cross_modules_or_operators() -> None:
    cfg = coalition()
    chronicle = module_access(cfg, ModuleKind.CHRONICLE, OPERATOR.peer_id)
    atlas_writer = [ticket(cfg, ModuleKind.ATLAS, CommitteeRole.WRITER)]
    assert chronicle.admit_observer(atlas_writer, HOLDER, NOW) is None
    self_signed = [ticket(cfg, ModuleKind.CHRONICLE, CommitteeRole.WRITER, ISSUER)]
    assert chronicle.admit_forwarder(self_signed, HOLDER, NOW) is None
    other_operator = module_access(cfg, ModuleKind.CHRONICLE, ISSUER.peer_id)
    assert chronicle.signatures() != other_operator.signatures()


def test_coalition_issuer_tickets_admit_readers_not_writers() -> None:
    acl = AclComposition.all_of(AclClause.require_peer(ISSUER.peer_id.bytes))
    cfg = coalition(TicketIssuerConfig("tix", acl))
    access = module_access(cfg, ModuleKind.ATLAS, OPERATOR.peer_id)
    issued = [TicketIssuer.for_coalition(cfg, ISSUER).issue(HOLDER.peer_id, UNIVERSE, NOW, 1000)]
    assert access.admit_observer(issued, HOLDER, NOW) == Expiration.at(NOW + 1000)
    assert access.admit_forwarder(issued, HOLDER, NOW) is None
    # An issuer whose ACL names no key verifies nothing: it adds no reader, and no error.
    open_issuer = coalition(TicketIssuerConfig("tix", AclComposition.OPEN))
    assert (
        module_access(open_issuer, ModuleKind.ATLAS, OPERATOR.peer_id).admit_observer(
            issued, HOLDER, NOW
        )
        is None
    )


def test_a_member_mints_a_fresh_day_long_ticket_per_bond() -> None:
    cfg = coalition()
    clock = ManualClock(NOW)
    fresh = member_tickets(
        cfg,
        ModuleKind.ATLAS,
        operator_key=OPERATOR,
        me=HOLDER.peer_id,
        network=UNIVERSE,
        clock=clock,
    )
    access = module_access(cfg, ModuleKind.ATLAS, OPERATOR.peer_id)
    first = access.admit_voter(fresh(), HOLDER, NOW)
    clock.advance(60_000)
    second = access.admit_voter(fresh(), HOLDER, clock.now_ms())
    assert first == Expiration.at(NOW + 24 * 3600 * 1000)
    assert second == Expiration.at(NOW + 60_000 + 24 * 3600 * 1000)
