"""Share recovery: a member that lost its key share gets it back, with the group key and every
other member's share unchanged (D12: "key refresh keeps the group key and replaces shares").

The protocol is the share-recovery step of proactive secret sharing (Herzberg, Jarecki,
Krawczyk and Yung 1995), over the same groups and the same HPKE sealing as the DKG:

1. **Deal.** Every helper d (a member that still holds its share x_d) draws g_d of degree t−1
   with g_d(k) = 0 at the lost member's index k, publishes Feldman commitments C_dm = a_dm·G
   (anyone checks Σ_m C_dm·k^m is the identity, i.e. g_d vanishes at k) and g_d(i) HPKE-sealed
   to every other helper i.
2. **Part.** Helper i opens its sub-shares, checks each against the dealer's commitments and
   sends y_i = x_i + Σ_d g_d(i), sealed to the lost member's *new* encryption key.
3. **Recover.** The lost member checks y_i·G = V_i + Σ_d Σ_m C_dm·i^m (V_i: i's public
   verification key from the DKG result) for each part it opens, keeps the good ones and
   interpolates x_k = Σ λ_i(k)·y_i over t of them, then checks x_k·G = V_k.

The y_i are points of F + Σ g_d, a polynomial that agrees with the group polynomial F at k and is
uniformly random elsewhere as long as one dealer is honest, so the lost member learns x_k and
nothing else; each helper learns nothing (its sub-shares are points of random polynomials). A
dealer whose sub-share fails its commitments is named (`RecoveryError.dealer`): the run is
repeated without it. Pure: the committee log carries deals and parts, as it carries the DKG.

A **refresh** is the same deal at 0 (``lost = 0``) from every member: each adds the sub-shares to
its share (`RecoveryHelper.refreshed`) and every verification key moves by the deals'
commitments (`refresh_result`), while the group key stays (each g_d(0) = 0). Shares leaked
before the refresh are useless after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Generic

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from pymosaik.primitives.encoding import Wire

from .dkg import _SUITE, DkgError, DkgResult, KeyShare
from .group import (
    E,
    Entropy,
    InvalidElementError,
    PrimeGroup,
    commitment_eval,
    lagrange_at,
    poly_eval,
    random_scalar,
    scalar_from_bytes,
)

__all__ = [
    "RecoveredPart",
    "RecoveryDeal",
    "RecoveryError",
    "RecoveryHelper",
    "check_deal",
    "recover",
    "refresh_result",
]

_INFO: Final = b"coalition share recovery v1"


class RecoveryError(DkgError):
    """Recovery cannot go on; ``dealer`` names a helper whose deal or part was bad (run again
    without it)."""

    def __init__(self, message: str, dealer: int | None = None) -> None:
        super().__init__(message)
        self.dealer = dealer


class RecoveryDeal(Wire, frozen=True):
    dealer: int
    lost: int
    commitments: list[bytes]
    #: (i, g_d(i) sealed to helper i) in helper order (the lost member gets none). Pairs, not a
    #: map: the canonical encoding has string keys only.
    shares: list[tuple[int, bytes]]

    def sealed_for(self, helper: int) -> bytes | None:
        return next((s for i, s in self.shares if i == helper), None)


class RecoveredPart(Wire, frozen=True):
    helper: int
    lost: int
    #: y_i, sealed to the lost member's new encryption key.
    sealed: bytes


def _info(session: bytes, lost: int, sender: int, recipient: int) -> bytes:
    return b"".join(
        (_INFO, session, lost.to_bytes(2, "little"), sender.to_bytes(2, "little"),
         recipient.to_bytes(2, "little"))
    )  # fmt: skip


def check_deal(
    group: PrimeGroup[E], deal: RecoveryDeal, t: int, helpers: Sequence[int]
) -> str | None:
    """Why a published deal is unusable (``None``: usable): its shape, and that its polynomial
    vanishes at the lost member's index."""
    if len(deal.commitments) != t:
        return f"expected {t} commitments, got {len(deal.commitments)}"
    if deal.dealer not in helpers or deal.lost in helpers:
        return "the dealer is not a helper, or the lost member is one"
    if [i for i, _ in deal.shares] != sorted(h for h in helpers if h != deal.dealer):
        return "a sealed sub-share per other helper is required"
    try:
        commitments = [group.decode(c, allow_identity=True) for c in deal.commitments]
    except InvalidElementError as exc:
        return f"bad commitment: {exc}"
    if not group.eq(commitment_eval(group, commitments, deal.lost), group.identity()):
        where = "0 (a refresh)" if deal.lost == 0 else f"member {deal.lost}"
        return f"the polynomial does not vanish at {where}"
    return None


