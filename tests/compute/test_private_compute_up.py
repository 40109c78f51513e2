"""Private Compute the way `coalition up` runs it (``shuffle = true``): the three Compute
members also run the module's shuffle and member 1 its aggregator; a requester pays on a chain
node in another process, seals its request to the unseal key and sends it through zipnet
(`Shuffle.client`); every member's unseal replica opens it and hands it to its Compute core,
which reads the payment over JSON-RPC and clears it to the registered provider. Nothing on
the Compute surface names the requester's network, zipnet client or key."""

from __future__ import annotations

import asyncio
import time

import pytest

from coalition import CoalitionConfig
from coalition.content import ContentParams
from coalition.modules import ComputeConfig, ModuleConfig, ModuleKind
from organisms.compute.items import (
    Capabilities,
    ComputeRequest,
    DeclaredRates,
    ProviderCard,
    SignedCard,
    request_id,
)
from organisms.compute.module import Compute, ComputeEvent
from organisms.compute.private import compute_shuffle
from organisms.shuffle_service import Shuffle
from pymosaik.primitives import SecretKey, encode
from tests.compute.conftest import pay

PAYEE = "7e" * 20


def coalition(url: str) -> CoalitionConfig:
    params = {
        "settlement_contract": "0x" + PAYEE,
        "settlement_rpc": url,
        "shuffle": True,
        "shuffle_period_ms": 300,
    }
    body = ModuleConfig("private-compute", ContentParams.from_params(params))  # type: ignore[arg-type]
    return CoalitionConfig(instance_name="private-compute", compute=ComputeConfig(body))


def test_the_shuffle_parameters_are_checked() -> None:
    plain = ModuleConfig("c", ContentParams.from_params({}))
    assert compute_shuffle(CoalitionConfig(instance_name="x", compute=ComputeConfig(plain))) is None
    cfg = compute_shuffle(coalition("http://127.0.0.1:9"))
    assert cfg is not None and (cfg.unseal.t, cfg.unseal.n) == (2, 3)
    assert cfg.zipnet.params.slot_bytes == 512
    bad = ModuleConfig("c", ContentParams.from_params({"shuffle": "yes"}))
    with pytest.raises(ValueError, match="shuffle must be true or false"):
        compute_shuffle(CoalitionConfig(instance_name="x", compute=ComputeConfig(bad)))


async def test_a_private_request_is_cleared_without_naming_its_sender(  # type: ignore[no-untyped-def]
    module_committee, node: dict[str, object]
) -> None:
    url, key, chain_id = str(node["url"]), str(node["private_key"]), int(str(node["chain_id"]))
    cfg = coalition(url)
    nets, members = await module_committee(
        ModuleKind.COMPUTE, cfg, SecretKey.generate(), cadence_ms=300, extra=2
    )
    provider = SecretKey.generate()
    card = ProviderCard(
        provider.peer_id.bytes,
        Capabilities(("eu",), False, 4_000, 8_192),
        DeclaredRates(1_000, 100),
        b"",
        bytes(32),
        int(time.time() * 1000),
    )
    writer = Compute.publish(nets[3], cfg)
    shuffle = compute_shuffle(cfg)
    assert shuffle is not None
    requester = nets[4]
    decisions = Compute.read(nets[3], cfg, timeout_s=30)
    client = None
    try:
        async with asyncio.timeout(60):
            await writer.register(SignedCard.signed(provider, card), timeout_s=20)
            tx, status = await asyncio.to_thread(
                pay, url, key, chain_id, bytes.fromhex(PAYEE), 10**9
            )
            assert status == 1
            req = ComputeRequest(
                b"\x01" * 32,
                b"\x02" * 32,
                60,
                1000,
                1024,
                False,
                "eu",
                10**9,
                tx,
                int(time.time() * 1000) + 60_000,
                b"\x03" * 32,
            )
            client = await Shuffle.client(requester, shuffle, timeout_s=30)
            client.submit(encode(req))
            rid = request_id(req)
            event: ComputeEvent = await decisions.ready(drain=False)
            while not any(g.request_id == rid for g in event.grants):
                assert not any(r.request_id == rid for r in event.refusals), event.refusals
                event = await decisions.next()
        status_row = members[0].status()  # type: ignore[attr-defined]
        assert status_row["unseal_key"] == "ready" and status_row["shuffle_finalized"] > 0
        public = encode(event)
        for secret in (
            requester.endpoint.secret_key.peer_id.bytes,
            client.submitter.id,
            client.submitter.client.public,
        ):
            assert secret not in public
    finally:
        for h in (decisions, writer, client):
            if h is not None:
                await h.close()
