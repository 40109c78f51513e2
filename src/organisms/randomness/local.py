"""An in-process beacon committee (a labelled harness; see ``organisms.local``)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.beacon import PartialSignature, Scheme
from coalition.keygen import KeygenSecrets
from pymosaik.primitives import SecretKey
from pymosaik.sim.rng import seeded

from ..local import LocalRunner
from ..unseal.local import FAST
from .items import RandomnessConfig, Signed, SubmitPartial
from .machine import BeaconMachine
from .member import BeaconMemberCore


@dataclass
class LocalBeacon:
    cfg: RandomnessConfig
    keys: list[SecretKey]
    cores: list[BeaconMemberCore]
    replicas: list[BeaconMachine]
    runner: LocalRunner[BeaconMachine, Signed]

    @classmethod
    def create(
        cls,
        n: int,
        t: int,
        *,
        seed: int,
        scheme: Scheme = Scheme.UNCHAINED_G1,
        period_ms: int = 1_000,
        machine_cls: type[BeaconMachine] = BeaconMachine,
    ) -> LocalBeacon:
        rng = seeded(seed)
        cfg = RandomnessConfig("local.beacon", t, n, scheme.value, period_ms, genesis_ms=20_000)
        keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
        cores = [
            BeaconMemberCore(
                i + 1,
                keys[i],
                scheme=scheme,
                secrets=KeygenSecrets(
                    X25519PrivateKey.from_private_bytes(rng.randbytes(32)), rng.randbytes
                ),
                deadlines=FAST,
            )
            for i in range(n)
        ]
        replicas = [machine_cls(cfg, [k.peer_id for k in keys]) for _ in range(n)]
        return cls(cfg, keys, cores, replicas, LocalRunner(replicas, cores))

    def corrupt(self, members: set[int]) -> None:
        """These members sign the wrong round (a well-formed but invalid partial)."""

        def mutate(index: int, cmd: Signed) -> Signed:
            body = cmd.body
            if index not in members or not isinstance(body, SubmitPartial):
                return cmd
            wrong = PartialSignature(
                index,
                self.replicas[0].cfg.kind.sig_group.encode(
                    self.replicas[0].cfg.kind.sig_group.base_mul(index + 7)
                ),
            )
            return Signed.by(self.keys[index - 1], SubmitPartial(index, body.round, wrong))

        self.runner.mutate = mutate

    def run_until(self, now_ms: int, *, step_ms: int = 250) -> None:
        """Step the committee on its simulated clock up to ``now_ms``."""
        while self.runner.now_ms < now_ms:
            self.runner.pump(1, step_ms=step_ms)
