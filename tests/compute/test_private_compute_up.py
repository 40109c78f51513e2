"""Private Compute the way `coalition up` runs it (``shuffle = true``): the three Compute
members also run the module's shuffle and member 1 its aggregator; a requester pays on a chain
node in another process, seals its request to the unseal key and sends it through zipnet
(`Shuffle.client`); every member's unseal replica opens it and hands it to its Compute core,
which reads the payment over JSON-RPC and clears it to the registered provider. Nothing on
the Compute surface names the requester's network, zipnet client or key."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account

from coalition import CoalitionConfig
from coalition.content import ContentParams
from coalition.crypto.reply import ReplyTicket
from coalition.framework.keyed_read import ReadRefused
from coalition.modules import ComputeConfig, ModuleConfig, ModuleKind
from coalition.services.committee_access import (
    CommitteeRole,
    committee_members,
    issue_committee_ticket,
)
from organisms.compute.agent import ProviderAgent
from organisms.compute.items import (
    Capabilities,
    ComputeRequest,
    DeclaredRates,
    ProviderCard,
    SignedCard,
    request_id,
)
from organisms.compute.module import Compute, ComputeEvent
from organisms.compute.private import compute_replies, compute_shuffle
from organisms.compute.provider import LocalProvider, Receipt, WorkloadStore
from organisms.reply_board import ReplyBoard
from organisms.shuffle_service import Shuffle
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey, decode, encode
from pymosaik.transport import EndpointAddr
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


async def _the_keyed_replica_shows_the_outcome_and_no_payment(
    nets: list[Network],
    cfg: CoalitionConfig,
    operator: SecretKey,
    addrs: list[EndpointAddr],
    outcome: tuple[ProviderCard, bytes],
    secrets: tuple[bytes, ...],
) -> None:
    """A reader-ticketed replica of the Compute log: the card by ProviderId, the decision by
    request id (grant, then its usage log), the log stream; and nothing in the replicated log
    or snapshot names the payment's transaction, the payer or the workload. A reader without a
    ticket is refused at the bond."""
    card, rid = outcome
    net = nets[3]
    ticket = issue_committee_ticket(
        cfg,
        ModuleKind.COMPUTE,
        CommitteeRole.READER,
        operator_key=operator,
        holder=net.endpoint.secret_key.peer_id,
        network=net.network_id,
    )
    loopback = RaftConfig.loopback()
    replica = Compute.replica(
        net, cfg, addrs, operator=operator.peer_id, tickets=[ticket], raft=loopback
    )
    stranger = Compute.replica(nets[4], cfg, addrs, operator=operator.peer_id, raft=loopback)
    try:
        await replica.ready(20)
        first = await replica.decision(rid)
        assert first.grant is not None and first.grant.provider == card.provider_id
        when = replica.grants.watch()
        while (latest := replica.grants.get(rid)) is None or latest.log is None:
            await when.updated(rid)
        assert latest.log.body.grant_id == rid and latest.log.body.completed
        assert [entry.body.grant_id for entry in replica.logs.items()] == [rid]
        registered = replica.providers.get(card.provider_id)
        assert registered is not None and registered.card == card and registered.verify()
        storage = replica.reader.group.node.storage
        raw = b"".join(e.data for e in storage.entries(storage.first_index(), storage.last_index()))
        snap = storage.snapshot()
        raw += snap.data if snap is not None else b""
        assert rid in raw  # the scan sees the log: the request is there by its id
        for mark in secrets:
            assert mark not in raw
        with pytest.raises(ReadRefused):
            await stranger.ready(10)
    finally:
        await replica.close()
        await stranger.close()


def test_the_shuffle_parameters_are_checked() -> None:
    plain = ModuleConfig("c", ContentParams.from_params({}))
    assert compute_shuffle(CoalitionConfig(instance_name="x", compute=ComputeConfig(plain))) is None
    cfg = compute_shuffle(coalition("http://127.0.0.1:9"))
    assert cfg is not None and (cfg.unseal.t, cfg.unseal.n) == (2, 3)
    assert cfg.zipnet.params.slot_bytes == 512
    bad = ModuleConfig("c", ContentParams.from_params({"shuffle": "yes"}))
    with pytest.raises(ValueError, match="shuffle must be true or false"):
        compute_shuffle(CoalitionConfig(instance_name="x", compute=ComputeConfig(bad)))


async def test_a_private_request_is_cleared_run_and_answered_without_naming_its_sender(  # type: ignore[no-untyped-def]
    module_committee, node: dict[str, object], tmp_path: Path
) -> None:
    url, key, chain_id = str(node["url"]), str(node["private_key"]), int(str(node["chain_id"]))
    cfg = coalition(url)
    operator = SecretKey.generate()
    nets, members = await module_committee(
        ModuleKind.COMPUTE, cfg, operator, cadence_ms=300, extra=2
    )
    provider_key = SecretKey.generate()
    card = ProviderCard(
        provider_key.peer_id.bytes,
        Capabilities(("eu",), False, 4_000, 8_192),
        DeclaredRates(1_000, 100),
        b"",
        bytes(32),
        int(time.time() * 1000),
    )
    store = WorkloadStore(tmp_path / "store")
    pin = store.put(b"print(sum(range(1000)))\n")
    provider = LocalProvider(provider_key, card.provider_id, store, workdir=tmp_path)
    addrs = [n.addr for n in nets[:3]]
    writer = Compute.publish(nets[3], cfg)
    # only the committee's members are believed: their discovery entries carry seat tickets
    members_only = committee_members(cfg, ModuleKind.COMPUTE, operator.peer_id)
    agent = ProviderAgent(nets[3], cfg, provider, producers=members_only)  # receipts: the board
    shuffle = compute_shuffle(cfg)
    assert shuffle is not None
    requester = nets[4]
    decisions = Compute.read(nets[3], cfg, timeout_s=30, producers=members_only)
    board = compute_replies(cfg)
    assert board is not None
    replies = ReplyBoard.read(requester, board, addrs, raft=RaftConfig.loopback())
    client = None
    try:
        async with asyncio.timeout(150):
            await writer.register(SignedCard.signed(provider_key, card), timeout_s=60)
            payee = bytes.fromhex(PAYEE)
            tx, status = await asyncio.to_thread(pay, url, key, chain_id, payee, 10**9)
            assert status == 1
            secret = X25519PrivateKey.generate()
            req = ComputeRequest(
                b"\x01" * 32,
                pin,
                60,
                1000,
                1024,
                False,
                "eu",
                10**9,
                tx,
                int(time.time() * 1000) + 60_000,
                secret.public_key().public_bytes_raw(),
            )
            client = await Shuffle.client(requester, shuffle, timeout_s=30, producers=members_only)
            client.submit(encode(req))
            rid = request_id(req)
            event: ComputeEvent = await decisions.ready(drain=False)
            while not any(g.request_id == rid for g in event.grants):
                assert not any(r.request_id == rid for r in event.refusals), event.refusals
                event = await decisions.next()
            # the provider's agent ran the workload; only the requester opens the receipt
            opened = await replies.reply(ReplyTicket(rid, secret), timeout_s=60)
            assert decode(opened, Receipt).grant_id == rid
            while any(rid not in m.inner.logs for m in members):  # type: ignore[attr-defined]
                await asyncio.sleep(0.1)
        ran = agent.handled[0]
        assert ran.reason == "completed" and ran.run is not None and b"499500" in ran.run.output
        status_row = members[0].status()  # type: ignore[attr-defined]
        assert status_row["unseal_key"] == "ready" and status_row["shuffle_finalized"] > 0
        public = encode(event)
        for mark in (
            requester.endpoint.secret_key.peer_id.bytes,
            client.submitter.id,
            client.submitter.client.public,
        ):
            assert mark not in public
        # the request's cleartext never reaches a public surface: the module's unseal publishes
        # its key and nothing else, and its log admits no replica outside the committee
        seen = Shuffle.read(nets[3], shuffle, timeout_s=5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(seen.next(), 3)  # the key is there; no pool entry is
        await seen.close()
        assert all(m.private.shuffle.unseal.machine.next_slot >= 1 for m in members)  # type: ignore[attr-defined]
        payer = Account.from_key(bytes.fromhex(key.removeprefix("0x"))).address
        await _the_keyed_replica_shows_the_outcome_and_no_payment(
            nets, cfg, operator, addrs, (card, rid), (tx, bytes.fromhex(payer[2:]), req.workload)
        )
    finally:
        for h in (decisions, writer, client, agent, replies):
            if h is not None:
                await h.close()
