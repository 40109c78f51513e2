"""Compute's replicated machine: cards, requests, clearing, grants and usage logs.

Commands from committee members travel in a signed envelope; provider cards and usage logs
carry the provider's own signature as well, so a member cannot register or log for a provider.
Settlement is checked, never moved (D9): the member relaying a request has read the payment on
the chain, and commits the request as an `Ask` whose budget is what the payment covers; the log
holds no transaction hash, only a keyed tag, so one payment funds one request and a replica of
the log cannot trace the payment (hence its payer) on the chain.
Clearing runs over the pending requests when a member proposes ``Clear`` (at each cadence), with
the reputation scores it read committed in the same command, so the rule replays exactly.

State is also kept as keyed surfaces (read with `Compute.replica`): ``providers`` (ProviderId →
the signed card; removed on deregistration), ``grants`` (request id → `Decision`: the grant or
the refusal, then the usage log) and ``logs`` (every usage log, in commit order).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Final

from coalition.framework.keyed import KeyedStore, MapSurface, VecSurface
from coalition.member_commands import MemberSignatures, apply_decoded
from pymosaik.primitives import DecodeError, PeerId, SecretKey, UniqueId, Wire, decode, encode

from .clearing import RULE, Capacity, clear, price
from .items import (
    Ask,
    ClearingRecord,
    ComputeGrant,
    ComputeLog,
    ComputeRequest,
    Decision,
    ProviderCard,
    Refusal,
    SettlementEvidence,
    SignedCard,
    provider_id,
)

HISTORY: Final = 4096
MAX_PENDING: Final = 10_000
_DOMAIN: Final = b"compute.command.v1|"

PROVIDERS: Final = MapSurface("providers", bytes, SignedCard, max_key_bytes=64)
GRANTS: Final = MapSurface("grants", bytes, Decision, max_key_bytes=64)
LOGS: Final = VecSurface("logs", ComputeLog)


class ComputeConfig(Wire, frozen=True):
    name: str
    settlement_contract: bytes  # 20-byte EVM address payments must go to
    max_card_age_ms: int = 120_000
    grace_ms: int = 60_000  # how long after valid_to a log is still taken
    rule: str = RULE


class Register(Wire, frozen=True, tag="register"):
    card: SignedCard


class Deregister(Wire, frozen=True, tag="deregister"):
    provider: bytes
    at_ms: int
    signature: bytes  # by the provider over (provider, at_ms)


class Submit(Wire, frozen=True, tag="submit"):
    ask: Ask
    at_ms: int

    @classmethod
    def relay(
        cls, req: ComputeRequest, ev: SettlementEvidence, *, at_ms: int, tag_key: bytes
    ) -> Submit:
        """What a member proposes for an opened request whose payment it read."""
        return cls(Ask.of(req, ev, tag_key), at_ms)


class Clear(Wire, frozen=True, tag="clear"):
    at_ms: int
    reputation: tuple[tuple[bytes, int], ...] = ()  # (ProviderId, basis points)


class AppendLog(Wire, frozen=True, tag="log"):
    log: ComputeLog


Body = Register | Deregister | Submit | Clear | AppendLog


class Signed(Wire, frozen=True):
    member: int
    body: Body
    signature: bytes

    @classmethod
    def by(cls, key: SecretKey, member: int, body: Body) -> Signed:
        return cls(member, body, MemberSignatures.sign(_DOMAIN, key, body))


class ByProvider(Wire, frozen=True):
    """A provider's own command, sent straight to the committee's intake: its card (provider
    signed), its deregistration (provider signed) or a usage log (provider signed). No member
    envelope is needed: the provider's signature is what the machine checks."""

    body: Register | Deregister | AppendLog


class ComputeResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    grants: tuple[ComputeGrant, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    records: tuple[ClearingRecord, ...] = ()
    logs: tuple[ComputeLog, ...] = ()


def deregister_message(provider: bytes, at_ms: int) -> bytes:
    return b"compute.deregister.v1|" + provider + at_ms.to_bytes(8, "little")


class _Image(Wire, frozen=True):
    cards: tuple[ProviderCard, ...]
    pending: tuple[Ask, ...]
    grants: tuple[ComputeGrant, ...]
    active: tuple[bytes, ...]
    logs: tuple[ComputeLog, ...]
    refusals: tuple[Refusal, ...]
    records: tuple[ClearingRecord, ...]
    seen: tuple[bytes, ...]
    paid: tuple[bytes, ...]
    store: bytes
    clock_ms: int


class ComputeMachine:
    def __init__(self, cfg: ComputeConfig, committee: Sequence[PeerId]) -> None:
        if len(cfg.settlement_contract) != 20:
            raise ValueError("the settlement contract is a 20-byte address")
        self.cfg = cfg
        self._sigs = MemberSignatures(_DOMAIN, committee)
        self.cards: dict[bytes, ProviderCard] = {}
        self._pending: dict[bytes, Ask] = {}
        self.grants: dict[bytes, ComputeGrant] = {}  # by request id (= grant id)
        self._active: set[bytes] = set()  # grants holding capacity
        self.logs: dict[bytes, ComputeLog] = {}
        self.refusals: deque[Refusal] = deque(maxlen=HISTORY)
        self.records: deque[ClearingRecord] = deque(maxlen=HISTORY)
        self._seen: set[bytes] = set()  # every request id ever submitted (no double grant)
        self._paid: set[bytes] = set()  # every payment tag ever used (one payment, one request)
        #: The newest clearing's time: the committee's clock (a member's clock only moves it on).
        self.clock_ms = 0
        self.store = KeyedStore(self.signature(), [PROVIDERS, GRANTS, LOGS])
        self._index = 0  # the log index being applied: keyed entries record where they came from

    def signature(self) -> UniqueId:
        return UniqueId.from_parts(f"compute|{self.cfg.name}|{self.cfg.rule}")

    @property
    def pending(self) -> int:
        """Requests waiting for the next clearing."""
        return len(self._pending)

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        index = getattr(ctx, "index", None)
        self._index = index if isinstance(index, int) else self._index
        try:
            direct = decode(command, ByProvider)
        except DecodeError:
            return apply_decoded(command, Signed, self.step, lambda why: ComputeResult(False, why))
        return encode(self.from_provider(direct.body))

    def from_provider(self, body: Register | Deregister | AppendLog) -> ComputeResult:
        """A provider's self-signed command (no member envelope)."""
        if isinstance(body, Register):
            return self._register(body.card)
        if isinstance(body, Deregister):
            return self._deregister(body)
        return self._log(body.log)

    def step(self, signed: Signed) -> ComputeResult:
        refused = self._sigs.check(signed.member, signed.body, signed.signature)
        if refused is not None:
            return ComputeResult(False, refused)
        body = signed.body
        if isinstance(body, Register):
            return self._register(body.card)
        if isinstance(body, Deregister):
            return self._deregister(body)
        if isinstance(body, Submit):
            return self._submit(body)
        if isinstance(body, Clear):
            return self._clear(body)
        return self._log(body.log)

    def _register(self, sc: SignedCard) -> ComputeResult:
        card = sc.card
        if not sc.verify():
            return ComputeResult(False, "card signature does not verify")
        caps = card.capabilities
        if not caps.regions:
            return ComputeResult(False, "a card names at least one region")
        if caps.max_cpu_millicores <= 0 or caps.max_ram_mib <= 0:
            return ComputeResult(False, "a card offers positive cpu and ram")
        if card.rates.per_core_hour < 0 or card.rates.per_gib_hour < 0:
            return ComputeResult(False, "rates are non-negative")
        if caps.tdx_capable and len(card.tdx_mrtd) != 48:
            return ComputeResult(False, "a TDX-capable card declares its 48-byte measurement")
        if len(card.reply_key) != 32:
            return ComputeResult(False, "reply key is 32 bytes")
        old = self.cards.get(card.provider_id)
        if old is not None and old.refreshed_at_ms >= card.refreshed_at_ms:
            return ComputeResult(True, "not newer than the registered card")
        self.cards[card.provider_id] = card
        self.store.put(PROVIDERS, card.provider_id, sc, self._index)
        return ComputeResult(True)

    def _deregister(self, d: Deregister) -> ComputeResult:
        card = self.cards.get(d.provider)
        if card is None:
            return ComputeResult(True, "not registered")
        if not PeerId(card.signer).verify(d.signature, deregister_message(d.provider, d.at_ms)):
            return ComputeResult(False, "deregistration not signed by the provider")
        del self.cards[d.provider]
        self.store.remove(PROVIDERS, d.provider, self._index)
        return ComputeResult(True)

    def _submit(self, s: Submit) -> ComputeResult:
        ask = s.ask
        why = ask.check()
        if why is not None:
            return ComputeResult(False, why)
        rid = ask.request_id
        if self.known(rid):
            return ComputeResult(True, "duplicate request")
        if max(s.at_ms, self.clock_ms) > ask.deadline_ms:
            return ComputeResult(False, "deadline passed")
        if ask.contract != self.cfg.settlement_contract:
            return ComputeResult(False, "the payment went to another contract")
        if self.spent(ask.payment_tag):
            return ComputeResult(False, "the payment already funds another request")
        if len(self._pending) >= MAX_PENDING:
            return ComputeResult(False, "too many pending requests")
        self._seen.add(rid)
        self._paid.add(ask.payment_tag)
        self._pending[rid] = ask
        return ComputeResult(True)

    def release_expired(self, now_ms: int) -> None:
        """Grants past their window (plus grace) without a log release their capacity."""
        for rid in sorted(self._active):
            if self.grants[rid].valid_to_ms + self.cfg.grace_ms < now_ms:
                self._active.discard(rid)

    def known(self, rid: bytes) -> bool:
        """Was this request ever submitted? (What makes a second grant impossible.)"""
        return rid in self._seen

    def stale(self, at_ms: int) -> bool:
        """Is a clearing at ``at_ms`` no later than the last one? (The committee's clock never
        goes back: a grant never starts before a clearing already committed.)"""
        return at_ms <= self.clock_ms

    def spent(self, tag: bytes) -> bool:
        """Has this payment funded a request already? (One payment, one request.)"""
        return tag in self._paid

    def free(self) -> dict[bytes, Capacity]:
        out = {
            pid: Capacity(c.capabilities.max_cpu_millicores, c.capabilities.max_ram_mib)
            for pid, c in self.cards.items()
        }
        for rid in self._active:
            g = self.grants[rid]
            cap = out.get(g.provider)
            if cap is not None:
                out[g.provider] = Capacity(
                    cap.cpu_millicores - g.cpu_millicores, cap.ram_mib - g.ram_mib
                )
        return out

    def _clear(self, c: Clear) -> ComputeResult:
        now = c.at_ms
        if self.stale(now):  # proposed before the last clearing, committed after it
            return ComputeResult(False, "a clearing no later than the last one")
        self.clock_ms = max(self.clock_ms, now)
        self.release_expired(now)
        reputation = dict(c.reputation)
        cards = [self.cards[k] for k in sorted(self.cards)]
        free = self.free()  # once per clearing, then taken grant by grant
        grants, refusals, records = [], [], []
        for rid in list(self._pending):  # submission order
            req = self._pending.pop(rid)
            if now > req.deadline_ms:
                refusals.append(Refusal(rid, "deadline passed before clearing"))
                continue
            card, why = clear(
                req, cards, free, reputation, now=now, max_age_ms=self.cfg.max_card_age_ms
            )
            if card is None:
                refusals.append(Refusal(rid, why))
                continue
            p = price(card, req)
            grant = ComputeGrant(
                rid,
                card.provider_id,
                req.pin,
                now,
                now + req.duration_sec * 1000,
                card.tdx_mrtd if req.tdx_required else b"",
                p,
                req.region or card.capabilities.regions[0],
                req.min_cpu_millicores,
                req.min_ram_mib,
                req.reply_key,
            )
            self.grants[rid] = grant
            self._active.add(rid)
            left = free[card.provider_id]
            free[card.provider_id] = Capacity(
                left.cpu_millicores - req.min_cpu_millicores, left.ram_mib - req.min_ram_mib
            )
            grants.append(grant)
            records.append(
                ClearingRecord(now, rid, card.provider_id, p, grant.region, req.tdx_required)
            )
        self.refusals.extend(refusals)
        self.records.extend(records)
        for g in grants:
            self.store.put(GRANTS, g.request_id, Decision(grant=g), self._index)
        for r in refusals:
            self.store.put(GRANTS, r.request_id, Decision(refusal=r.reason), self._index)
        return ComputeResult(
            True, grants=tuple(grants), refusals=tuple(refusals), records=tuple(records)
        )

    def _log(self, log: ComputeLog) -> ComputeResult:
        b = log.body
        grant = self.grants.get(b.grant_id)
        if grant is None:
            return ComputeResult(False, "no such grant")
        if b.provider != grant.provider:
            return ComputeResult(False, "log is not from the granted provider")
        card_signer = next(
            (c.signer for c in self.cards.values() if c.provider_id == grant.provider), None
        )
        if card_signer is None or provider_id(card_signer) != grant.provider:
            return ComputeResult(False, "the provider is no longer registered")
        if not log.verify(card_signer):
            return ComputeResult(False, "log signature does not verify")
        if b.grant_id in self.logs:
            return ComputeResult(True, "one log per grant")
        if not grant.valid_from_ms <= b.window_from_ms <= b.window_to_ms:
            return ComputeResult(False, "window outside the grant")
        if b.window_to_ms > grant.valid_to_ms + self.cfg.grace_ms:
            return ComputeResult(False, "window outside the grant")
        self.logs[b.grant_id] = log
        self._active.discard(b.grant_id)
        self.store.put(GRANTS, b.grant_id, Decision(grant=grant, log=log), self._index)
        self.store.append(LOGS, log, self._index)
        return ComputeResult(True, logs=(log,))

    def query(self, query: bytes) -> bytes:
        return encode(tuple(self.grants[k] for k in sorted(self.grants)))

    def snapshot(self) -> bytes:
        return encode(
            _Image(
                tuple(self.cards[k] for k in sorted(self.cards)),
                tuple(self._pending.values()),
                tuple(self.grants[k] for k in sorted(self.grants)),
                tuple(sorted(self._active)),
                tuple(self.logs[k] for k in sorted(self.logs)),
                tuple(self.refusals),
                tuple(self.records),
                tuple(sorted(self._seen)),
                tuple(sorted(self._paid)),
                self.store.image(),
                self.clock_ms,
            )
        )

    def restore(self, data: bytes) -> None:
        im = decode(data, _Image)
        self.cards = {c.provider_id: c for c in im.cards}
        self._pending = {a.request_id: a for a in im.pending}
        self.grants = {g.request_id: g for g in im.grants}
        self._active = set(im.active)
        self.logs = {entry.body.grant_id: entry for entry in im.logs}
        self.refusals = deque(im.refusals, maxlen=HISTORY)
        self.records = deque(im.records, maxlen=HISTORY)
        self._seen = set(im.seen)
        self._paid = set(im.paid)
        self.clock_ms = im.clock_ms
        self.store.restore(im.store)
