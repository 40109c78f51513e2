"""One unseal member's private core: registration, its side of the DKG, its partials.

Pure, like the Raft core: the driver calls ``step(machine, now_ms)`` after each applied
command (and on a timer) and proposes the commands it returns. The core reads only the public
state of its own replica of the machine, and keeps the secrets (DKG polynomial, X25519 key,
key share) that never enter the log. It contributes partials only for rounds whose boxes it
extracted itself from zipnet's broadcasts (``observe``), so a leader cannot get a forged
round opened without t members agreeing on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.dkg import Complaint, DkgError, DkgMember, KeyShare, Phase
from coalition.crypto.group import Entropy
from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import ThresholdElGamal
from pymosaik.primitives import SecretKey

from .items import (
    Body,
    ClosePhase,
    ComplaintCmd,
    DealCmd,
    Ingest,
    JustifyCmd,
    Register,
    SealedSlot,
    Shares,
    Signed,
    SlotPartial,
)
from .machine import UnsealMachine

_TE: Final = ThresholdElGamal(RISTRETTO255)


@dataclass(frozen=True)
class Deadlines:
    """How long each DKG phase stays open once the previous one closed (ms)."""

    dealing_ms: int = 5_000
    complaints_ms: int = 3_000
    justification_ms: int = 3_000


class UnsealMemberCore:
    def __init__(
        self,
        index: int,
        key: SecretKey,
        *,
        encryption_key: X25519PrivateKey,
        deadlines: Deadlines = Deadlines(),
        entropy: Entropy = os.urandom,
    ) -> None:
        self.index = index
        self._key = key
        self._enc = encryption_key
        self._deadlines = deadlines
        self._entropy = entropy
        self._dkg: DkgMember[bytes] | None = None
        self._received: set[int] = set()
        self._answered: set[tuple[int, int]] = set()
        self.share: KeyShare | None = None
        self.error: str | None = None
        self._registered = False
        self._phase_since: tuple[Phase, int] | None = None
        self._closes_sent: set[str] = set()
        self._observed: dict[int, tuple[SealedSlot, ...]] = {}
        self._shared: set[int] = set()
        self._ingested: set[int] = set()

    def _sign(self, body: Body) -> Signed:
        return Signed.by(self._key, body)

    def observe(self, round_: int, boxes: tuple[SealedSlot, ...]) -> None:
        """Boxes this member extracted itself from a finalized zipnet round."""
        if boxes:
            self._observed[round_] = boxes

    def step(self, m: UnsealMachine, now_ms: int) -> list[Signed]:
        out: list[Signed] = []
        if not self._registered and self.index not in m.registry:
            self._registered = True
            out.append(self._sign(Register(self.index, self._enc.public_key().public_bytes_raw())))
        if len(m.registry) < m.cfg.n:
            return out
        tr = m.transcript
        if self._dkg is None:
            recipients = [m.registry[i].encryption_key for i in range(1, m.cfg.n + 1)]
            self._dkg = DkgMember(
                RISTRETTO255,
                tr.params,
                index=self.index,
                encryption_key=self._enc,
                recipients=recipients,
                entropy=self._entropy,
            )
            if self.index not in tr.deals:
                out.append(self._sign(DealCmd(self.index, self._dkg.deal())))
        dkg = self._dkg
        for dealer, commitments in tr.deals.items():
            if dealer != self.index and dealer not in self._received:
                self._received.add(dealer)
                deal_cmd = m.deal_of(dealer)
                if deal_cmd is not None:
                    c = dkg.receive(deal_cmd, commitments)
                    if c is not None:
                        out.append(self._sign(ComplaintCmd(self.index, c)))
        for dealer, accuser in sorted(tr.complaints):
            if dealer == self.index and (dealer, accuser) not in self._answered:
                self._answered.add((dealer, accuser))
                j = dkg.answer(Complaint(dealer, accuser))
                if j is not None:
                    out.append(self._sign(JustifyCmd(self.index, j)))
        out += self._deadline(m, now_ms)
        if tr.phase is Phase.DONE and tr.result is not None and self.share is None:
            try:
                self.share = dkg.key_share(tr.result)
            except DkgError as exc:
                self.error = str(exc)
        if self.share is not None:
            out += self._open(m)
        return out

    def _deadline(self, m: UnsealMachine, now_ms: int) -> list[Signed]:
        tr = m.transcript
        if tr.phase in (Phase.DONE, Phase.FAILED):
            return []
        if self._phase_since is None or self._phase_since[0] is not tr.phase:
            self._phase_since = (tr.phase, now_ms)
        since = now_ms - self._phase_since[1]
        d = self._deadlines
        close: str | None = None
        if tr.phase is Phase.DEALING and (len(tr.deals) == m.cfg.n or since >= d.dealing_ms):
            close = "dealing"
        elif tr.phase is Phase.COMPLAINTS and since >= d.complaints_ms:
            close = "complaints"
        elif tr.phase is Phase.JUSTIFICATION and (
            since >= d.justification_ms or all(k in tr.revealed for k in tr.complaints)
        ):
            close = "finish"
        if close is None or close in self._closes_sent:
            return []
        self._closes_sent.add(close)
        return [self._sign(ClosePhase(self.index, close))]

    def _open(self, m: UnsealMachine) -> list[Signed]:
        assert self.share is not None
        out: list[Signed] = []
        for round_, boxes in sorted(self._observed.items()):
            if round_ > m.last_round and round_ not in self._ingested:
                self._ingested.add(round_)
                out.append(self._sign(Ingest(self.index, round_, boxes)))
                break  # one at a time, in order
        for pending_round, boxes in m.pending_rounds():
            if pending_round in self._shared or self._observed.get(pending_round) != boxes:
                continue
            self._shared.add(pending_round)
            partials = []
            for b in boxes:
                p = _TE.partial(self.share, b.sealed, entropy=self._entropy)
                partials.append(SlotPartial(b.slot_index, p))
            out.append(self._sign(Shares(self.index, pending_round, tuple(partials))))
        return out
