"""The unseal committee's replicated machine.

It holds only public material: the key generation (``coalition.keygen``: registrations into
ShareRegistry and the DKG transcript), the sealed boxes of each ingested zipnet round and the
partial decryptions members submit. Every partial is checked against its member's verification
key before it is kept (a bad one is recorded as ``BadShare`` evidence and never combined); once
every box of the oldest pending round has t good partials the machine combines them and appends
an ``UnsealedRound`` to the pool. Rounds open strictly in ingest order, so the pool follows
zipnet's order; a round that cannot reach t holds the ones behind it (the committee has lost
its threshold: an operator matter).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec

from coalition.crypto.dkg import DkgParams, DkgResult, DkgTranscript
from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import PartialDecryption, Sealed, SealError, ThresholdElGamal
from coalition.framework.keyed import KeyedStore, VecSurface
from coalition.keygen import KeygenState, ShareBundle
from coalition.keygen_recovery import RecoveryImage
from coalition.member_commands import MemberSignatures, apply_decoded
from pymosaik.primitives import PeerId, UniqueId, Wire, decode, encode

from .items import (
    SIGN_DOMAIN,
    BadShare,
    Cleartext,
    Ingest,
    SealedSlot,
    Shares,
    Signed,
    UnsealConfig,
    UnsealedRound,
    UnsealResult,
    dkg_session,
    unseal_root,
)

POOL_HISTORY: Final = 1024
#: UnsealedPool as a keyed surface: entry ``slot`` read by index, with every entry ever opened.
POOL: Final = VecSurface("pool", UnsealedRound, max_value_bytes=2 * 1024 * 1024)
MAX_PENDING_ROUNDS: Final = 64
MAX_BOXES: Final = 4096
_TE: Final = ThresholdElGamal(RISTRETTO255)


def seal_context(cfg: UnsealConfig) -> bytes:
    """The AEAD context of every box sealed to this deployment (``seal`` uses the same)."""
    return unseal_root(cfg).bytes


class _Image(Wire, frozen=True):
    keygen: tuple[Signed, ...]
    pending: tuple[
        tuple[int, tuple[SealedSlot, ...], tuple[tuple[int, tuple[PartialDecryption, ...]], ...]],
        ...,
    ]
    last_round: int
    next_slot: int
    pool: tuple[UnsealedRound, ...]
    bad_shares: tuple[BadShare, ...]
    recovery: RecoveryImage = RecoveryImage()
    store: bytes = b""


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
        self._sigs = MemberSignatures(SIGN_DOMAIN, committee)
        self._log: list[Signed] = []  # accepted key-generation commands: the snapshot replays them
        self._reset()

    def _reset(self) -> None:
        self.keygen = KeygenState(
            RISTRETTO255, DkgParams(dkg_session(self.cfg), self.cfg.n, self.cfg.t)
        )
        self._pending: deque[_Pending] = deque()
        self._last_round = -1
        self.pool: deque[UnsealedRound] = deque(maxlen=POOL_HISTORY)
        self.next_slot = 0
        self.bad_shares: deque[BadShare] = deque(maxlen=POOL_HISTORY)
        self.store = KeyedStore(unseal_root(self.cfg), [POOL])
        self._index = 0  # the log index being applied: keyed entries record where they came from

    @property
    def transcript(self) -> DkgTranscript[bytes]:
        return self.keygen.transcript

    @property
    def registry(self) -> dict[int, ShareBundle]:
        return self.keygen.registry

    @property
    def key(self) -> DkgResult | None:
        return self.keygen.result

    @property
    def last_round(self) -> int:
        """The newest zipnet round ingested (-1 before the first)."""
        return self._last_round

    def pending_rounds(self) -> list[tuple[int, tuple[SealedSlot, ...]]]:
        return [(p.round, p.boxes) for p in self._pending]

    def signature(self) -> UniqueId:
        return unseal_root(self.cfg).derive("committee.v1")

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        index = getattr(ctx, "index", None)
        self._index = index if isinstance(index, int) else self._index
        return apply_decoded(command, Signed, self.step, lambda why: UnsealResult(False, why))

    def step(self, signed: Signed) -> UnsealResult:
        body = signed.body
        refused = self._sigs.check(body.member, body, signed.signature)
        if refused is not None:
            return UnsealResult(False, refused)
        if isinstance(body, Ingest):
            return self._ingest(body)
        if isinstance(body, Shares):
            return self._shares(body)
        was_ready = self.keygen.ready
        result = UnsealResult(*self.keygen.apply_logged(body, signed, self._log))
        key = self.keygen.result
        if not was_ready and self.keygen.ready and key is not None:
            result = msgspec.structs.replace(result, group_key=key.group_key)
        return result

    # --- opening --------------------------------------------------------------------------

    def _ingest(self, body: Ingest) -> UnsealResult:
        if not self.keygen.ready:
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
        key = self.keygen.result
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
                why = self.check_partial(key, sealed, sp.partial)
            if why is not None:
                bad.append(BadShare(body.round, sp.slot_index, body.member, why))
                continue
            have[body.member] = sp.partial
        self.bad_shares.extend(bad)
        opened = self._drain(key)
        return UnsealResult(True, opened=opened, bad_shares=tuple(bad))

    def check_partial(
        self, key: DkgResult, sealed: Sealed, partial: PartialDecryption
    ) -> str | None:
        """The DLEQ check every kept partial passed (the simulator's broken cores skip it)."""
        return _TE.check_partial(key, sealed, partial)

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
            self.store.append(POOL, record, self._index)
            out.append(record)
        return tuple(out)

    # --- the rest of the StateMachine protocol --------------------------------------------

    def query(self, query: bytes) -> bytes:
        return encode(tuple(self.pool))

    def snapshot(self) -> bytes:
        """Replayable image: the key-generation commands, then the pool, pending and evidence."""
        pending = tuple(
            (p.round, p.boxes, tuple((s, tuple(d.values())) for s, d in sorted(p.good.items())))
            for p in self._pending
        )
        return encode(
            _Image(
                tuple(self._log),
                pending,
                self._last_round,
                self.next_slot,
                tuple(self.pool),
                tuple(self.bad_shares),
                self.keygen.recovery_image(),
                self.store.image(),
            )
        )

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image)
        self._log = []
        self._reset()
        for signed in image.keygen:
            self.step(signed)
        self.keygen.restore_recovery(image.recovery)
        for round_, boxes, good in image.pending:
            self._pending.append(
                _Pending(round_, boxes, {s: {p.index: p for p in ps} for s, ps in good})
            )
        self._last_round, self.next_slot = image.last_round, image.next_slot
        self.pool.extend(image.pool)
        self.bad_shares.extend(image.bad_shares)
        if image.store:
            self.store.restore(image.store)
