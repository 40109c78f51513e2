"""Share recovery (D12): a member that lost its share gets the same share back from t helpers,
the group key and the other shares unchanged; bad deals and bad parts are caught and named."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from coalition.crypto.bls import G1
from coalition.crypto.dkg import _SUITE, KeyShare, run_local
from coalition.crypto.group import PrimeGroup, lagrange_at_zero
from coalition.crypto.recovery import (
    RecoveredPart,
    RecoveryDeal,
    RecoveryError,
    RecoveryHelper,
    _info,
    check_deal,
    recover,
    refresh_result,
)
from coalition.crypto.ristretto import RISTRETTO255

N, T, LOST = 5, 3, 2


def setup(group: PrimeGroup[object], seed: int, helpers: tuple[int, ...] = (1, 3, 4, 5)):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    shares = run_local(group, N, T, rng.randbytes)
    keys = {i: X25519PrivateKey.from_private_bytes(rng.randbytes(32)) for i in helpers}
    lost_key = X25519PrivateKey.from_private_bytes(rng.randbytes(32))  # the member's new key
    pubs = {i: k.public_key().public_bytes_raw() for i, k in keys.items()}
    members = [
        RecoveryHelper(
            group,
            shares[i - 1],
            lost=LOST,
            helpers=pubs,
            lost_key=lost_key.public_key().public_bytes_raw(),
            encryption_key=keys[i],
            entropy=rng.randbytes,
        )
        for i in helpers
    ]
    return shares, members, lost_key


@pytest.mark.parametrize("group", [RISTRETTO255, G1], ids=["ristretto255", "bls12-381-g1"])
def test_the_lost_share_comes_back_and_nothing_else_changes(group: PrimeGroup[object]) -> None:
    shares, helpers, lost_key = setup(group, seed=1)
    deals = [h.deal() for h in helpers]
    parts = [h.part(deals) for h in helpers]
    result = shares[0].result
    got, bad = recover(group, result, lost=LOST, key=lost_key, deals=deals, parts=parts)
    assert bad == () and got.secret == shares[LOST - 1].secret and got.index == LOST
    # the recovered share combines with the others to the same group secret
    lam = lagrange_at_zero([1, LOST, 4], group.order)
    secret = sum(lam[s.index] * s.secret for s in (shares[0], got, shares[3])) % group.order
    assert group.eq(group.base_mul(secret), group.decode(result.group_key))
    # what each helper sent is masked: the lost member never sees a helper's own share
    for h, part in zip(helpers, parts, strict=True):
        info = _info(result.session, LOST, h.share.index, LOST)
        y = int.from_bytes(_SUITE.decrypt(part.sealed, lost_key, info=info), "little")
        assert y != h.share.secret


def test_a_helper_sending_a_wrong_part_is_excluded_and_named() -> None:
    shares, helpers, lost_key = setup(RISTRETTO255, seed=2)
    deals = [h.deal() for h in helpers]
    parts = [h.part(deals) for h in helpers]
    forged = RecoveredPart(parts[1].helper, LOST, parts[0].sealed)  # helper 3 replays 1's part
    result = shares[0].result
    got, bad = recover(
        RISTRETTO255,
        result,
        lost=LOST,
        key=lost_key,
        deals=deals,
        parts=[parts[0], forged, *parts[2:]],
    )
    assert got.secret == shares[LOST - 1].secret and bad == (3,)
    with pytest.raises(RecoveryError, match="2 good parts, need 3"):
        recover(
            RISTRETTO255,
            result,
            lost=LOST,
            key=lost_key,
            deals=deals,
            parts=[parts[0], forged, parts[2]],
        )


def test_a_deal_that_does_not_vanish_at_the_lost_index_is_refused() -> None:
    shares, helpers, lost_key = setup(RISTRETTO255, seed=3)
    deals = [h.deal() for h in helpers]
    g = RISTRETTO255
    tampered = list(deals[0].commitments)
    tampered[0] = g.encode(g.add(g.decode(tampered[0], allow_identity=True), g.base_mul(1)))
    bad_deal = RecoveryDeal(deals[0].dealer, LOST, tampered, deals[0].shares)
    with pytest.raises(RecoveryError, match="does not vanish") as exc:
        helpers[1].part([bad_deal, *deals[1:]])
    assert exc.value.dealer == 1
    parts = [h.part(deals) for h in helpers]
    with pytest.raises(RecoveryError, match="does not vanish"):
        recover(
            g, shares[0].result, lost=LOST, key=lost_key, deals=[bad_deal, *deals[1:]], parts=parts
        )


def test_a_sub_share_that_fails_its_commitments_names_its_dealer() -> None:
    _shares, helpers, _ = setup(RISTRETTO255, seed=4)
    deals = [h.deal() for h in helpers]
    swapped = RecoveryDeal(  # helper 1 seals helper 3's sub-share where helper 4's belongs
        deals[0].dealer,
        LOST,
        deals[0].commitments,
        [(i, deals[0].sealed_for(3) or b"") if i == 4 else (i, c) for i, c in deals[0].shares],
    )
    with pytest.raises(RecoveryError, match="helper 1") as exc:
        helpers[2].part([swapped, *deals[1:]])  # helpers[2] is member 4
    assert exc.value.dealer == 1


def test_helpers_must_be_enough_and_exclude_the_lost_member() -> None:
    shares: list[KeyShare]
    shares, _, _ = setup(RISTRETTO255, seed=5)
    key = X25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(RecoveryError):
        RecoveryHelper(
            RISTRETTO255,
            shares[0],
            lost=LOST,
            helpers={1: key, 3: key},
            lost_key=key,
            encryption_key=X25519PrivateKey.generate(),
            entropy=random.Random(1).randbytes,
        )
    with pytest.raises(RecoveryError):
        RecoveryHelper(
            RISTRETTO255,
            shares[0],
            lost=LOST,
            helpers={1: key, 2: key, 3: key},
            lost_key=key,
            encryption_key=X25519PrivateKey.generate(),
            entropy=random.Random(1).randbytes,
        )


@pytest.mark.parametrize("group", [RISTRETTO255, G1], ids=["ristretto255", "bls12-381-g1"])
def test_a_refresh_replaces_every_share_and_keeps_the_group_key(group: PrimeGroup[object]) -> None:
    rng = random.Random(6)
    shares = run_local(group, N, T, rng.randbytes)
    keys = {i: X25519PrivateKey.from_private_bytes(rng.randbytes(32)) for i in range(1, N + 1)}
    pubs = {i: k.public_key().public_bytes_raw() for i, k in keys.items()}
    members = [
        RecoveryHelper(
            group,
            shares[i - 1],
            lost=0,
            helpers=pubs,
            lost_key=None,
            encryption_key=keys[i],
            entropy=rng.randbytes,
        )
        for i in range(1, N + 1)
    ]
    deals = [m.deal() for m in members]
    new = [m.refreshed(deals) for m in members]
    old_result = shares[0].result
    assert all(s.result == new[0].result for s in new)  # every member derives the same result
    assert new[0].result.group_key == old_result.group_key
    assert all(a.secret != b.secret for a, b in zip(shares, new, strict=True))

    def combined(picked: list[KeyShare]) -> object:
        lam = lagrange_at_zero([s.index for s in picked], group.order)
        return group.base_mul(sum(lam[s.index] * s.secret for s in picked) % group.order)

    key = group.decode(old_result.group_key)
    assert group.eq(combined(new[:3]), key) and group.eq(combined(new[2:]), key)
    assert not group.eq(combined([shares[0], new[1], new[2]]), key)  # old shares are useless now
    with pytest.raises(RecoveryError, match="every member"):
        refresh_result(group, old_result, deals[:-1])
    with pytest.raises(RecoveryError, match="refresh sends no part"):
        members[0].part(deals)


@settings(max_examples=60, deadline=None)
@given(
    commitments=st.lists(st.binary(max_size=40), max_size=4),
    sub=st.binary(max_size=120),
    sealed=st.binary(max_size=120),
    lost=st.integers(min_value=-3, max_value=9),
)
def test_hostile_deals_and_parts_are_refused_with_a_reason(
    commitments: list[bytes], sub: bytes, sealed: bytes, lost: int
) -> None:
    """Whatever a dealer or helper puts in the log, the checks answer with a reason (or a
    `RecoveryError` naming the culprit); nothing else escapes and no bad share is produced."""
    shares, helpers, lost_key = FUZZ
    deals = [h.deal() for h in helpers]
    hostile = RecoveryDeal(1, lost, commitments, [(3, sub), (4, sub), (5, sub)])
    why = check_deal(RISTRETTO255, hostile, T, [1, 3, 4, 5])
    assert why is None or isinstance(why, str)
    with pytest.raises(RecoveryError) as exc:
        helpers[1].part([hostile, *deals[1:]])
    assert exc.value.dealer == 1
    parts = [h.part(deals) for h in helpers]
    forged = [RecoveredPart(h, LOST, sealed) for h in (1, 3)]
    result = shares[0].result
    with pytest.raises(RecoveryError, match="good parts"):
        recover(
            RISTRETTO255, result, lost=LOST, key=lost_key, deals=deals, parts=[*forged, parts[2]]
        )


FUZZ = setup(RISTRETTO255, seed=7)
