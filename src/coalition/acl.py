"""`AclComposition`: the published shape of a component's TicketValidator composition.

Its *description* folds into fingerprints, so changing who may bond is a visible identity
change; `coalition.acl_validator.compile_acl` evaluates it (one ticket requirement per clause,
the refusal naming the failing clause).
"""

from __future__ import annotations

import enum
from typing import ClassVar, Final

from pymosaik.primitives import UniqueId, Wire

from .identity import hash_many, u8, u32

__all__ = ["AclClause", "AclComposition", "AclMode", "ClauseKind"]


class AclMode(enum.IntEnum):
    """How the clauses combine."""

    OPEN = 0  # no clause: anyone may bond
    ALL_OF = 1  # every clause must admit the peer
    ANY_OF = 2  # one admitting clause is enough


class ClauseKind(enum.StrEnum):
    """The clause catalogue; the value is the name used in TOML and preimages."""

    RECOGNISE_ISSUER = "recognise-issuer"  # 32-byte ticket-issuance root
    REQUIRE_PEER = "require-peer"  # 32-byte Ed25519 PeerId
    REQUIRE_TAG = "require-tag"  # 32-byte discovery tag
    REQUIRE_MRTD = "require-mrtd"  # 48-byte TDX MR_TD
    JWT_ISSUER = "jwt-issuer"  # 32-byte id naming a JWT issuer configuration
    REPUTATION_FLOOR = "reputation-floor"  # 32-byte organism stable id + u32 floor (bps)
    MARKET_SETTLEMENT = "market-settlement"  # 32-byte settlement organism stable id


_VALUE_LEN: Final[dict[ClauseKind, int]] = {
    ClauseKind.RECOGNISE_ISSUER: 32,
    ClauseKind.REQUIRE_PEER: 32,
    ClauseKind.REQUIRE_TAG: 32,
    ClauseKind.REQUIRE_MRTD: 48,
    ClauseKind.JWT_ISSUER: 32,
    ClauseKind.REPUTATION_FLOOR: 36,
    ClauseKind.MARKET_SETTLEMENT: 32,
}


class AclClause(Wire, frozen=True):
    """One admission requirement: a kind from the catalogue and its fixed-size argument."""

    kind: ClauseKind
    value: bytes

    def __post_init__(self) -> None:
        kind = ClauseKind(self.kind)
        want = _VALUE_LEN[kind]
        if len(self.value) != want:
            raise ValueError(f"ACL clause {kind.value} takes {want} bytes, got {len(self.value)}")

    @classmethod
    def recognise_issuer(cls, root: UniqueId) -> AclClause:
        return cls(ClauseKind.RECOGNISE_ISSUER, root.bytes)

    @classmethod
    def require_peer(cls, peer: bytes) -> AclClause:
        return cls(ClauseKind.REQUIRE_PEER, bytes(peer))

    @classmethod
    def require_tag(cls, tag: UniqueId) -> AclClause:
        return cls(ClauseKind.REQUIRE_TAG, tag.bytes)

    @classmethod
    def require_mrtd(cls, mrtd: bytes) -> AclClause:
        return cls(ClauseKind.REQUIRE_MRTD, bytes(mrtd))

    @classmethod
    def jwt_issuer(cls, issuer: UniqueId) -> AclClause:
        return cls(ClauseKind.JWT_ISSUER, issuer.bytes)

    @classmethod
    def reputation_floor(cls, organism: UniqueId, floor_bps: int) -> AclClause:
        if not 0 <= floor_bps <= 10_000:
            raise ValueError(f"reputation floor is in basis points 0..10000, got {floor_bps}")
        return cls(ClauseKind.REPUTATION_FLOOR, organism.bytes + u32(floor_bps))

    @classmethod
    def market_settlement(cls, organism: UniqueId) -> AclClause:
        return cls(ClauseKind.MARKET_SETTLEMENT, organism.bytes)


class AclComposition(Wire, frozen=True):
    """A mode and an ordered tuple of clauses. ``AclComposition.OPEN`` admits everyone."""

    mode: AclMode
    clauses: tuple[AclClause, ...] = ()

    OPEN: ClassVar[AclComposition]

    def __post_init__(self) -> None:
        mode = AclMode(self.mode)
        if mode is AclMode.OPEN and self.clauses:
            raise ValueError("an OPEN ACL carries no clauses")
        if mode is not AclMode.OPEN and not self.clauses:
            raise ValueError(f"an {mode.name} ACL needs at least one clause")

    @classmethod
    def all_of(cls, *clauses: AclClause) -> AclComposition:
        return cls(AclMode.ALL_OF, tuple(clauses))

    @classmethod
    def any_of(cls, *clauses: AclClause) -> AclComposition:
        return cls(AclMode.ANY_OF, tuple(clauses))

    def fingerprint(self) -> UniqueId:
        """hash_many("acl|", mode u8, count u32, kind_0, value_0, ...)."""
        parts: list[bytes | str] = [b"acl|", u8(self.mode), u32(len(self.clauses))]
        for clause in self.clauses:
            parts += [clause.kind.value, clause.value]
        return hash_many(parts)


AclComposition.OPEN = AclComposition(AclMode.OPEN)
