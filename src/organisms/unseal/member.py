"""One unseal member's private core: its side of the key generation, then its partials.

Pure, like the Raft core: the driver calls ``step(machine, now_ms)`` after each applied
command (and on a timer) and proposes the commands it returns. The core reads only the public
state of its own replica of the machine, and keeps the secrets (DKG polynomial, X25519 key,
key share) that never enter the log. It contributes partials only for rounds whose boxes it
extracted itself from zipnet's broadcasts (``observe``), so a leader cannot get a forged round
opened without t members agreeing on it.
"""

from __future__ import annotations

import os
from typing import Final

from coalition.crypto.dkg import KeyShare
from coalition.crypto.group import Entropy
from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import ThresholdElGamal
from coalition.keygen import DEFAULT_DEADLINES, Deadlines, KeygenMember, KeygenSecrets
from pymosaik.primitives import SecretKey

from .items import Body, Ingest, SealedSlot, Shares, Signed, SlotPartial
from .machine import UnsealMachine

_TE: Final = ThresholdElGamal(RISTRETTO255)


class UnsealMemberCore:
    def __init__(
        self,
        index: int,
        key: SecretKey,
        *,
        secrets: KeygenSecrets,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        entropy: Entropy = os.urandom,
    ) -> None:
        """``secrets`` feed the key generation only; ``entropy`` draws proof nonces, which
        must never come from a replayable stream."""
        self.index = index
        self._key = key
        self._entropy = entropy
        self.keygen = KeygenMember(
            RISTRETTO255,
            index,
            secrets=secrets,
            deadlines=deadlines,
        )
        self._observed: dict[int, tuple[SealedSlot, ...]] = {}
        self._shared: set[int] = set()
        self._ingested: set[int] = set()

    @property
    def share(self) -> KeyShare | None:
        return self.keygen.share

    @property
    def error(self) -> str | None:
        return self.keygen.error

    def _sign(self, body: Body) -> Signed:
        return Signed.by(self._key, body)

    def observe(self, round_: int, boxes: tuple[SealedSlot, ...]) -> None:
        """Boxes this member extracted itself from a finalized zipnet round."""
        if boxes:
            self._observed[round_] = boxes

    def step(self, m: UnsealMachine, now_ms: int) -> list[Signed]:
        out = [self._sign(b) for b in self.keygen.step(m.keygen, now_ms)]
        if self.share is not None:
            out += self._open(m, self.share)
        return out

    def _open(self, m: UnsealMachine, share: KeyShare) -> list[Signed]:
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
            partials = tuple(
                SlotPartial(b.slot_index, _TE.partial(share, b.sealed, entropy=self._entropy))
                for b in boxes
            )
            out.append(self._sign(Shares(self.index, pending_round, partials)))
        return out
