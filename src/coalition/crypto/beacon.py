"""Threshold BLS randomness beacons, verifiable with drand's rules (decision D12).

Two schemes, chosen in content:

* ``pedersen-bls-chained`` (drand's default network): public key in G1, signatures in G2,
  message sha256(previous signature ‖ round as 8 big-endian bytes); every round commits to the
  one before it.
* ``bls-unchained-g1-rfc9380`` (drand's quicknet): public key in G2, signatures in G1 (48
  bytes), message sha256(round); rounds stand alone, so any round can be verified by itself.

Randomness is sha256(signature). A member's partial signature σ_j = x_j·H(m) is checked by one
pairing equation against its verification key before it is combined; any t good partials give
the group signature by Lagrange interpolation, which verifies against the group key alone — the
same check a client applies to real drand rounds (tests/crypto/test_beacon.py uses public ones).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import blake3

from pymosaik.primitives.encoding import Wire

from .bls import G1, G2, _BlsGroup, pairing_equal
from .dkg import DkgResult, KeyShare
from .group import InvalidElementError, lagrange_at_zero, linear_combination

DST_G1: Final = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
DST_G2: Final = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_"


class Scheme(enum.Enum):
    CHAINED = "pedersen-bls-chained"
    UNCHAINED_G1 = "bls-unchained-g1-rfc9380"

    @property
    def key_group(self) -> _BlsGroup:
        return G1 if self is Scheme.CHAINED else G2

    @property
    def sig_group(self) -> _BlsGroup:
        return G2 if self is Scheme.CHAINED else G1

    @property
    def dst(self) -> bytes:
        return DST_G2 if self is Scheme.CHAINED else DST_G1


class BeaconError(ValueError):
    """A round that cannot be produced or does not verify."""


class PartialSignature(Wire, frozen=True):
    index: int
    signature: bytes


class BeaconTick(Wire, frozen=True):
    """One beacon round: what every consumer verifies from the group key alone."""

    round: int
    signature: bytes
    previous_signature: bytes
    randomness: bytes


def message(scheme: Scheme, round_: int, previous: bytes = b"") -> bytes:
    if round_ < 0:
        raise BeaconError("rounds are non-negative")
    r = round_.to_bytes(8, "big")
    return hashlib.sha256(previous + r if scheme is Scheme.CHAINED else r).digest()


def _hash_point(scheme: Scheme, round_: int, previous: bytes) -> object:
    return scheme.sig_group.hash_to_element(scheme.dst, message(scheme, round_, previous))


def _pairing_check(scheme: Scheme, key: object, sig: object, h: object) -> bool:
    if scheme is Scheme.CHAINED:  # key in G1, signature in G2: e(g1, σ) = e(pk, H)
        return pairing_equal(G1.generator(), sig, key, h)
    return pairing_equal(sig, G2.generator(), h, key)  # e(σ, g2) = e(H, pk)


@lru_cache(maxsize=64)
def _group_key(scheme: Scheme, public_key: bytes) -> object:
    """Decoded (and subgroup-checked) once: a client verifies many rounds under one key."""
    return scheme.key_group.decode(public_key)


def verify(
    scheme: Scheme, public_key: bytes, round_: int, signature: bytes, previous: bytes = b""
) -> bool:
    """Does ``signature`` sign ``round_`` under ``public_key``? Never raises on bad bytes."""
    try:
        key = _group_key(scheme, bytes(public_key))
        sig = scheme.sig_group.decode(signature)
        return _pairing_check(scheme, key, sig, _hash_point(scheme, round_, previous))
    except (InvalidElementError, BeaconError):
        return False


def randomness(signature: bytes) -> bytes:
    return hashlib.sha256(signature).digest()


def partial_sign(
    scheme: Scheme, share: KeyShare, round_: int, previous: bytes = b""
) -> PartialSignature:
    g = scheme.sig_group
    sig = g.mul(share.secret, _hash_point(scheme, round_, previous))
    return PartialSignature(share.index, g.encode(sig))


def check_partial(
    scheme: Scheme, result: DkgResult, round_: int, previous: bytes, partial: PartialSignature
) -> str | None:
    """``None`` for a good partial, else why not (evidence for a record)."""
    if not 1 <= partial.index <= result.n:
        return f"index {partial.index} is not a member"
    try:
        vk = scheme.key_group.decode(result.verification_keys[partial.index - 1])
        sig = scheme.sig_group.decode(partial.signature)
    except InvalidElementError as exc:
        return f"bad element: {exc}"
    if not _pairing_check(scheme, vk, sig, _hash_point(scheme, round_, previous)):
        return "partial signature does not verify against the member's key"
    return None


@dataclass(frozen=True)
class Combined:
    tick: BeaconTick
    used: tuple[int, ...]
    rejected: tuple[tuple[int, str], ...]


def combine(
    scheme: Scheme,
    result: DkgResult,
    round_: int,
    previous: bytes,
    partials: Iterable[PartialSignature],
) -> Combined:
    """Check every partial, combine the first t good ones, verify the group signature."""
    g = scheme.sig_group
    good: dict[int, object] = {}
    rejected: list[tuple[int, str]] = []
    for p in sorted(partials, key=lambda p: p.index):
        if p.index in good:
            continue
        why = check_partial(scheme, result, round_, previous, p)
        if why is None:
            good[p.index] = g.decode(p.signature)
        else:
            rejected.append((p.index, why))
    tick, used = combine_checked(scheme, result, round_, previous, good)
    return Combined(tick, used, tuple(rejected))


def combine_checked(
    scheme: Scheme, result: DkgResult, round_: int, previous: bytes, good: Mapping[int, object]
) -> tuple[BeaconTick, tuple[int, ...]]:
    """Combine partial signatures already checked by ``check_partial`` (decoded, by index).

    The group signature is still verified once: a tick that does not verify is never emitted.
    """
    g = scheme.sig_group
    if len(good) < result.t:
        raise BeaconError(f"{len(good)} good partials for round {round_}, need {result.t}")
    used = sorted(good)[: result.t]
    lam = lagrange_at_zero(used, g.order)
    sig = g.encode(linear_combination(g, ((lam[i], good[i]) for i in used)))
    if not verify(scheme, result.group_key, round_, sig, previous):
        raise BeaconError("combined signature does not verify (inconsistent key material)")
    tick = BeaconTick(round_, sig, previous if scheme is Scheme.CHAINED else b"", randomness(sig))
    return tick, tuple(used)


def verify_tick(scheme: Scheme, public_key: bytes, tick: BeaconTick) -> bool:
    return tick.randomness == randomness(tick.signature) and verify(
        scheme, public_key, tick.round, tick.signature, tick.previous_signature
    )


def draw(tick: BeaconTick, label: str, n: int) -> int:
    """A uniform integer in [0, n) for ``label``, derived from a verified round.

    Every consumer derives the same value; different labels give independent draws. Rejection
    sampling over blake3's XOF keeps it exactly uniform.
    """
    if n <= 0:
        raise ValueError("draw needs n > 0")
    xof = blake3.blake3(label.encode(), key=tick.randomness).digest(64 * 8)
    width = (n - 1).bit_length() or 1
    nbytes = (width + 7) // 8
    for i in range(0, len(xof) - nbytes + 1, nbytes):
        v = int.from_bytes(xof[i : i + nbytes], "little") & ((1 << width) - 1)
        if v < n:
            return v
    raise BeaconError("draw exhausted its stream (probability below 2**-64)")  # pragma: no cover
