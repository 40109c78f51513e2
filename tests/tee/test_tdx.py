"""TDX tickets with the SIMULATED verifier: binding, criteria, time, tampering, signatures."""

from __future__ import annotations

import blake3
import pytest

from pymosaik.primitives import SecretKey, decode, encode, unique_id
from pymosaik.tee import (
    SIMULATED_MAGIC,
    TDX_CLASS,
    ExtraData,
    Measurements,
    MeasurementsCriteria,
    QuoteError,
    SimulatedQuote,
    SimulatedTdx,
    SimulatedTdxProvider,
    Tdx,
    TdxTicket,
    measurement,
    report_data_for,
)
from pymosaik.tickets import (
    Expiration,
    InvalidTicketError,
    PeerInfo,
    Require,
    Ticket,
    TicketValidator,
)

NOW = 1_700_000_000_000
NET = unique_id("tee-net")
PEER = PeerInfo(SecretKey.from_id(unique_id("tee-peer")).peer_id, NET)
ROOT = SecretKey.from_id(unique_id("simulated-root"))


def meas(seed: int) -> Measurements:
    return Measurements(*(bytes([seed + i]) * 48 for i in range(5)))


M = meas(10)
PROVIDER = SimulatedTdxProvider(M, ROOT)
SIM = PROVIDER.verifier()
BASE = Tdx.with_verifiers(SIM).allow_simulated()


def issue(
    provider: SimulatedTdxProvider = PROVIDER,
    peer: PeerInfo = PEER,
    now: int = NOW,
    ttl: int | None = 60_000,
) -> Ticket:
    return provider.ticket(peer.peer_id, peer.network_id, now, ttl)


def test_validator_protocol_and_class() -> None:
    assert isinstance(BASE, TicketValidator)
    t = issue()
    assert t.class_id == TDX_CLASS == BASE.ticket_class()


def test_valid_simulated_ticket_accepted_only_with_allow_simulated() -> None:
    t = issue()
    assert BASE.validate(t.data, PEER, NOW) == Expiration.at(NOW + 60_000)
    with pytest.raises(InvalidTicketError, match="simulated"):
        Tdx.with_verifiers(SIM).validate(t.data, PEER, NOW)


def test_never_expiring_ticket() -> None:
    t = issue(ttl=None)
    assert BASE.validate(t.data, PEER, NOW + 10**9).is_never


def test_no_verifier_refuses_everything() -> None:
    with pytest.raises(InvalidTicketError, match="no verifier"):
        Tdx().allow_simulated().validate(issue().data, PEER, NOW)


def test_untrusted_simulated_root_refused() -> None:
    rogue = SimulatedTdxProvider(M, SecretKey.from_id(unique_id("rogue-root")))
    with pytest.raises(InvalidTicketError, match="untrusted root"):
        BASE.validate(issue(rogue).data, PEER, NOW)


def test_mrtd_and_rtmr_requirements() -> None:
    t = issue().data
    assert BASE.require_mrtd(M.mrtd).validate(t, PEER, NOW)
    assert BASE.require_mrtd(M.mrtd.hex()).require_rtmr(3, M.rtmr3).validate(t, PEER, NOW)
    for i in range(4):
        assert BASE.require_rtmr(i, M.rtmr(i)).validate(t, PEER, NOW)
        with pytest.raises(InvalidTicketError, match="baseline"):
            BASE.require_rtmr(i, bytes(48)).validate(t, PEER, NOW)
    with pytest.raises(InvalidTicketError, match="baseline"):
        BASE.require_mrtd(bytes(48)).validate(t, PEER, NOW)
    with pytest.raises(InvalidTicketError):
        BASE.require_measurements(meas(50)).validate(t, PEER, NOW)
    assert BASE.require_measurements(M).validate(t, PEER, NOW)


