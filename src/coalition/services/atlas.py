"""Atlas: the coalition's member directory, ``Map<MemberId, MemberCard>`` (pure state machine).

A card is signed by the contributing member's operator (or by the coalition
operator, in single-operator coalitions) and merged by the committee. The
merge is deterministic: a card is admitted only for a catalogued member, only
from an authorised signer, only with a higher version than the card it
replaces, and a member's status only moves forward (Active → Retiring →
Retired). Every refusal is a result the caller sees, never a silent drop.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Final

from pymosaik.primitives import DecodeError, PeerId, SecretKey, UniqueId, Wire, decode, encode

from ..identity import MemberId, check_name
from ..retirement import ComponentRef

__all__ = [
    "AtlasMachine",
    "AtlasQuery",
    "AtlasResult",
    "MemberCard",
    "MemberStatus",
    "SignedMemberCard",
    "UpsertCard",
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
