"""The declared clearing rule, "the one line an operator must publish":

    first-fit-by-declared-price: among fresh cards whose free capacity covers the manifest, in
    the requested region, TDX-capable when required, and whose price for the duration is at most
    the request's max_price, pick the lowest price; ties by reputation (higher first), then by
    ProviderId.

Pure and integer-only (D10), so any replica (and any auditor with the log) replays it exactly.
The price of a grant is ceil(cpu_cores × hours × per_core_hour + GiB × hours × per_gib_hour)
computed in micro-units over millicores, MiB and seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .items import Ask, ComputeRequest, ProviderCard

RULE = "first-fit-by-declared-price/v1"

#: What clearing reads: a request, or the `Ask` the committee holds of it.
Manifest = ComputeRequest | Ask


def price(card: ProviderCard, req: Manifest) -> int:
    """Micro-units for the whole duration, rounded up (a provider is never under-quoted)."""
    r = card.rates
    cpu = req.min_cpu_millicores * req.duration_sec * r.per_core_hour  # millicore-s × µ/core-h
    ram = req.min_ram_mib * req.duration_sec * r.per_gib_hour  # MiB-s × µ/GiB-h
    num = cpu * 1024 + ram * 1000
    den = 1000 * 3600 * 1024
    return -(-num // den)


@dataclass(frozen=True)
class Capacity:
    cpu_millicores: int
    ram_mib: int


def why_not(
    card: ProviderCard, req: Manifest, free: Capacity, now_ms: int, max_age_ms: int
) -> str | None:
    """The first filter a card fails for a request, or ``None`` if it qualifies."""
    caps = card.capabilities
    if now_ms - card.refreshed_at_ms > max_age_ms:
        return "stale card"
    if req.region and req.region not in caps.regions:
        return "region"
    if req.tdx_required and not (caps.tdx_capable and card.tdx_mrtd):
        return "tdx"
    if free.cpu_millicores < req.min_cpu_millicores or free.ram_mib < req.min_ram_mib:
        return "capacity"
    if price(card, req) > req.max_price:
        return "price"
    return None


def clear(
    req: Manifest,
    cards: Sequence[ProviderCard],
    free: Mapping[bytes, Capacity],
    reputation: Mapping[bytes, int],
    *,
    now: int,
    max_age_ms: int,
) -> tuple[ProviderCard | None, str]:
    """(the winning card, "") or (None, the reason nobody qualified)."""
    best: tuple[int, int, bytes] | None = None
    winner: ProviderCard | None = None
    reasons: dict[str, int] = {}
    for card in cards:
        pid = card.provider_id
        cap = free.get(pid, Capacity(0, 0))
        why = why_not(card, req, cap, now, max_age_ms)
        if why is not None:
            reasons[why] = reasons.get(why, 0) + 1
            continue
        key = (price(card, req), -reputation.get(pid, 0), pid)
        if best is None or key < best:
            best, winner = key, card
    if winner is not None:
        return winner, ""
    if not cards:
        return None, "no provider registered"
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
    return None, f"no provider qualifies ({detail})"
