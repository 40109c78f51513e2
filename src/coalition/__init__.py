"""The coalition rung: pure data naming compositions of mosaik organisms.

Nothing in this package's data model does I/O. Fingerprints are blake3
UniqueIds built by the byte-exact rules in docs/spec/identity.md.
"""

from pymosaik.primitives import UniqueId, unique_id

from .acl import AclClause, AclComposition, AclMode, ClauseKind
from .config import HANDSHAKE_MAGIC, CoalitionConfig, HandshakeError
from .content import ContentParams
from .identity import (
    COALITION_ROOT_SEED,
    SCHEMA_VERSION_U8,
    UNIVERSE,
    ZERO_ID,
    MemberId,
    derive_stable_id,
    hash_many,
)
from .modules import (
    AlmanacConfig,
    AtlasConfig,
    ChronicleConfig,
    ComputeConfig,
    ModuleConfig,
    ModuleKind,
    RandomnessConfig,
    TypedModuleConfig,
)
from .organism import LatticeConfig, OrganismConfig, OrganismRef
from .retirement import (
    AtAlmanacTick,
    AtSequence,
    AtTimestamp,
    AtTimestampMs,
    ComponentKind,
    ComponentRef,
    RetirementInstant,
    RetirementMarker,
    RetirementPolicy,
    RetirementReason,
)
from .tickets import TicketIssuerConfig, coalition_ticket_issuer_root

__all__ = [
    "COALITION_ROOT_SEED",
    "HANDSHAKE_MAGIC",
    "SCHEMA_VERSION_U8",
    "UNIVERSE",
    "ZERO_ID",
    "AclClause",
    "AclComposition",
    "AclMode",
    "AlmanacConfig",
    "AtAlmanacTick",
    "AtSequence",
    "AtTimestamp",
    "AtTimestampMs",
    "AtlasConfig",
    "ChronicleConfig",
    "ClauseKind",
    "CoalitionConfig",
    "ComponentKind",
    "ComponentRef",
    "ComputeConfig",
    "ContentParams",
    "HandshakeError",
    "LatticeConfig",
    "MemberId",
    "ModuleConfig",
    "ModuleKind",
    "OrganismConfig",
    "OrganismRef",
    "RandomnessConfig",
    "RetirementInstant",
    "RetirementMarker",
    "RetirementPolicy",
    "RetirementReason",
    "TicketIssuerConfig",
    "TypedModuleConfig",
    "UniqueId",
    "coalition_ticket_issuer_root",
    "derive_stable_id",
    "hash_many",
    "unique_id",
]
