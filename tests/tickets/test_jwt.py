"""JWT tickets: each algorithm, every claim rule, hostile tokens, signatures."""

from __future__ import annotations

import base64
import json
from typing import Any

import blake3
import jwt as pyjwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosaik.primitives import SecretKey, unique_id
from pymosaik.tickets import (
    JWT_CLASS,
    NEVER,
    AllOf,
    EdDsa,
    EdDsaSigningKey,
    Es256,
    Es256SigningKey,
    Expiration,
    Hs256,
    InvalidTicketError,
    Jwt,
    JwtTicketBuilder,
    PeerInfo,
    Ticket,
    validate_ticket,
)

NOW_S = 1_700_000_000
NOW = NOW_S * 1000
PEER_KEY = SecretKey.from_id(unique_id("jwt-peer"))
PEER = PeerInfo(PEER_KEY.peer_id, unique_id("net"))
OTHER = PeerInfo(SecretKey.from_id(unique_id("someone-else")).peer_id, unique_id("net"))
HS = Hs256(bytes(range(32)))
ED = EdDsaSigningKey.from_bytes(bytes(range(1, 33)))
ES = Es256SigningKey.from_bytes(bytes(range(2, 34)))


def signing_keys() -> list[Any]:
    return [HS, ED, ES]


def verifying(key: Any) -> Any:
    return key if isinstance(key, Hs256) else key.verifying_key()


def raw_token(key: Any, claims: dict[str, Any], alg: str | None = None) -> bytes:
    return pyjwt.encode(claims, key.signing_material(), algorithm=alg or key.algorithm).encode()


