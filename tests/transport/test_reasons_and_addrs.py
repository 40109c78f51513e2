"""Close reason catalog (mosaik's codes) and address values."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymosaik.primitives import DecodeError, SecretKey, decode, encode
from pymosaik.transport import EndpointAddr, SocketAddr, reasons
from pymosaik.transport.reasons import CloseReason, reason_for_code

MOSAIK = {  # src/network/error.rs, src/streams/mod.rs, src/groups/error.rs
    "Success": 200,
    "GracefulShutdown": 204,
    "InvalidAlpn": 100,
    "DifferentNetwork": 101,
    "Cancelled": 102,
    "UnexpectedClose": 103,
    "ProtocolViolation": 400,
    "UnknownPeer": 401,
    "StreamNotFound": 10_404,
    "NoCapacity": 10_509,
    "TooSlow": 10_413,
    "InvalidHandshake": 30_400,
    "GroupNotFound": 30_404,
    "InvalidProof": 30_405,
    "Timeout": 30_408,
    "AlreadyBonded": 30_429,
}


def test_codes_and_names_match_mosaik() -> None:
    by_name = {r.name: r.code for r in reasons.KNOWN_REASONS.values() if r.name != "NotAllowed"}
    for name, code in MOSAIK.items():
        assert by_name[name] == code
    assert (reasons.STREAM_NOT_ALLOWED.code, reasons.STREAM_NOT_ALLOWED.name) == (
        10_403,
        "NotAllowed",
    )
    assert (reasons.GROUP_NOT_ALLOWED.code, reasons.GROUP_NOT_ALLOWED.name) == (
        30_403,
        "NotAllowed",
    )
    assert reasons.UNEXPECTED_PEER.code == 104  # the port's one addition


def test_equality_is_by_code_like_mosaik() -> None:
    assert CloseReason(400, "anything") == reasons.PROTOCOL_VIOLATION
    assert hash(CloseReason(400, "x")) == hash(reasons.PROTOCOL_VIOLATION)
    assert reason_for_code(401) is reasons.UNKNOWN_PEER
    assert reason_for_code(7777, "Mine") == CloseReason(7777, "Mine")
    assert str(reasons.TOO_SLOW) == "TooSlow(10413)"
    with pytest.raises(ValueError, match="u32"):
        CloseReason(1 << 32, "x")
    with pytest.raises(ValueError, match="too long"):
        CloseReason(1, "x" * 200)


def test_endpoint_addr_round_trips() -> None:
    peer = SecretKey.generate().peer_id
    addr = EndpointAddr.of(peer, ("127.0.0.1", 4000), ("::1", 4001))
    assert addr.peer_id == peer
    assert decode(encode(addr), EndpointAddr) == addr
    with pytest.raises(ValueError, match="port"):
        SocketAddr("h", 70000)
    with pytest.raises(ValueError, match="32 bytes"):
        EndpointAddr(b"short", ())


@given(st.binary(max_size=120))
def test_address_decoders_fuzz(data: bytes) -> None:
    for typ in (EndpointAddr, SocketAddr):
        with contextlib.suppress(DecodeError):
            decode(data, typ)
