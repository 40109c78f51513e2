"""Atlas: the coalition's member directory, ``Map<MemberId, MemberCard>`` (pure state machine).

A card is signed by the contributing member's operator (or by the coalition
operator, in single-operator coalitions) and merged by the committee. The
merge is deterministic: a card is admitted only for a catalogued member, only
from an authorised signer, only with a higher version than the card it
replaces, and a member's status only moves forward (Active → Retiring →
Retired). Every refusal is a result the caller sees, never a silent drop.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pymosaik.groups.driver import GroupError
from pymosaik.primitives import DecodeError, PeerId, SecretKey, UniqueId, Wire, decode, encode

from ..config import CoalitionConfig
from ..framework.committee import CommitteeMember
from ..framework.surface import Extractor
from ..identity import MemberId, check_name
from ..modules import ModuleKind
from ..retirement import ComponentRef
from .module import BaseModuleMember, MemberContext, ModuleSpec, module_organism

__all__ = [
    "ATLAS",
    "AtlasMachine",
    "AtlasMember",
    "AtlasQuery",
    "AtlasResult",
    "AtlasView",
    "MemberCard",
    "MemberStatus",
    "SignedMemberCard",
    "UpsertCard",
    "member_cards",
]

MRTD_LEN: Final = 48
MAX_HINTS: Final = 16
_SIGNING_DOMAIN: Final = b"mosaik.atlas.card.v1|"


class MemberStatus(enum.IntEnum):
    ACTIVE = 0
    RETIRING = 1
    RETIRED = 2


class MemberCard(Wire, frozen=True):
    """What the Atlas says about one member."""

    role: str
    stable_id: UniqueId
    version: int
    endpoint_hints: tuple[str, ...] = ()
    ticket_issuance_root: UniqueId | None = None
    tdx_mrtds: tuple[bytes, ...] = ()
    successor_hint: ComponentRef | None = None
    status: MemberStatus = MemberStatus.ACTIVE

    def __post_init__(self) -> None:
        check_name("card role", self.role)
        if not 0 <= self.version < 2**64:
            raise ValueError("card version must fit in u64")
        if len(self.endpoint_hints) > MAX_HINTS:
            raise ValueError(f"at most {MAX_HINTS} endpoint hints")
        for mrtd in self.tdx_mrtds:
            if len(mrtd) != MRTD_LEN:
                raise ValueError(f"an MR_TD is {MRTD_LEN} bytes, got {len(mrtd)}")

    @property
    def member_id(self) -> MemberId:
        return MemberId.of(self.stable_id)

    def sign(self, key: SecretKey) -> SignedMemberCard:
        return SignedMemberCard(self, key.peer_id.bytes, key.sign(_SIGNING_DOMAIN + encode(self)))


class SignedMemberCard(Wire, frozen=True):
    card: MemberCard
    signer: bytes
    signature: bytes

    def verify(self) -> bool:
        try:
            peer = PeerId(self.signer)
        except ValueError:
            return False
        return peer.verify(self.signature, _SIGNING_DOMAIN + encode(self.card))


class UpsertCard(Wire, frozen=True, tag="upsert"):
    card: SignedMemberCard


class AtlasQuery(Wire, frozen=True):
    """Look one member up by MemberId (20 bytes), or list every card (``member=None``)."""

    member: bytes | None = None


class AtlasResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    cards: tuple[SignedMemberCard, ...] = ()


class _Image(Wire, frozen=True):
    cards: tuple[SignedMemberCard, ...]


class AtlasMachine:
    """The committee's deterministic merge of signed member cards."""

    def __init__(
        self,
        members: Iterable[UniqueId],
        operators: Mapping[UniqueId, PeerId],
        coalition_operator: PeerId | None = None,
    ) -> None:
        """``members``: the catalogued stable ids; ``operators``: who signs each member's card."""
        self._members = frozenset(members)
        self._operators = dict(operators)
        self._coalition_operator = coalition_operator
        self._cards: dict[bytes, SignedMemberCard] = {}

    def signature(self) -> UniqueId:
        return UniqueId.from_parts(b"coalition.atlas.v1")

    # ---- StateMachine ------------------------------------------------
    def apply(self, command: bytes, ctx: object = None) -> bytes:
        try:
            cmd = decode(command, UpsertCard)
        except DecodeError as exc:
            return encode(AtlasResult(False, f"malformed command: {exc}"))
        return encode(self._upsert(cmd.card))

    def query(self, query: bytes) -> bytes:
        try:
            q = decode(query, AtlasQuery)
        except DecodeError as exc:
            return encode(AtlasResult(False, f"malformed query: {exc}"))
        if q.member is None:
            return encode(AtlasResult(True, cards=self.cards()))
        card = self._cards.get(q.member)
        return encode(AtlasResult(card is not None, "" if card else "unknown member", _opt(card)))

    def snapshot(self) -> bytes:
        return encode(_Image(self.cards()))

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image)
        self._cards = {c.card.member_id.bytes: c for c in image.cards}

    # ---- merge rule --------------------------------------------------
    def _upsert(self, signed: SignedMemberCard) -> AtlasResult:
        card = signed.card
        if card.stable_id not in self._members:
            return AtlasResult(False, "not a catalogued member of this coalition")
        allowed = {
            p.bytes for p in (self._operators.get(card.stable_id), self._coalition_operator) if p
        }
        if signed.signer not in allowed:
            return AtlasResult(False, "signer is not this member's operator")
        if not signed.verify():
            return AtlasResult(False, "bad signature")
        current = self._cards.get(card.member_id.bytes)
        if current is not None:
            if card.version <= current.card.version:
                return AtlasResult(False, "stale card version")
            if card.status < current.card.status:
                return AtlasResult(False, "member status only moves forward")
        self._cards[card.member_id.bytes] = signed
        return AtlasResult(True, cards=(signed,))

    def cards(self) -> tuple[SignedMemberCard, ...]:
        """Every card, in MemberId order (the canonical item order)."""
        return tuple(self._cards[k] for k in sorted(self._cards))


