"""Retirement primitives (D4): the marker a component commits last, and the policy knob.

A `RetirementMarker` is the last commit on every public primitive of a
retiring component, so consumers learn *when* it stops and *what replaces it*
instead of meeting a silent ConnectTimeout.
"""

from __future__ import annotations

import enum
from typing import Self, TypeAlias

from pymosaik.primitives import UniqueId, Wire

from .identity import check_name
from .organism import LatticeConfig, OrganismRef

__all__ = [
    "AtAlmanacTick",
    "AtSequence",
    "AtTimestamp",
    "AtTimestampMs",
    "ComponentKind",
    "ComponentRef",
    "RetirementEvidence",
    "RetirementInstant",
    "RetirementMarker",
    "RetirementPolicy",
    "RetirementReason",
]


class AtSequence(Wire, frozen=True, tag="at-sequence"):
    """Effective once the component's own stream reaches this sequence number."""

    seq: int

    def __post_init__(self) -> None:
        _check_u64("sequence", self.seq)


class AtTimestampMs(Wire, frozen=True, tag="at-timestamp-ms"):
    """Effective at this Unix time in milliseconds."""

    ms: int

    def __post_init__(self) -> None:
        _check_u64("timestamp", self.ms)


class AtAlmanacTick(Wire, frozen=True, tag="at-almanac-tick"):
    """Effective at this Almanac tick of the coalition's clock."""

    tick: int

    def __post_init__(self) -> None:
        _check_u64("almanac tick", self.tick)


def _check_u64(what: str, n: int) -> None:
    if not 0 <= n < 2**64:
        raise ValueError(f"{what} must fit in u64, got {n}")


RetirementInstant: TypeAlias = AtSequence | AtTimestampMs | AtAlmanacTick
#: The book's spelling ``RetirementInstant::AtTimestamp``.
AtTimestamp = AtTimestampMs


class RetirementReason(enum.StrEnum):
    ROTATION = "rotation"  # replaced by a successor with a new identity
    RETIRED = "retired"  # going away, no successor
    OPERATOR_EXIT = "operator-exit"  # the operator leaves; others may continue the role
    EMERGENCY = "emergency"  # stopped early (compromise, critical bug)


class ComponentKind(enum.StrEnum):
    LATTICE = "lattice"
    ORGANISM = "organism"
    MODULE = "module"
    COALITION = "coalition"
    TICKET_ISSUER = "ticket-issuer"


class ComponentRef(Wire, frozen=True):
    """A pointer to a component by kind, name and stable id (optionally content hash)."""

    kind: ComponentKind
    name: str
    stable_id: UniqueId
    content_hash: UniqueId | None = None

    def __post_init__(self) -> None:
        check_name("component name", self.name)

    @classmethod
    def organism(cls, ref: OrganismRef) -> Self:
        return cls(ComponentKind.ORGANISM, ref.role, ref.stable_id, ref.content_hash)

    @classmethod
    def lattice(cls, cfg: LatticeConfig) -> Self:
        return cls(ComponentKind.LATTICE, cfg.instance_name, cfg.stable_id, cfg.content_hash)

    @classmethod
    def coalition(cls, instance_name: str, stable_id: UniqueId) -> Self:
        return cls(ComponentKind.COALITION, instance_name, stable_id)


class RetirementEvidence(Wire, frozen=True):
    """A pointer to one of the retiring component's last commits (D11): on which public
    surface, at which sequence number, with which digest — what a consumer or an auditor checks
    the marker against."""

    surface: UniqueId
    seq: int
    digest: UniqueId


class RetirementMarker(Wire, frozen=True):
    """When the component stops, why, what (if anything) replaces it, and pointers to its last
    commits (filled in by the committee that commits the marker)."""

    effective_at: RetirementInstant
    reason: RetirementReason
    replacement: ComponentRef | None = None
    evidence: tuple[RetirementEvidence, ...] = ()

    def __post_init__(self) -> None:
        if self.reason is RetirementReason.ROTATION and self.replacement is None:
            raise ValueError("a rotation marker must name its replacement")
        if self.reason is RetirementReason.RETIRED and self.replacement is not None:
            raise ValueError("a 'retired' marker has no replacement; use rotation")

    @classmethod
    def rotation(cls, at: RetirementInstant, successor: ComponentRef) -> Self:
        return cls(at, RetirementReason.ROTATION, successor)

    @classmethod
    def retired(cls, at: RetirementInstant) -> Self:
        return cls(at, RetirementReason.RETIRED, None)

    @classmethod
    def operator_exit(cls, at: RetirementInstant, successor: ComponentRef | None = None) -> Self:
        return cls(at, RetirementReason.OPERATOR_EXIT, successor)

    @classmethod
    def emergency(cls, at: RetirementInstant, successor: ComponentRef | None = None) -> Self:
        return cls(at, RetirementReason.EMERGENCY, successor)


class RetirementPolicy(enum.IntEnum):
    """Whether a member's content rotation forces a coalition republish.

    CONSERVATIVE (the default) folds the members' pinned content hashes into
    the handshake fingerprint, so every pinned rotation is a new fingerprint.
    LENIENT leaves them out: members rotate content without a republish.
    """

    CONSERVATIVE = 0
    LENIENT = 1

    @classmethod
    def default(cls) -> RetirementPolicy:
        return cls.CONSERVATIVE