class RecoveryHelper(Generic[E]):
    """One helper's private side: its masking polynomial and, later, its part."""

    def __init__(
        self,
        group: PrimeGroup[E],
        share: KeyShare,
        *,
        lost: int,
        helpers: Mapping[int, bytes],
        lost_key: bytes | None,
        encryption_key: X25519PrivateKey,
        entropy: Entropy,
    ) -> None:
        """``helpers``: every helper's index → X25519 public key (this one included);
        ``lost_key``: the lost member's new X25519 public key. ``lost = 0`` is a refresh
        (`refresh`): every member helps and every share is replaced, none is sent anywhere."""
        t, n = share.result.t, share.result.n
        if share.index not in helpers or lost in helpers or len(helpers) < t:
            raise RecoveryError(f"need at least {t} helpers, this one among them, not {lost}")
        if lost == 0 and sorted(helpers) != list(range(1, n + 1)):
            raise RecoveryError("a refresh needs every member as a helper")
        if (lost == 0) != (lost_key is None):
            raise RecoveryError("a recovery needs the lost member's new key; a refresh none")
        self.group, self.share, self.lost = group, share, lost
        self._helpers = {i: X25519PublicKey.from_public_bytes(k) for i, k in helpers.items()}
        self._lost_key = None if lost_key is None else X25519PublicKey.from_public_bytes(lost_key)
        self._key = encryption_key
        q = group.order
        tail = [random_scalar(q, entropy) for _ in range(t - 1)]
        head = -sum(a * pow(lost, m, q) for m, a in enumerate(tail, start=1)) % q
        self._poly = [head, *tail]  # g(lost) = 0

    @property
    def session(self) -> bytes:
        return self.share.result.session

    def deal(self) -> RecoveryDeal:
        g, q, me = self.group, self.group.order, self.share.index
        commitments = [g.encode(g.base_mul(a)) for a in self._poly]
        shares = [
            (
                i,
                _SUITE.encrypt(
                    poly_eval(self._poly, i, q).to_bytes(g.scalar_len, "little"),
                    pub,
                    info=_info(self.session, self.lost, me, i),
                ),
            )
            for i, pub in sorted(self._helpers.items())
            if i != me
        ]
        return RecoveryDeal(me, self.lost, commitments, shares)

    def part(self, deals: Sequence[RecoveryDeal]) -> RecoveredPart:
        """y_i over every deal in ``deals`` (the committed ones, the same for every helper),
        sealed to the lost member."""
        if self._lost_key is None:
            raise RecoveryError("a refresh sends no part: use refreshed()")
        g = self.group
        sealed = _SUITE.encrypt(
            self._masked(deals).to_bytes(g.scalar_len, "little"),
            self._lost_key,
            info=_info(self.session, self.lost, self.share.index, self.lost),
        )
        return RecoveredPart(self.share.index, self.lost, sealed)

    def refreshed(self, deals: Sequence[RecoveryDeal]) -> KeyShare:
        """A refresh (``lost = 0``): this member's new share x_i + Σ g_d(i), under the
        refreshed result (`refresh_result`), checked against its new verification key."""
        if self.lost != 0:
            raise RecoveryError("not a refresh")
        result = refresh_result(self.group, self.share.result, deals)
        x, g = self._masked(deals), self.group
        expected = g.decode(result.verification_keys[self.share.index - 1], allow_identity=True)
        if not g.eq(g.base_mul(x), expected):
            raise RecoveryError("the refreshed share does not match its verification key")
        return KeyShare(self.share.index, x, result)

    def _masked(self, deals: Sequence[RecoveryDeal]) -> int:
        g, q, me, t = self.group, self.group.order, self.share.index, self.share.result.t
        y = (self.share.secret + poly_eval(self._poly, me, q)) % q
        for deal in deals:
            if deal.dealer == me:
                continue
            why = check_deal(g, deal, t, sorted(self._helpers))
            if why is not None:
                raise RecoveryError(f"deal of helper {deal.dealer}: {why}", deal.dealer)
            try:
                raw = _SUITE.decrypt(
                    deal.sealed_for(me) or b"",
                    self._key,
                    info=_info(self.session, self.lost, deal.dealer, me),
                )
                s = scalar_from_bytes(raw, q, g.scalar_len)
            except (InvalidTag, InvalidElementError, ValueError, KeyError):
                raise RecoveryError(
                    f"helper {deal.dealer}'s sub-share is unreadable", deal.dealer
                ) from None
            commitments = [g.decode(c, allow_identity=True) for c in deal.commitments]
            if not g.eq(g.base_mul(s), commitment_eval(g, commitments, me)):
                raise RecoveryError(
                    f"helper {deal.dealer}'s sub-share fails its commitments", deal.dealer
                )
            y = (y + s) % q
        return y


