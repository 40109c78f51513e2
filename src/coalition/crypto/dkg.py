"""Distributed key generation: joint-Feldman VSS with complaints, generic over the group.

Every threshold key in the stack (unseal, the randomness beacon, the threshold signer) comes from
this DKG, in which each member draws its own secret and nobody ever holds the whole key
(decision D12). The protocol is Pedersen's joint-Feldman DKG with the complaint round of
Gennaro, Jarecki, Krawczyk and Rabin:

1. **Deal.** Member i draws f_i of degree t−1, publishes Feldman commitments C_ik = a_ik·G and,
   for every member j, f_i(j) HPKE-sealed to j's encryption key. The deal goes through the
   committee's log, so every member sees the same deals.
2. **Complain.** Member j opens its share from each deal and checks s_ij·G = Σ_k C_ik·j^k. A bad
   or unreadable share becomes a public complaint (i, j).
3. **Justify.** The accused dealer reveals s_ij in the clear; everyone checks it against the
   commitments. A matching reveal settles the complaint (j adopts the revealed share), a wrong
   one or silence disqualifies the dealer, with the reason kept as evidence.
4. **Finish.** QUAL is the dealers who dealt and were not disqualified; with |QUAL| ≥ t at least
   one of them is honest (at most t−1 members are assumed corrupt), so the group secret
   Σ_{i∈QUAL} f_i(0) is unknown to any coalition of fewer than t. Member j's share is
   x_j = Σ_{i∈QUAL} s_ij, its public verification key V_j = Σ_{i∈QUAL} Σ_k C_ik·j^k.

Known limit, accepted: a rushing adversary can bias the *distribution* of the joint-Feldman public
key (GJKR 1999); Gennaro et al. (2003) show the key stays secure for threshold ElGamal and
Schnorr-style uses, which is what it serves here.

The code is split as the rest of the project splits protocols: ``DkgTranscript`` is the public,
replicated part (a pure machine over committed commands, the same on every member), and
``DkgMember`` is one member's private part (its polynomial, its decrypted shares). Neither does
I/O; phase deadlines arrive as committed ``close`` commands chosen by the driver.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Generic

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from pymosaik.primitives.encoding import Wire

from .group import (
    E,
    Entropy,
    InvalidElementError,
    PrimeGroup,
    commitment_eval,
    poly_eval,
    random_scalar,
    scalar_from_bytes,
)

_SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
#: HPKE base mode with X25519 adds the 32-byte encapsulated key and a 16-byte tag.
_HPKE_OVERHEAD: Final = 32 + 16
MAX_MEMBERS: Final = 256


class DkgError(ValueError):
    """The DKG cannot produce a key (too few qualified dealers, or an inconsistent share)."""


class DkgParams(Wire, frozen=True):
    """One run: a 32-byte session id (domain separation, e.g. committee id ‖ epoch), t of n."""

    session: bytes
    n: int
    t: int

    def check(self) -> None:
        if len(self.session) != 32:
            raise DkgError("the DKG session id is 32 bytes")
        if not 1 <= self.t <= self.n <= MAX_MEMBERS:
            raise DkgError(f"need 1 ≤ t ≤ n ≤ {MAX_MEMBERS}, got t={self.t} n={self.n}")


class Deal(Wire, frozen=True):
    """Dealer i's Feldman commitments (t elements) and one sealed share per member (n)."""

    dealer: int
    commitments: list[bytes]
    shares: list[bytes]


class Complaint(Wire, frozen=True):
    dealer: int
    accuser: int


class Justification(Wire, frozen=True):
    """The dealer's answer to a complaint: the accuser's share, revealed."""

    dealer: int
    accuser: int
    share: bytes


class Disqualified(Wire, frozen=True):
    dealer: int
    reason: str


class DkgResult(Wire, frozen=True):
    """What every member derives identically from the transcript."""

    session: bytes
    t: int
    n: int
    qual: list[int]
    group_key: bytes
    verification_keys: list[bytes]
    revealed: list[Justification]
    disqualified: list[Disqualified]


class Phase(enum.Enum):
    DEALING = "dealing"
    COMPLAINTS = "complaints"
    JUSTIFICATION = "justification"
    DONE = "done"
    FAILED = "failed"


def _share_info(params: DkgParams, dealer: int, recipient: int) -> bytes:
    return (
        b"coalition dkg share v1"
        + params.session
        + dealer.to_bytes(2, "little")
        + recipient.to_bytes(2, "little")
    )


