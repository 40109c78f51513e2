"""zipnet + unseal: server cost against raw AES-CTR, unseal against raw libsodium, and the
submit → UnsealedPool path with a 3-of-5 committee at 10, 100 and 1,000 clients.

Everything runs in one process on one core (``organisms.zipnet.local`` and
``organisms.unseal.local``), so the latency figures are compute per round with rounds run back
to back: a deployment adds its ROUND_PERIOD per round and the network hops, and spreads the
roles over machines. Each figure is compared with its physical floor measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pysodium  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from coalition.crypto.reply import parse_request
from coalition.crypto.ristretto import RISTRETTO255 as G
from coalition.crypto.threshold import ThresholdElGamal
from organisms.shuffle import SealClient, ShuffleConfig, boxes_from_broadcast
from organisms.unseal.local import LocalCommittee
from organisms.zipnet import native
from organisms.zipnet.dcnet import apply_pads_python, partial_unblind
from organisms.zipnet.local import LocalDeployment
from organisms.zipnet.params import AggregateEnvelope, RoundParams
from pymosaik.primitives import encode

from .common import percentile

TE = ThresholdElGamal(G)


def _best(fn: Any, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def server_cost(n_clients: int, params: RoundParams) -> dict[str, Any]:
    """One server's partial for ``n_clients`` participants vs the bare keystream bytes."""
    dep = LocalDeployment.create(n_clients, 3, seed=1, params=params)
    dep.run_round()
    reg = dep.registry()
    pubs = [reg[c] for c in sorted(reg)]
    server = dep.servers[0]
    reps = 5 if n_clients >= 1000 else 20
    ours = _best(lambda: partial_unblind(server.shared, pubs, params, 7, bytes(32)), reps)
    zeros = bytes(params.envelope_bytes)
    python = _best(
        lambda: apply_pads_python(zeros, map(server.shared, pubs), params, 7, bytes(32)), reps
    )
    chunk = bytes(params.envelope_bytes)
    out = bytearray(params.envelope_bytes + 16)

    def raw() -> None:
        enc = Cipher(algorithms.AES(bytes(16)), modes.CTR(bytes(16))).encryptor()
        for _ in range(n_clients):
            enc.update_into(chunk, out)

    floor = _best(raw, reps)
    return {
        "clients": n_clients,
        "pad_bytes": n_clients * params.envelope_bytes,
        "ours_ms": round(ours * 1e3, 3),
        "raw_aes_ctr_ms": round(floor * 1e3, 3),
        "ratio": round(ours / floor, 2),
        "python_path_ms": round(python * 1e3, 3),
    }


def unseal_cost() -> dict[str, Any]:
    """Per box: a partial with its proof, its check, and a 3-of-5 combination, against the
    libsodium scalar multiplications each step needs at least (3, 4 and t)."""
    com = LocalCommittee.create(5, 3, seed=2)
    com.pump(100)
    key = com.replicas[0].key
    assert key is not None
    shares = [c.share for c in com.cores]
    assert all(s is not None for s in shares)
    box = TE.seal(key.group_key, b"x" * 100)
    partials = [TE.partial(s, box) for s in shares if s is not None]
    n = 200
    t_prove = _best(lambda: [TE.partial(shares[0], box) for _ in range(n)], 5) / n  # type: ignore[arg-type]
    t_check = _best(lambda: [TE.check_partial(key, box, partials[0]) for _ in range(n)], 5) / n
    good = {p.index: p.element for p in partials[:3]}
    # the machine checks each partial on arrival, then combines the checked ones
    t_comb = _best(lambda: [TE.combine_checked(key, box, good) for _ in range(n)], 5) / n
    k = (G.order - 12345).to_bytes(32, "little")  # a full-width scalar, like a real share
    u = box.ephemeral

    def mults(count: int) -> None:
        for _ in range(n):
            for _ in range(count):
                pysodium.crypto_scalarmult_ristretto255(k, u)

    def adds() -> None:
        for _ in range(n):
            pysodium.crypto_core_ristretto255_add(u, u)

    raw_mul = _best(lambda: mults(1), 5) / n
    raw_add = _best(adds, 5) / n
    # The libsodium work each step cannot avoid: a proof is 3 multiplications, its check 4
    # multiplications and 2 additions, a 3-of-n combination 3 multiplications and 2 additions.
    floors = {"partial": 3 * raw_mul, "check": 4 * raw_mul + 2 * raw_add}
    floors["combine"] = 3 * raw_mul + 2 * raw_add
    ours = {"partial": t_prove, "check": t_check, "combine": t_comb}
    return {
        "raw_scalarmult_us": round(raw_mul * 1e6, 1),
        "raw_add_us": round(raw_add * 1e6, 1),
        **{f"{k}_us": round(v * 1e6, 1) for k, v in ours.items()},
        **{f"{k}_floor_us": round(v * 1e6, 1) for k, v in floors.items()},
        "ratios": {k: round(ours[k] / floors[k], 2) for k in ours},
    }


