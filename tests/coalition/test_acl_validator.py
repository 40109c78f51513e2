"""AclComposition evaluated: every clause kind passes and fails with its reason, any-of/all-of
compose, a missing reputation card fails, the floor is inclusive, verify_peer checks without
bonding, and a stream gated by a compiled ACL refuses and admits peers over real loopback."""

from __future__ import annotations

import asyncio

import pytest

from coalition.acl import AclClause, AclComposition
from coalition.acl_validator import (
    AclContext,
    ReputationCardView,
    SettlementStanding,
    compile_acl,
    verify_peer,
)
from coalition.ticket_issuer import TicketIssuer
from pymosaik.discovery import DiscoveryConfig
from pymosaik.network import Network
from pymosaik.primitives import PeerId, SecretKey, UniqueId, Wire
from pymosaik.tee import Measurements, SimulatedTdxProvider, Tdx
from pymosaik.tickets import PeerInfo, Ticket

NET = UniqueId.hash("acl net")
NOW = 1_000_000
ROOT = UniqueId.hash("issuer root")
ISSUER = SecretKey.generate()
REPUTATION = UniqueId.hash("reputation organism")
MARKET = UniqueId.hash("market organism")
MEAS = Measurements(*(bytes([i + 1]) * 48 for i in range(5)))
TDX = SimulatedTdxProvider(MEAS)


class Cards:
    def __init__(self, cards: dict[bytes, ReputationCardView]) -> None:
        self.cards = cards

    def card(self, organism: UniqueId, subject: PeerId) -> ReputationCardView | None:
        return self.cards.get(subject.bytes) if organism == REPUTATION else None


class Settlements:
    def __init__(self, paid: dict[bytes, SettlementStanding]) -> None:
        self.paid = paid

    def standing(self, organism: UniqueId, subject: PeerId) -> SettlementStanding | None:
        return self.paid.get(subject.bytes) if organism == MARKET else None


def context(cards: dict[bytes, ReputationCardView] | None = None, **kw: object) -> AclContext:
    return AclContext(
        issuer_keys=lambda root: [ISSUER.peer_id] if root == ROOT else [],
        tdx=Tdx.with_verifiers(TDX.verifier()).allow_simulated(),  # SIMULATED, labelled
        reputation=Cards(cards or {}),
        settlement=Settlements(kw.get("paid", {})),  # type: ignore[arg-type]
    )


def peer(key: SecretKey) -> PeerInfo:
    return PeerInfo(key.peer_id, NET)


def issued(key: SecretKey, ttl: int | None = None) -> Ticket:
    return TicketIssuer(ROOT, ISSUER).issue(key.peer_id, NET, NOW, ttl)


def check(acl: AclComposition, key: SecretKey, tickets: tuple[Ticket, ...], ctx: AclContext):  # type: ignore[no-untyped-def]
    return verify_peer(acl, tickets, peer(key), NOW, ctx)


def test_every_clause_kind_passes_and_fails_with_its_reason() -> None:
    alice, bob = SecretKey.generate(), SecretKey.generate()
    ctx = context(
        {
            alice.peer_id.bytes: ReputationCardView(7_500),
            bob.peer_id.bytes: ReputationCardView(7_499),
        },
        paid={
            alice.peer_id.bytes: SettlementStanding(True),
            bob.peer_id.bytes: SettlementStanding(False, detail="(paid 1 of 5)"),
        },
    )
    cases = [
        (AclClause.require_peer(alice.peer_id.bytes), (), (), "is not the one required"),
        (AclClause.recognise_issuer(ROOT), (issued(alice),), (), "no valid ticket"),
        (
            AclClause.require_mrtd(MEAS.mrtd),
            (TDX.ticket(alice.peer_id, NET, NOW),),
            (
                SimulatedTdxProvider(Measurements(*(bytes([9]) * 48 for _ in range(5)))).ticket(
                    bob.peer_id, NET, NOW
                ),
            ),
            "require-mrtd",
        ),
        (AclClause.reputation_floor(REPUTATION, 7_500), (), (), "below the 7500 bps floor"),
        (AclClause.market_settlement(MARKET), (), (), "insufficient (paid 1 of 5)"),
    ]
    for clause, alice_tickets, bob_tickets, why in cases:
        acl = AclComposition.all_of(clause)
        ok = check(acl, alice, alice_tickets, ctx)
        assert ok.ok, (clause.kind, ok.reason)
        refused = check(acl, bob, bob_tickets, ctx)
        assert not refused.ok
        assert refused.reason.startswith(clause.kind.value), refused.reason
        assert why in refused.reason, refused.reason


