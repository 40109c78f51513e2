"""Prime-order groups and the scalar arithmetic every threshold scheme here shares.

The unseal committee (ristretto255), the randomness beacon (BLS12-381) and the threshold signer
all run the same distributed key generation and the same Lagrange combination; only the group
differs. So the DKG, the DLEQ proofs and the combination are written once against
``PrimeGroup``, and each curve lives in one small module that is the only code touching its
library (decision 0010).

Scalars are Python ints reduced modulo the group order: exact, constant-size in the protocol
and cheap next to a point multiplication. Elements cross the wire only in their canonical
encoding, and ``decode`` is the single place a received element is validated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

import blake3

#: Where a protocol step gets its randomness. Production passes ``os.urandom``; the
#: simulator and tests pass a seeded source so a run replays exactly.
Entropy = Callable[[int], bytes]

E = TypeVar("E")


class InvalidElementError(ValueError):
    """Bytes that do not encode an element of the group (or encode one that is refused)."""


class PrimeGroup(Protocol[E]):
    """A cyclic group of prime order with a fixed generator, written additively."""

    name: str
    order: int
    element_len: int
    scalar_len: int

    def generator(self) -> E: ...

    def identity(self) -> E: ...

    def add(self, a: E, b: E) -> E: ...

    def neg(self, a: E) -> E: ...

    def mul(self, k: int, a: E) -> E: ...

    def base_mul(self, k: int) -> E: ...

    def eq(self, a: E, b: E) -> bool: ...

    def encode(self, a: E) -> bytes: ...

    def decode(self, data: bytes, *, allow_identity: bool = False) -> E: ...


def random_scalar(order: int, entropy: Entropy = os.urandom) -> int:
    """A uniform non-zero scalar: 64 random bytes reduced (bias below 2**-250)."""
    while True:
        k = int.from_bytes(entropy(64), "little") % order
        if k:
            return k


def hash_to_scalar(order: int, context: str, *parts: bytes) -> int:
    """A scalar bound to ``context`` and every part, each length-prefixed (no ambiguity)."""
    h = blake3.blake3(derive_key_context=context)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return int.from_bytes(h.digest(64), "little") % order


def scalar_bytes(k: int, length: int) -> bytes:
    return k.to_bytes(length, "little")


def scalar_from_bytes(data: bytes, order: int, length: int) -> int:
    """A canonical scalar: exactly ``length`` bytes, little-endian, below the order."""
    if len(data) != length:
        raise InvalidElementError(f"a scalar is {length} bytes, got {len(data)}")
    k = int.from_bytes(data, "little")
    if k >= order:
        raise InvalidElementError("scalar is not reduced modulo the group order")
    return k


def poly_eval(coefficients: Sequence[int], x: int, order: int) -> int:
    """f(x) for f = c0 + c1·x + … modulo ``order`` (Horner)."""
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % order
    return acc


def commitment_eval(group: PrimeGroup[E], commitments: Sequence[E], x: int) -> E:
    """Σ C_k · x^k: the public image of f(x) under Feldman commitments C_k = c_k·G."""
    acc = group.identity()
    for c in reversed(commitments):
        acc = group.add(group.mul(x, acc), c)
    return acc


def lagrange_at_zero(indices: Iterable[int], order: int) -> dict[int, int]:
    """λ_i with f(0) = Σ λ_i·f(i) for the distinct non-zero evaluation points ``indices``."""
    return lagrange_at(indices, 0, order)


def lagrange_at(indices: Iterable[int], x: int, order: int) -> dict[int, int]:
    """λ_i with f(x) = Σ λ_i·f(i) for the distinct positive evaluation points ``indices``
    (f of degree below their number); ``x`` = 0 combines a secret, x = k recovers f(k)."""
    points = sorted(set(indices))
    if not points or points[0] <= 0:
        raise ValueError("Lagrange points must be distinct positive indices")
    out: dict[int, int] = {}
    for i in points:
        num, den = 1, 1
        for j in points:
            if j != i:
                num = num * (x - j) % order
                den = den * (i - j) % order
        out[i] = num * pow(den, -1, order) % order
    return out


def linear_combination(group: PrimeGroup[E], terms: Iterable[tuple[int, E]]) -> E:
    """Σ k_i · P_i (starting from the first term: an addition costs a decode and an encode)."""
    acc: E | None = None
    for k, p in terms:
        term = group.mul(k, p)
        acc = term if acc is None else group.add(acc, term)
    return group.identity() if acc is None else acc