def pipeline(n_clients: int, *, per_round: int = 8, waves: int = 12) -> dict[str, Any]:
    """Submit → UnsealedPool with 3-of-5, rounds back to back; ``per_round`` new sealed
    requests each round for ``waves`` rounds, then rounds until all are in the pool."""
    params = RoundParams()
    dep = LocalDeployment.create(n_clients, 3, seed=3, params=params)
    com = LocalCommittee.create(5, 3, seed=4)
    com.pump(100)
    key = com.replicas[0].key
    assert key is not None
    shuffle = ShuffleConfig("bench.shuffle", dep.cfg, com.cfg)
    sealers = [SealClient(shuffle, c, entropy=dep.rng.randbytes) for c in dep.clients]
    sent: dict[bytes, tuple[float, int]] = {}  # body -> (submit time, submit round)
    latencies_ms: list[float] = []
    rounds_to_pool: list[int] = []
    round_ms: list[float] = []
    seq = 0
    for r in range(waves + 40):
        if r < waves:
            for _ in range(min(per_round, n_clients)):
                c = sealers[dep.rng.randrange(n_clients)]
                body = f"req {seq}".encode()
                seq += 1
                c.submit(body, key.group_key)
                sent[body] = (time.perf_counter(), dep.round)
        t0 = time.perf_counter()
        rec = dep.run_round()
        boxes = boxes_from_broadcast(dep.cfg, rec)
        for core in com.cores:
            core.observe(rec.round, boxes)
        before = com.replicas[0].next_slot
        com.pump(5)
        fresh = com.replicas[0].next_slot - before
        now = time.perf_counter()
        round_ms.append((now - t0) * 1e3)
        for entry in (
            list(com.replicas[0].pool)[len(com.replicas[0].pool) - fresh :] if fresh else []
        ):
            for ct in entry.cleartext:
                body = parse_request(ct.payload).body
                t_sub, r_sub = sent.pop(body)
                latencies_ms.append((now - t_sub) * 1e3)
                rounds_to_pool.append(rec.round - r_sub)
        if r >= waves and not sent:
            break
    agg_n = AggregateEnvelope(1, tuple(bytes(32) for _ in range(n_clients)), b"")
    agg_n1 = AggregateEnvelope(1, tuple(bytes(32) for _ in range(n_clients + 1)), b"")
    return {
        "clients": n_clients,
        "messages": len(latencies_ms),
        "lost": len(sent),
        "round_compute_ms_p50": round(statistics.median(round_ms), 2),
        "rounds_per_s": round(1e3 / statistics.median(round_ms), 2),
        "submit_to_pool_ms_p50": round(percentile(latencies_ms, 50), 1),
        "submit_to_pool_ms_p99": round(percentile(latencies_ms, 99), 1),
        "rounds_to_pool_p50": percentile([float(x) for x in rounds_to_pool], 50),
        "rounds_to_pool_p99": percentile([float(x) for x in rounds_to_pool], 99),
        "server_bytes_per_silent_client": len(encode(agg_n1)) - len(encode(agg_n)),
    }


#: The ZIPNet paper's evaluation shape: 160-byte messages, 1,024 slots.
PAPER = RoundParams(num_slots=1024, slot_bytes=176, tag_len=16, sched_slots=4096)


def main(sizes: tuple[int, ...] = (10, 100, 1000)) -> dict[str, Any]:
    params = RoundParams()
    return {
        "params": {
            "slots": params.num_slots,
            "slot_bytes": params.slot_bytes,
            "envelope_bytes": params.envelope_bytes,
            "servers": 3,
            "unseal": "3-of-5",
        },
        # which path partial_unblind took: the native batch (pads.c) or the Python fallback
        "pads": "native" if native.load() is not None else native.unavailable_reason(),
        "server_partial": [server_cost(n, params) for n in sizes],
        "server_partial_paper_shape": [server_cost(n, PAPER) for n in sizes],
        "unseal": unseal_cost(),
        "pipeline": [pipeline(n) for n in sizes],
        "paper_bytes_per_silent_client": 84,
    }
