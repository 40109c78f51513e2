"""The roadmap's v0.6 acceptance test with TDX, over loopback the way `coalition up` runs it
(checklist E10): a requester pays on a chain node in another process and sends TDX requests
through Compute's private shuffle; the committee grants each to a TDX-capable provider with
``expected_mrtd`` taken from its card; the provider's `ProviderAgent` starts the workload only
in a guest whose (SIMULATED, labelled) measurement matches, and refuses with an empty-usage log
otherwise; every member holds both logs, and the requester opens its receipt and checks the
guest's quote itself — refusing it as SIMULATED unless it says ``allow_simulated``."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.reply import ReplyTicket
from coalition.modules import ModuleKind
from organisms.compute.agent import ProviderAgent
from organisms.compute.attest import MISMATCH, check_receipt_quote
from organisms.compute.items import (
    Capabilities,
    ComputeGrant,
    ComputeRequest,
    DeclaredRates,
    ProviderCard,
    SignedCard,
    UsageMetrics,
    request_id,
)
from organisms.compute.module import Compute
from organisms.compute.private import compute_replies, compute_shuffle
from organisms.compute.provider import LocalProvider, Receipt, WorkloadStore
from organisms.reply_board import ReplyBoard
from organisms.shuffle_service import Shuffle
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import SecretKey, decode, encode
from pymosaik.tee.measurements import Measurements
from pymosaik.tee.quote import QuoteError
from pymosaik.tee.simulated import SimulatedTdxProvider
from tests.compute.conftest import pay
from tests.compute.test_private_compute_up import PAYEE, coalition

GUEST = Measurements.of(*(bytes([i]) * 48 for i in range(1, 6)))
#: The image provider B's card declares; its guest boots another one (a mis-bind).
DECLARED = Measurements.of(*(bytes([i]) * 48 for i in range(6, 11)))
BOOTED = Measurements.of(*(bytes([i]) * 48 for i in range(11, 16)))


def tdx_card(key: SecretKey, region: str, mrtd: bytes) -> ProviderCard:
    caps = Capabilities((region,), True, 4_000, 8_192)
    return ProviderCard(
        key.peer_id.bytes, caps, DeclaredRates(1_000, 100), mrtd, bytes(32), int(time.time() * 1000)
    )


def tdx_request(pin: bytes, region: str, tx: bytes, reply: X25519PrivateKey) -> ComputeRequest:
    return ComputeRequest(
        b"\x01" * 32,
        pin,
        60,
        1000,
        1024,
        True,  # tdx_required
        region,
        10**9,
        tx,
        int(time.time() * 1000) + 60_000,
        reply.public_key().public_bytes_raw(),
    )


async def test_a_tdx_grant_runs_only_in_a_guest_with_the_expected_measurement(  # type: ignore[no-untyped-def]
    module_committee, node: dict[str, object], tmp_path: Path
) -> None:
    url, key, chain_id = str(node["url"]), str(node["private_key"]), int(str(node["chain_id"]))
    cfg = coalition(url)
    nets, members = await module_committee(
        ModuleKind.COMPUTE, cfg, SecretKey.generate(), cadence_ms=300, extra=3
    )
    good_key, bad_key = SecretKey.generate(), SecretKey.generate()
    good_tdx, bad_tdx = SimulatedTdxProvider(GUEST), SimulatedTdxProvider(BOOTED)
    good_card = tdx_card(good_key, "eu", GUEST.mrtd)
    bad_card = tdx_card(bad_key, "us", DECLARED.mrtd)
    store = WorkloadStore(tmp_path / "store")
    pin = store.put(b"import hashlib\nprint(hashlib.sha256(b'tdx').hexdigest())\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    good = LocalProvider(
        good_key, good_card.provider_id, store, workdir=tmp_path / "a", tdx=good_tdx
    )
    bad = LocalProvider(bad_key, bad_card.provider_id, store, workdir=tmp_path / "b", tdx=bad_tdx)
    addrs = [n.addr for n in nets[:3]]
    board = compute_replies(cfg)  # the members run the module's reply board
    assert board is not None
    writer = Compute.publish(nets[3], cfg)
    agents = [
        ProviderAgent(nets[3], cfg, good, board=board),
        ProviderAgent(nets[4], cfg, bad, board=board),
    ]
    shuffle = compute_shuffle(cfg)
    assert shuffle is not None
    requester = nets[5]
    decisions = Compute.read(requester, cfg, timeout_s=60)
    replies = ReplyBoard.read(requester, board, addrs, raft=RaftConfig.loopback())
    client = None
    try:
        async with asyncio.timeout(150):
            for k, c in ((good_key, good_card), (bad_key, bad_card)):
                await writer.register(SignedCard.signed(k, c), timeout_s=60)
            payee = bytes.fromhex(PAYEE)
            secrets = {"eu": X25519PrivateKey.generate(), "us": X25519PrivateKey.generate()}
            reqs = {}
            for region, secret in secrets.items():
                tx, status = await asyncio.to_thread(pay, url, key, chain_id, payee, 10**9)
                assert status == 1
                reqs[region] = tdx_request(pin, region, tx, secret)
            client = await Shuffle.client(requester, shuffle, timeout_s=60)
            for req in reqs.values():
                client.submit(encode(req))
            ids = {region: request_id(req) for region, req in reqs.items()}
            grants: dict[bytes, ComputeGrant] = {}
            event = await decisions.ready(drain=False)
            while True:
                assert not any(r.request_id in ids.values() for r in event.refusals), event
                grants.update((g.request_id, g) for g in event.grants)
                if all(rid in grants for rid in ids.values()):
                    break
                event = await decisions.next()
            while any(rid not in m.inner.logs for m in members for rid in ids.values()):  # type: ignore[attr-defined]
                await asyncio.sleep(0.1)
            ticket = ReplyTicket(ids["eu"], secrets["eu"])
            receipt = decode(await replies.reply(ticket, timeout_s=30), Receipt)
            with pytest.raises(TimeoutError):  # the mis-bound guest posted no receipt
                await replies.reply(ReplyTicket(ids["us"], secrets["us"]), timeout_s=2)
        # the grants bind each card's MRTD
        ok, refused = grants[ids["eu"]], grants[ids["us"]]
        assert (ok.provider, ok.expected_mrtd) == (good_card.provider_id, GUEST.mrtd)
        assert (refused.provider, refused.expected_mrtd) == (bad_card.provider_id, DECLARED.mrtd)
        # the matching guest ran the workload; the mis-bound one never started it
        (ran,) = agents[0].handled
        assert ran.reason == "completed" and ran.run is not None
        assert ran.run.output.strip().decode() == hashlib.sha256(b"tdx").hexdigest()
        (no,) = agents[1].handled
        assert no.reason == MISMATCH and no.run is None and no.receipt is None
        # both logs, provider-signed, on every member: one used the machine, one is empty
        for m in members:
            logs = m.inner.logs  # type: ignore[attr-defined]
            assert logs[ids["eu"]].body.completed and logs[ids["eu"]].verify(good_card.signer)
            assert logs[ids["eu"]].body.window_from_ms >= ok.valid_from_ms
            empty = logs[ids["us"]]
            assert not empty.body.completed and empty.body.usage == UsageMetrics(0, 0, 0)
            assert empty.verify(bad_card.signer)
        # the requester checks the quote against its grant: SIMULATED is refused by default
        assert receipt.grant_id == ids["eu"] and receipt.quote
        with pytest.raises(QuoteError, match="SIMULATED TDX quote refused"):
            check_receipt_quote(receipt.quote, ok, [good_tdx.verifier()], now_ms=0)
        verified = check_receipt_quote(
            receipt.quote, ok, [good_tdx.verifier()], now_ms=0, allow_simulated=True
        )
        assert verified.simulated and verified.status == "SIMULATED"
        assert verified.measurements.mrtd == good_card.tdx_mrtd == ok.expected_mrtd
    finally:
        for h in (decisions, writer, client, *agents, replies):
            if h is not None:
                await h.close()