@dataclass
class DkgTranscript(Generic[E]):
    """The replicated part: validates every command and derives the result deterministically.

    ``apply_*`` return ``None`` when the command is taken and a reason string when it is
    refused; a refused command changes nothing.
    """

    group: PrimeGroup[E]
    params: DkgParams
    phase: Phase = Phase.DEALING
    deals: dict[int, list[E]] = field(default_factory=dict)
    complaints: set[tuple[int, int]] = field(default_factory=set)
    revealed: dict[tuple[int, int], bytes] = field(default_factory=dict)
    disqualified: dict[int, str] = field(default_factory=dict)
    result: DkgResult | None = None
    failure: str | None = None

    def __post_init__(self) -> None:
        self.params.check()

    def _member(self, index: int) -> bool:
        return 1 <= index <= self.params.n

    def apply_deal(self, deal: Deal) -> str | None:
        p, g = self.params, self.group
        if self.phase is not Phase.DEALING:
            return f"deals closed ({self.phase.value})"
        if not self._member(deal.dealer):
            return f"dealer {deal.dealer} is not a member"
        if deal.dealer in self.deals:
            return f"dealer {deal.dealer} already dealt"
        if len(deal.commitments) != p.t:
            return f"expected {p.t} commitments, got {len(deal.commitments)}"
        if len(deal.shares) != p.n:
            return f"expected {p.n} sealed shares, got {len(deal.shares)}"
        want = g.scalar_len + _HPKE_OVERHEAD
        if any(len(s) != want for s in deal.shares):
            return f"a sealed share is not {want} bytes"
        try:
            decoded = [g.decode(c, allow_identity=True) for c in deal.commitments]
        except InvalidElementError as exc:
            return f"bad commitment: {exc}"
        self.deals[deal.dealer] = decoded
        return None

    def apply_complaint(self, c: Complaint) -> str | None:
        if self.phase not in (Phase.DEALING, Phase.COMPLAINTS):
            return f"complaints closed ({self.phase.value})"
        if not (self._member(c.accuser) and self._member(c.dealer)):
            return "complaint names a non-member"
        if c.dealer == c.accuser:
            return "a dealer cannot complain about itself"
        if c.dealer not in self.deals:
            return f"dealer {c.dealer} has not dealt"
        if (c.dealer, c.accuser) in self.complaints:
            return "duplicate complaint"
        self.complaints.add((c.dealer, c.accuser))
        return None

    def apply_justification(self, j: Justification) -> str | None:
        if self.phase in (Phase.DONE, Phase.FAILED):
            return f"justifications closed ({self.phase.value})"
        key = (j.dealer, j.accuser)
        if key not in self.complaints:
            return "no such complaint"
        if key in self.revealed or j.dealer in self.disqualified:
            return "complaint already settled"
        g = self.group
        try:
            s = scalar_from_bytes(j.share, g.order, g.scalar_len)
        except InvalidElementError as exc:
            self.disqualified[j.dealer] = f"justification for member {j.accuser}: {exc}"
            return None
        if not g.eq(g.base_mul(s), commitment_eval(g, self.deals[j.dealer], j.accuser)):
            self.disqualified[j.dealer] = (
                f"revealed share for member {j.accuser} does not match its commitments"
            )
            return None
        self.revealed[key] = j.share
        return None

    def close_dealing(self) -> None:
        if self.phase is Phase.DEALING:
            self.phase = Phase.COMPLAINTS

    def close_complaints(self) -> None:
        self.close_dealing()
        if self.phase is Phase.COMPLAINTS:
            self.phase = Phase.JUSTIFICATION

    def finish(self) -> DkgResult | None:
        """Close the run; ``None`` (and ``failure`` set) when fewer than t dealers qualify."""
        self.close_complaints()
        if self.phase is not Phase.JUSTIFICATION:
            return self.result
        for dealer, accuser in sorted(self.complaints):
            if (dealer, accuser) not in self.revealed and dealer not in self.disqualified:
                self.disqualified[dealer] = f"did not answer the complaint of member {accuser}"
        qual = sorted(d for d in self.deals if d not in self.disqualified)
        p, g = self.params, self.group
        if len(qual) < p.t:
            self.phase = Phase.FAILED
            self.failure = f"only {len(qual)} qualified dealers, need {p.t}"
            return None
        group_key = g.identity()
        for d in qual:
            group_key = g.add(group_key, self.deals[d][0])
        vks = []
        for j in range(1, p.n + 1):
            v = g.identity()
            for d in qual:
                v = g.add(v, commitment_eval(g, self.deals[d], j))
            vks.append(g.encode(v))
        self.phase = Phase.DONE
        self.result = DkgResult(
            session=p.session,
            t=p.t,
            n=p.n,
            qual=qual,
            group_key=g.encode(group_key),
            verification_keys=vks,
            revealed=[
                Justification(d, a, s) for (d, a), s in sorted(self.revealed.items()) if d in qual
            ],
            disqualified=[Disqualified(d, r) for d, r in sorted(self.disqualified.items())],
        )
        return self.result