def _moved_key(
    group: PrimeGroup[E], result: DkgResult, commitments: Sequence[Sequence[E]], j: int
) -> E:
    """V_j + Σ_d C_d(j): member j's verification key moved by the deals' polynomials."""
    v = group.decode(result.verification_keys[j - 1], allow_identity=True)
    for c in commitments:
        v = group.add(v, commitment_eval(group, c, j))
    return v


def refresh_result(
    group: PrimeGroup[E], result: DkgResult, deals: Sequence[RecoveryDeal]
) -> DkgResult:
    """The public side of a refresh: every verification key moves by Σ_d C_d(j); the group
    key does not (each deal's polynomial is zero at 0). The same on every member."""
    g = group
    helpers = list(range(1, result.n + 1))
    if sorted(d.dealer for d in deals) != helpers or any(d.lost != 0 for d in deals):
        raise RecoveryError("a refresh takes one deal (at 0) from every member")
    for deal in deals:
        why = check_deal(g, deal, result.t, helpers)
        if why is not None:
            raise RecoveryError(f"deal of member {deal.dealer}: {why}", deal.dealer)
    commitments = [[g.decode(c, allow_identity=True) for c in d.commitments] for d in deals]
    keys = []
    for j in helpers:
        keys.append(g.encode(_moved_key(g, result, commitments, j)))
    return msgspec.structs.replace(result, verification_keys=keys)


def recover(
    group: PrimeGroup[E],
    result: DkgResult,
    *,
    lost: int,
    key: X25519PrivateKey,
    deals: Sequence[RecoveryDeal],
    parts: Sequence[RecoveredPart],
) -> tuple[KeyShare, tuple[int, ...]]:
    """The lost member's share from the helpers' parts, and the helpers whose part failed its
    check (excluded). Needs ``result.t`` good parts; the share is checked against V_lost."""
    g, q = group, group.order
    helpers = sorted(d.dealer for d in deals)
    for deal in deals:
        why = check_deal(g, deal, result.t, helpers)
        if why is not None:
            raise RecoveryError(f"deal of helper {deal.dealer}: {why}", deal.dealer)
    commitments = [[g.decode(c, allow_identity=True) for c in d.commitments] for d in deals]
    good: dict[int, int] = {}
    bad: list[int] = []
    for part in parts:
        if part.lost != lost or part.helper in good:
            continue
        try:
            raw = _SUITE.decrypt(
                part.sealed, key, info=_info(result.session, lost, part.helper, lost)
            )
            y = scalar_from_bytes(raw, q, g.scalar_len)
        except (InvalidTag, InvalidElementError, ValueError):
            bad.append(part.helper)
            continue
        expected = _moved_key(g, result, commitments, part.helper)
        if g.eq(g.base_mul(y), expected):
            good[part.helper] = y
        else:
            bad.append(part.helper)
    if len(good) < result.t:
        culprit = min(bad) if bad else None
        raise RecoveryError(
            f"{len(good)} good parts, need {result.t} (bad: {sorted(bad)})", culprit
        )
    chosen = sorted(good)[: result.t]
    lam = lagrange_at(chosen, lost, q)
    x = sum(lam[i] * good[i] for i in chosen) % q
    if not g.eq(g.base_mul(x), g.decode(result.verification_keys[lost - 1], allow_identity=True)):
        raise RecoveryError("the recovered share does not match the member's verification key")
    return KeyShare(lost, x, result), tuple(sorted(bad))
