"""The threshold BLS beacon: real drand rounds verify with the same code; a DKG-keyed committee
signs rounds in both schemes; bad partials are excluded; fewer than t sign nothing."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from coalition.crypto.beacon import (
    BeaconError,
    BeaconTick,
    PartialSignature,
    Scheme,
    check_partial,
    combine,
    draw,
    partial_sign,
    randomness,
    verify,
    verify_tick,
)
from coalition.crypto.bls import G1, G2
from coalition.crypto.dkg import KeyShare, run_local
from coalition.crypto.group import InvalidElementError

# Public drand rounds (League of Entropy), used as test vectors.
QUICKNET_PK = bytes.fromhex(
    "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064"
    "510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
)
QUICKNET = [
    (
        657413,
        "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b",
        "fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587",
    ),
    (
        5928395,
        "a5d07c0071b4e386b3ae09206522253c68fefe8490ad59ecc44a7dd0d0745be91da5779e2247a82403fbc0cb9a34cb61",
        "51722dab0761a1ba5b39f653fa87bef41b442d91fc926a4d727a6be87373fc58",
    ),
]
MAINNET_PK = bytes.fromhex(
    "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a569937c529eeda66c7293784a9402801af31"
)
MAINNET = [
    (
        1337,
        "80d95247ddf1bb3acf5738497a5f10406be283144603f63d714bb1a44ff6b93285ae2697fffeb50c68862bd9fbecd4b2"
        "04b1798d2686b4ac5d573615031d9d67e6168bde9a7adf1161430a498ca701a25c216aee3e38ffd5290369034fa050a2",
        "945b08dcb30e24da281ccf14a646f0630ceec515af5c5895e18cc1b19edd65d156b71c776a369af3487f1bc6af106250"
        "0b059e01095cc0eedce91713977d7735cac675554edfa0d0481bb991ed93d333d08286192c05bf6b65d20f23a37fc7bb",
        "2660664f8d4bc401194d80d81da20a1e79480f65b8e2d205aecbd143b5bfb0d3",
    ),
    (
        3311596,
        "8ed588f2a7716fb1349e2d9803da5db0005e98a83783c353d4a08f183236a9ad91d70ddb01266f4b7c576983db464b43"
        "0e65680b9e0098552758afd6c1e6afcb77e3f62fe1b93d42d1cb63abbb2205512fe12fbf74ea9c5ac3b8f5c1e283a1d8",
        "a696b9409ababce45749c3a4ec369074453dd4a79967734e1390d969c8ad8d98897d217b9121e92c8ddebbddda8d92f9"
        "00e3bd6bf9deb166863b1a19390d743f82774001487594c5c09e581db7365f02b70a2c8cc41ce32446ef08e4890c4754",
        "647c07b2abbf7ff2afb4d670214f565e5cd9f9c91bfdcecb59a21f3c78d73920",
    ),
]


@pytest.mark.parametrize(("round_", "sig", "rand"), QUICKNET)
def test_real_quicknet_rounds_verify(round_: int, sig: str, rand: str) -> None:
    s = bytes.fromhex(sig)
    assert verify(Scheme.UNCHAINED_G1, QUICKNET_PK, round_, s)
    assert randomness(s).hex() == rand
    assert not verify(Scheme.UNCHAINED_G1, QUICKNET_PK, round_ + 1, s)
    assert verify_tick(Scheme.UNCHAINED_G1, QUICKNET_PK, BeaconTick(round_, s, b"", randomness(s)))


@pytest.mark.parametrize(("round_", "prev", "sig", "rand"), MAINNET)
def test_real_chained_mainnet_rounds_verify(round_: int, prev: str, sig: str, rand: str) -> None:
    p, s = bytes.fromhex(prev), bytes.fromhex(sig)
    assert verify(Scheme.CHAINED, MAINNET_PK, round_, s, p)
    assert randomness(s).hex() == rand
    assert not verify(Scheme.CHAINED, MAINNET_PK, round_, s, bytes(96))
    assert not verify(Scheme.CHAINED, MAINNET_PK, round_ - 1, s, p)


def test_garbage_never_verifies_and_never_raises() -> None:
    for junk in (b"", b"\x00" * 48, b"\xff" * 96, bytes(range(48))):
        assert not verify(Scheme.UNCHAINED_G1, QUICKNET_PK, 1, junk)
        assert not verify(Scheme.CHAINED, MAINNET_PK, 1, junk, b"")
        assert not verify(Scheme.UNCHAINED_G1, junk, 1, junk)
    with pytest.raises(InvalidElementError):
        G1.decode(G1.encode(G1.identity()))
    assert G2.eq(G2.decode(G2.encode(G2.generator())), G2.generator())


def _committee(scheme: Scheme, n: int, t: int, seed: int) -> list[KeyShare]:
    return run_local(scheme.key_group, n, t, random.Random(seed).randbytes)


@pytest.mark.parametrize("scheme", list(Scheme))
def test_committee_signs_chained_rounds_any_t_of_n(scheme: Scheme) -> None:
    shares = _committee(scheme, 4, 3, seed=5)
    result = shares[0].result
    prev = b""
    for rnd, subset in ((1, [0, 1, 2]), (2, [1, 2, 3]), (3, [0, 2, 3])):
        partials = [partial_sign(scheme, shares[i], rnd, prev) for i in subset]
        out = combine(scheme, result, rnd, prev, partials)
        assert out.used == tuple(i + 1 for i in subset)
        assert verify_tick(scheme, result.group_key, out.tick)
        # any t give the same (unique) signature
        other = combine(
            scheme, result, rnd, prev, [partial_sign(scheme, s, rnd, prev) for s in shares]
        )
        assert other.tick == out.tick
        if scheme is Scheme.CHAINED:
            prev = out.tick.signature


def test_bad_partial_excluded_and_fewer_than_t_sign_nothing() -> None:
    scheme = Scheme.UNCHAINED_G1
    shares = _committee(scheme, 4, 3, seed=6)
    result = shares[0].result
    good = [partial_sign(scheme, s, 9) for s in shares]
    forged = PartialSignature(2, partial_sign(scheme, shares[0], 10).signature)  # wrong round/key
    junk = PartialSignature(3, b"\x01" * 48)
    assert check_partial(scheme, result, 9, b"", forged) is not None
    out = combine(scheme, result, 9, b"", [good[0], forged, junk, good[3], good[2]])
    assert out.used == (1, 3, 4)
    assert [i for i, _ in out.rejected] == [2, 3]  # the forged one, and the junk sent as 3
    with pytest.raises(BeaconError, match="2 good partials"):
        combine(scheme, result, 9, b"", good[:2])


def test_draws_are_deterministic_uniform_and_label_separated() -> None:
    tick = BeaconTick(1, b"s", b"", randomness(b"s"))
    assert draw(tick, "lottery", 10) == draw(tick, "lottery", 10)
    counts = Counter(
        draw(BeaconTick(i, b"", b"", randomness(i.to_bytes(8, "little"))), "x", 6)
        for i in range(6000)
    )
    assert set(counts) == set(range(6))
    assert all(800 < c < 1200 for c in counts.values()), counts  # ±20 % of 1000, > 6 sigma
    labels = {draw(tick, f"label {i}", 2**64) for i in range(50)}
    assert len(labels) == 50
