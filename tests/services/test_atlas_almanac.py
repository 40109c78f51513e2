"""Atlas merge rules and Almanac tick commits, as pure state machines."""

from coalition import AtSequence, ComponentRef, OrganismRef, derive_stable_id
from coalition.services.almanac import AlmanacMachine, AlmanacQuery, AlmanacResult, Observe
from coalition.services.atlas import (
    AtlasMachine,
    AtlasQuery,
    AtlasResult,
    MemberCard,
    MemberStatus,
    UpsertCard,
)
from pymosaik.primitives import SecretKey, UniqueId, decode, encode

A, B = derive_stable_id("member-a"), derive_stable_id("member-b")
OP_A, OP_B, COAL_OP, STRANGER = (SecretKey.from_id(UniqueId.from_u8(i)) for i in range(1, 5))


def atlas() -> AtlasMachine:
    return AtlasMachine([A, B], {A: OP_A.peer_id, B: OP_B.peer_id}, COAL_OP.peer_id)


def upsert(m: AtlasMachine, card: MemberCard, key: SecretKey) -> AtlasResult:
    return decode(m.apply(encode(UpsertCard(card.sign(key)))), AtlasResult)


def test_operator_signed_card_is_admitted_and_queryable() -> None:
    m = atlas()
    card = MemberCard("oracle", A, 1, ("127.0.0.1:4000",), tdx_mrtds=(bytes(48),))
    assert upsert(m, card, OP_A).ok
    got = decode(m.query(encode(AtlasQuery(card.member_id.bytes))), AtlasResult)
    assert got.ok and got.cards[0].card == card and got.cards[0].verify()
    # The coalition operator may sign too (single-operator coalitions).
    assert upsert(m, MemberCard("ledger", B, 1), COAL_OP).ok
    everything = decode(m.query(encode(AtlasQuery())), AtlasResult)
    assert [c.card.stable_id for c in everything.cards] == sorted(
        [A, B], key=lambda s: s.bytes[:20]
    )


def test_refusals() -> None:
    m = atlas()
    assert (
        upsert(m, MemberCard("x", A, 1), STRANGER).reason == "signer is not this member's operator"
    )
    assert upsert(m, MemberCard("x", A, 1), OP_B).reason == "signer is not this member's operator"
    outsider = derive_stable_id("not-a-member")
    assert upsert(m, MemberCard("x", outsider, 1), COAL_OP).reason.startswith("not a catalogued")
    assert upsert(m, MemberCard("x", A, 5), OP_A).ok
    assert upsert(m, MemberCard("x", A, 5), OP_A).reason == "stale card version"
    retiring = MemberCard("x", A, 6, status=MemberStatus.RETIRING)
    assert upsert(m, retiring, OP_A).ok
    back = MemberCard("x", A, 7, status=MemberStatus.ACTIVE)
    assert upsert(m, back, OP_A).reason == "member status only moves forward"
    signed = MemberCard("x", A, 8).sign(OP_A)
    tampered = signed.__class__(MemberCard("evil", A, 8), signed.signer, signed.signature)
    assert decode(m.apply(encode(UpsertCard(tampered))), AtlasResult).reason == "bad signature"
    assert not decode(m.apply(b"\x00garbage"), AtlasResult).ok


def test_successor_hint_and_snapshot_round_trip() -> None:
    m = atlas()
    hint = ComponentRef.organism(OrganismRef.by_stable_id("oracle", derive_stable_id("a2")))
    card = MemberCard("oracle", A, 2, successor_hint=hint, status=MemberStatus.RETIRING)
    assert upsert(m, card, OP_A).ok
    copy = atlas()
    copy.restore(m.snapshot())
    assert copy.snapshot() == m.snapshot()
    assert copy.cards()[0].card.successor_hint == hint
    assert AtSequence(1)  # retirement types travel in cards and markers alike


COMMITTEE = [SecretKey.from_id(UniqueId.from_u8(10 + i)) for i in range(3)]


def observe(m: AlmanacMachine, key: SecretKey, seq: int, ms: int) -> AlmanacResult:
    return decode(m.apply(encode(Observe.signed(key, seq, ms))), AlmanacResult)


def test_tick_commits_at_majority_with_observation_vector() -> None:
    m = AlmanacMachine([k.peer_id for k in COMMITTEE])
    first = observe(m, COMMITTEE[0], 1, 1_000)
    assert first.ok and not first.ticks
    second = observe(m, COMMITTEE[2], 1, 1_004)
    assert second.ticks and second.ticks[0].seq == 1
    vector = dict(second.ticks[0].observed_at)
    assert vector == {COMMITTEE[0].peer_id.bytes: 1_000, COMMITTEE[2].peer_id.bytes: 1_004}
    assert observe(m, COMMITTEE[1], 1, 1_009).reason == "tick already committed"
    assert observe(m, COMMITTEE[1], 3, 3_000).reason == "tick is in the future"


def test_seq_is_monotonic_and_gap_free() -> None:
    m = AlmanacMachine([k.peer_id for k in COMMITTEE])
    for seq in range(1, 11):
        for key in COMMITTEE[:2]:
            observe(m, key, seq, seq * 1_000)
    got = decode(m.query(encode(AlmanacQuery(since=4, limit=3))), AlmanacResult)
    assert [t.seq for t in got.ticks] == [4, 5, 6]
    assert got.next_seq == 11
    copy = AlmanacMachine([k.peer_id for k in COMMITTEE])
    copy.restore(m.snapshot())
    assert copy.snapshot() == m.snapshot() and copy.latest() == m.latest()


def test_outsiders_and_forgeries_refused() -> None:
    m = AlmanacMachine([k.peer_id for k in COMMITTEE])
    outsider = SecretKey.from_id(UniqueId.from_u8(99))
    assert observe(m, outsider, 1, 5).reason == "not a committee member"
    real = Observe.signed(COMMITTEE[0], 1, 5)
    forged = Observe(real.seq, COMMITTEE[1].peer_id.bytes, real.observed_at_ms, real.signature)
    assert decode(m.apply(encode(forged)), AlmanacResult).reason == "bad signature"
