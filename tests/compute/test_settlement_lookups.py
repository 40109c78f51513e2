"""Reading payments: over JSON-RPC from a chain node in another process, and the member core's
lookups (asked by the core, answered by its host; a payment not there yet or a node that cannot
be asked is retried with backoff, and only a window's end drops the request)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from organisms.compute.items import Ask, ComputeRequest, SettlementEvidence
from organisms.compute.machine import Submit
from organisms.compute.member import ComputeMemberCore, settle_due
from organisms.compute.settlement import (
    EvmSettlement,
    Missing,
    SettlementUnavailableError,
    lookup,
)
from pymosaik.primitives import SecretKey, encode
from tests.compute.conftest import pay

PAYEE = b"\x7e" * 20


def make_request(*, settlement: bytes) -> ComputeRequest:
    return ComputeRequest(
        b"\x01" * 32,
        b"\x02" * 32,
        60,
        1000,
        1024,
        False,
        "",
        10**9,
        settlement,
        10**9,
        b"\x03" * 32,
    )


def test_payments_are_read_over_json_rpc_from_another_process(node: dict[str, object]) -> None:
    url, key, chain_id = str(node["url"]), str(node["private_key"]), int(str(node["chain_id"]))
    reader = EvmSettlement.json_rpc(url)
    tx, status = pay(url, key, chain_id, PAYEE, 12_345)
    assert status == 1
    ev = lookup(reader, tx)
    assert isinstance(ev, SettlementEvidence)
    assert (ev.tx_hash, ev.contract, ev.amount) == (tx, PAYEE, 12_345)
    assert ev.block > 0
    assert lookup(reader, b"\x01" * 32) is Missing.NOT_FOUND
    assert lookup(reader, b"short") is Missing.NOT_FOUND

    # a transaction that reverted paid nothing: sending value to the anchor contract, which
    # takes none, is mined with status 0
    contract = bytes.fromhex(str(node["contract"]).removeprefix("0x"))
    reverted, status = pay(url, key, chain_id, contract, 5, gas=100_000)
    assert status == 0
    assert lookup(reader, reverted) is Missing.NOT_FOUND


def test_a_node_that_cannot_be_asked_is_not_a_missing_payment() -> None:
    reader = EvmSettlement.json_rpc("http://127.0.0.1:9")  # nothing listens on discard
    assert lookup(reader, b"\x02" * 32) is Missing.UNREACHABLE


class Chain:
    """A settlement reader whose answers the test scripts."""

    def __init__(self) -> None:
        self.paid: dict[bytes, SettlementEvidence] = {}
        self.down = False
        self.asked: list[bytes] = []

    def evidence(self, tx_hash: bytes) -> SettlementEvidence | None:
        self.asked.append(tx_hash)
        if self.down:
            raise SettlementUnavailableError("node down")
        return self.paid.get(tx_hash)


IDLE = SimpleNamespace(pending=0)  # a replica with nothing waiting to clear


def submits(core: ComputeMemberCore, now_ms: int) -> list[Submit]:
    return [s.body for s in core.step(IDLE, now_ms) if isinstance(s.body, Submit)]  # type: ignore[arg-type]


async def test_a_payment_that_shows_up_late_is_retried_with_backoff_then_relayed() -> None:
    req = make_request(settlement=b"\x33" * 32)
    chain = Chain()
    core = ComputeMemberCore(1, SecretKey.generate(), tag_key=bytes(32), settle_window_ms=60_000)
    core.observe([encode(req)])
    asked_at = []
    for now in range(0, 10_001, 100):
        if await settle_due(core, chain, now):
            asked_at.append(now)
        if now == 3_000:
            chain.paid[req.settlement] = SettlementEvidence(req.settlement, PAYEE, 10**9, 7)
        got = submits(core, now)
        if got:
            assert got[0].ask == Ask.of(req, chain.paid[req.settlement], bytes(32))
            break
    else:
        pytest.fail("the request was never relayed")
    # asked at once, then after 0.5, 1, 2, 4 s ...; never twice while an answer was pending
    assert asked_at[:4] == [0, 500, 1_500, 3_500]
    assert core.dropped == 0
    assert submits(core, now + 100) == []  # relayed once


async def test_a_chain_down_for_the_whole_window_drops_the_request_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "organisms.compute.member")
    req = make_request(settlement=b"\x44" * 32)
    chain = Chain()
    chain.down = True
    core = ComputeMemberCore(1, SecretKey.generate(), tag_key=bytes(32), settle_window_ms=20_000)
    core.observe([encode(req), b"\xff not a request"])
    for now in range(0, 30_001, 250):
        await settle_due(core, chain, now)
        assert submits(core, now) == []
    assert core.dropped == 2
    assert "the chain could not be asked" in caplog.text
    assert len(chain.asked) < 12  # backoff, not a busy loop
    assert core.lookups(40_000) == []  # forgotten


def test_answers_nobody_asked_for_are_ignored() -> None:
    req = make_request(settlement=b"\x55" * 32)
    core = ComputeMemberCore(1, SecretKey.generate(), tag_key=bytes(32))
    ev = SettlementEvidence(req.settlement, PAYEE, 10**9, 1)
    core.settle(req.settlement, ev, 0)  # not observed yet
    core.observe([encode(req), encode(req)])
    assert core.lookups(0) == [req.settlement]  # one lookup for a payment named twice
    assert core.lookups(0) == []  # asked, not answered: not asked again
    core.settle(b"\x66" * 32, ev, 0)
    core.settle(req.settlement, ev, 0)
    core.settle(req.settlement, ev, 0)  # a duplicate answer
    assert len(submits(core, 0)) == 1
