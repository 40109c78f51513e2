"""The private Compute path end to end in process: a requester pays on an EVM, seals its
request to the module's unseal committee and sends it through zipnet; the Compute committee
relays what unseal opens (reading the payment on the chain), clears it to a provider, the
provider runs the workload and logs, and only the requester opens the receipt. No public
record and no log line carries anything that names the requester."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.reply import ReplyTicket, open_reply
from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import ThresholdElGamal
from organisms.compute.items import (
    Capabilities,
    ComputeRequest,
    DeclaredRates,
    ProviderCard,
    SignedCard,
    request_id,
)
from organisms.compute.machine import AppendLog, ComputeConfig, ComputeMachine, Register, Signed
from organisms.compute.member import ComputeMemberCore, settle_now
from organisms.compute.provider import LocalProvider, Receipt, WorkloadStore
from organisms.compute.settlement import EvmSettlement
from organisms.local import LocalRunner
from organisms.shuffle import boxes_from_broadcast
from organisms.unseal.local import LocalCommittee
from organisms.unseal.machine import seal_context
from organisms.zipnet.local import LocalDeployment
from organisms.zipnet.params import RoundParams
from pymosaik.primitives import SecretKey, decode, encode

PARAMS = RoundParams(num_slots=16, slot_bytes=512, tag_len=16, sched_slots=64)
CONTRACT = b"\x7e" * 20


def test_private_request_is_granted_run_logged_and_answered_only_to_its_sender(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rng = random.Random(9)
    chain = EvmSettlement.in_process()
    members = [SecretKey(rng.randbytes(32)) for _ in range(3)]
    cfg = ComputeConfig("private.compute", CONTRACT, max_card_age_ms=10**9)
    replicas = [ComputeMachine(cfg, [k.peer_id for k in members]) for _ in members]
    cores = [
        ComputeMemberCore(i + 1, k, tag_key=bytes(32), cadence_ms=2_000)
        for i, k in enumerate(members)
    ]
    compute = LocalRunner(replicas, cores)

    pkey = SecretKey(rng.randbytes(32))
    card = ProviderCard(
        pkey.peer_id.bytes,
        Capabilities(("eu",), False, 2000, 4096),
        DeclaredRates(1_000, 100),
        b"",
        rng.randbytes(32),
        0,
    )
    reg = Signed.by(members[0], 1, Register(SignedCard.signed(pkey, card)))
    for r in replicas:
        assert r.step(reg).ok
    store = WorkloadStore(tmp_path / "store")
    pin = store.put(b"print(sum(range(1000)))\n")
    provider = LocalProvider(pkey, card.provider_id, store, workdir=tmp_path)

    unseal = LocalCommittee.create(3, 2, seed=4)
    unseal.pump(100)
    key = unseal.replicas[0].key
    assert key is not None
    zipnet = LocalDeployment.create(6, 2, seed=5, params=PARAMS)
    requester = zipnet.clients[0]
    payer = chain.w3.eth.accounts[1]

    secret = X25519PrivateKey.from_private_bytes(rng.randbytes(32))
    tx = chain.pay(CONTRACT, 10**9, sender=1)
    req = ComputeRequest(
        rng.randbytes(32),
        pin,
        10,
        500,
        256,
        False,
        "eu",
        10**9,
        tx,
        10**12,
        secret.public_key().public_bytes_raw(),
    )
    box = ThresholdElGamal(RISTRETTO255).seal(
        key.group_key, encode(req), context=seal_context(unseal.cfg)
    )
    requester.send(encode(box))
    for _ in range(6):
        record = zipnet.run_round()
        boxes = boxes_from_broadcast(zipnet.cfg, record)
        for core in unseal.cores:
            core.observe(record.round, boxes)
        unseal.pump(6)
    opened = [c.payload for e in unseal.replicas[0].pool for c in e.cleartext]
    assert opened == [encode(req)]
    for core in cores:
        core.observe(opened)
        assert settle_now(core, chain, compute.now_ms) == 1  # the payment, read on the chain
    compute.pump(3, step_ms=1_000)
    rid = request_id(req)
    assert all(rid in r.grants for r in replicas)
    grant = replicas[0].grants[rid]

    out = provider.handle(grant, now_ms=grant.valid_from_ms)
    assert out.reason == "completed" and out.run is not None and b"499500" in out.run.output
    assert out.log is not None and out.receipt is not None
    log_cmd = Signed.by(members[1], 2, AppendLog(out.log))
    for r in replicas:
        assert r.step(log_cmd).ok
    receipt = decode(open_reply(ReplyTicket(rid, secret), out.receipt), Receipt)
    assert receipt.grant_id == rid

    # Nothing public names the requester: not its zipnet identity, not its keys, not its payer.
    surfaces = [
        encode((tuple(r.grants.values()), tuple(r.records), tuple(r.refusals)))
        + encode((tuple(r.logs.values()), tuple(r.cards.values())))
        for r in replicas
    ]
    public = b"".join(surfaces)
    public += encode(tuple(unseal.replicas[0].pool))
    logs = "\n".join(rec.getMessage() for rec in caplog.records)
    for mark in (requester.id, requester.public, bytes.fromhex(payer[2:])):
        assert mark not in public
        assert mark.hex() not in logs and mark.hex() not in public.hex()
