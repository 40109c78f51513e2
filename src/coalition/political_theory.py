"""Political-theory shapes: structural, not enforcing ("The coalition crate").

A coalition, composite organism or module may publish a `PoliticalStance`
and fold its fingerprint into its content hash. Nothing here adds mechanism:
each type's ``is_substrate_*`` predicate says whether the substrate's own
primitives (TicketValidator composition, committee quorums, retirement
markers) mechanically enforce that value or whether it is published
commentary. ``PoliticalStance.is_substrate_consistent()`` holds iff the stance
keeps the non-compulsion property (no Compulsory consent, no Absolute
sovereignty); consumers may refuse stances that fail it in their validators.
"""

from __future__ import annotations

import enum
from typing import ClassVar, TypeAlias

from pymosaik.primitives import UniqueId, Wire, encode

from .identity import SCHEMA_VERSION_U8, hash_many, u8

__all__ = [
    "Attested",
    "CompositionForm",
    "ConsentEvidence",
    "ConsentModel",
    "DecisionRule",
    "Delegation",
    "FranchiseScope",
    "Legitimacy",
    "Majority",
    "OpenFranchise",
    "PoliticalStance",
    "ReputationGated",
    "Revocability",
    "SingleOperator",
    "SovereigntyClaim",
    "Supermajority",
    "Threshold",
    "Ticketed",
    "Unanimity",
]


class ConsentModel(enum.StrEnum):
    """How a member comes to be bound. Maps to TicketValidator composition at admission."""

    VOLUNTARY = "voluntary"  # an explicit, opt-in bond (the substrate's only mechanism)
    TACIT = "tacit"  # inferred from continued participation
    COMPULSORY = "compulsory"  # binding without opt-in: outside the substrate's trust model

    def is_substrate_enforced(self) -> bool:
        return self is ConsentModel.VOLUNTARY


class ConsentEvidence(enum.StrEnum):
    """What records consent: a bond's self-quote, a ticket, or a stream commit."""

    SELF_QUOTE = "self-quote"
    TICKET = "ticket"
    STREAM_COMMIT = "stream-commit"

    def is_substrate_recorded(self) -> bool:
        return True


# ---- decision rules (a module's quorum or a committee's threshold) ---------
class Majority(Wire, frozen=True, tag="majority"):
    """Simple majority: what a Raft committee commits under."""

    def is_substrate_enforced(self) -> bool:
        return True


class Supermajority(Wire, frozen=True, tag="supermajority"):
    threshold_bps: int

    def __post_init__(self) -> None:
        if not 5_000 < self.threshold_bps <= 10_000:
            raise ValueError(
                f"a supermajority is above 5000 bps, at most 10000; got {self.threshold_bps}"
            )

    def is_substrate_enforced(self) -> bool:
        return False


class Threshold(Wire, frozen=True, tag="threshold"):
    """t-of-n: what threshold decryption and signing committees enforce cryptographically."""

    t: int
    n: int

    def __post_init__(self) -> None:
        if not 1 <= self.t <= self.n:
            raise ValueError(f"threshold needs 1 <= t <= n, got t={self.t} n={self.n}")

    def is_substrate_enforced(self) -> bool:
        return True


class Unanimity(Wire, frozen=True, tag="unanimity"):
    def is_substrate_enforced(self) -> bool:
        return False


class SingleOperator(Wire, frozen=True, tag="single-operator"):
    def is_substrate_enforced(self) -> bool:
        return True


DecisionRule: TypeAlias = Majority | Supermajority | Threshold | Unanimity | SingleOperator


class Delegation(enum.StrEnum):
    """Authority handed to another component."""

    NONE = "none"
    SHARED_TICKET_ISSUER = "shared-ticket-issuer"
    COMMITTEE_PUBLICATION = "committee-publication"
    COMPUTE_GRANT = "compute-grant"

    def is_substrate_enforced(self) -> bool:
        return True


class Revocability(enum.StrEnum):
    """Which retirement markers a delegation supports."""

    IRREVOCABLE = "irrevocable"
    AT_RETIREMENT = "at-retirement"
    AT_ROTATION = "at-rotation"
    ANY_TIME = "any-time"

    def is_substrate_enforced(self) -> bool:
        return self is not Revocability.IRREVOCABLE


