"""Members and organisms: `OrganismRef`, the `LatticeConfig` stand-in, `OrganismConfig`.

A coalition references members by stable id (which changes only on
retirement) and optionally pins their content hash (which moves on every
operational rotation). An organism's own identity never folds any coalition
root, so one composite organism can serve many coalitions (D3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from pymosaik.primitives import UniqueId, Wire

from .acl import AclComposition
from .content import ContentParams
from .identity import (
    SCHEMA_VERSION_U8,
    UNIVERSE,
    ZERO_ID,
    MemberId,
    check_name,
    derive_stable_id,
    hash_many,
    u8,
    u32,
    utf8,
)

__all__ = ["LatticeConfig", "OrganismConfig", "OrganismRef", "lattice_refs", "organism_refs"]

MAX_SPANNED = 1024


def _check_pin(what: str, pin: UniqueId | None) -> None:
    if pin is not None and pin.is_zero():
        raise ValueError(f"{what}: an all-zero content hash is reserved for 'not pinned'; use None")


class OrganismRef(Wire, frozen=True):
    """A reference to a member organism: role, stable id, optional content-hash pin."""

    role: str
    stable_id: UniqueId
    content_hash: UniqueId | None = None

    def __post_init__(self) -> None:
        check_name("organism role", self.role)
        _check_pin(f"organism {self.role!r}", self.content_hash)

    @classmethod
    def by_stable_id(cls, role: str, stable_id: UniqueId) -> Self:
        """A reference that survives the member's content rotations."""
        return cls(role, stable_id, None)

    @classmethod
    def pinned(cls, role: str, stable_id: UniqueId, content_hash: UniqueId) -> Self:
        """A reference that redeploys when the member's content changes."""
        return cls(role, stable_id, content_hash)

    @property
    def member_id(self) -> MemberId:
        return MemberId.of(self.stable_id)

    def preimage(self, *, with_pin: bool) -> bytes:
        """u32 role length, role, stable id, and (if ``with_pin``) the pin or ZERO."""
        role = utf8(self.role)
        body = u32(len(role)) + role + self.stable_id.bytes
        if with_pin:
            body += (self.content_hash or ZERO_ID).bytes
        return body


class LatticeConfig(Wire, frozen=True):
    """Minimal stand-in for builder's LatticeConfig: name, stable id, optional content hash."""

    instance_name: str
    stable_id: UniqueId
    content_hash: UniqueId | None = None

    def __post_init__(self) -> None:
        check_name("lattice instance_name", self.instance_name)
        _check_pin(f"lattice {self.instance_name!r}", self.content_hash)

    @classmethod
    def derive(
        cls,
        instance_name: str,
        network_id: UniqueId = UNIVERSE,
        content_hash: UniqueId | None = None,
    ) -> Self:
        """A lattice whose stable id follows the examples' convention."""
        return cls(instance_name, derive_stable_id(instance_name, network_id), content_hash)

    @classmethod
    def testnet_1a(cls) -> Self:
        """The stand-in for Flashbots' testnet-1a lattice the searcher binds to."""
        return cls.derive("testnet-1a")

    def preimage(self) -> bytes:
        """stable id then the content pin (or ZERO)."""
        return self.stable_id.bytes + (self.content_hash or ZERO_ID).bytes


def lattice_refs(lattices: Sequence[LatticeConfig]) -> bytes:
    """u32 count, then each lattice's preimage."""
    return u32(len(lattices)) + b"".join(lat.preimage() for lat in lattices)


def organism_refs(organisms: Sequence[OrganismRef], *, with_pin: bool) -> bytes:
    """u32 count, then each reference's preimage."""
    return u32(len(organisms)) + b"".join(o.preimage(with_pin=with_pin) for o in organisms)


class OrganismConfig(Wire, frozen=True):
    """What every organism publishes as its own handshake (D3)."""

    name: str
    lattices: tuple[LatticeConfig, ...] = ()
    organisms: tuple[OrganismRef, ...] = ()
    content: ContentParams = ContentParams.EMPTY
    acl: AclComposition = AclComposition.OPEN

    def __post_init__(self) -> None:
        check_name("organism name", self.name)
        if len(self.lattices) + len(self.organisms) > MAX_SPANNED:
            raise ValueError(f"an organism spans at most {MAX_SPANNED} members")

    def organism_id(self) -> UniqueId:
        """hash_many("organism|", schema, "|", name, lattice refs, organism refs, content, acl)."""
        return hash_many(
            [
                b"organism|",
                u8(SCHEMA_VERSION_U8),
                b"|",
                self.name,
                lattice_refs(self.lattices),
                organism_refs(self.organisms, with_pin=True),
                self.content.fingerprint(),
                self.acl.fingerprint(),
            ]
        )

    def content_hash(self) -> UniqueId:
        """hash_many(content fingerprint, acl fingerprint): moves on every rotation."""
        return hash_many([self.content.fingerprint(), self.acl.fingerprint()])

    def committee_id(self) -> UniqueId:
        """The committee GroupId seed: a content change is a new deployment."""
        return self.organism_id().derive("committee")

    def reference(self, role: str, stable_id: UniqueId, *, pin_content: bool) -> OrganismRef:
        """How a coalition (or another organism) refers to this organism."""
        return OrganismRef(role, stable_id, self.content_hash() if pin_content else None)
