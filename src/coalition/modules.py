"""The five basic-service slots: `ModuleKind`, `ModuleConfig` and its typed wrappers.

A module is the only kind of component whose identity folds the coalition
root (D3): ``module_root = coalition_root.derive("module").derive(kind)``.
The typed wrappers (`AtlasConfig`, ...) exist so that a Compute config cannot
be passed where an Atlas config is expected.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Self

from pymosaik.primitives import UniqueId, Wire

from .acl import AclComposition
from .content import ContentParams
from .identity import SCHEMA_VERSION_U8, check_name, hash_many, u8

__all__ = [
    "AlmanacConfig",
    "AtlasConfig",
    "ChronicleConfig",
    "ComputeConfig",
    "ModuleConfig",
    "ModuleKind",
    "RandomnessConfig",
    "TypedModuleConfig",
    "module_committee_id",
    "module_root",
]


class ModuleKind(enum.Enum):
    """The five basic services, in slot order."""

    ATLAS = "atlas"
    ALMANAC = "almanac"
    CHRONICLE = "chronicle"
    COMPUTE = "compute"
    RANDOMNESS = "randomness"

    def str_name(self) -> str:
        """The derivation segment under ``.derive("module")``."""
        return self.value


class ModuleConfig(Wire, frozen=True):
    """The shared body of every module config: instance name, content, ACL."""

    name: str
    content: ContentParams = ContentParams.EMPTY
    acl: AclComposition = AclComposition.OPEN

    def __post_init__(self) -> None:
        check_name("module name", self.name)

    @classmethod
    def new(cls, name: str, content: ContentParams, acl: AclComposition) -> Self:
        return cls(name, content, acl)

    def content_hash(self) -> UniqueId:
        """hash_many(content fingerprint, acl fingerprint), as for any organism."""
        return hash_many([self.content.fingerprint(), self.acl.fingerprint()])

    def slot_fingerprint(self, kind: ModuleKind) -> UniqueId:
        """hash_many("module|", schema, "|", kind, "|", name, content fp, acl fp)."""
        return hash_many(
            [
                b"module|",
                u8(SCHEMA_VERSION_U8),
                b"|",
                kind.str_name(),
                b"|",
                self.name,
                self.content.fingerprint(),
                self.acl.fingerprint(),
            ]
        )


def module_root(coalition_root: UniqueId, kind: ModuleKind) -> UniqueId:
    """coalition_root.derive("module").derive(kind)."""
    return coalition_root.derive("module").derive(kind.str_name())


def module_committee_id(
    coalition_root: UniqueId, kind: ModuleKind, members: bytes, body: ModuleConfig
) -> UniqueId:
    """hash_many(module_root, spanned members, content fp, acl fp).derive("committee")."""
    return hash_many(
        [
            module_root(coalition_root, kind),
            members,
            body.content.fingerprint(),
            body.acl.fingerprint(),
        ]
    ).derive("committee")


class TypedModuleConfig(Wire, frozen=True):
    """Base of the five typed wrappers; ``KIND`` names the slot."""

    body: ModuleConfig

    KIND: ClassVar[ModuleKind]

    @classmethod
    def new(cls, body: ModuleConfig) -> Self:
        return cls(body)

    def module_id(self, coalition_root: UniqueId) -> UniqueId:
        """The module's root id under the given coalition root."""
        return module_root(coalition_root, self.KIND)

    def slot_fingerprint(self) -> UniqueId:
        return self.body.slot_fingerprint(self.KIND)

    def content_hash(self) -> UniqueId:
        return self.body.content_hash()


class AtlasConfig(TypedModuleConfig, frozen=True):
    """Directory of the coalition's members: ``Map<MemberId, MemberCard>``."""

    KIND: ClassVar[ModuleKind] = ModuleKind.ATLAS


class AlmanacConfig(TypedModuleConfig, frozen=True):
    """Shared clock beacon: ``Stream<AlmanacTick>``; cadence lives in the content."""

    KIND: ClassVar[ModuleKind] = ModuleKind.ALMANAC


class ChronicleConfig(TypedModuleConfig, frozen=True):
    """Tamper-evident audit log: ``Stream<ChronicleEntry>``; anchor lives in the content."""

    KIND: ClassVar[ModuleKind] = ModuleKind.CHRONICLE


class ComputeConfig(TypedModuleConfig, frozen=True):
    """Compute grant scheduler and provider registry."""

    KIND: ClassVar[ModuleKind] = ModuleKind.COMPUTE


class RandomnessConfig(TypedModuleConfig, frozen=True):
    """Randomness beacon scheduler and provider registry."""

    KIND: ClassVar[ModuleKind] = ModuleKind.RANDOMNESS


MODULE_TYPES: dict[ModuleKind, type[TypedModuleConfig]] = {
    ModuleKind.ATLAS: AtlasConfig,
    ModuleKind.ALMANAC: AlmanacConfig,
    ModuleKind.CHRONICLE: ChronicleConfig,
    ModuleKind.COMPUTE: ComputeConfig,
    ModuleKind.RANDOMNESS: RandomnessConfig,
}