def claims(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": PEER.peer_id.hex(), "exp": NOW_S + 600, "iat": NOW_S}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("key", signing_keys(), ids=["HS256", "EdDSA", "ES256"])
def test_each_algorithm_round_trips(key: Any) -> None:
    validator = Jwt.with_key(verifying(key)).allow_issuer("issuer")
    ticket = JwtTicketBuilder(key).issuer("issuer").expires_in(3600).build(PEER.peer_id, now_ms=NOW)
    assert ticket.class_id == JWT_CLASS == Jwt.CLASS
    assert validator.ticket_class() == JWT_CLASS
    assert validator.validate(ticket.data, PEER, NOW) == Expiration.at((NOW_S + 3600) * 1000)
    header = pyjwt.get_unverified_header(ticket.data.decode())
    assert header == {"alg": key.algorithm, "typ": "JWT"}
    payload = pyjwt.decode(ticket.data, options={"verify_signature": False})
    assert payload == {
        "iss": "issuer",
        "sub": PEER.peer_id.hex(),
        "exp": NOW_S + 3600,
        "iat": NOW_S,
    }


def test_expiry_boundaries_and_leeway() -> None:
    v = Jwt.with_key(HS)
    assert v.validate(raw_token(HS, claims(exp=NOW_S + 1)), PEER, NOW) == Expiration.at(
        (NOW_S + 1) * 1000
    )
    for exp in (NOW_S, NOW_S - 1, 0):
        with pytest.raises(InvalidTicketError, match="expired"):
            v.validate(raw_token(HS, claims(exp=exp)), PEER, NOW)
    late = raw_token(HS, claims(exp=NOW_S - 5))
    assert v.clock_leeway(10).validate(late, PEER, NOW) == Expiration.at((NOW_S - 5) * 1000)
    with pytest.raises(InvalidTicketError):
        v.clock_leeway(5).validate(late, PEER, NOW)


def test_not_yet_valid() -> None:
    v = Jwt.with_key(HS)
    early = raw_token(HS, claims(nbf=NOW_S + 5))
    with pytest.raises(InvalidTicketError, match="not yet valid"):
        v.validate(early, PEER, NOW)
    assert v.validate(early, PEER, NOW + 5000) == Expiration.at((NOW_S + 600) * 1000)
    assert v.clock_leeway(5).validate(early, PEER, NOW)
    built = (
        JwtTicketBuilder(HS).expires_in(60).not_before(NOW_S + 30).build(PEER.peer_id, now_ms=NOW)
    )
    with pytest.raises(InvalidTicketError):
        v.validate(built.data, PEER, NOW)


def test_issued_in_the_future_is_refused_beyond_leeway() -> None:
    token = raw_token(HS, claims(iat=NOW_S + 100))
    with pytest.raises(InvalidTicketError, match="future"):
        Jwt.with_key(HS).validate(token, PEER, NOW)
    assert Jwt.with_key(HS).clock_leeway(100).validate(token, PEER, NOW)


def test_subject_is_the_peer_id_in_lower_hex() -> None:
    v = Jwt.with_key(HS)
    token = JwtTicketBuilder(HS).expires_in(60).build(PEER.peer_id, now_ms=NOW).data
    v.validate(token, PEER, NOW)
    with pytest.raises(InvalidTicketError, match="subject"):
        v.validate(token, OTHER, NOW)  # a ticket is bound to its peer
    upper = raw_token(HS, claims(sub=PEER.peer_id.hex().upper()))
    with pytest.raises(InvalidTicketError, match="subject"):
        v.validate(upper, PEER, NOW)
    with pytest.raises(InvalidTicketError, match="subject"):
        v.validate(raw_token(HS, claims(sub=None)), PEER, NOW)
    service = JwtTicketBuilder(HS).subject("svc").expires_in(60).build(PEER.peer_id, now_ms=NOW)
    assert v.require_subject("svc").validate(service.data, OTHER, NOW)
    with pytest.raises(InvalidTicketError):
        v.validate(service.data, PEER, NOW)


def test_issuer_rules() -> None:
    token = raw_token(HS, claims(iss="good"))
    assert Jwt.with_key(HS).validate(token, PEER, NOW)  # no issuer configured: any
    assert Jwt.with_key(HS).allow_issuer("x").allow_issuer("good").validate(token, PEER, NOW)
    with pytest.raises(InvalidTicketError, match="issuer"):
        Jwt.with_key(HS).allow_issuer("other").validate(token, PEER, NOW)
    with pytest.raises(InvalidTicketError, match="issuer"):
        Jwt.with_key(HS).allow_issuer("good").validate(raw_token(HS, claims()), PEER, NOW)


def test_audience_rules() -> None:
    v = Jwt.with_key(HS).allow_audience("stream")
    assert v.validate(raw_token(HS, claims(aud="stream")), PEER, NOW)
    assert v.validate(raw_token(HS, claims(aud=["x", "stream"])), PEER, NOW)
    for aud in ("group", ["x"], None, 5):
        with pytest.raises(InvalidTicketError, match="audience"):
            v.validate(raw_token(HS, claims(aud=aud)), PEER, NOW)


def test_non_expiring_tokens_need_opt_in() -> None:
    token = raw_token(HS, claims(exp=None))
    with pytest.raises(InvalidTicketError, match="does not expire"):
        Jwt.with_key(HS).validate(token, PEER, NOW)
    assert Jwt.with_key(HS).allow_non_expiring().validate(token, PEER, NOW) == NEVER
    forever = JwtTicketBuilder(HS).build(PEER.peer_id, now_ms=NOW)
    assert Jwt.with_key(HS).allow_non_expiring().validate(forever.data, PEER, NOW) is NEVER


def test_max_lifetime_and_max_age() -> None:
    v = Jwt.with_key(HS).max_lifetime(3600)
    assert v.validate(raw_token(HS, claims(exp=NOW_S + 3600)), PEER, NOW)
    with pytest.raises(InvalidTicketError, match="lifetime"):
        v.validate(raw_token(HS, claims(exp=NOW_S + 3601)), PEER, NOW)
    a = Jwt.with_key(HS).max_age(60)
    assert a.validate(raw_token(HS, claims(iat=NOW_S - 60)), PEER, NOW)
    with pytest.raises(InvalidTicketError, match="old"):
        a.validate(raw_token(HS, claims(iat=NOW_S - 61)), PEER, NOW)
    with pytest.raises(InvalidTicketError, match="iat"):
        a.validate(raw_token(HS, claims(iat=None)), PEER, NOW)


@pytest.mark.parametrize("bad", [1.7e9 + 600, "1700000600", True, -1, 1 << 64])
def test_non_integer_timestamps_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidTicketError, match="timestamp"):
        Jwt.with_key(HS).validate(raw_token(HS, claims(exp=bad)), PEER, NOW)


