"""The DKG end to end on ristretto255: honest runs, cheating dealers, complaints, failures."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from coalition.crypto.dkg import (
    _SUITE,
    Complaint,
    Deal,
    DkgError,
    DkgMember,
    DkgParams,
    DkgTranscript,
    Justification,
    Phase,
    _share_info,
)
from coalition.crypto.group import lagrange_at_zero, poly_eval
from coalition.crypto.ristretto import RISTRETTO255 as G

SESSION = bytes(range(32))


def _members(n: int, t: int, seed: int = 1) -> tuple[DkgParams, list[DkgMember[bytes]]]:
    rng = random.Random(seed)
    params = DkgParams(SESSION, n, t)
    keys = [X25519PrivateKey.from_private_bytes(rng.randbytes(32)) for _ in range(n)]
    pubs = [k.public_key().public_bytes_raw() for k in keys]
    return params, [
        DkgMember(
            G, params, index=i + 1, encryption_key=keys[i], recipients=pubs, entropy=rng.randbytes
        )
        for i in range(n)
    ]


def _run(
    params: DkgParams, members: list[DkgMember[bytes]], deals: list[Deal], *, answer: bool = True
) -> DkgTranscript[bytes]:
    """Drive the transcript as a committee log would: deals, complaints, justifications."""
    tr = DkgTranscript(G, params)
    for d in deals:
        assert tr.apply_deal(d) is None
    complaints = []
    for m in members:
        for d in deals:
            if d.dealer != m.index:
                c = m.receive(d, tr.deals[d.dealer])
                if c is not None:
                    assert tr.apply_complaint(c) is None
                    complaints.append(c)
    tr.close_complaints()
    if answer:
        for c in complaints:
            j = members[c.dealer - 1].answer(c)
            assert j is not None
            assert tr.apply_justification(j) is None
    tr.finish()
    return tr


def test_honest_run_gives_every_member_a_consistent_share() -> None:
    params, members = _members(5, 3)
    tr = _run(params, members, [m.deal() for m in members])
    assert tr.phase is Phase.DONE and tr.result is not None
    result = tr.result
    assert result.qual == [1, 2, 3, 4, 5] and not result.disqualified
    shares = [m.key_share(result) for m in members]
    # any t shares interpolate to the secret behind the group key
    for subset in ([1, 2, 3], [2, 4, 5], [1, 3, 5]):
        lam = lagrange_at_zero(subset, G.order)
        x = sum(lam[i] * shares[i - 1].secret for i in subset) % G.order
        assert G.base_mul(x) == result.group_key
    # t-1 shares interpolate to something else
    lam = lagrange_at_zero([1, 2], G.order)
    x = sum(lam[i] * shares[i - 1].secret for i in (1, 2)) % G.order
    assert G.base_mul(x) != result.group_key


def test_the_secret_is_nobody_s_polynomial() -> None:
    params, members = _members(3, 2)
    tr = _run(params, members, [m.deal() for m in members])
    assert tr.result is not None
    for m in members:  # the group key is no single dealer's constant term
        assert G.base_mul(m._poly[0]) != tr.result.group_key


def _corrupt_share_for(deal: Deal, members: list[DkgMember[bytes]], victim: int) -> Deal:
    """The dealer re-seals a wrong share to ``victim``: HPKE-valid, Feldman-invalid."""
    dealer = members[deal.dealer - 1]
    wrong = (poly_eval(dealer._poly, victim, G.order) + 1) % G.order
    pub = dealer._recipients[victim - 1]
    shares = list(deal.shares)
    shares[victim - 1] = _SUITE.encrypt(
        wrong.to_bytes(32, "little"), pub, info=_share_info(dealer.params, deal.dealer, victim)
    )
    return Deal(deal.dealer, deal.commitments, shares)


def test_bad_share_answered_with_a_good_reveal_keeps_the_dealer() -> None:
    params, members = _members(4, 3)
    deals = [m.deal() for m in members]
    deals[0] = _corrupt_share_for(deals[0], members, victim=3)
    tr = _run(params, members, deals)
    assert tr.complaints == {(1, 3)}
    assert tr.result is not None and tr.result.qual == [1, 2, 3, 4]
    assert [(j.dealer, j.accuser) for j in tr.result.revealed] == [(1, 3)]
    # the victim adopts the revealed share and its key matches its verification key
    assert members[2].key_share(tr.result).index == 3


def test_dealer_that_reveals_a_wrong_share_is_disqualified_with_evidence() -> None:
    params, members = _members(4, 2)
    deals = [m.deal() for m in members]
    deals[1] = _corrupt_share_for(deals[1], members, victim=4)
    tr = DkgTranscript(G, params)
    for d in deals:
        assert tr.apply_deal(d) is None
    complaints = [
        c
        for m in members
        for d in deals
        if d.dealer != m.index and (c := m.receive(d, tr.deals[d.dealer])) is not None
    ]
    assert complaints == [Complaint(2, 4)]
    assert tr.apply_complaint(complaints[0]) is None
    tr.close_complaints()
    assert tr.apply_justification(Justification(2, 4, (7).to_bytes(32, "little"))) is None
    result = tr.finish()
    assert result is not None and result.qual == [1, 3, 4]
    assert [d.dealer for d in result.disqualified] == [2]
    assert "does not match" in result.disqualified[0].reason
    for m in members:
        if m.index != 2:
            m.key_share(result)  # consistent without dealer 2


def test_silent_dealer_is_disqualified_and_too_few_dealers_fail_the_run() -> None:
    params, members = _members(3, 3)
    deals = [m.deal() for m in members]
    deals[0] = _corrupt_share_for(deals[0], members, victim=2)
    tr = _run(params, members, deals, answer=False)
    assert tr.phase is Phase.FAILED
    assert tr.failure == "only 2 qualified dealers, need 3"
    assert tr.disqualified == {1: "did not answer the complaint of member 2"}


def test_malformed_and_out_of_phase_commands_are_refused_without_effect() -> None:
    params, members = _members(3, 2)
    good = members[0].deal()
    tr = DkgTranscript(G, params)
    assert tr.apply_deal(Deal(9, good.commitments, good.shares)) == "dealer 9 is not a member"
    assert "commitments" in (tr.apply_deal(Deal(1, good.commitments[:1], good.shares)) or "")
    assert "sealed shares" in (tr.apply_deal(Deal(1, good.commitments, good.shares[:2])) or "")
    bad_point = Deal(1, [b"\xff" * 32, good.commitments[1]], good.shares)
    assert "bad commitment" in (tr.apply_deal(bad_point) or "")
    short = Deal(1, good.commitments, [s[:-1] for s in good.shares])
    assert "bytes" in (tr.apply_deal(short) or "")
    assert tr.deals == {}
    assert tr.apply_complaint(Complaint(1, 2)) == "dealer 1 has not dealt"
    assert tr.apply_deal(good) is None
    assert tr.apply_deal(good) == "dealer 1 already dealt"
    assert tr.apply_complaint(Complaint(1, 1)) == "a dealer cannot complain about itself"
    assert tr.apply_justification(Justification(1, 2, bytes(32))) == "no such complaint"
    tr.close_complaints()
    assert tr.apply_deal(members[1].deal()) == "deals closed (justification)"
    assert tr.apply_complaint(Complaint(1, 2)) == "complaints closed (justification)"


def test_member_with_an_unrepaired_bad_share_refuses_to_produce_a_key() -> None:
    params, members = _members(3, 2)
    deals = [m.deal() for m in members]
    deals[0] = _corrupt_share_for(deals[0], members, victim=2)
    tr = DkgTranscript(G, params)
    for d in deals:
        tr.apply_deal(d)
    # member 2 never complains (it crashed); dealer 1 stays in QUAL
    result = tr.finish()
    assert result is not None and 1 in result.qual
    members[1].receive(deals[0], tr.deals[1])
    members[1].receive(deals[2], tr.deals[3])
    with pytest.raises(DkgError, match="no valid share from dealers \\[1\\]"):
        members[1].key_share(result)


def test_params_are_checked() -> None:
    with pytest.raises(DkgError):
        DkgParams(SESSION, 3, 4).check()
    with pytest.raises(DkgError):
        DkgParams(b"short", 3, 2).check()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.data())
def test_lagrange_recovers_the_constant_term(t: int, data: st.DataObject) -> None:
    coeffs = data.draw(st.lists(st.integers(0, G.order - 1), min_size=t, max_size=t))
    points = data.draw(st.sets(st.integers(1, 300), min_size=t, max_size=t))
    lam = lagrange_at_zero(points, G.order)
    assert sum(lam[i] * poly_eval(coeffs, i, G.order) for i in points) % G.order == coeffs[0]
