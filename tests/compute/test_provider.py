"""The roadmap's v0.6 test and the provider's guards: a granted image runs as a real process
under its limits, the measurement is checked, the requester opens its sealed receipt, and the
provider's signed log lands in the machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from msgspec.structs import replace

from coalition.crypto.reply import ReplyTicket, open_reply
from organisms.compute.attest import NO_GUEST, check_receipt_quote
from organisms.compute.items import (
    Capabilities,
    ComputeRequest,
    DeclaredRates,
    ProviderCard,
    SettlementEvidence,
    SignedCard,
    UsageMetrics,
    request_id,
)
from organisms.compute.machine import (
    AppendLog,
    Clear,
    ComputeConfig,
    ComputeMachine,
    Register,
    Signed,
    Submit,
)
from organisms.compute.provider import LocalProvider, Receipt, WorkloadStore
from pymosaik.primitives import SecretKey, decode
from pymosaik.tee.measurements import Measurements
from pymosaik.tee.quote import QuoteError
from pymosaik.tee.simulated import SimulatedTdxProvider

CONTRACT = b"\xc0" * 20
MEMBER = SecretKey(b"\x01" * 32)
TAG = bytes(32)  # the members' payment-tag key
GUEST = Measurements.of(*(bytes([i]) * 48 for i in range(1, 6)))


def _setup(tmp: Path, program: str, *, cpu: int = 1000, duration: int = 5):
    m = ComputeMachine(ComputeConfig("t", CONTRACT), [MEMBER.peer_id])
    pkey = SecretKey(b"\x07" * 32)
    tdx = SimulatedTdxProvider(GUEST)
    card = ProviderCard(
        pkey.peer_id.bytes,
        Capabilities(("eu",), True, 2000, 4096),
        DeclaredRates(1000, 100),
        GUEST.mrtd,
        b"\x05" * 32,
        0,
    )
    assert m.step(Signed.by(MEMBER, 1, Register(SignedCard.signed(pkey, card)))).ok
    store = WorkloadStore(tmp / "store")
    pin = store.put(program.encode())
    secret = X25519PrivateKey.generate()
    req = ComputeRequest(
        b"\x09" * 32,
        pin,
        duration,
        cpu,
        256,
        True,
        "eu",
        10**9,
        b"\x0a" * 32,
        10**9,
        secret.public_key().public_bytes_raw(),
    )
    ev = SettlementEvidence(req.settlement, CONTRACT, 10**9, 1)
    assert m.step(Signed.by(MEMBER, 1, Submit.relay(req, ev, tag_key=TAG, at_ms=1))).ok
    (grant,) = m.step(Signed.by(MEMBER, 1, Clear(at_ms=2))).grants
    provider = LocalProvider(pkey, card.provider_id, store, workdir=tmp, tdx=tdx)
    ticket = ReplyTicket(request_id(req), secret)
    return m, grant, provider, ticket, store, tdx


def test_v06_grant_runs_with_matching_measurement_and_logs_on_completion(tmp_path: Path) -> None:
    program = (
        "import hashlib\nx = b'a'\n"
        "for _ in range(20000):\n    x = hashlib.sha256(x).digest()\nprint(x.hex())\n"
    )
    m, grant, provider, ticket, _, tdx = _setup(tmp_path, program)
    assert grant.expected_mrtd == GUEST.mrtd
    out = provider.handle(grant, now_ms=2)
    assert out.reason == "completed" and out.run is not None and out.run.exit_code == 0
    assert len(out.run.output.strip()) == 64
    assert out.log is not None and out.log.body.completed
    assert m.step(Signed.by(MEMBER, 1, AppendLog(out.log))).ok
    assert grant.request_id in m.logs
    # the requester opens the receipt and checks the guest's quote itself
    assert out.receipt is not None
    receipt = decode(open_reply(ticket, out.receipt), Receipt)
    with pytest.raises(QuoteError, match="SIMULATED TDX quote refused"):
        check_receipt_quote(receipt.quote, grant, [tdx.verifier()], now_ms=0)
    verified = check_receipt_quote(
        receipt.quote, grant, [tdx.verifier()], now_ms=0, allow_simulated=True
    )
    assert verified.simulated and verified.measurements.mrtd == grant.expected_mrtd
    # a quote for another grant, or from a root the requester does not trust, is refused
    other = replace(grant, request_id=bytes(32))
    with pytest.raises(QuoteError, match="does not commit to this grant"):
        check_receipt_quote(receipt.quote, other, [tdx.verifier()], now_ms=0, allow_simulated=True)
    stranger = SimulatedTdxProvider(GUEST).verifier()
    with pytest.raises(QuoteError, match="untrusted root"):
        check_receipt_quote(receipt.quote, grant, [stranger], now_ms=0, allow_simulated=True)


def test_image_whose_bytes_changed_is_not_started_and_not_logged(tmp_path: Path) -> None:
    _, grant, provider, _, store, _ = _setup(tmp_path, "print('hi')\n")
    (store.root / grant.content_hash.hex()).write_text("print('tampered')\n")
    out = provider.handle(grant, now_ms=2)
    assert out.log is None and out.run is None
    assert "hash" in out.reason


def test_measurement_mismatch_never_starts_and_logs_empty_usage(tmp_path: Path) -> None:
    m, grant, provider, _, _, _ = _setup(tmp_path, "open('ran', 'w').write('x')\n")
    provider.tdx = SimulatedTdxProvider(Measurements.of(*(bytes([9]) * 48 for _ in range(5))))
    out = provider.handle(grant, now_ms=2)
    assert out.reason == "guest measurement does not match expected_mrtd"
    assert out.run is None and out.receipt is None and not (tmp_path / "ran").exists()
    assert out.log is not None and not out.log.body.completed
    assert out.log.body.usage == UsageMetrics(0, 0, 0)
    assert m.step(Signed.by(MEMBER, 1, AppendLog(out.log))).ok  # the refusal is on the record
    provider.tdx = None  # a TDX grant to a provider with no guest at all
    assert provider.handle(grant, now_ms=2).reason == NO_GUEST


def test_duration_and_memory_limits_are_enforced(tmp_path: Path) -> None:
    m, grant, provider, _, _, _ = _setup(tmp_path, "while True:\n    pass\n", duration=1)
    out = provider.handle(grant, now_ms=grant.valid_from_ms)
    assert out.run is not None and out.run.expired and out.run.wall_seconds < 5
    assert out.log is not None and not out.log.body.completed  # tried, did not complete
    assert m.step(Signed.by(MEMBER, 1, AppendLog(out.log))).ok
    _, grant2, provider2, _, _, _ = _setup(tmp_path / "b", "x = bytearray(1024 * 1024 * 1024)\n")
    out2 = provider2.handle(grant2, now_ms=2)
    assert out2.run is not None and out2.run.exit_code != 0 and not out2.run.expired
    assert out2.log is not None and not out2.log.body.completed