def test_custom_claims_compare_as_json() -> None:
    v = Jwt.with_key(HS).require_claim("role", "builder").require_claim("tier", 1)
    assert v.validate(raw_token(HS, claims(role="builder", tier=1)), PEER, NOW)
    for bad in ({"role": "builder", "tier": True}, {"role": "builder"}, {"role": "x", "tier": 1}):
        with pytest.raises(InvalidTicketError, match="claim"):
            v.validate(raw_token(HS, claims(**bad)), PEER, NOW)
    built = (
        JwtTicketBuilder(HS).claim("role", "builder").claim("tier", 1).claim("iss", "me")
    ).expires_in(60)
    token = built.build(PEER.peer_id, now_ms=NOW).data
    assert v.allow_issuer("me").validate(token, PEER, NOW)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], payload: dict[str, Any], sig: str = "") -> bytes:
    parts = [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), sig]
    return ".".join(parts).encode()


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "", None])
def test_alg_none_is_refused(alg: str | None) -> None:
    token = _unsigned({"alg": alg, "typ": "JWT"}, claims())
    for key in (HS, verifying(ED), verifying(ES)):
        with pytest.raises(InvalidTicketError):
            Jwt.with_key(key).allow_non_expiring().validate(token, PEER, NOW)


def test_wrong_algorithm_is_refused() -> None:
    hs_token = raw_token(HS, claims())
    with pytest.raises(InvalidTicketError, match="algorithm"):
        Jwt.with_key(verifying(ED)).validate(hs_token, PEER, NOW)
    # key confusion: HMAC keyed with the ES256 public key bytes
    confused = pyjwt.encode(claims(), verifying(ES).public_key, algorithm="HS256").encode()
    with pytest.raises(InvalidTicketError, match="algorithm"):
        Jwt.with_key(verifying(ES)).validate(confused, PEER, NOW)
    # right algorithm, someone else's key
    stranger = EdDsaSigningKey.generate()
    with pytest.raises(InvalidTicketError, match="signature"):
        Jwt.with_key(verifying(ED)).validate(raw_token(stranger, claims()), PEER, NOW)


@pytest.mark.parametrize("key", signing_keys(), ids=["HS256", "EdDSA", "ES256"])
def test_tampered_tokens_are_refused(key: Any) -> None:
    v = Jwt.with_key(verifying(key))
    token = raw_token(key, claims()).decode()
    header, payload, sig = token.split(".")
    flipped = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    forged_payload = _b64(json.dumps(claims(exp=NOW_S + 10**6)).encode())
    for bad in (
        f"{header}.{payload}.{flipped}",
        f"{header}.{forged_payload}.{sig}",
        f"{header}.{payload}.",
        f"{header}.{payload}",
        token + "x",
    ):
        with pytest.raises(InvalidTicketError):
            v.validate(bad.encode(), PEER, NOW)


def test_key_rotation_accepts_either_key() -> None:
    new = Hs256(bytes(32))
    v = Jwt.with_key(HS).add_key(new)
    assert v.validate(raw_token(HS, claims()), PEER, NOW)
    assert v.validate(raw_token(new, claims()), PEER, NOW)
    mixed = Jwt.with_key(verifying(ED)).add_key(verifying(ES))
    assert mixed.validate(raw_token(ES, claims()), PEER, NOW)
    assert mixed.validate(raw_token(ED, claims()), PEER, NOW)


