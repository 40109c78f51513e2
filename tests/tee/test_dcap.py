"""DcapVerifier: the adapter against a stand-in module, and real DCAP samples when present.

The real-quote tests need dcap-qvl's sample quote and collateral (the
``sample/`` directory of github.com/Phala-Network/dcap-qvl, not shipped in the
wheel). Point ``PYMOSAIK_DCAP_SAMPLES`` at a directory holding ``tdx_quote``
and ``tdx_quote_collateral.json``; otherwise they are skipped.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from pymosaik.primitives import SecretKey, encode, unique_id
from pymosaik.tee import (
    DcapVerifier,
    ExtraData,
    Measurements,
    QuoteError,
    SimulatedTdxProvider,
    Tdx,
    TdxTicket,
    TdxTicketBuilder,
)
from pymosaik.tickets import Expiration, InvalidTicketError, PeerInfo

NOW = 1_700_000_000_000
NET = unique_id("tee-net")
PEER = PeerInfo(SecretKey.from_id(unique_id("tee-peer")).peer_id, NET)
M = Measurements(*(bytes([i]) * 48 for i in range(5)))


class _Report:
    def __init__(self, rd: bytes) -> None:
        self.mr_td, self.rt_mr0, self.rt_mr1, self.rt_mr2, self.rt_mr3 = (
            M.mrtd,
            *M.rtmrs,
        )
        self.report_data = rd


def fake_dcap(status: str = "UpToDate", *, tdx: bool = True, fail: bool = False) -> Any:
    """A stand-in for dcap_qvl with the same call shape."""
    mod = types.ModuleType("dcap_qvl")
    calls: list[tuple[Any, ...]] = []

    class Parsed:
        def __init__(self, raw: bytes) -> None:
            if not raw.startswith(b"Q"):
                raise ValueError("bad quote")
            self.report = _Report(raw[1:65])

        def is_tdx(self) -> bool:
            return tdx

    class Collateral:
        @staticmethod
        def from_json(text: str) -> str:
            return text

    def verify(raw: bytes, coll: str, now: int) -> Any:
        calls.append(("verify", coll, now))
        if fail:
            raise ValueError("Verification failed: signature")
        return types.SimpleNamespace(status=status)

    def verify_with_root_ca(raw: bytes, coll: str, root: bytes, now: int) -> Any:
        calls.append(("verify_with_root_ca", coll, root, now))
        return types.SimpleNamespace(status=status)

    mod.parse_quote = Parsed  # type: ignore[attr-defined]
    mod.QuoteCollateralV3 = Collateral  # type: ignore[attr-defined]
    mod.verify = verify  # type: ignore[attr-defined]
    mod.verify_with_root_ca = verify_with_root_ca  # type: ignore[attr-defined]
    mod.calls = calls  # type: ignore[attr-defined]
    return mod


def test_adapter_maps_report_and_passes_time(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = fake_dcap()
    monkeypatch.setitem(sys.modules, "dcap_qvl", mod)
    v = DcapVerifier("{coll}").verify(b"Q" + bytes(range(64)), NOW + 999)
    assert not v.simulated and v.status == "UpToDate"
    assert v.measurements == M and v.report_data == bytes(range(64))
    assert mod.calls == [("verify", "{coll}", NOW // 1000)]
    DcapVerifier(lambda q: "per-quote", root_ca_der=b"ca").verify(b"Q" + bytes(64), NOW)
    assert mod.calls[-1] == ("verify_with_root_ca", "per-quote", b"ca", NOW // 1000)


def test_adapter_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    q = b"Q" + bytes(64)
    monkeypatch.setitem(sys.modules, "dcap_qvl", fake_dcap("OutOfDate"))
    with pytest.raises(QuoteError, match="OutOfDate"):
        DcapVerifier("{}").verify(q, NOW)
    assert DcapVerifier("{}", accepted_statuses={"OutOfDate"}).verify(q, NOW).status == "OutOfDate"
    monkeypatch.setitem(sys.modules, "dcap_qvl", fake_dcap(fail=True))
    with pytest.raises(QuoteError, match="DCAP verification failed"):
        DcapVerifier("{}").verify(q, NOW)
    monkeypatch.setitem(sys.modules, "dcap_qvl", fake_dcap(tdx=False))
    with pytest.raises(QuoteError, match="not a TDX"):
        DcapVerifier("{}").verify(q, NOW)
    with pytest.raises(QuoteError, match="too large"):
        DcapVerifier("{}").verify(b"Q" * 70_000, NOW)


def test_hardware_ticket_through_tdx(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DCAP-verified quote committing to the extra data passes, never as simulated."""
    monkeypatch.setitem(sys.modules, "dcap_qvl", fake_dcap())

    class Source:
        def quote(self, report_data: bytes) -> bytes:
            return b"Q" + report_data

    t = TdxTicketBuilder(Source()).ticket(PEER.peer_id, NET, NOW, 5_000)
    tdx = Tdx.with_verifiers(DcapVerifier("{}")).require_mrtd(M.mrtd)
    assert tdx.validate(t.data, PEER, NOW) == Expiration.at(NOW + 5_000)
    with pytest.raises(InvalidTicketError, match="baseline"):
        tdx.require_mrtd(b"\xff" * 48).validate(t.data, PEER, NOW)


