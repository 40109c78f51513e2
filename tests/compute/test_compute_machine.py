"""Compute's clearing rule and machine: filters, ordering, capacity, logs, settlement, replay."""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from organisms.compute.clearing import Capacity, clear, price
from organisms.compute.items import (
    Capabilities,
    ComputeLog,
    ComputeRequest,
    Decision,
    DeclaredRates,
    LogBody,
    ProviderCard,
    SettlementEvidence,
    SignedCard,
    UsageMetrics,
    request_id,
)
from organisms.compute.machine import (
    GRANTS,
    LOGS,
    PROVIDERS,
    AppendLog,
    ByProvider,
    Clear,
    ComputeConfig,
    ComputeMachine,
    ComputeResult,
    Deregister,
    Register,
    Signed,
    Submit,
    deregister_message,
)
from pymosaik.primitives import SecretKey, decode, encode
from tests.fuzz.test_hostile_input import hostile

CONTRACT = b"\xc0" * 20
TAG = bytes(32)  # the members' payment-tag key
MEMBERS = [SecretKey(bytes([i]) * 32) for i in range(1, 4)]
CFG = ComputeConfig("test.compute", CONTRACT, max_card_age_ms=60_000)


def provider(
    seed: int, *, rate: int, region: str = "eu", tdx: bool = False, cpu: int = 4000, at: int = 0
):
    key = SecretKey(bytes([100 + seed]) * 32)
    card = ProviderCard(
        key.peer_id.bytes,
        Capabilities((region,), tdx, cpu, 8192),
        DeclaredRates(rate, rate // 4),
        b"\x11" * 48 if tdx else b"",
        bytes([seed]) * 32,
        at,
    )
    return key, card


def request(
    i: int,
    *,
    cpu: int = 1000,
    region: str = "",
    tdx: bool = False,
    max_price: int = 10**9,
    deadline: int = 10**9,
    duration: int = 3600,
) -> ComputeRequest:
    return ComputeRequest(
        bytes([i]) * 32,
        bytes([i + 1]) * 32,
        duration,
        cpu,
        1024,
        tdx,
        region,
        max_price,
        bytes([i + 2]) * 32,
        deadline,
        bytes([i + 3]) * 32,
    )


def evidence(req: ComputeRequest, amount: int = 10**9) -> SettlementEvidence:
    return SettlementEvidence(req.settlement, CONTRACT, amount, 1)


def cmd(body, member: int = 1) -> Signed:
    return Signed.by(MEMBERS[member - 1], member, body)


def machine() -> ComputeMachine:
    return ComputeMachine(CFG, [k.peer_id for k in MEMBERS])


def test_price_is_exact_integer_micro_units_rounded_up() -> None:
    _, card = provider(1, rate=1_000_000)  # 1 unit per core-hour, 0.25 per GiB-hour
    req = request(1, cpu=1000, duration=3600)  # 1 core, 1 GiB, 1 hour
    assert price(card, req) == 1_000_000 + 250_000
    # 1 millicore and 1 GiB for one second: 0.28 + 69.44 micro-units, rounded up
    assert price(card, request(1, cpu=1, duration=1)) == 70


def test_clearing_filters_and_order() -> None:
    _, cheap = provider(1, rate=1_000, region="us")
    _, mid = provider(2, rate=2_000)
    _, mid_twin = provider(3, rate=2_000)
    _, dear_tdx = provider(4, rate=9_000, tdx=True)
    cards = [cheap, mid, mid_twin, dear_tdx]
    free = {c.provider_id: Capacity(4000, 8192) for c in cards}
    win, _ = clear(request(1), cards, free, {}, now=0, max_age_ms=60_000)
    assert win == cheap
    win, _ = clear(request(1, region="eu"), cards, free, {}, now=0, max_age_ms=60_000)
    assert win == min(mid, mid_twin, key=lambda c: c.provider_id)  # tie → lowest id
    rep = {mid_twin.provider_id: 9000, mid.provider_id: 10}
    win, _ = clear(request(1, region="eu"), cards, free, rep, now=0, max_age_ms=60_000)
    assert win == mid_twin  # tie → higher reputation first
    win, _ = clear(request(1, tdx=True), cards, free, {}, now=0, max_age_ms=60_000)
    assert win == dear_tdx
    none, why = clear(request(1, cpu=5000), cards, free, {}, now=0, max_age_ms=60_000)
    assert none is None and why == "no provider qualifies (capacity: 4)"
    none, why = clear(request(1, max_price=1), cards, free, {}, now=0, max_age_ms=60_000)
    assert none is None and "price: 4" in why
    none, why = clear(request(1), cards, free, {}, now=120_000, max_age_ms=60_000)
    assert none is None and "stale card: 4" in why


def test_grant_capacity_log_and_no_double_grant() -> None:
    m = machine()
    pk1, c1 = provider(1, rate=1_000, cpu=1500)
    pk2, c2 = provider(2, rate=5_000)
    for sc in (SignedCard.signed(pk1, c1), SignedCard.signed(pk2, c2)):
        assert m.step(cmd(Register(sc))).ok
    r1, r2 = request(1), request(2)
    for r in (r1, r2):
        assert m.step(cmd(Submit.relay(r, evidence(r), tag_key=TAG, at_ms=10))).ok
    assert (
        m.step(cmd(Submit.relay(r1, evidence(r1), tag_key=TAG, at_ms=11))).reason
        == "duplicate request"
    )
    out = m.step(cmd(Clear(at_ms=20), member=2))
    assert [g.provider for g in out.grants] == [c1.provider_id, c2.provider_id]  # capacity
    g1 = out.grants[0]
    assert g1.request_id == request_id(r1) and g1.price == price(c1, r1)
    assert [r.request_id for r in out.records] == [request_id(r1), request_id(r2)]
    # a resubmission after the grant is still not a second grant
    assert (
        m.step(cmd(Submit.relay(r1, evidence(r1), tag_key=TAG, at_ms=30))).reason
        == "duplicate request"
    )
    body = LogBody(g1.request_id, c1.provider_id, 20, 1_000, UsageMetrics(900, 1024 * 900, 0), True)
    forged = ComputeLog.signed(pk2, body)
    assert m.step(cmd(AppendLog(forged))).reason == "log signature does not verify"
    assert m.step(cmd(AppendLog(ComputeLog.signed(pk1, body)))).ok
    assert m.step(cmd(AppendLog(ComputeLog.signed(pk1, body)))).reason == "one log per grant"
    assert m.free()[c1.provider_id] == Capacity(1500, 8192)  # released by the log


def test_refusals_are_committed_with_reasons() -> None:
    m = machine()
    pk, c = provider(1, rate=1_000)
    m.step(cmd(Register(SignedCard.signed(pk, c))))
    late = request(1, deadline=15)
    poor = request(2)
    assert m.step(cmd(Submit.relay(late, evidence(late), tag_key=TAG, at_ms=10))).ok
    assert m.step(cmd(Submit.relay(poor, evidence(poor, amount=1), tag_key=TAG, at_ms=10))).ok
    out = m.step(cmd(Clear(at_ms=20)))
    assert not out.grants
    assert [(r.request_id, r.reason) for r in out.refusals] == [
        (request_id(late), "deadline passed before clearing"),
        (request_id(poor), "no provider qualifies (price: 1)"),  # the payment covers 1 µ
    ]
    wrong = request(3)
    bad_ev = SettlementEvidence(wrong.settlement, b"\x01" * 20, 10**9, 1)
    assert m.step(cmd(Submit.relay(wrong, bad_ev, tag_key=TAG, at_ms=10))).reason == (
        "the payment went to another contract"
    )
    other_tx = SettlementEvidence(b"\x99" * 32, CONTRACT, 10**9, 1)
    with pytest.raises(ValueError, match="another payment"):
        Submit.relay(wrong, other_tx, tag_key=TAG, at_ms=10)


def test_one_payment_funds_one_request_and_the_log_never_names_it() -> None:
    """A second request naming a payment already used is refused; what the log holds of a
    request carries no transaction hash, no workload id and no amount beyond the budget."""
    m = machine()
    first = request(1)
    twin = msgspec.structs.replace(request(1), reply_key=b"\x77" * 32)  # same payment
    assert request_id(first) != request_id(twin)
    assert m.step(cmd(Submit.relay(first, evidence(first), tag_key=TAG, at_ms=10))).ok
    refused = m.step(cmd(Submit.relay(twin, evidence(twin), tag_key=TAG, at_ms=11)))
    assert refused.reason == "the payment already funds another request" and m.pending == 1
    cheap = request(5, max_price=700)
    body = Submit.relay(cheap, evidence(cheap, amount=10**9), tag_key=TAG, at_ms=12)
    raw = encode(Signed.by(MEMBERS[0], 1, body))
    assert body.ask.request_id in raw and body.ask.payment_tag in raw  # bytes appear verbatim
    assert cheap.settlement not in raw and cheap.workload not in raw
    assert body.ask.max_price == 700  # the budget, not the 10**9 paid
    other_key = Submit.relay(cheap, evidence(cheap), tag_key=b"\x01" * 32, at_ms=12)
    assert other_key.ask.payment_tag != body.ask.payment_tag  # keyed: readers cannot recompute


def test_keyed_surfaces_hold_cards_decisions_and_logs_with_history() -> None:
    m = machine()
    pk, c = provider(1, rate=1_000)
    sc = SignedCard.signed(pk, c)

    class At:
        index = 0

    def apply(body: object) -> None:
        At.index += 1
        m.apply(encode(cmd(body)), At())  # type: ignore[arg-type]

    apply(Register(sc))
    granted, refused = request(1), request(2, region="mars")
    for r in (granted, refused):
        apply(Submit.relay(r, evidence(r), tag_key=TAG, at_ms=10))
    apply(Clear(at_ms=20))
    g = m.grants[request_id(granted)]
    body = LogBody(g.request_id, c.provider_id, 20, 30, UsageMetrics(1, 1, 0), True)
    log = ComputeLog.signed(pk, body)
    apply(AppendLog(log))
    apply(Deregister(c.provider_id, 40, pk.sign(deregister_message(c.provider_id, 40))))

    store = m.store
    cards = store.log(PROVIDERS)
    raw_pid = PROVIDERS.encode_key(c.provider_id)
    assert [e.index for e in cards.history(raw_pid)] == [1, 6]  # registered, then removed
    assert cards.history(raw_pid)[0].value == encode(sc) and cards.latest(raw_pid).value is None  # type: ignore[union-attr]
    grants = store.log(GRANTS)
    versions = grants.history(GRANTS.encode_key(request_id(granted)))
    assert [GRANTS.decode_value(e.value) for e in versions] == [  # type: ignore[arg-type]
        Decision(grant=g),
        Decision(grant=g, log=log),
    ]
    (no,) = grants.history(GRANTS.encode_key(request_id(refused)))
    assert GRANTS.decode_value(no.value).refusal == "no provider qualifies (region: 1)"  # type: ignore[arg-type]
    assert [LOGS.decode_value(e.value) for e in store.log(LOGS).entries] == [log]  # type: ignore[arg-type]
    replica = machine()
    replica.restore(m.snapshot())
    assert replica.store.image() == m.store.image() and replica.snapshot() == m.snapshot()


def test_cards_are_provider_signed_and_deregistered_only_by_the_provider() -> None:
    m = machine()
    pk, c = provider(1, rate=1_000)
    other, _ = provider(2, rate=1)
    forged = SignedCard(c, SignedCard.signed(other, c).signature)
    assert m.step(cmd(Register(forged))).reason == "card signature does not verify"
    assert m.step(cmd(Register(SignedCard.signed(pk, c)))).ok
    stale = msgspec.structs.replace(c, refreshed_at_ms=-1)
    assert m.step(cmd(Register(SignedCard.signed(pk, stale)))).reason == (
        "not newer than the registered card"
    )
    bad = Deregister(c.provider_id, 5, other.sign(deregister_message(c.provider_id, 5)))
    assert not m.step(cmd(bad)).ok
    good = Deregister(c.provider_id, 5, pk.sign(deregister_message(c.provider_id, 5)))
    assert m.step(cmd(good)).ok and not m.cards
    assert (
        m.step(Signed(1, Register(SignedCard.signed(pk, c)), b"\x00" * 64)).reason
        == "bad signature"
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32))
def test_every_grant_replays_and_no_request_is_granted_twice(seed: int) -> None:
    """Random cards, requests, clearings and logs: a fresh replica replaying the log reaches the
    same state, and no request id is ever granted twice."""
    rng = random.Random(seed)
    keys_cards = [
        provider(
            i,
            rate=rng.randint(100, 10_000),
            region=rng.choice(["eu", "us"]),
            tdx=rng.random() < 0.3,
            cpu=rng.choice([1000, 2000, 4000]),
        )
        for i in range(4)
    ]
    log: list[Signed] = []
    m = machine()
    now = 0
    granted: list[bytes] = []
    for step in range(40):
        now += rng.randint(1, 5_000)
        roll = rng.random()
        if roll < 0.2:
            k, c = rng.choice(keys_cards)
            c = msgspec.structs.replace(c, refreshed_at_ms=now)
            body = Register(SignedCard.signed(k, c))
        elif roll < 0.6:
            r = request(
                rng.randint(0, 30),
                cpu=rng.choice([500, 1000, 3000]),
                region=rng.choice(["", "eu", "us"]),
                tdx=rng.random() < 0.2,
                max_price=rng.randint(0, 50_000),
                deadline=now + rng.randint(0, 20_000),
            )
            body = Submit.relay(r, evidence(r, rng.randint(0, 50_000)), tag_key=TAG, at_ms=now)
        elif roll < 0.85:
            body = Clear(
                at_ms=now, reputation=((keys_cards[0][1].provider_id, rng.randint(0, 10_000)),)
            )
        else:
            if not m.grants:
                continue
            g = m.grants[rng.choice(sorted(m.grants))]
            k = next(k for k, c in keys_cards if c.provider_id == g.provider)
            body = AppendLog(
                ComputeLog.signed(
                    k,
                    LogBody(
                        g.request_id,
                        g.provider,
                        g.valid_from_ms,
                        g.valid_from_ms + 1,
                        UsageMetrics(1, 1, 1),
                        True,
                    ),
                )
            )
        c = cmd(body, member=1 + step % 3)
        log.append(c)
        res = m.step(c)
        granted += [g.request_id for g in res.grants]
    assert len(granted) == len(set(granted))
    replica = machine()
    for c in log:
        replica.step(c)
    assert replica.snapshot() == m.snapshot()
    restored = machine()
    restored.restore(m.snapshot())
    assert restored.snapshot() == m.snapshot()