def test_validator_plugs_into_requirements() -> None:
    good = JwtTicketBuilder(ED).expires_in(100).build(PEER.peer_id, now_ms=NOW)
    longer = JwtTicketBuilder(ED).expires_in(900).build(PEER.peer_id, now_ms=NOW)
    junk = Ticket(JWT_CLASS, b"not a jwt")
    v = Jwt.with_key(verifying(ED))
    assert validate_ticket(v, [junk, good, longer], PEER, NOW) == Expiration.at(
        (NOW_S + 900) * 1000
    )
    hs_ticket = JwtTicketBuilder(HS).expires_in(50).build(PEER.peer_id, now_ms=NOW)
    both = AllOf(v, Jwt.with_key(HS))
    assert both.evaluate([good, hs_ticket], PEER, NOW) == Expiration.at((NOW_S + 50) * 1000)


def _b3_derive(acc: bytes, info: bytes) -> bytes:
    return blake3.blake3(acc + info).digest()


def test_signature_follows_mosaik_derivation_byte_for_byte() -> None:
    """Jwt::signature in mosaik/src/tickets/jwt.rs, recomputed with raw blake3."""
    ed = verifying(ED)
    v = (
        Jwt.with_key(HS)
        .add_key(ed)
        .allow_issuer("a")
        .allow_issuer("b")
        .allow_audience("aud")
        .require_subject("sub")
        .max_lifetime(3600)
        .max_age(60)
        .require_claim("z", {"k": [1, "x"]})
        .require_claim("role", "builder")
    )
    acc = blake3.blake3(b"mosaik.tickets.jwt.v1").digest()
    hs_fp = _b3_derive(blake3.blake3(b"hs256").digest(), HS.secret)
    ed_fp = _b3_derive(blake3.blake3(b"EdDsa").digest(), ed.public_key)
    for alg, fp in ((b"HS256", hs_fp), (b"EdDSA", ed_fp)):
        acc = _b3_derive(_b3_derive(acc, alg), fp)
    for part in (
        b"\x00",
        b"a,b",
        b"aud",
        b"sub",
        (3600).to_bytes(8, "little"),
        (60).to_bytes(8, "little"),
        b"role",
        b'"builder"',
        b"z",
        b'{"k":[1,"x"]}',
    ):
        acc = _b3_derive(acc, part)
    assert v.signature().bytes == acc


def test_signature_changes_with_every_setting() -> None:
    base = Jwt.with_key(HS)
    variants = [
        base,
        base.allow_non_expiring(),
        base.allow_issuer("i"),
        base.allow_audience("a"),
        base.require_subject("s"),
        base.max_lifetime(1),
        base.max_age(1),
        base.clock_leeway(1),
        base.require_claim("c", 1),
        base.require_claim("c", True),
        Jwt.with_key(Hs256(bytes(32))),
        Jwt.with_key(verifying(ED)),
        Jwt.with_key(verifying(ES)),
    ]
    sigs = [v.signature() for v in variants]
    assert len(set(sigs)) == len(sigs)
    assert base.signature() == Jwt.with_key(Hs256(bytes(range(32)))).signature()


def test_keys_validate_their_material() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Hs256(b"short")
    with pytest.raises(ValueError, match="33-byte"):
        Es256(bytes(32))
    with pytest.raises(ValueError, match=r"[Ii]nvalid|point|encoding"):
        Es256(b"\x05" + bytes(32))  # not a SEC1 point encoding
    with pytest.raises(ValueError, match="32 bytes"):
        EdDsa(bytes(31))
    assert "Hs256(" in repr(HS)
    assert HS.secret.hex() not in repr(HS)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode)))
def test_fuzz_validate_only_refuses(data: bytes) -> None:
    v = Jwt.with_key(HS).add_key(verifying(ED)).add_key(verifying(ES)).allow_non_expiring()
    with pytest.raises(InvalidTicketError):
        v.validate(data, PEER, NOW)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcXYZ019-_=.", max_size=40), min_size=1, max_size=4))
def test_fuzz_dotted_garbage(parts: list[str]) -> None:
    with pytest.raises(InvalidTicketError):
        Jwt.with_key(HS).validate(".".join(parts).encode(), PEER, NOW)