def test_variants_are_any_of() -> None:
    a, b = meas(10), meas(20)
    ta, tb = issue(SimulatedTdxProvider(a, ROOT)), issue(SimulatedTdxProvider(b, ROOT))
    tc = issue(SimulatedTdxProvider(meas(30), ROOT))
    v = BASE.allow_variant(MeasurementsCriteria.exactly(a)).allow_variant(
        MeasurementsCriteria().require_mrtd(b.mrtd)
    )
    assert v.validate(ta.data, PEER, NOW)
    assert v.validate(tb.data, PEER, NOW)
    with pytest.raises(InvalidTicketError, match="variant"):
        v.validate(tc.data, PEER, NOW)
    # the baseline still applies on top of the variants
    with pytest.raises(InvalidTicketError, match="baseline"):
        v.require_rtmr(0, a.rtmr0).validate(tb.data, PEER, NOW)


def test_ticket_for_another_peer_or_network_refused() -> None:
    other_peer = PeerInfo(SecretKey.from_id(unique_id("other")).peer_id, NET)
    other_net = PeerInfo(PEER.peer_id, unique_id("other-net"))
    t = issue().data
    with pytest.raises(InvalidTicketError, match="another peer"):
        BASE.validate(t, other_peer, NOW)
    with pytest.raises(InvalidTicketError, match="another network"):
        BASE.validate(t, other_net, NOW)


def test_expired_too_old_not_before_and_lifetime() -> None:
    t = issue(ttl=1_000).data
    assert BASE.validate(t, PEER, NOW + 1_000) == Expiration.at(NOW + 1_000)
    with pytest.raises(InvalidTicketError, match="expired"):
        BASE.validate(t, PEER, NOW + 1_001)
    aged = BASE.max_age_ms(500)
    assert aged.validate(t, PEER, NOW + 500)
    with pytest.raises(InvalidTicketError, match="too old"):
        aged.validate(t, PEER, NOW + 501)
    with pytest.raises(InvalidTicketError, match="future"):
        aged.validate(t, PEER, NOW - 1)
    assert BASE.validate(t, PEER, NOW - 1)  # without max_age, mosaik does not look
    with pytest.raises(InvalidTicketError, match="not_before"):
        BASE.not_before_ms(NOW + 1).validate(t, PEER, NOW)
    assert BASE.not_before_ms(NOW).validate(t, PEER, NOW)
    assert BASE.max_lifetime_ms(1_000).validate(t, PEER, NOW)
    with pytest.raises(InvalidTicketError, match="lifetime"):
        BASE.max_lifetime_ms(999).validate(t, PEER, NOW)
    with pytest.raises(InvalidTicketError, match="lifetime"):
        BASE.max_lifetime_ms(10**9).validate(issue(ttl=None).data, PEER, NOW)


def _resign(quote: SimulatedQuote, key: SecretKey) -> bytes:
    return encode(
        SimulatedQuote(quote.body, key.peer_id.bytes, key.sign(quote.body.signing_bytes()))
    )


def test_tampered_quote_refused() -> None:
    ticket = TdxTicket.from_bytes(issue().data)
    quote = SimulatedQuote.from_bytes(ticket.quote)
    # change the measurements but keep the root's old signature
    forged_body = type(quote.body)(SIMULATED_MAGIC, meas(99), quote.body.report_data)
    forged = encode(SimulatedQuote(forged_body, quote.root, quote.signature))
    with pytest.raises(InvalidTicketError, match="signature"):
        BASE.validate(encode(TdxTicket(forged, ticket.extra)), PEER, NOW)
    # flip every byte of the quote in turn: nothing that changes it may pass
    raw = bytearray(ticket.quote)
    for i in range(len(raw)):
        raw[i] ^= 0x01
        with pytest.raises(InvalidTicketError):
            BASE.validate(encode(TdxTicket(bytes(raw), ticket.extra)), PEER, NOW)
        raw[i] ^= 0x01


