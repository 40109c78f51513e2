"""An `AclComposition`, evaluated: compiled into a ticket requirement the substrate enforces.

`compile_acl(acl, context)` turns the published description (coalition/acl.py) into a
`TicketRequirement` (pymosaik.tickets) — what streams' ``require_ticket`` and groups'
`GroupAccess` take — with one requirement per clause:

* ``require-peer``: the peer is this PeerId (no ticket needed);
* ``recognise-issuer``: a ticket of that issuer root signed by one of its keys (`RecogniseIssuer`);
* ``require-mrtd``: a TDX ticket whose quote carries this MR_TD (the context's `Tdx` validator;
  simulated quotes only where the context allows them, labelled);
* ``require-tag``: the peer's discovery entry carries the tag;
* ``jwt-issuer``: a JWT ticket passing the validator the context configures for that issuer id;
* ``reputation-floor``: the peer's reputation card in that organism, read by key through the
  context's lookup, scores at least the floor (basis points, D10); **a missing card fails**;
* ``market-settlement``: the context's lookup finds sufficient settlement evidence for the peer
  in that organism; missing or insufficient evidence fails.

Every refusal names the failing clause (``any-of`` lists why each alternative failed).
`verify_peer` checks a counterpart's tickets against a composition without bonding.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final, Protocol

from pymosaik.primitives import PeerId, UniqueId, unique_id
from pymosaik.tee import Tdx
from pymosaik.tickets import (
    NEVER,
    Expiration,
    InvalidTicketError,
    PeerIdentity,
    Ticket,
    TicketRequirement,
    TicketValidator,
    validate_ticket,
)

from .acl import AclClause, AclComposition, AclMode, ClauseKind
from .ticket_issuer import RecogniseIssuer

__all__ = [
    "AclContext",
    "AclRequirement",
    "ReputationCardView",
    "ReputationLookup",
    "SettlementLookup",
    "SettlementStanding",
    "Verdict",
    "compile_acl",
    "verify_peer",
]

_TAG: Final = unique_id("coalition.acl.compiled.v1")


@dataclass(frozen=True)
class ReputationCardView:
    """What a floor reads of a reputation card: the score in basis points and how long the
    card holds (``None``: until replaced)."""

    score_bps: int
    valid_until_ms: int | None = None


class ReputationLookup(Protocol):
    """A reputation organism's cards by key (a keyed surface's reader backs it)."""

    def card(self, organism: UniqueId, subject: PeerId) -> ReputationCardView | None: ...


@dataclass(frozen=True)
class SettlementStanding:
    """Settlement evidence found for a peer: enough or not, and until when it counts."""

    sufficient: bool
    valid_until_ms: int | None = None
    detail: str = ""


class SettlementLookup(Protocol):
    def standing(self, organism: UniqueId, subject: PeerId) -> SettlementStanding | None: ...


@dataclass(frozen=True)
class AclContext:
    """What evaluating clauses needs beyond the tickets: who the issuers' keys are, how TDX
    quotes are verified, JWT validators by issuer id, and the reputation / settlement lookups.
    A clause whose context is missing fails with that reason (never passes by default)."""

    issuer_keys: Callable[[UniqueId], Collection[PeerId]] = lambda _root: ()
    tdx: Tdx | None = None
    jwt: Callable[[UniqueId], TicketValidator | None] = lambda _issuer: None
    reputation: ReputationLookup | None = None
    settlement: SettlementLookup | None = None


def _expiring(until_ms: int | None) -> Expiration:
    return NEVER if until_ms is None else Expiration.at(until_ms)


class _Clause:
    """One clause as a requirement; ``label`` prefixes its refusals."""

    def __init__(self, clause: AclClause, ctx: AclContext) -> None:
        self.clause, self.ctx = clause, ctx
        self.label = clause.kind.value

    def signature(self) -> UniqueId:
        return _TAG.derive(self.clause.kind.value).derive(self.clause.value)

    def evaluate(self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int) -> Expiration:
        try:
            return self._evaluate(tickets, peer, now_ms)
        except InvalidTicketError as exc:
            raise InvalidTicketError(f"{self.label}: {exc}") from None

    def _evaluate(self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int) -> Expiration:
        kind, value = ClauseKind(self.clause.kind), self.clause.value
        if kind is ClauseKind.REQUIRE_PEER:
            if peer.peer_id.bytes != value:
                raise InvalidTicketError(f"peer {peer.peer_id.short()} is not the one required")
            return NEVER
        if kind is ClauseKind.RECOGNISE_ISSUER:
            root = UniqueId(value)
            keys = tuple(self.ctx.issuer_keys(root))
            if not keys:
                raise InvalidTicketError("no signing key is known for this issuer root")
            return validate_ticket(RecogniseIssuer(root, keys), tickets, peer, now_ms)
        if kind is ClauseKind.REQUIRE_MRTD:
            if self.ctx.tdx is None:
                raise InvalidTicketError("TDX quotes cannot be verified here")
            return validate_ticket(self.ctx.tdx.require_mrtd(value), tickets, peer, now_ms)
        if kind is ClauseKind.REQUIRE_TAG:
            tags = getattr(peer, "tags", None)
            if tags is None:
                raise InvalidTicketError("the peer's discovery tags are not known here")
            if UniqueId(value) not in set(tags):
                raise InvalidTicketError("the peer does not carry the required tag")
            return NEVER
        if kind is ClauseKind.JWT_ISSUER:
            validator = self.ctx.jwt(UniqueId(value))
            if validator is None:
                raise InvalidTicketError("no validator is configured for this JWT issuer")
            return validate_ticket(validator, tickets, peer, now_ms)
        if kind is ClauseKind.REPUTATION_FLOOR:
            organism, floor = UniqueId(value[:32]), int.from_bytes(value[32:], "little")
            if self.ctx.reputation is None:
                raise InvalidTicketError("no reputation organism can be read here")
            card = self.ctx.reputation.card(organism, peer.peer_id)
            if card is None:
                raise InvalidTicketError("the peer has no reputation card")
            if card.valid_until_ms is not None and card.valid_until_ms < now_ms:
                raise InvalidTicketError("the peer's reputation card has lapsed")
            if card.score_bps < floor:
                score = card.score_bps
                raise InvalidTicketError(f"score {score} bps is below the {floor} bps floor")
            return _expiring(card.valid_until_ms)
        # MARKET_SETTLEMENT
        if self.ctx.settlement is None:
            raise InvalidTicketError("no settlement organism can be read here")
        standing = self.ctx.settlement.standing(UniqueId(value), peer.peer_id)
        if standing is None:
            raise InvalidTicketError("no settlement evidence for the peer")
        if not standing.sufficient:
            why = f"settlement evidence is insufficient {standing.detail}"
            raise InvalidTicketError(why.strip())
        if standing.valid_until_ms is not None and standing.valid_until_ms < now_ms:
            raise InvalidTicketError("the settlement evidence has lapsed")
        return _expiring(standing.valid_until_ms)


class AclRequirement:
    """A compiled composition: a `TicketRequirement` whose refusals name the failing clauses."""

    def __init__(self, acl: AclComposition, ctx: AclContext) -> None:
        self.acl = acl
        self.mode = AclMode(acl.mode)
        self._clauses = tuple(_Clause(c, ctx) for c in acl.clauses)

    def signature(self) -> UniqueId:
        """The composition's fingerprint under a tag: members compiled from the same published
        ACL agree (the lookups' contents are run-time data, not configuration)."""
        return _TAG.derive(self.acl.fingerprint().bytes)

    def evaluate(self, tickets: Collection[Ticket], peer: PeerIdentity, now_ms: int) -> Expiration:
        if self.mode is AclMode.OPEN:
            return NEVER
        if self.mode is AclMode.ALL_OF:
            earliest = NEVER
            for clause in self._clauses:
                earliest = min(earliest, clause.evaluate(tickets, peer, now_ms))
            return earliest
        latest: Expiration | None = None
        reasons: list[str] = []
        for clause in self._clauses:
            try:
                expiration = clause.evaluate(tickets, peer, now_ms)
            except InvalidTicketError as exc:
                reasons.append(str(exc))
                continue
            if latest is None or expiration > latest:
                latest = expiration
        if latest is None:
            raise InvalidTicketError("any-of: none passed (" + "; ".join(reasons) + ")")
        return latest


def compile_acl(acl: AclComposition, ctx: AclContext | None = None) -> TicketRequirement:
    """The requirement a stream, group or intake enforces for ``acl``."""
    return AclRequirement(acl, ctx or AclContext())


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    expires: Expiration | None = None


def verify_peer(
    acl: AclComposition | TicketRequirement,
    tickets: Collection[Ticket],
    peer: PeerIdentity,
    now_ms: int,
    ctx: AclContext | None = None,
) -> Verdict:
    """Check a counterpart's tickets (from its discovery entry) against a composition without
    bonding to it: ok with how long it holds, or refused with the failing clauses."""
    req = compile_acl(acl, ctx) if isinstance(acl, AclComposition) else acl
    try:
        return Verdict(True, expires=req.evaluate(tickets, peer, now_ms))
    except InvalidTicketError as exc:
        return Verdict(False, str(exc))