class Legitimacy(Wire, frozen=True):
    """A set of bits naming what the consumer's validator composition actually checks."""

    bits: int

    CONSENT_BIT: ClassVar[int] = 1
    ATTESTATION_BIT: ClassVar[int] = 2
    REPUTATION_BIT: ClassVar[int] = 4
    STAKE_BIT: ClassVar[int] = 8
    TRADITION_BIT: ClassVar[int] = 16
    ALL_BITS: ClassVar[int] = 31
    _CHECKABLE: ClassVar[int] = 1 | 2 | 4

    def __post_init__(self) -> None:
        if self.bits & ~self.ALL_BITS or self.bits == 0:
            raise ValueError(f"legitimacy bits must be a non-empty subset of {self.ALL_BITS:#x}")

    @classmethod
    def composed(cls, bits: int) -> Legitimacy:
        return cls(bits)

    def has(self, bit: int) -> bool:
        return bool(self.bits & bit)

    def is_substrate_enforced(self) -> bool:
        """Consent, attestation and reputation are checkable by a TicketValidator."""
        return not self.bits & ~self._CHECKABLE


# ---- franchise (the admission criterion at a component's validator) -------
class OpenFranchise(Wire, frozen=True, tag="open"):
    def is_substrate_enforced(self) -> bool:
        return True


class Ticketed(Wire, frozen=True, tag="ticketed"):
    issuer_root: UniqueId

    def is_substrate_enforced(self) -> bool:
        return True


class Attested(Wire, frozen=True, tag="attested"):
    """TDX-attested franchise: the MR_TD (48 bytes) members must run."""

    measurements: bytes

    def __post_init__(self) -> None:
        if len(self.measurements) != 48:
            raise ValueError(f"an MR_TD is 48 bytes, got {len(self.measurements)}")

    def is_substrate_enforced(self) -> bool:
        return True


class ReputationGated(Wire, frozen=True, tag="reputation"):
    organism: UniqueId
    floor_bps: int

    def is_substrate_enforced(self) -> bool:
        return True


FranchiseScope: TypeAlias = OpenFranchise | Ticketed | Attested | ReputationGated


class CompositionForm(enum.StrEnum):
    DIRECT = "direct"  # one operator's members
    MULTI_OPERATOR = "multi-operator"
    NESTED = "nested"  # a coalition referencing organisms that span other members

    def is_substrate_enforced(self) -> bool:
        return True


class SovereigntyClaim(enum.StrEnum):
    """A published claim; the substrate enforces only NONE."""

    NONE = "none"
    SHARED = "shared"
    ABSOLUTE = "absolute"

    def is_substrate_enforced(self) -> bool:
        return self is SovereigntyClaim.NONE


class PoliticalStance(Wire, frozen=True):
    """The agreement shape a component publishes; folded into its content hash."""

    consent: ConsentModel
    decision_rule: DecisionRule
    legitimacy: Legitimacy
    franchise: FranchiseScope
    composition: CompositionForm
    sovereignty: SovereigntyClaim
    delegation: Delegation = Delegation.NONE
    revocability: Revocability = Revocability.AT_RETIREMENT

    DEFAULT: ClassVar[PoliticalStance]

    def fingerprint(self) -> UniqueId:
        """hash_many("political-stance|", schema, canonical encoding of the stance)."""
        return hash_many([b"political-stance|", u8(SCHEMA_VERSION_U8), encode(self)])

    def is_substrate_consistent(self) -> bool:
        """True iff the stance keeps non-compulsion: no Compulsory consent, no Absolute claim."""
        return (
            self.consent is not ConsentModel.COMPULSORY
            and self.sovereignty is not SovereigntyClaim.ABSOLUTE
        )

    def is_substrate_enforced(self) -> bool:
        """True iff every field is something the substrate's primitives enforce."""
        return all(
            part.is_substrate_enforced()
            for part in (
                self.consent,
                self.decision_rule,
                self.legitimacy,
                self.franchise,
                self.composition,
                self.sovereignty,
                self.delegation,
                self.revocability,
            )
        )


#: The substrate default: every field is what the coalition primitives implement.
PoliticalStance.DEFAULT = PoliticalStance(
    consent=ConsentModel.VOLUNTARY,
    decision_rule=Majority(),
    legitimacy=Legitimacy(Legitimacy.CONSENT_BIT),
    franchise=OpenFranchise(),
    composition=CompositionForm.DIRECT,
    sovereignty=SovereigntyClaim.NONE,
)
