"""Compute's clearing rule and machine: filters, ordering, capacity, logs, settlement, replay."""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from organisms.compute.clearing import Capacity, clear, price
from organisms.compute.items import (
    Capabilities,
    ComputeLog,
    ComputeRequest,
    DeclaredRates,
    LogBody,
    ProviderCard,
    SettlementEvidence,
    SignedCard,
    UsageMetrics,
    request_id,
)
from organisms.compute.machine import (
    AppendLog,
    Clear,
    ComputeConfig,
    ComputeMachine,
    Deregister,
    Register,
    Signed,
    Submit,
    deregister_message,
)
from pymosaik.primitives import SecretKey

CONTRACT = b"\xc0" * 20
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
        assert m.step(cmd(Submit(r, evidence(r), at_ms=10))).ok
    assert m.step(cmd(Submit(r1, evidence(r1), at_ms=11))).reason == "duplicate request"
    out = m.step(cmd(Clear(at_ms=20), member=2))
    assert [g.provider for g in out.grants] == [c1.provider_id, c2.provider_id]  # capacity
    g1 = out.grants[0]
    assert g1.request_id == request_id(r1) and g1.price == price(c1, r1)
    assert [r.request_id for r in out.records] == [request_id(r1), request_id(r2)]
    # a resubmission after the grant is still not a second grant
    assert m.step(cmd(Submit(r1, evidence(r1), at_ms=30))).reason == "duplicate request"
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
    assert m.step(cmd(Submit(late, evidence(late), at_ms=10))).ok
    assert m.step(cmd(Submit(poor, evidence(poor, amount=1), at_ms=10))).ok
    out = m.step(cmd(Clear(at_ms=20)))
    assert not out.grants
    assert [(r.request_id, r.reason) for r in out.refusals] == [
        (request_id(late), "deadline passed before clearing"),
        (request_id(poor), "no provider qualifies (price: 1)"),  # the payment covers 1 µ
    ]
    wrong = request(3)
    bad_ev = SettlementEvidence(wrong.settlement, b"\x01" * 20, 10**9, 1)
    assert m.step(cmd(Submit(wrong, bad_ev, at_ms=10))).reason == (
        "settlement evidence does not match the request"
    )


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
            body = Submit(r, evidence(r, rng.randint(0, 50_000)), at_ms=now)
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
