"""Hypothesis: decoders and the validator only ever fail with their own errors."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pymosaik.primitives import DecodeError, SecretKey, unique_id
from pymosaik.tee import Measurements, SimulatedQuote, SimulatedTdxProvider, Tdx, TdxTicket
from pymosaik.tickets import InvalidTicketError, PeerInfo

NOW = 1_700_000_000_000
PEER = PeerInfo(SecretKey.from_id(unique_id("fuzz-peer")).peer_id, unique_id("fuzz-net"))
PROVIDER = SimulatedTdxProvider(
    Measurements(*(bytes([i]) * 48 for i in range(5))), SecretKey.from_id(unique_id("fuzz-root"))
)
TDX = Tdx.with_verifiers(PROVIDER.verifier()).allow_simulated()
VALID = PROVIDER.ticket(PEER.peer_id, PEER.network_id, NOW, 10_000).data


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_decoders_raise_only_decode_error(data: bytes) -> None:
    for decoder in (TdxTicket.from_bytes, SimulatedQuote.from_bytes):
        with contextlib.suppress(DecodeError):
            decoder(data)


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_validate_random_bytes(data: bytes) -> None:
    try:
        TDX.validate(data, PEER, NOW)
    except InvalidTicketError:
        return
    raise AssertionError("random bytes validated")


@settings(max_examples=300)
@given(st.integers(0, len(VALID) - 1), st.integers(1, 255))
def test_mutated_ticket_refused(pos: int, mask: int) -> None:
    mutated = bytearray(VALID)
    mutated[pos] ^= mask
    try:
        TDX.validate(bytes(mutated), PEER, NOW)
    except InvalidTicketError:
        return
    raise AssertionError(f"mutation at {pos} accepted")
