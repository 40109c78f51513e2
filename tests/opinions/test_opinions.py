"""Committee opinions: the worked example is a five-feed price oracle committing the median of
the first three observations with the outliers as dissent; a quorum rule for categories."""

from __future__ import annotations

import pytest

from organisms.opinions.machine import (
    Observe,
    OpinionMachine,
    OpinionRule,
    SignedObserve,
    answer_int,
    int_answer,
)
from pymosaik.primitives import SecretKey

KEYS = [SecretKey(bytes([i]) * 32) for i in range(1, 6)]
Q = b"\x42" * 32


def obs(member: int, answer: bytes, question: bytes = Q) -> SignedObserve:
    return SignedObserve.by(KEYS[member - 1], Observe(member, question, answer))


def test_price_oracle_median_with_outlier_dissent() -> None:
    m = OpinionMachine(
        "eth-usd", OpinionRule("median", 3, tolerance_bps=50), [k.peer_id for k in KEYS]
    )
    prices = {1: 3_200_000_000, 2: 3_201_000_000, 3: 3_350_000_000, 4: 3_199_500_000}
    assert m.step(obs(1, int_answer(prices[1]))).outcome is None
    assert m.step(obs(2, int_answer(prices[2]))).outcome is None
    out = m.step(obs(3, int_answer(prices[3]))).outcome
    assert out is not None and answer_int(out.answer) == 3_201_000_000
    assert [mm for mm, _ in out.votes] == [1, 2, 3]
    assert [mm for mm, _ in out.dissent] == [3]  # 4.7 % off the median
    # a late feed that agrees changes nothing; a late outlier joins the dissent
    assert m.step(obs(4, int_answer(prices[4]))).reason == "decided before this observation"
    m.step(obs(5, int_answer(2_900_000_000)))
    assert [mm for mm, _ in m.outcomes[Q].dissent] == [3, 5]


def test_quorum_rule_commits_the_first_answer_k_members_give() -> None:
    m = OpinionMachine("moderation", OpinionRule("quorum", 3), [k.peer_id for k in KEYS])
    for member, answer in ((1, b"safe"), (2, b"unsafe"), (3, b"safe")):
        assert m.step(obs(member, answer)).outcome is None
    out = m.step(obs(4, b"safe")).outcome
    assert out is not None and out.answer == b"safe"
    assert out.votes == ((1, b"safe"), (3, b"safe"), (4, b"safe"))
    assert out.dissent == ((2, b"unsafe"),)


def test_forged_malformed_and_repeated_observations() -> None:
    m = OpinionMachine("o", OpinionRule("median", 2), [k.peer_id for k in KEYS])
    forged = SignedObserve(Observe(1, Q, int_answer(5)), KEYS[1].sign(b"x"))
    assert m.step(forged).reason == "bad signature"
    stranger = SignedObserve.by(SecretKey(b"\x09" * 32), Observe(9, Q, int_answer(5)))
    assert m.step(stranger).reason == "member 9 is not on the committee"
    assert m.step(obs(1, b"\x01")).reason == "a median answer is an 8-byte integer"
    assert m.step(obs(1, int_answer(5), question=b"short")).reason == "a question id is 32 bytes"
    assert m.step(obs(1, int_answer(5))).ok
    assert m.step(obs(1, int_answer(6))).reason == "already observed"  # first answer stands
    assert b"malformed command" in m.apply(b"\xc1")
    with pytest.raises(ValueError, match="k must be"):
        OpinionMachine("o", OpinionRule("median", 9), [k.peer_id for k in KEYS])


def test_snapshot_restores_open_and_decided_questions() -> None:
    peers = [k.peer_id for k in KEYS]
    m = OpinionMachine("o", OpinionRule("median", 2, tolerance_bps=10), peers)
    m.step(obs(1, int_answer(100)))
    m.step(obs(2, int_answer(101)))
    m.step(obs(3, int_answer(7), question=b"\x07" * 32))
    copy = OpinionMachine("o", OpinionRule("median", 2, tolerance_bps=10), peers)
    copy.restore(m.snapshot())
    assert copy.snapshot() == m.snapshot()
    out = copy.step(obs(4, int_answer(8), question=b"\x07" * 32)).outcome
    assert out is not None and answer_int(out.answer) == 7
