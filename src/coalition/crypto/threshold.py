"""Threshold ElGamal: seal to a committee's key, open with t verified partial decryptions.

``seal`` is an ElGamal KEM on the group plus an AEAD (ChaCha20-Poly1305): an ephemeral r gives
U = r·G and the shared element S = r·Y for the committee key Y; the AEAD key is a blake3 KDF
of (S, U, Y, context). Since every r is fresh the key is used once, so a zero nonce is safe.

Opening needs S = x·U for the unknown group secret x = Σ λ_j x_j. Member j publishes
D_j = x_j·U with a DLEQ proof against its verification key V_j = x_j·G, so each partial is
checked on its own; bad ones are excluded and named, and any t good ones combine by Lagrange
interpolation in the exponent. Fewer than t partials determine nothing about S.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Generic

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pymosaik.primitives.encoding import Wire

from .dkg import DkgResult, KeyShare
from .dleq import Dleq, DleqProof
from .group import (
    E,
    Entropy,
    InvalidElementError,
    PrimeGroup,
    lagrange_at_zero,
    linear_combination,
    random_scalar,
)

_KDF_CONTEXT: Final = "coalition 2026 unseal kem v1"
_NONCE: Final = bytes(12)
#: The largest plaintext one sealed box may carry (a zipnet slot is far smaller).
MAX_PLAINTEXT: Final = 1 << 20


class SealError(ValueError):
    """A sealed box that cannot be opened: malformed, tampered, or too few good partials."""


class Sealed(Wire, frozen=True):
    """An ephemeral element U and the AEAD ciphertext (plaintext + 16-byte tag)."""

    ephemeral: bytes
    ciphertext: bytes


class PartialDecryption(Wire, frozen=True):
    index: int
    element: bytes
    proof: DleqProof


@dataclass(frozen=True)
class Opened:
    """A combined opening: the plaintext, who contributed, who was excluded and why."""

    plaintext: bytes
    used: tuple[int, ...]
    rejected: tuple[tuple[int, str], ...]


def _aead_key(group: PrimeGroup[E], s: E, u: E, y: E, context: bytes) -> bytes:
    h = blake3.blake3(derive_key_context=_KDF_CONTEXT)
    for part in (group.encode(s), group.encode(u), group.encode(y), context):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest(32)


class ThresholdElGamal(Generic[E]):
    """Seal, partially decrypt, verify and combine in one group."""

    def __init__(self, group: PrimeGroup[E]) -> None:
        self.group = group
        self._dleq = Dleq(group)

    def seal(
        self,
        group_key: bytes,
        plaintext: bytes,
        *,
        context: bytes = b"",
        entropy: Entropy = os.urandom,
    ) -> Sealed:
        if len(plaintext) > MAX_PLAINTEXT:
            raise SealError(f"plaintext is {len(plaintext)} bytes, limit {MAX_PLAINTEXT}")
        g = self.group
        y = g.decode(group_key)
        r = random_scalar(g.order, entropy)
        u, s = g.base_mul(r), g.mul(r, y)
        key = _aead_key(g, s, u, y, context)
        ct = ChaCha20Poly1305(key).encrypt(_NONCE, plaintext, g.encode(u) + context)
        return Sealed(g.encode(u), ct)

    def _binding(self, result: DkgResult, sealed: Sealed) -> bytes:
        """A proof speaks for one key (the session) and one box (its ephemeral element)."""
        return result.session + sealed.ephemeral

    def partial(
        self,
        share: KeyShare,
        sealed: Sealed,
        *,
        context: bytes = b"",
        entropy: Entropy = os.urandom,
    ) -> PartialDecryption:
        """This member's D_j = x_j·U with its proof; refuses a malformed box."""
        g = self.group
        try:
            u = g.decode(sealed.ephemeral)
        except InvalidElementError as exc:
            raise SealError(f"bad ephemeral element: {exc}") from exc
        binding = self._binding(share.result, sealed)
        _, d, proof = self._dleq.prove(share.secret, u, binding, entropy)
        return PartialDecryption(share.index, g.encode(d), proof)

    def check_partial(
        self, result: DkgResult, sealed: Sealed, partial: PartialDecryption
    ) -> str | None:
        """``None`` if the partial is good, else why it is not (evidence for a record)."""
        g = self.group
        if not 1 <= partial.index <= result.n:
            return f"index {partial.index} is not a member"
        try:
            u = g.decode(sealed.ephemeral)
            d = g.decode(partial.element)
            v = g.decode(result.verification_keys[partial.index - 1], allow_identity=True)
        except InvalidElementError as exc:
            return f"bad element: {exc}"
        if not self._dleq.verify(v, u, d, partial.proof, self._binding(result, sealed)):
            return "DLEQ proof does not verify against the member's verification key"
        return None

    def combine(
        self,
        result: DkgResult,
        sealed: Sealed,
        partials: Iterable[PartialDecryption],
        *,
        context: bytes = b"",
    ) -> Opened:
        """Verify every partial, combine the first t good ones (by index), open the box.

        ``context`` is the sealer's: the AEAD authenticates it, so a box sealed for another
        deployment or purpose does not open here.
        """
        g = self.group
        good: dict[int, E] = {}
        rejected: list[tuple[int, str]] = []
        for p in sorted(partials, key=lambda p: p.index):
            if p.index in good:
                continue
            why = self.check_partial(result, sealed, p)
            if why is None:
                good[p.index] = g.decode(p.element)
            else:
                rejected.append((p.index, why))
        if len(good) < result.t:
            raise SealError(f"{len(good)} good partials, need {result.t}")
        plaintext, used = self.combine_checked(result, sealed, good, context=context)
        return Opened(plaintext, tuple(used), tuple(rejected))

    def combine_checked(
        self, result: DkgResult, sealed: Sealed, good: Mapping[int, E], *, context: bytes = b""
    ) -> tuple[bytes, list[int]]:
        """Open with partial elements already checked by ``check_partial`` (by index).

        For callers that verify each partial as it arrives (the unseal machine), so nothing
        is verified twice; the first t indices are used.
        """
        g = self.group
        if len(good) < result.t:
            raise SealError(f"{len(good)} good partials, need {result.t}")
        used = sorted(good)[: result.t]
        lam = lagrange_at_zero(used, g.order)
        s = linear_combination(g, ((lam[i], good[i]) for i in used))
        u = g.decode(sealed.ephemeral)
        y = g.decode(result.group_key)
        key = _aead_key(g, s, u, y, context)
        try:
            plaintext = ChaCha20Poly1305(key).decrypt(
                _NONCE, sealed.ciphertext, g.encode(u) + context
            )
        except InvalidTag as exc:
            raise SealError("ciphertext does not authenticate (tampered or wrong key)") from exc
        return plaintext, used
