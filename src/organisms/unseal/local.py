"""An in-process unseal committee (a labelled harness; see ``organisms.local``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import PartialDecryption
from coalition.keygen import Deadlines, KeygenSecrets
from pymosaik.primitives import SecretKey
from pymosaik.sim.rng import seeded

from ..local import LocalRunner
from .items import Shares, Signed, SlotPartial, UnsealConfig
from .machine import UnsealMachine
from .member import UnsealMemberCore

#: Short DKG phases for a simulated clock that advances a second per step.
FAST: Deadlines = Deadlines(dealing_ms=3_000, complaints_ms=2_000, justification_ms=2_000)


@dataclass
class LocalCommittee:
    cfg: UnsealConfig
    keys: list[SecretKey]
    cores: list[UnsealMemberCore]
    replicas: list[UnsealMachine]
    runner: LocalRunner[UnsealMachine, Signed]

    @classmethod
    def create(
        cls,
        n: int,
        t: int,
        *,
        seed: int,
        name: str = "local.unseal",
        machine_cls: type[UnsealMachine] = UnsealMachine,
    ) -> LocalCommittee:
        rng = seeded(seed)
        cfg = UnsealConfig(name, t, n)
        keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
        cores = [
            UnsealMemberCore(
                i + 1,
                keys[i],
                secrets=KeygenSecrets(
                    X25519PrivateKey.from_private_bytes(rng.randbytes(32)), rng.randbytes
                ),
                deadlines=FAST,
                entropy=rng.randbytes,
            )
            for i in range(n)
        ]
        replicas = [machine_cls(cfg, [k.peer_id for k in keys]) for _ in range(n)]
        return cls(cfg, keys, cores, replicas, LocalRunner(replicas, cores))

    @property
    def silent(self) -> frozenset[int]:
        return self.runner.silent

    @silent.setter
    def silent(self, members: Iterable[int]) -> None:
        self.runner.silent = members

    def corrupt(self, members: set[int]) -> None:
        """These members' Shares carry a valid group element that is not their share's image."""
        wrong = RISTRETTO255.base_mul(12345)

        def mutate(index: int, cmd: Signed) -> Signed:
            if index not in members or not isinstance(cmd.body, Shares):
                return cmd
            body = cmd.body
            bad = tuple(
                SlotPartial(sp.slot_index, PartialDecryption(index, wrong, sp.partial.proof))
                for sp in body.partials
            )
            return Signed.by(self.keys[index - 1], Shares(index, body.round, bad))

        self.runner.mutate = mutate

    def pump(self, steps: int = 50) -> int:
        return self.runner.pump(steps, done=lambda: self.replicas[0].key is not None)
