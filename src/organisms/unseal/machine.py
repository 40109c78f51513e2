"""The unseal committee's replicated machine.

It holds only public material: registrations (ShareRegistry), the DKG transcript, the sealed
boxes of each ingested zipnet round and the partial decryptions members submit. Every partial
is checked against its member's verification key before it is kept (a bad one is recorded as
``BadShare`` evidence and never combined); once every box of the oldest pending round has t
good partials the machine combines them and appends an ``UnsealedRound`` to the pool. Rounds
open strictly in ingest order, so the pool follows zipnet's order; a round that cannot reach t
holds the ones behind it (the committee has lost its threshold: an operator matter).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from coalition.crypto.dkg import Deal, DkgParams, DkgResult, DkgTranscript, Phase
from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import PartialDecryption, SealError, ThresholdElGamal
from pymosaik.primitives import DecodeError, PeerId, UniqueId, decode, encode

from .items import (
    SIGN_DOMAIN,
    BadShare,
    Cleartext,
    ClosePhase,
    ComplaintCmd,
    DealCmd,
    Ingest,
    JustifyCmd,
    Register,
    SealedSlot,
    ShareBundle,
    Shares,
    Signed,
    UnsealConfig,
    UnsealedRound,
    UnsealResult,
    dkg_session,
    unseal_root,
)

POOL_HISTORY: Final = 1024
MAX_PENDING_ROUNDS: Final = 64
MAX_BOXES: Final = 4096
_TE: Final = ThresholdElGamal(RISTRETTO255)


def seal_context(cfg: UnsealConfig) -> bytes:
    """The AEAD context of every box sealed to this deployment (``seal`` uses the same)."""
    return unseal_root(cfg).bytes


@dataclass
class _Pending:
    round: int
    boxes: tuple[SealedSlot, ...]
    good: dict[int, dict[int, PartialDecryption]] = field(default_factory=dict)


class UnsealMachine:
    """Deterministic over committed commands; ``committee`` lists member PeerIds by index."""

    def __init__(self, cfg: UnsealConfig, committee: Sequence[PeerId]) -> None:
        cfg.check()
        if len(committee) != cfg.n:
            raise ValueError(f"unseal config says n={cfg.n}, committee has {len(committee)}")
        self.cfg = cfg
        self._committee = list(committee)
        self._log: list[Signed] = []  # accepted DKG commands: the snapshot replays them
        self._reset()

    def _reset(self) -> None:
        self.registry: dict[int, ShareBundle] = {}
        self._deals: dict[int, Deal] = {}
        self.transcript = DkgTranscript(
            RISTRETTO255, DkgParams(dkg_session(self.cfg), self.cfg.n, self.cfg.t)
        )
        self._pending: deque[_Pending] = deque()
        self._last_round = -1
        self.pool: deque[UnsealedRound] = deque(maxlen=POOL_HISTORY)
        self.next_slot = 0
        self.bad_shares: deque[BadShare] = deque(maxlen=POOL_HISTORY)

    @property
    def key(self) -> DkgResult | None:
        return self.transcript.result

    @property
    def last_round(self) -> int:
        """The newest zipnet round ingested (-1 before the first)."""
        return self._last_round

    def deal_of(self, dealer: int) -> Deal | None:
        return self._deals.get(dealer)

    def pending_rounds(self) -> list[tuple[int, tuple[SealedSlot, ...]]]:
        return [(p.round, p.boxes) for p in self._pending]

    def signature(self) -> UniqueId:
        return unseal_root(self.cfg).derive("committee.v1")

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        try:
            signed = decode(command, Signed)
        except DecodeError as exc:
            return encode(UnsealResult(False, f"malformed command: {exc}"))
        return encode(self.step(signed))

    def step(self, signed: Signed) -> UnsealResult:
        body = signed.body
        if not 1 <= body.member <= self.cfg.n:
            return UnsealResult(False, f"member {body.member} is not on the committee")
        peer = self._committee[body.member - 1]
        if not peer.verify(signed.signature, SIGN_DOMAIN + encode(body)):
            return UnsealResult(False, "bad signature")
        if isinstance(body, Ingest):
            return self._ingest(body)
        if isinstance(body, Shares):
            return self._shares(body)
        result = self._dkg(body)
        if result.ok and result.reason == "":
            self._log.append(signed)
        return result

    # --- key generation -------------------------------------------------------------------

    def _dkg(
        self, body: Register | DealCmd | ComplaintCmd | JustifyCmd | ClosePhase
    ) -> UnsealResult:
        tr = self.transcript
        if isinstance(body, Register):
            if body.member in self.registry:
                return UnsealResult(True, "already registered")
            if len(body.encryption_key) != 32:
                return UnsealResult(False, "an encryption key is 32 bytes")
            self.registry[body.member] = ShareBundle(body.member, body.encryption_key)
            return UnsealResult(True)
        if len(self.registry) < self.cfg.n:
            return UnsealResult(False, "waiting for every member to register")
        why: str | None
        if isinstance(body, DealCmd):
            if body.deal.dealer != body.member:
                return UnsealResult(False, "a member deals only as itself")
            why = tr.apply_deal(body.deal)
            if why is None:
                self._deals[body.member] = body.deal
        elif isinstance(body, ComplaintCmd):
            if body.complaint.accuser != body.member:
                return UnsealResult(False, "a member complains only as itself")
            why = tr.apply_complaint(body.complaint)
        elif isinstance(body, JustifyCmd):
            if body.justification.dealer != body.member:
                return UnsealResult(False, "only the accused dealer justifies")
            why = tr.apply_justification(body.justification)
        else:
            why = self._close(body.phase)
        if why is not None:
            return UnsealResult(False, why)
        return UnsealResult(True)

    def _close(self, phase: str) -> str | None:
        tr = self.transcript
        if phase == "dealing":
            tr.close_dealing()
        elif phase == "complaints":
            tr.close_complaints()
        elif phase == "finish":
            if tr.finish() is not None and tr.result is not None:
                for i, vk in enumerate(tr.result.verification_keys, start=1):
                    if i in self.registry:
                        b = self.registry[i]
                        self.registry[i] = ShareBundle(i, b.encryption_key, vk)
        else:
            return f"unknown phase {phase!r}"
        return None

    # --- opening --------------------------------------------------------------------------

    def _ingest(self, body: Ingest) -> UnsealResult:
        if self.transcript.phase is not Phase.DONE:
            return UnsealResult(False, "no threshold key yet")
        if body.round <= self._last_round:
            return UnsealResult(True, "round already ingested")
        if not body.boxes or len(body.boxes) > MAX_BOXES:
            return UnsealResult(False, f"a round carries 1..{MAX_BOXES} boxes")
        if len(self._pending) >= MAX_PENDING_ROUNDS:
            return UnsealResult(False, "too many rounds waiting for shares")
        indices = [b.slot_index for b in body.boxes]
        if len(set(indices)) != len(indices):
            return UnsealResult(False, "duplicate slot index")
        for b in body.boxes:
            try:
                RISTRETTO255.decode(b.sealed.ephemeral)
            except ValueError:
                return UnsealResult(False, f"box {b.slot_index} has a bad ephemeral element")
        self._last_round = body.round
        self._pending.append(_Pending(body.round, body.boxes))
        return UnsealResult(True)

    def _shares(self, body: Shares) -> UnsealResult:
        key = self.transcript.result
        pending = next((p for p in self._pending if p.round == body.round), None)
        if key is None or pending is None:
            return UnsealResult(False, "round is not waiting for shares")
        boxes = {b.slot_index: b.sealed for b in pending.boxes}
        bad: list[BadShare] = []
        for sp in body.partials:
            sealed = boxes.get(sp.slot_index)
            if sealed is None:
                bad.append(BadShare(body.round, sp.slot_index, body.member, "no such box"))
                continue
            have = pending.good.setdefault(sp.slot_index, {})
            if body.member in have:
                continue  # a resend: already verified and kept
            if sp.partial.index != body.member:
                why: str | None = "partial carries another member's index"
            else:
                why = _TE.check_partial(key, sealed, sp.partial)
            if why is not None:
                bad.append(BadShare(body.round, sp.slot_index, body.member, why))
                continue
            have[body.member] = sp.partial
        self.bad_shares.extend(bad)
        opened = self._drain(key)
        return UnsealResult(True, opened=opened, bad_shares=tuple(bad))

    def _drain(self, key: DkgResult) -> tuple[UnsealedRound, ...]:
        out: list[UnsealedRound] = []
        while self._pending:
            p = self._pending[0]
            if any(len(p.good.get(b.slot_index, {})) < key.t for b in p.boxes):
                break
            self._pending.popleft()
            clear, broken = [], []
            ctx = seal_context(self.cfg)
            for b in p.boxes:
                try:
                    good = {i: q.element for i, q in p.good[b.slot_index].items()}
                    plaintext, _ = _TE.combine_checked(key, b.sealed, good, context=ctx)
                    clear.append(Cleartext(b.slot_index, plaintext))
                except SealError:
                    broken.append(b.slot_index)
            record = UnsealedRound(self.next_slot, p.round, tuple(clear), tuple(broken))
            self.next_slot += 1
            self.pool.append(record)
            out.append(record)
        return tuple(out)

    # --- the rest of the StateMachine protocol --------------------------------------------

    def query(self, query: bytes) -> bytes:
        return encode(tuple(self.pool))

    def snapshot(self) -> bytes:
        """Replayable image: the DKG commands, plus the pool, pending rounds and evidence."""
        pending = tuple(
            (p.round, p.boxes, tuple((s, tuple(d.values())) for s, d in sorted(p.good.items())))
            for p in self._pending
        )
        return encode(
            (
                tuple(self._log),
                pending,
                self._last_round,
                self.next_slot,
                tuple(self.pool),
                tuple(self.bad_shares),
            )
        )

    def restore(self, data: bytes) -> None:
        image = decode(
            data,
            tuple[
                tuple[Signed, ...],
                tuple[
                    tuple[
                        int,
                        tuple[SealedSlot, ...],
                        tuple[tuple[int, tuple[PartialDecryption, ...]], ...],
                    ],
                    ...,
                ],
                int,
                int,
                tuple[UnsealedRound, ...],
                tuple[BadShare, ...],
            ],
        )
        log, pending, last, next_slot, pool, bad = image
        self._log = []
        self._reset()
        for signed in log:
            self.step(signed)
        for round_, boxes, good in pending:
            self._pending.append(
                _Pending(round_, boxes, {s: {p.index: p for p in ps} for s, ps in good})
            )
        self._last_round, self.next_slot = last, next_slot
        self.pool.extend(pool)
        self.bad_shares.extend(bad)