def _seeded_machine() -> tuple[ComputeMachine, list[bytes]]:
    """A machine holding a card, a pending ask and a grant; valid commands as fuzz seeds."""
    m = machine()
    pk, c = provider(1, rate=1_000)
    r1, r2 = request(1), request(2)
    cmds = [
        cmd(Register(SignedCard.signed(pk, c))),
        cmd(Submit.relay(r1, evidence(r1), tag_key=TAG, at_ms=10)),
        cmd(Clear(at_ms=20)),
        cmd(Submit.relay(r2, evidence(r2), tag_key=TAG, at_ms=21)),
    ]
    for c_ in cmds:
        assert m.step(c_).ok
    body = LogBody(request_id(r1), c.provider_id, 20, 30, UsageMetrics(1, 1, 0), True)
    seeds = [encode(x) for x in cmds]
    seeds.append(encode(ByProvider(AppendLog(ComputeLog.signed(pk, body)))))
    return m, seeds


_MACHINE, _SEEDS = _seeded_machine()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile(st.sampled_from(_SEEDS)))
def test_hostile_commands_are_refused_with_a_reason_and_change_nothing(data: bytes) -> None:
    """Random, truncated, flipped and deeply nested commands: apply answers a ComputeResult;
    when it refuses, it gives a reason and the state (keyed surfaces included) is unchanged."""
    m = machine()
    m.restore(_MACHINE.snapshot())
    before = m.snapshot()
    result = decode(m.apply(data), ComputeResult)
    if not result.ok:
        assert result.reason and m.snapshot() == before