def _opt(card: SignedMemberCard | None) -> tuple[SignedMemberCard, ...]:
    return () if card is None else (card,)


# ---- the module: declaration, member side ---------------------------------------------


class AtlasView(Wire, frozen=True):
    """Atlas's public item: every card, in MemberId order (the whole map, small by design)."""

    cards: tuple[SignedMemberCard, ...]

    def card(self, stable_id: UniqueId) -> MemberCard | None:
        return next((c.card for c in self.cards if c.card.stable_id == stable_id), None)


def member_cards(coalition: CoalitionConfig) -> list[MemberCard]:
    """The first card of every catalogued member (lattices and organisms)."""
    cards = [MemberCard("lattice", sid, 1) for sid in coalition.lattices]
    cards += [MemberCard(ref.role, ref.stable_id, 1) for ref in coalition.organisms]
    return cards


def _machine(
    coalition: CoalitionConfig,
    peers: Sequence[PeerId],
    operator: PeerId,
    member_operators: Mapping[UniqueId, PeerId] | None,
) -> tuple[AtlasMachine, Extractor]:
    atlas = AtlasMachine(
        [*coalition.lattices, *(r.stable_id for r in coalition.organisms)],
        dict(member_operators or {}),
        operator,
    )

    def view(result: bytes) -> list[bytes]:
        return [encode(AtlasView(atlas.cards()))] if decode(result, AtlasResult).ok else []

    return atlas, view


@dataclass
class AtlasMember(BaseModuleMember):
    inner: AtlasMachine | None = None

    def extra(self) -> dict[str, object]:
        assert self.inner is not None
        return {"atlas_members": len(self.inner.cards())}

    async def seed_cards(self) -> None:
        """Upsert the coalition operator's card for every member (single-operator coalitions)."""
        for card in member_cards(self.ctx.coalition):
            request = UniqueId.hash(encode(card))  # same on every member: applied once
            signed = card.sign(self.ctx.operator_key)
            while True:
                try:
                    await self.member.execute(encode(UpsertCard(signed)), request)
                    break
                except GroupError:
                    await asyncio.sleep(0.2)


def _start(ctx: MemberContext, member: CommitteeMember, inner: AtlasMachine) -> AtlasMember:
    a = AtlasMember(ModuleKind.ATLAS, member, ctx, inner=inner)
    a.spawn(a.seed_cards)
    return a


ATLAS: Final[ModuleSpec[AtlasView, AtlasMachine]] = ModuleSpec(
    ModuleKind.ATLAS,
    module_organism(ModuleKind.ATLAS, AtlasView, writable=True),
    _machine,
    _start,
    (("atlas_members", "member cards"),),
)