def test_a_missing_card_or_evidence_fails_and_a_missing_lookup_never_passes() -> None:
    carol = SecretKey.generate()
    floor = AclComposition.all_of(AclClause.reputation_floor(REPUTATION, 0))
    assert "no reputation card" in check(floor, carol, (), context()).reason  # floor 0, no card
    market = AclComposition.all_of(AclClause.market_settlement(MARKET))
    assert "no settlement evidence" in check(market, carol, (), context()).reason
    bare = AclContext()
    assert "can be read here" in check(floor, carol, (), bare).reason
    assert (
        "cannot be verified here"
        in check(AclComposition.all_of(AclClause.require_mrtd(MEAS.mrtd)), carol, (), bare).reason
    )
    assert (
        "no signing key"
        in check(
            AclComposition.all_of(AclClause.recognise_issuer(ROOT)), carol, (issued(carol),), bare
        ).reason
    )
    assert (
        "not known here"
        in check(
            AclComposition.all_of(AclClause.require_tag(UniqueId.hash("t"))), carol, (), bare
        ).reason
    )


def test_lapsed_cards_tickets_and_expiry_of_the_composition() -> None:
    dave = SecretKey.generate()
    ctx = context({dave.peer_id.bytes: ReputationCardView(9_000, valid_until_ms=NOW + 5_000)})
    both = AclComposition.all_of(
        AclClause.recognise_issuer(ROOT), AclClause.reputation_floor(REPUTATION, 5_000)
    )
    v = check(both, dave, (issued(dave, ttl=60_000),), ctx)
    assert v.ok and v.expires is not None and v.expires.remaining_ms(NOW) == 5_000  # earliest
    late = verify_peer(both, (issued(dave, ttl=60_000),), peer(dave), NOW + 6_000, ctx)
    assert not late.ok and "lapsed" in late.reason


def test_any_of_needs_one_and_lists_why_each_failed() -> None:
    erin, frank = SecretKey.generate(), SecretKey.generate()
    acl = AclComposition.any_of(
        AclClause.require_peer(erin.peer_id.bytes), AclClause.recognise_issuer(ROOT)
    )
    ctx = context()
    assert check(acl, erin, (), ctx).ok
    assert check(acl, frank, (issued(frank),), ctx).ok
    refused = check(acl, frank, (), ctx)
    assert not refused.ok
    assert "require-peer" in refused.reason and "recognise-issuer" in refused.reason
    assert check(AclComposition.OPEN, frank, (), ctx).ok


def test_the_signature_is_the_published_composition() -> None:
    a = AclComposition.all_of(AclClause.recognise_issuer(ROOT))
    b = AclComposition.any_of(AclClause.recognise_issuer(ROOT))
    assert compile_acl(a, context()).signature() == compile_acl(a, AclContext()).signature()
    assert compile_acl(a).signature() != compile_acl(b).signature()


class Tick(Wire, frozen=True):
    STREAM_SCHEMA = "tests.acl.tick"
    n: int


async def test_a_stream_gated_by_a_compiled_acl_admits_only_peers_that_pass() -> None:
    """Over real loopback: a producer requires recognise-issuer AND a 6000 bps floor."""
    good, poor, stranger = SecretKey.generate(), SecretKey.generate(), SecretKey.generate()
    disc = DiscoveryConfig.loopback()
    producer_net = await Network.create(NET, discovery=disc)
    nets = [producer_net]
    try:
        ctx = context(
            {
                good.peer_id.bytes: ReputationCardView(6_000),
                poor.peer_id.bytes: ReputationCardView(100),
            }
        )
        acl = AclComposition.all_of(
            AclClause.recognise_issuer(ROOT), AclClause.reputation_floor(REPUTATION, 6_000)
        )
        producer = producer_net.streams.producer(Tick).require_ticket(compile_acl(acl, ctx)).build()
        consumers = {}
        for name, key, tickets in (
            ("good", good, [issued(good)]),
            ("poor", poor, [issued(poor)]),
            ("stranger", stranger, []),
        ):
            net = await Network.create(
                NET, secret_key=key, bootstrap=[producer_net.addr], discovery=disc, tickets=tickets
            )
            nets.append(net)
            consumers[name] = net.streams.consume(Tick)
        async with asyncio.timeout(20):
            await producer.subscribed()
        await asyncio.sleep(1.0)  # give the refused ones time to try
        assert producer.subscribed_count() == 1
        await producer.send(Tick(1))
        async with asyncio.timeout(10):
            got = await consumers["good"].recv()
        assert got == Tick(1)
    finally:
        for net in reversed(nets):
            await net.close()


@pytest.mark.parametrize("floor", [0, 10_000])
def test_floor_bounds_are_inclusive(floor: int) -> None:
    gina = SecretKey.generate()
    ctx = context({gina.peer_id.bytes: ReputationCardView(floor)})
    acl = AclComposition.all_of(AclClause.reputation_floor(REPUTATION, floor))
    assert check(acl, gina, (), ctx).ok
