"""`CoalitionConfig`: N lattices + M organisms + up to five modules, named by one fingerprint.

The book both derives modules under the coalition root and folds module slots
into that root, which is circular; D3 splits the two:

* ``coalition_root()`` folds the name and the members (no modules, no
  content pins) — modules and the ticket issuer derive under it;
* ``stable_id()`` — the handshake fingerprint integrators compile in — folds
  the root, the five module-slot fingerprints, the retirement policy and,
  under the CONSERVATIVE policy, the members' content pins.

Construction takes the book's field names (``atlas=AtlasConfig(...)``);
``cfg.atlas()`` then returns the module's derived `OrganismRef`.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Iterable, Sequence
from typing import Final, Self

from pymosaik.primitives import DecodeError, UniqueId, Wire, decode, encode

from .identity import (
    COALITION_ROOT_SEED,
    SCHEMA_VERSION_U8,
    ZERO_ID,
    MemberId,
    check_name,
    hash_many,
    id_list,
    u8,
)
from .modules import (
    MODULE_TYPES,
    AlmanacConfig,
    AtlasConfig,
    ChronicleConfig,
    ComputeConfig,
    ModuleKind,
    RandomnessConfig,
    TypedModuleConfig,
    module_committee_id,
    module_root,
)
from .organism import LatticeConfig, OrganismRef, organism_refs
from .retirement import RetirementPolicy
from .tickets import TicketIssuerConfig, coalition_ticket_issuer_root

__all__ = ["HANDSHAKE_MAGIC", "CoalitionConfig", "HandshakeError"]

#: Prefix of the serialised handshake (docs/spec/identity.md, "Handshake bytes").
HANDSHAKE_MAGIC: Final = b"COAL"
MAX_HANDSHAKE_BYTES: Final = 1024 * 1024
MAX_MEMBERS: Final = 1024
_HEX: Final = frozenset(string.hexdigits)


class HandshakeError(ValueError):
    """A serialised CoalitionConfig that is malformed or not canonical."""


class _HandshakeWire(Wire, frozen=True):
    schema_version: int
    coalition_seed: UniqueId
    instance_name: str
    lattices: tuple[UniqueId, ...]
    organisms: tuple[OrganismRef, ...]
    atlas: AtlasConfig | None
    almanac: AlmanacConfig | None
    chronicle: ChronicleConfig | None
    compute: ComputeConfig | None
    randomness: RandomnessConfig | None
    ticket_issuer: TicketIssuerConfig | None
    retirement_policy: RetirementPolicy


def _unique(what: str, ids: Iterable[UniqueId]) -> None:
    seen: set[UniqueId] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{what} {i.hex()} is referenced twice")
        seen.add(i)


@dataclasses.dataclass(frozen=True, init=False)
class CoalitionConfig:
    """A coalition's handshake: pure data, hashable, constructible as a module constant."""

    schema_version: int
    coalition_seed: UniqueId
    instance_name: str
    lattices: tuple[UniqueId, ...]
    organisms: tuple[OrganismRef, ...]
    module_slots: tuple[TypedModuleConfig | None, ...]
    ticket_issuer: TicketIssuerConfig | None
    retirement_policy: RetirementPolicy

    def __init__(
        self,
        *,
        instance_name: str,
        schema_version: int = SCHEMA_VERSION_U8,
        coalition_seed: UniqueId = COALITION_ROOT_SEED,
        lattices: Sequence[UniqueId | LatticeConfig] = (),
        organisms: Sequence[OrganismRef] = (),
        atlas: AtlasConfig | None = None,
        almanac: AlmanacConfig | None = None,
        chronicle: ChronicleConfig | None = None,
        compute: ComputeConfig | None = None,
        randomness: RandomnessConfig | None = None,
        ticket_issuer: TicketIssuerConfig | None = None,
        retirement_policy: RetirementPolicy = RetirementPolicy.CONSERVATIVE,
    ) -> None:
        if type(schema_version) is not int or schema_version != SCHEMA_VERSION_U8:
            raise ValueError(
                f"unsupported schema_version {schema_version!r}; this library speaks "
                f"{SCHEMA_VERSION_U8}"
            )
        if not isinstance(coalition_seed, UniqueId):
            raise TypeError("coalition_seed must be a UniqueId")
        check_name("instance_name", instance_name)
        lattice_ids = tuple(
            lat.stable_id if isinstance(lat, LatticeConfig) else lat for lat in lattices
        )
        for lat in lattice_ids:
            if not isinstance(lat, UniqueId):
                raise TypeError(f"lattices holds stable ids, got {type(lat).__name__}")
        refs = tuple(organisms)
        for ref in refs:
            if not isinstance(ref, OrganismRef):
                raise TypeError(f"organisms holds OrganismRef values, got {type(ref).__name__}")
        if len(lattice_ids) + len(refs) > MAX_MEMBERS:
            raise ValueError(f"a coalition references at most {MAX_MEMBERS} members")
        _unique("member stable id", [*lattice_ids, *(r.stable_id for r in refs)])
        slots = (atlas, almanac, chronicle, compute, randomness)
        for kind, slot in zip(ModuleKind, slots, strict=True):
            want = MODULE_TYPES[kind]
            if slot is not None and type(slot) is not want:
                raise TypeError(
                    f"{kind.value} slot takes {want.__name__}, got {type(slot).__name__}"
                )
        if ticket_issuer is not None and not isinstance(ticket_issuer, TicketIssuerConfig):
            raise TypeError("ticket_issuer must be a TicketIssuerConfig")
        policy = RetirementPolicy(retirement_policy)
        set_ = object.__setattr__
        set_(self, "schema_version", schema_version)
        set_(self, "coalition_seed", coalition_seed)
        set_(self, "instance_name", instance_name)
        set_(self, "lattices", lattice_ids)
        set_(self, "organisms", refs)
        set_(self, "module_slots", slots)
        set_(self, "ticket_issuer", ticket_issuer)
        set_(self, "retirement_policy", policy)

    # ---- derivations (docs/spec/identity.md) ---------------------------
    def _members_preimage(self) -> bytes:
        """Lattice ids then organism references by stable id (pins never folded here)."""
        return id_list(self.lattices) + organism_refs(self.organisms, with_pin=False)

    def coalition_root(self) -> UniqueId:
        """hash_many("coalition|", schema, "|", seed, "|", name, lattices, organisms, issuer)."""
        return hash_many(
            [
                b"coalition|",
                u8(self.schema_version),
                b"|",
                self.coalition_seed,
                b"|",
                self.instance_name,
                id_list(self.lattices),
                organism_refs(self.organisms, with_pin=False),
                self.ticket_issuer.fingerprint() if self.ticket_issuer else ZERO_ID,
            ]
        )

    def stable_id(self) -> UniqueId:
        """The handshake fingerprint: root, module slots, policy, and (CONSERVATIVE) pins."""
        pins = b""
        if self.retirement_policy is RetirementPolicy.CONSERVATIVE:
            pins = id_list([ref.content_hash or ZERO_ID for ref in self.organisms])
        return hash_many(
            [
                self.coalition_root(),
                *(slot.slot_fingerprint() if slot else ZERO_ID for slot in self.module_slots),
                u8(self.retirement_policy),
                pins,
            ]
        )

    def ticket_issuer_root(self) -> UniqueId | None:
        """coalition_root.derive("tickets") when an issuer is shipped."""
        if self.ticket_issuer is None:
            return None
        return coalition_ticket_issuer_root(self.coalition_root())

    # ---- modules ------------------------------------------------------
    def module(self, kind: ModuleKind) -> TypedModuleConfig | None:
        """The typed config in ``kind``'s slot, or None when not shipped."""
        return self.module_slots[list(ModuleKind).index(kind)]

    def shipped_modules(self) -> tuple[ModuleKind, ...]:
        return tuple(k for k, s in zip(ModuleKind, self.module_slots, strict=True) if s)

    def module_root(self, kind: ModuleKind) -> UniqueId | None:
        if self.module(kind) is None:
            return None
        return module_root(self.coalition_root(), kind)

    def module_committee(self, kind: ModuleKind) -> UniqueId | None:
        """The module committee's GroupId seed (D3)."""
        slot = self.module(kind)
        if slot is None:
            return None
        return module_committee_id(self.coalition_root(), kind, self._members_preimage(), slot.body)

    def module_ref(self, kind: ModuleKind) -> OrganismRef | None:
        """The derived OrganismRef of a shipped module: role = kind, stable id = module root."""
        slot = self.module(kind)
        if slot is None:
            return None
        return OrganismRef(
            kind.str_name(), module_root(self.coalition_root(), kind), slot.content_hash()
        )

    def atlas(self) -> OrganismRef | None:
        return self.module_ref(ModuleKind.ATLAS)

    def almanac(self) -> OrganismRef | None:
        return self.module_ref(ModuleKind.ALMANAC)

    def chronicle(self) -> OrganismRef | None:
        return self.module_ref(ModuleKind.CHRONICLE)

    def compute(self) -> OrganismRef | None:
        return self.module_ref(ModuleKind.COMPUTE)

    def randomness(self) -> OrganismRef | None:
        return self.module_ref(ModuleKind.RANDOMNESS)

    # ---- members ------------------------------------------------------
    def organisms_by_name(self, role: str) -> OrganismRef | None:
        """The first referenced organism with this role, or None."""
        return next((ref for ref in self.organisms if ref.role == role), None)

    def member_ids(self) -> tuple[MemberId, ...]:
        """MemberIds of every referenced member: lattices first, then organisms."""
        return tuple(
            MemberId.of(sid) for sid in (*self.lattices, *(r.stable_id for r in self.organisms))
        )

    def replace(self, **changes: object) -> CoalitionConfig:
        """A copy with some constructor arguments changed (e.g. a new member list)."""
        args: dict[str, object] = {
            "schema_version": self.schema_version,
            "coalition_seed": self.coalition_seed,
            "instance_name": self.instance_name,
            "lattices": self.lattices,
            "organisms": self.organisms,
            "ticket_issuer": self.ticket_issuer,
            "retirement_policy": self.retirement_policy,
        }
        args.update({k.value: s for k, s in zip(ModuleKind, self.module_slots, strict=True)})
        unknown = set(changes) - set(args)
        if unknown:
            raise TypeError(f"unknown CoalitionConfig field(s): {', '.join(sorted(unknown))}")
        args.update(changes)
        return CoalitionConfig(**args)  # type: ignore[arg-type]

    # ---- handshake bytes ----------------------------------------------
    def to_bytes(self) -> bytes:
        """HANDSHAKE_MAGIC followed by the canonical encoding of every field."""
        atlas, almanac, chronicle, compute, randomness = self.module_slots
        wire = _HandshakeWire(
            self.schema_version,
            self.coalition_seed,
            self.instance_name,
            self.lattices,
            self.organisms,
            atlas,  # type: ignore[arg-type]
            almanac,  # type: ignore[arg-type]
            chronicle,  # type: ignore[arg-type]
            compute,  # type: ignore[arg-type]
            randomness,  # type: ignore[arg-type]
            self.ticket_issuer,
            self.retirement_policy,
        )
        return HANDSHAKE_MAGIC + encode(wire)

    def to_hex(self) -> str:
        return self.to_bytes().hex()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        if not data.startswith(HANDSHAKE_MAGIC):
            raise HandshakeError("not a coalition handshake (missing 'COAL' magic)")
        try:
            wire = decode(
                data[len(HANDSHAKE_MAGIC) :], _HandshakeWire, max_size=MAX_HANDSHAKE_BYTES
            )
        except DecodeError as exc:
            raise HandshakeError(f"malformed coalition handshake: {exc}") from exc
        try:
            return cls(
                schema_version=wire.schema_version,
                coalition_seed=wire.coalition_seed,
                instance_name=wire.instance_name,
                lattices=wire.lattices,
                organisms=wire.organisms,
                atlas=wire.atlas,
                almanac=wire.almanac,
                chronicle=wire.chronicle,
                compute=wire.compute,
                randomness=wire.randomness,
                ticket_issuer=wire.ticket_issuer,
                retirement_policy=wire.retirement_policy,
            )
        except (TypeError, ValueError) as exc:
            raise HandshakeError(f"invalid coalition handshake: {exc}") from exc

    @classmethod
    def from_hex(cls, text: str) -> Self:
        """Strict inverse of :meth:`to_hex` (lowercase or uppercase hex, nothing else)."""
        if len(text) % 2 or not _HEX.issuperset(text):
            raise HandshakeError("coalition handshake must be an even-length hex string")
        if len(text) > 2 * MAX_HANDSHAKE_BYTES:
            raise HandshakeError(f"coalition handshake exceeds {MAX_HANDSHAKE_BYTES} bytes")
        return cls.from_bytes(bytes.fromhex(text))
