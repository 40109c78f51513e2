"""One beacon member's private core: key generation, then a partial for every due round."""

from __future__ import annotations

from coalition.crypto.beacon import Scheme, partial_sign
from coalition.crypto.dkg import KeyShare
from coalition.keygen import DEFAULT_DEADLINES, Deadlines, KeygenMember, KeygenSecrets
from pymosaik.primitives import SecretKey

from .items import Signed, SubmitPartial
from .machine import BeaconMachine


class BeaconMemberCore:
    """Signs round r once the wall clock passes its time and round r−1 is committed, with the
    share in force for r (the one before a key refresh for the rounds still pending at it)."""

    def __init__(
        self,
        index: int,
        key: SecretKey,
        *,
        scheme: Scheme,
        secrets: KeygenSecrets,
        deadlines: Deadlines = DEFAULT_DEADLINES,
    ) -> None:
        self.index = index
        self._key = key
        self.keygen: KeygenMember[object] = KeygenMember(
            scheme.key_group,
            index,
            secrets=secrets,
            deadlines=deadlines,
        )
        self._signed: set[int] = set()

    @property
    def share(self) -> KeyShare | None:
        return self.keygen.share

    def refresh(self) -> None:
        """Its operator asks for a key refresh (every share moves, the group key stays)."""
        self.keygen.request_refresh()

    def step(self, m: BeaconMachine, now_ms: int) -> list[Signed]:
        out = [Signed.by(self._key, b) for b in self.keygen.step(m.keygen, now_ms)]
        r = m.next_round
        share = self.share if r >= m.new_key_from else self.keygen.previous
        if share is None or r in self._signed or m.round_at(now_ms) < r:
            return out
        self._signed.add(r)
        partial = partial_sign(m.cfg.kind, share, r, m.previous)
        out.append(Signed.by(self._key, SubmitPartial(self.index, r, partial)))
        return out