def test_real_dcap_refuses_simulated_quotes() -> None:
    pytest.importorskip("dcap_qvl")
    sim = SimulatedTdxProvider(M, SecretKey.from_id(unique_id("root")))
    t = sim.ticket(PEER.peer_id, NET, NOW, None)
    with pytest.raises(QuoteError):
        DcapVerifier("{}").verify(TdxTicket.from_bytes(t.data).quote, NOW)
    # a DCAP-only validator refuses simulated tickets even with allow_simulated
    with pytest.raises(InvalidTicketError, match="quote not verified"):
        Tdx.with_verifiers(DcapVerifier("{}")).allow_simulated().validate(t.data, PEER, NOW)


def test_signature_folds_trust_root_and_statuses() -> None:
    sigs = {
        DcapVerifier("{}").signature(),
        DcapVerifier("{}", root_ca_der=b"other-ca").signature(),
        DcapVerifier("{}", accepted_statuses={"UpToDate", "SWHardeningNeeded"}).signature(),
    }
    assert len(sigs) == 3
    assert DcapVerifier("a").signature() == DcapVerifier(lambda q: "b").signature()


SAMPLES = os.environ.get("PYMOSAIK_DCAP_SAMPLES")
#: Inside the sample collateral's validity window (TCB info/QE identity 2025-06-19..07-19).
SAMPLE_NOW_MS = 1_750_809_600_000


@pytest.fixture
def sample() -> tuple[bytes, str]:
    pytest.importorskip("dcap_qvl")
    if not SAMPLES:
        pytest.skip("PYMOSAIK_DCAP_SAMPLES not set")
    d = Path(SAMPLES)
    return (d / "tdx_quote").read_bytes(), (d / "tdx_quote_collateral.json").read_text()


def test_real_quote_verifies(sample: tuple[bytes, str]) -> None:
    quote, coll = sample
    v = DcapVerifier(coll).verify(quote, SAMPLE_NOW_MS)
    assert not v.simulated and v.status == "UpToDate"
    assert v.measurements.mrtd.hex().startswith("91eb2b44d141d4ece09f")
    assert len(v.report_data) == 64


def test_real_quote_tampered_or_stale_refused(sample: tuple[bytes, str]) -> None:
    quote, coll = sample
    bad = bytearray(quote)
    bad[200] ^= 1  # inside the TD report body
    with pytest.raises(QuoteError):
        DcapVerifier(coll).verify(bytes(bad), SAMPLE_NOW_MS)
    with pytest.raises(QuoteError):  # collateral not yet valid
        DcapVerifier(coll).verify(quote, 1_700_000_000_000)
    with pytest.raises(QuoteError):  # unknown root CA
        DcapVerifier(coll, root_ca_der=b"\x30\x00").verify(quote, SAMPLE_NOW_MS)


def test_real_quote_not_bound_to_peer_refused(sample: tuple[bytes, str]) -> None:
    """The chain verifies, but the sample's report data does not commit to our extra data."""
    quote, coll = sample
    extra = ExtraData(PEER.peer_id.bytes, NET, SAMPLE_NOW_MS, SAMPLE_NOW_MS, Expiration.never())
    data = encode(TdxTicket(quote, extra))
    with pytest.raises(InvalidTicketError, match="report data"):
        Tdx.with_verifiers(DcapVerifier(coll)).validate(data, PEER, SAMPLE_NOW_MS)
