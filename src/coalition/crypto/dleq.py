"""Chaum–Pedersen proofs that two elements share one discrete log.

A threshold member publishes ``D = x·U`` for a ciphertext's ephemeral ``U`` next to its public
verification key ``V = x·G``. Without a proof, a member could send any ``D`` and the combined
key would be wrong with nobody able to say whose share broke it. The proof (non-interactive by
Fiat–Shamir, the challenge binding every element and the caller's context) lets anyone check
each share on its own, so a bad one is excluded and named before combination.
"""

from __future__ import annotations

from typing import Final, Generic

import msgspec

from .group import E, Entropy, InvalidElementError, PrimeGroup, hash_to_scalar, random_scalar

_CONTEXT: Final = "coalition 2026 dleq chaum-pedersen v1"


class DleqProof(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """(challenge, response), both scalars in little-endian bytes."""

    challenge: bytes
    response: bytes


class Dleq(Generic[E]):
    """Prove and verify log_G(V) == log_U(D) in one group."""

    def __init__(self, group: PrimeGroup[E]) -> None:
        self.group = group

    def _challenge(self, context: bytes, elements: tuple[E, ...]) -> int:
        g = self.group
        return hash_to_scalar(g.order, _CONTEXT, context, *(g.encode(e) for e in elements))

    def prove(
        self, secret: int, base: E, context: bytes, entropy: Entropy
    ) -> tuple[E, E, DleqProof]:
        """(V, D, proof) for V = secret·G and D = secret·base."""
        g = self.group
        v, d = g.base_mul(secret), g.mul(secret, base)
        k = random_scalar(g.order, entropy)
        a1, a2 = g.base_mul(k), g.mul(k, base)
        c = self._challenge(context, (g.generator(), v, base, d, a1, a2))
        z = (k - c * secret) % g.order
        n = g.scalar_len
        return v, d, DleqProof(c.to_bytes(n, "little"), z.to_bytes(n, "little"))

    def verify(self, v: E, base: E, d: E, proof: DleqProof, context: bytes) -> bool:
        g = self.group
        n = g.scalar_len
        if len(proof.challenge) != n or len(proof.response) != n:
            return False
        c = int.from_bytes(proof.challenge, "little")
        z = int.from_bytes(proof.response, "little")
        if c >= g.order or z >= g.order:
            return False
        try:
            a1 = g.add(g.base_mul(z), g.mul(c, v))
            a2 = g.add(g.mul(z, base), g.mul(c, d))
        except (InvalidElementError, ValueError):
            return False
        return c == self._challenge(context, (g.generator(), v, base, d, a1, a2))
