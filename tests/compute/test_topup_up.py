"""The top-up loop over loopback, the way `coalition up` runs Compute (members under
`start_member`, a chain node in another process, the private shuffle): a `TopUpDriver` pays on
the chain, sends each sealed request through the shuffle, feeds its `TopUpAgent` the grants on
the Compute surface and opens the provider's receipts from the reply board. On short grants the
agent renews before each expiry, leaves no uncovered interval, spends exactly what it paid and
stops when its budget is gone."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from pathlib import Path

import pytest

from coalition.modules import ModuleKind
from organisms.compute.agent import ProviderAgent
from organisms.compute.items import (
    Capabilities,
    DeclaredRates,
    ProviderCard,
    SignedCard,
    request_id,
)
from organisms.compute.module import Compute
from organisms.compute.private import compute_replies
from organisms.compute.provider import LocalProvider, WorkloadStore
from organisms.compute.settlement import EvmSettlement
from organisms.compute.topup import TopUpAgent, TopUpPolicy
from organisms.compute.topup_driver import TopUpDriver
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import SecretKey
from tests.compute.test_private_compute_up import PAYEE, coalition

#: Submit → grant through the shuffle (zipnet round, t-of-n opening, the payment read, a Raft
#: commit, the next clearing) took 6–16 s on this 2-core machine shared with other test runs
#: (load 3–6), so a grant lasts 24 s and is renewed 20 s before it ends; the test therefore
#: runs 45–70 s and is marked slow.
DURATION_S = 24
RENEW_BEFORE_MS = 20_000
#: What "no uncovered interval" allows between one grant's end and the next one's start: none.
TOLERANCE_MS = 0
PRICE = 10**6  # wei a grant; the budget covers three
GRANTS = 3

pytestmark = pytest.mark.slow


async def test_an_agent_renews_short_grants_until_its_budget_is_spent(  # type: ignore[no-untyped-def]
    module_committee, node: dict[str, object], tmp_path: Path
) -> None:
    url = str(node["url"])
    cfg = coalition(url)
    nets, members = await module_committee(
        ModuleKind.COMPUTE, cfg, SecretKey.generate(), cadence_ms=300, extra=2
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
    pin = store.put(b"print('serving')\n")
    provider = LocalProvider(provider_key, card.provider_id, store, workdir=tmp_path)
    addrs = [n.addr for n in nets[:3]]
    board = compute_replies(cfg)  # the members run the module's reply board
    assert board is not None
    writer = Compute.publish(nets[3], cfg)
    serving = ProviderAgent(nets[3], cfg, provider, board=board)
    chain = EvmSettlement.json_rpc(url)
    policy = TopUpPolicy(
        b"\x03" * 32,
        pin,
        duration_sec=DURATION_S,
        cpu_millicores=1000,
        ram_mib=256,
        max_price=PRICE,
        region="eu",
        renew_before_ms=RENEW_BEFORE_MS,
    )
    agent = TopUpAgent(policy, budget=GRANTS * PRICE)
    driver = None
    try:
        # the driver connects once the module's unseal key is out (the DKG done); the agent
        # is idle until the provider is registered, then busy throughout
        busy = asyncio.Event()
        driver = await TopUpDriver.start(
            nets[4],
            cfg,
            agent,
            pay=functools.partial(chain.pay, bytes.fromhex(PAYEE)),
            load=lambda: 0.9 if busy.is_set() else 0.0,
            board=board,
            board_committee=addrs,
            raft=RaftConfig.loopback(),
            timeout_s=60,
        )
        await writer.register(SignedCard.signed(provider_key, card), timeout_s=60)
        assert not driver.submitted
        busy.set()
        async with asyncio.timeout(150):
            while not (driver.exhausted and len(driver.receipts) == GRANTS):
                await asyncio.sleep(0.1)
            mine = sorted(
                (driver.grants[rid] for rid in agent.tickets), key=lambda g: g.valid_from_ms
            )
            # past the point where the last grant would be renewed: it is not (no budget)
            renew_at = mine[-1].valid_to_ms - RENEW_BEFORE_MS
            while time.time() * 1000 < renew_at + 1_500:
                await asyncio.sleep(0.1)
            while any(g.request_id not in m.inner.logs for m in members for g in mine):  # type: ignore[attr-defined]
                await asyncio.sleep(0.1)
        # three grants, each renewal requested while the previous grant still ran
        assert len(mine) == len(driver.submitted) == GRANTS
        sent = {request_id(s.request): s.at_ms for s in driver.submitted}
        latency = [g.valid_from_ms - sent[g.request_id] for g in mine]
        for prev, nxt in itertools.pairwise(mine):
            assert sent[nxt.request_id] < prev.valid_to_ms, latency
            assert nxt.valid_from_ms - prev.valid_to_ms <= TOLERANCE_MS, latency
        # it spent exactly what it paid on the chain, and then stopped
        paid = [chain.evidence(s.request.settlement) for s in driver.submitted]
        assert all(e is not None and e.contract == bytes.fromhex(PAYEE) for e in paid)
        assert agent.spent == sum(e.amount for e in paid if e is not None) == GRANTS * PRICE
        assert agent.budget == 0 and not agent.pending
        assert len(driver.submitted) == GRANTS  # nothing more when the last grant came due
        # every grant served and logged everywhere; the agent opened each receipt
        assert {rid: r.grant_id for rid, r in driver.receipts.items()} == {
            g.request_id: g.request_id for g in mine
        }
        assert [h.reason for h in serving.handled] == ["completed"] * GRANTS
    finally:
        for h in (driver, serving, writer):
            if h is not None:
                await h.close()
