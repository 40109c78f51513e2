"""Threshold ElGamal (unseal's seal/partial/combine) and the reply path."""

from __future__ import annotations

import itertools
import random

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from coalition.crypto.dkg import KeyShare, run_local
from coalition.crypto.dleq import DleqProof
from coalition.crypto.group import lagrange_at_zero
from coalition.crypto.reply import (
    ReplyError,
    check_commitment,
    open_reply,
    parse_request,
    request,
    salted_commitment,
    seal_reply,
)
from coalition.crypto.ristretto import RISTRETTO255 as G
from coalition.crypto.threshold import (
    PartialDecryption,
    Sealed,
    SealError,
    ThresholdElGamal,
    _aead_key,
)

TE = ThresholdElGamal(G)


def _committee(n: int, t: int, seed: int = 7) -> list[KeyShare]:
    return run_local(G, n, t, random.Random(seed).randbytes)


SHARES = _committee(5, 3)
RESULT = SHARES[0].result


def test_any_t_of_n_open_and_fewer_do_not() -> None:
    box = TE.seal(RESULT.group_key, b"sealed bid: 42 gwei", context=b"round 7")
    partials = [TE.partial(s, box) for s in SHARES]
    for subset in itertools.combinations(partials, 3):
        opened = TE.combine(RESULT, box, subset, context=b"round 7")
        assert opened.plaintext == b"sealed bid: 42 gwei"
        assert opened.used == tuple(p.index for p in subset)
    with pytest.raises(SealError, match="2 good partials, need 3"):
        TE.combine(RESULT, box, partials[:2], context=b"round 7")


def test_t_minus_one_shares_forced_through_do_not_open() -> None:
    """Interpolating t-1 partials (as if t-1 were enough) gives a key the AEAD rejects."""

    box = TE.seal(RESULT.group_key, b"secret")
    parts = [TE.partial(s, box) for s in SHARES[:2]]
    lam = lagrange_at_zero([1, 2], G.order)
    s = G.identity()
    for p in parts:
        s = G.add(s, G.mul(lam[p.index], p.element))
    key = _aead_key(G, s, box.ephemeral, RESULT.group_key, b"")

    with pytest.raises(InvalidTag):
        ChaCha20Poly1305(key).decrypt(bytes(12), box.ciphertext, box.ephemeral)


def test_bad_partial_is_excluded_and_named_and_t_good_still_open() -> None:
    box = TE.seal(RESULT.group_key, b"payload")
    partials = [TE.partial(s, box) for s in SHARES]
    # member 2 sends a different element with its (now invalid) proof
    bad = PartialDecryption(2, G.base_mul(5), partials[1].proof)
    # member 4 replays member 3's partial under its own index
    stolen = PartialDecryption(4, partials[2].element, partials[2].proof)
    opened = TE.combine(RESULT, box, [partials[0], bad, partials[2], stolen, partials[4]])
    assert opened.plaintext == b"payload"
    assert opened.used == (1, 3, 5)
    assert [i for i, _ in opened.rejected] == [2, 4]
    assert all("DLEQ" in why for _, why in opened.rejected)


def test_partial_bound_to_its_box_and_the_sealer_context_to_the_aead() -> None:
    box1 = TE.seal(RESULT.group_key, b"one", context=b"a")
    box2 = TE.seal(RESULT.group_key, b"two", context=b"a")
    p = TE.partial(SHARES[0], box1)
    assert TE.check_partial(RESULT, box1, p) is None
    assert TE.check_partial(RESULT, box2, p) is not None
    parts = [TE.partial(s, box1) for s in SHARES[:3]]
    assert TE.combine(RESULT, box1, parts, context=b"a").plaintext == b"one"
    with pytest.raises(SealError, match="does not authenticate"):
        TE.combine(RESULT, box1, parts, context=b"b")


def test_tampered_ciphertext_and_malformed_boxes_are_refused() -> None:
    box = TE.seal(RESULT.group_key, b"payload")
    flipped = Sealed(box.ephemeral, bytes([box.ciphertext[0] ^ 1]) + box.ciphertext[1:])
    partials = [TE.partial(s, flipped) for s in SHARES[:3]]
    with pytest.raises(SealError, match="does not authenticate"):
        TE.combine(RESULT, flipped, partials)
    for bad in (b"\xff" * 32, bytes(32), b"short"):
        with pytest.raises(SealError, match="ephemeral"):
            TE.partial(SHARES[0], Sealed(bad, box.ciphertext))
    junk = PartialDecryption(1, b"\x01" * 31, DleqProof(b"", b""))
    assert TE.check_partial(RESULT, box, junk) is not None
    assert TE.check_partial(RESULT, box, PartialDecryption(9, box.ephemeral, junk.proof)) == (
        "index 9 is not a member"
    )


def test_reply_path_only_the_submitter_opens_its_answer() -> None:
    plaintext, ticket = request(b"infer: summarise this")
    box = TE.seal(RESULT.group_key, plaintext)
    opened = TE.combine(RESULT, box, [TE.partial(s, box) for s in SHARES[:3]])
    req = parse_request(opened.plaintext)
    assert req.body == b"infer: summarise this" and req.reply_tag == ticket.tag
    answer = seal_reply(req, b"a summary")
    assert open_reply(ticket, answer) == b"a summary"
    _, other = request(b"someone else")
    with pytest.raises(ReplyError):
        open_reply(other, answer)
    assert "secret" not in repr(ticket) and ticket.tag.hex() not in repr(ticket)
    with pytest.raises(ReplyError):
        parse_request(b"\x93\xc4\x00")


def test_salted_commitment_hides_and_binds() -> None:
    salt = bytes(range(32))
    c = salted_commitment(b"bid", salt)
    assert check_commitment(c, b"bid", salt)
    assert not check_commitment(c, b"bid", bytes(32))
    assert not check_commitment(c, b"bie", salt)
    assert c != salted_commitment(b"bid", bytes(32))