def test_extra_data_not_committed_refused() -> None:
    """Moving a genuine quote onto other extra data (longer expiry, other peer) fails."""
    ticket = TdxTicket.from_bytes(issue().data)
    for extra in (
        ExtraData(
            ticket.extra.peer_id,
            NET,
            ticket.extra.started_at_ms,
            ticket.extra.quoted_at_ms,
            Expiration.never(),
        ),
        ExtraData(
            ticket.extra.peer_id, NET, ticket.extra.started_at_ms, NOW + 5, ticket.extra.expiration
        ),
        ExtraData(bytes(32), NET, NOW, NOW, ticket.extra.expiration),
    ):
        with pytest.raises(InvalidTicketError, match="report data"):
            BASE.validate(encode(TdxTicket(ticket.quote, extra)), PEER, NOW)


def test_report_data_is_mosaik_shaped_binding() -> None:
    extra = TdxTicket.from_bytes(issue().data).extra
    acc = unique_id("pymosaik.tee.tdx.ticket.extra.v1").bytes
    for part in (
        extra.peer_id,
        extra.network_id.bytes,
        extra.started_at_ms.to_bytes(8, "little"),
        extra.quoted_at_ms.to_bytes(8, "little"),
        (NOW + 60_000).to_bytes(8, "little"),
    ):
        acc = blake3.blake3(acc + part).digest()
    assert report_data_for(extra) == acc + bytes(32)


def test_signature_changes_with_every_setting() -> None:
    other_root = SimulatedTdx(SecretKey.from_id(unique_id("r2")).peer_id)
    configs = [
        Tdx(),
        Tdx.with_verifiers(SIM),
        Tdx.with_verifiers(other_root),
        Tdx.with_verifiers(SIM, other_root),
        BASE,
        BASE.require_mrtd(M.mrtd),
        BASE.require_mrtd(meas(1).mrtd),
        BASE.require_rtmr(0, M.rtmr0),
        BASE.require_rtmr(1, M.rtmr0),
        BASE.allow_variant(MeasurementsCriteria()),
        BASE.allow_variant(MeasurementsCriteria.exactly(M)),
        BASE.max_age_ms(1),
        BASE.max_age_ms(2),
        BASE.not_before_ms(1),
        BASE.max_lifetime_ms(1),
    ]
    sigs = [c.signature() for c in configs]
    assert len(set(sigs)) == len(sigs)
    # deterministic, and equal configurations agree
    assert BASE.require_mrtd(M.mrtd).signature() == BASE.require_mrtd(M.mrtd.hex()).signature()
    assert Tdx.with_verifiers(SimulatedTdx(ROOT.peer_id)).signature() == configs[1].signature()


def test_criteria_signature_is_mosaiks() -> None:
    c = MeasurementsCriteria().require_rtmr(2, M.rtmr2)
    acc = unique_id("mosaik.tee.tdx.measurements-criteria.v1").bytes
    for part in (b"\x09" * 48, b"\x01" * 48, b"\x02" * 48, M.rtmr2, b"\x04" * 48):
        acc = blake3.blake3(acc + part).digest()
    assert c.signature().bytes == acc


def test_composes_with_ticket_requirements() -> None:
    t = issue()
    assert Require(BASE).evaluate([t], PEER, NOW) == Expiration.at(NOW + 60_000)


def test_measurement_parsing() -> None:
    assert measurement("0x" + "ab" * 48) == b"\xab" * 48
    for bad in ("ab" * 47, "zz" * 48, b"\x00" * 49):
        with pytest.raises(ValueError, match="measurement"):
            measurement(bad)
    with pytest.raises(ValueError, match="RTMR index"):
        M.rtmr(4)
    assert Measurements.of(*(x.hex() for x in (M.mrtd, *M.rtmrs))) == M
    assert decode(encode(M), Measurements) == M


def test_simulated_verifier_direct() -> None:
    q = PROVIDER.quote(bytes(64))
    v = SIM.verify(q, NOW)
    assert v.simulated and v.measurements == M and v.report_data == bytes(64)
    with pytest.raises(QuoteError):
        SIM.verify(b"\x00" * 100, NOW)
    with pytest.raises(ValueError, match="report data"):
        PROVIDER.quote(bytes(63))
    assert SIM.verify(_resign(SimulatedQuote.from_bytes(q), ROOT), NOW) == v
