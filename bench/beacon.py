"""The threshold-BLS beacon: round cost with t-of-n and verification against raw blst.

In one process: a 3-of-5 committee (``organisms.randomness.local``) produces rounds; a round's
compute is one partial signature per member, a pairing check per partial on one replica, the
Lagrange combination and the final verification. Verification of a tick is compared with the
raw blst calls it cannot avoid (hash to curve, two Miller loops, one final exponentiation).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pyblst  # type: ignore[import-untyped]

from coalition.crypto.beacon import (
    Scheme,
    check_partial,
    combine,
    combine_checked,
    partial_sign,
    verify_tick,
)
from coalition.crypto.bls import G1, G2
from organisms.randomness.local import LocalBeacon


def _per_call(fn: Any, n: int, reps: int = 5) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def scheme_costs(scheme: Scheme) -> dict[str, Any]:
    b = LocalBeacon.create(5, 3, seed=1, scheme=scheme)
    b.run_until(23_000)
    m = b.replicas[0]
    key = m.keygen.result
    assert key is not None
    assert m.ticks
    shares = [c.share for c in b.cores]
    assert all(s is not None for s in shares)
    tick = m.ticks[-1]
    r, prev = tick.round + 1, tick.signature if scheme is Scheme.CHAINED else b""
    partials = [partial_sign(scheme, s, r, prev) for s in shares if s is not None]
    sign = _per_call(lambda: partial_sign(scheme, shares[0], r, prev), 50)  # type: ignore[arg-type]
    check = _per_call(lambda: check_partial(scheme, key, r, prev, partials[0]), 30)
    decoded = {p.index: scheme.sig_group.decode(p.signature) for p in partials[:3]}
    comb = _per_call(lambda: combine_checked(scheme, key, r, prev, decoded), 10)
    out = combine(scheme, key, r, prev, partials).tick
    verify = _per_call(lambda: verify_tick(scheme, key.group_key, out), 30)

    sig_g, key_g = scheme.sig_group, scheme.key_group
    sig_el, key_el = sig_g.decode(out.signature), key_g.decode(key.group_key)
    msg = hashlib.sha256(
        (prev + r.to_bytes(8, "big")) if scheme is Scheme.CHAINED else r.to_bytes(8, "big")
    ).digest()

    def raw() -> None:
        h = sig_g.hash_to_element(scheme.dst, msg)
        if scheme is Scheme.CHAINED:
            pyblst.final_verify(
                pyblst.miller_loop(G1.generator(), sig_el), pyblst.miller_loop(key_el, h)
            )
        else:
            pyblst.final_verify(
                pyblst.miller_loop(sig_el, G2.generator()), pyblst.miller_loop(h, key_el)
            )

    raw_verify = _per_call(raw, 30)
    # a round on one replica: t partial checks as they arrive, then one combination (which
    # verifies the group signature once); each member also signs once
    round_ms = (sign + 3 * check + comb) * 1e3
    return {
        "scheme": scheme.value,
        "partial_sign_ms": round(sign * 1e3, 3),
        "partial_check_ms": round(check * 1e3, 3),
        "combine_3_of_5_ms": round(comb * 1e3, 3),
        "verify_tick_ms": round(verify * 1e3, 3),
        "raw_blst_verify_ms": round(raw_verify * 1e3, 3),
        "verify_ratio": round(verify / raw_verify, 2),
        "round_compute_ms": round(round_ms, 2),
    }


def main() -> dict[str, Any]:
    return {"committee": "3-of-5", "schemes": [scheme_costs(s) for s in Scheme]}
