"""The top-up loop end to end in process: an agent keeps itself served across renewals,
within its budget, through the clearing machine and a provider."""

from __future__ import annotations

import random

import pytest

from organisms.compute.items import (
    Capabilities,
    ComputeLog,
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
    Register,
    Signed,
    Submit,
)
from organisms.compute.topup import TopUpAgent, TopUpPolicy
from pymosaik.primitives import SecretKey

CONTRACT = b"\xc0" * 20
MEMBER = SecretKey(b"\x01" * 32)
TAG = bytes(32)  # the members' payment-tag key
PROVIDER = SecretKey(b"\x02" * 32)


def test_agent_stays_served_and_within_budget() -> None:
    m = ComputeMachine(ComputeConfig("t", CONTRACT, max_card_age_ms=10**9), [MEMBER.peer_id])
    card = ProviderCard(
        PROVIDER.peer_id.bytes,
        Capabilities(("eu",), False, 4000, 8192),
        DeclaredRates(1_000_000, 0),
        b"",
        b"\x05" * 32,
        0,
    )
    m.step(Signed.by(MEMBER, 1, Register(SignedCard.signed(PROVIDER, card))))
    policy = TopUpPolicy(
        b"\x01" * 32,
        b"\x02" * 32,
        duration_sec=60,
        cpu_millicores=1000,
        ram_mib=512,
        max_price=20_000,
        renew_before_ms=10_000,
    )
    agent = TopUpAgent(policy, budget=200_000, entropy=random.Random(1).randbytes)
    ledger: list[int] = []

    def pay(amount: int) -> bytes:  # an in-process payment rail: the receipt is the tx hash
        ledger.append(amount)
        return len(ledger).to_bytes(32, "big")

    uncovered = 0
    for now in range(0, 600_000, 1_000):
        load = 0.9  # busy the whole time
        for req in agent.step(now, load, m.grants, pay):
            ev = SettlementEvidence(req.settlement, CONTRACT, ledger[-1], 1)
            assert m.step(Signed.by(MEMBER, 1, Submit.relay(req, ev, tag_key=TAG, at_ms=now))).ok
        if now % 2_000 == 0:
            m.step(Signed.by(MEMBER, 1, Clear(at_ms=now)))
        for rid, g in m.grants.items():  # the provider logs each grant at its end
            if g.valid_to_ms <= now and rid not in m.logs:
                body = LogBody(
                    rid, g.provider, g.valid_from_ms, g.valid_to_ms, UsageMetrics(60, 0, 0), True
                )
                assert m.step(Signed.by(MEMBER, 1, AppendLog(ComputeLog.signed(PROVIDER, body)))).ok
        live = any(g.valid_from_ms <= now < g.valid_to_ms for g in m.grants.values())
        if 10_000 <= now < 10 * 60_000 - 60_000 and agent.budget >= policy.max_price:
            uncovered += not live
    assert uncovered == 0  # renewed before every expiry while it could pay
    assert sum(ledger) == agent.spent <= 200_000
    assert len(m.grants) == len(ledger) == 10  # 200k budget / 20k a grant
    assert agent.budget < policy.max_price  # and then it stopped
    assert all(rid in agent.tickets for rid in m.grants)


def test_a_failed_payment_leaves_the_agent_as_it_was() -> None:
    """The driver retries a step whose payment raised: nothing may have been spent."""
    policy = TopUpPolicy(b"\x01" * 32, b"\x02" * 32, 60, 1000, 512, max_price=20_000)
    agent = TopUpAgent(policy, budget=50_000, entropy=random.Random(2).randbytes)

    def down(amount: int) -> bytes:
        raise OSError("chain node unreachable")

    with pytest.raises(OSError, match="unreachable"):
        agent.step(0, 0.9, {}, down)
    assert (agent.budget, agent.spent, agent.pending, agent.tickets) == (50_000, 0, {}, {})
    (req,) = agent.step(1, 0.9, {}, lambda amount: b"\x0b" * 32)
    assert agent.spent == req.max_price == 20_000 and list(agent.pending) == [request_id(req)]


def test_a_refused_request_is_not_waited_for() -> None:
    """A committed refusal frees the agent at once (without it, it waits out the deadline);
    what the refused request paid stays spent."""
    policy = TopUpPolicy(b"\x01" * 32, b"\x02" * 32, 60, 1000, 512, max_price=20_000)
    agent = TopUpAgent(policy, budget=50_000, entropy=random.Random(3).randbytes)
    (first,) = agent.step(0, 0.9, {}, lambda amount: b"\x0c" * 32)
    assert agent.step(1_000, 0.9, {}, lambda amount: b"\x0d" * 32) == []  # still waiting
    (second,) = agent.step(2_000, 0.9, {}, lambda amount: b"\x0d" * 32, {request_id(first)})
    assert request_id(second) != request_id(first) and list(agent.pending) == [request_id(second)]
    assert agent.spent == 40_000 and agent.budget == 10_000
