"""Compute's clearing: requests cleared per second and submit → grant latency.

In one process: ``providers`` cards and a stream of requests, each submitted with settlement
evidence and cleared at the next ``Clear`` (every ``cadence_ms`` of simulated time). Clearing
throughput is the wall time of the machine's work per request (submit + its share of a clear);
latency is simulated submit → grant time, which the cadence dominates, plus the measured
compute of the clear that granted it. A deployment adds one Raft commit per command.
"""

from __future__ import annotations

import random
import time
from typing import Any

from organisms.compute.items import (
    Capabilities,
    ComputeRequest,
    DeclaredRates,
    ProviderCard,
    SettlementEvidence,
    SignedCard,
)
from organisms.compute.machine import Clear, ComputeConfig, ComputeMachine, Register, Signed, Submit
from pymosaik.primitives import SecretKey

from .common import percentile

CONTRACT = b"\xc0" * 20
MEMBER = SecretKey(b"\x01" * 32)


def run(providers: int, requests: int, *, cadence_ms: int = 500, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 - workload shape, not keys
    m = ComputeMachine(ComputeConfig("bench", CONTRACT, max_card_age_ms=10**12), [MEMBER.peer_id])
    for i in range(providers):
        key = SecretKey(rng.randbytes(32))
        card = ProviderCard(
            key.peer_id.bytes,
            Capabilities((rng.choice(["eu", "us"]),), rng.random() < 0.3, 64_000, 256_000),
            DeclaredRates(rng.randint(100, 5_000), rng.randint(10, 500)),
            bytes([i % 256]) * 48,
            rng.randbytes(32),
            0,
        )
        m.step(Signed.by(MEMBER, 1, Register(SignedCard.signed(key, card))))
    commands = []
    now = 0
    submitted: dict[bytes, int] = {}
    for _ in range(requests):
        now += rng.randint(1, 20)
        req = ComputeRequest(
            rng.randbytes(32),
            rng.randbytes(32),
            60,
            rng.choice([250, 500]),
            256,
            rng.random() < 0.1,
            rng.choice(["", "eu", "us"]),
            10**9,
            rng.randbytes(32),
            now + 60_000,
            rng.randbytes(32),
        )
        ev = SettlementEvidence(req.settlement, CONTRACT, 10**9, 1)
        body = Submit.relay(req, ev, at_ms=now, tag_key=bytes(32))
        commands.append((now, Signed.by(MEMBER, 1, body)))
    latencies: list[float] = []
    granted = 0
    clear_cost: list[float] = []
    next_clear = cadence_ms
    started = time.perf_counter()
    for at, cmd in commands:
        while at >= next_clear:
            t = time.perf_counter()
            out = m.step(Signed.by(MEMBER, 1, Clear(at_ms=next_clear)))
            cost = time.perf_counter() - t
            clear_cost.append(cost)
            for g in out.grants:
                latencies.append(next_clear - submitted.pop(g.request_id) + cost * 1e3)
            granted += len(out.grants)
            next_clear += cadence_ms
        res = m.step(cmd)
        body = cmd.body
        if res.ok and isinstance(body, Submit):
            submitted[body.ask.request_id] = at
    t = time.perf_counter()
    out = m.step(Signed.by(MEMBER, 1, Clear(at_ms=next_clear)))
    clear_cost.append(time.perf_counter() - t)
    for g in out.grants:
        latencies.append(next_clear - submitted.pop(g.request_id) + clear_cost[-1] * 1e3)
    granted += len(out.grants)
    elapsed = time.perf_counter() - started
    return {
        "providers": providers,
        "requests": requests,
        "granted": granted,
        "cleared_per_s": round(requests / elapsed),
        "clear_ms_p50": round(percentile([c * 1e3 for c in clear_cost], 50), 2),
        "submit_to_grant_ms_p50": round(percentile(latencies, 50), 1),
        "submit_to_grant_ms_p99": round(percentile(latencies, 99), 1),
        "cadence_ms": cadence_ms,
    }


def main() -> dict[str, Any]:
    return {"levels": [run(p, 5_000) for p in (5, 50, 200)]}