@dataclass(frozen=True)
class KeyShare:
    """One member's private share and the public key material it belongs to."""

    index: int
    secret: int
    result: DkgResult

    def __repr__(self) -> str:  # never print the secret
        return f"KeyShare(index={self.index}, session={self.result.session.hex()[:16]}…)"


class DkgMember(Generic[E]):
    """One member's private side of a run: deals, checks its shares, answers complaints."""

    def __init__(
        self,
        group: PrimeGroup[E],
        params: DkgParams,
        *,
        index: int,
        encryption_key: X25519PrivateKey,
        recipients: Sequence[bytes],
        entropy: Entropy,
    ) -> None:
        params.check()
        if not 1 <= index <= params.n:
            raise DkgError(f"member index {index} outside 1..{params.n}")
        if len(recipients) != params.n:
            raise DkgError(f"need {params.n} recipient keys, got {len(recipients)}")
        self.group, self.params, self.index = group, params, index
        self._key = encryption_key
        self._recipients = [X25519PublicKey.from_public_bytes(r) for r in recipients]
        self._poly = [random_scalar(group.order, entropy) for _ in range(params.t)]
        # its own polynomial's share is known from the start (also to a member that restarts
        # after its deal was committed, and so never deals again)
        self._shares: dict[int, int] = {index: poly_eval(self._poly, index, group.order)}

    def deal(self) -> Deal:
        g, p = self.group, self.params
        commitments = [g.encode(g.base_mul(c)) for c in self._poly]
        shares = []
        for j, pub in enumerate(self._recipients, start=1):
            s = poly_eval(self._poly, j, g.order).to_bytes(g.scalar_len, "little")
            shares.append(_SUITE.encrypt(s, pub, info=_share_info(p, self.index, j)))
        return Deal(self.index, commitments, shares)

    def receive(self, deal: Deal, commitments: Sequence[E]) -> Complaint | None:
        """Open this member's share of an accepted deal; a complaint if it is bad."""
        g = self.group
        try:
            raw = _SUITE.decrypt(
                deal.shares[self.index - 1],
                self._key,
                info=_share_info(self.params, deal.dealer, self.index),
            )
            s = scalar_from_bytes(raw, g.order, g.scalar_len)
        except (InvalidElementError, InvalidTag, ValueError):
            return Complaint(deal.dealer, self.index)
        if not g.eq(g.base_mul(s), commitment_eval(g, commitments, self.index)):
            return Complaint(deal.dealer, self.index)
        self._shares[deal.dealer] = s
        return None

    def answer(self, complaint: Complaint) -> Justification | None:
        """Reveal the accuser's share when this member is the accused dealer."""
        if complaint.dealer != self.index:
            return None
        g = self.group
        s = poly_eval(self._poly, complaint.accuser, g.order)
        return Justification(self.index, complaint.accuser, s.to_bytes(g.scalar_len, "little"))

    def key_share(self, result: DkgResult) -> KeyShare:
        """x_j = Σ_{i∈QUAL} s_ij, checked against the public verification key."""
        g = self.group
        shares = dict(self._shares)
        for j in result.revealed:
            if j.accuser == self.index:
                shares[j.dealer] = int.from_bytes(j.share, "little")
        missing = [d for d in result.qual if d not in shares]
        if missing:
            raise DkgError(f"member {self.index} holds no valid share from dealers {missing}")
        x = sum(shares[d] for d in result.qual) % g.order
        expected = g.decode(result.verification_keys[self.index - 1], allow_identity=True)
        if not g.eq(g.base_mul(x), expected):
            raise DkgError(f"member {self.index}'s share does not match its verification key")
        return KeyShare(self.index, x, result)


def run_local(group: PrimeGroup[E], n: int, t: int, entropy: Entropy) -> list[KeyShare]:
    """Every member of an honest run in one process (tests and benchmarks, not production):
    each draws its own polynomial from ``entropy``; nobody deals for the others."""
    params = DkgParams(entropy(32), n, t)
    keys = [X25519PrivateKey.from_private_bytes(entropy(32)) for _ in range(n)]
    pubs = [k.public_key().public_bytes_raw() for k in keys]
    members = [
        DkgMember(
            group, params, index=i + 1, encryption_key=keys[i], recipients=pubs, entropy=entropy
        )
        for i in range(n)
    ]
    tr = DkgTranscript(group, params)
    deals = [m.deal() for m in members]
    for d in deals:
        tr.apply_deal(d)
    for m in members:
        for d in deals:
            if d.dealer != m.index:
                m.receive(d, tr.deals[d.dealer])
    result = tr.finish()
    if result is None:
        raise DkgError(tr.failure or "the local run failed")
    return [m.key_share(result) for m in members]
