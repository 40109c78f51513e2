"""An in-process beacon committee (a labelled harness; see ``organisms.local``)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.beacon import PartialSignature, Scheme
from coalition.crypto.recovery import RecoveredPart
from coalition.keygen import KeygenSecrets
from coalition.keygen_recovery import RecoveryPartCmd
from pymosaik.primitives import SecretKey
from pymosaik.sim.rng import seeded

from ..local import LocalRunner
from ..unseal.local import FAST
from .items import Operator, RandomnessConfig, Signed, SubmitPartial
from .machine import BeaconMachine
from .member import BeaconMemberCore

#: The harness's key-generation deadlines; a stalled recovery is asked again after 3 s.
BEACON_FAST: Final = replace(FAST, recovery_ms=3_000)


def _core(i: int, key: SecretKey, scheme: Scheme, rng: random.Random) -> BeaconMemberCore:
    secrets = KeygenSecrets(
        X25519PrivateKey.from_private_bytes(rng.randbytes(32)), rng.randbytes, rng.randbytes
    )
    return BeaconMemberCore(i, key, scheme=scheme, secrets=secrets, deadlines=BEACON_FAST)


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
        operator: Operator | None = None,
        genesis_ms: int = 20_000,
    ) -> LocalBeacon:
        rng = seeded(seed)
        cfg = RandomnessConfig("local.beacon", t, n, scheme.value, period_ms, genesis_ms)
        keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
        cores = [_core(i + 1, keys[i], scheme, rng) for i in range(n)]
        replicas = [machine_cls(cfg, [k.peer_id for k in keys], operator) for _ in range(n)]
        return cls(cfg, keys, cores, replicas, LocalRunner(replicas, cores))

    def lose_share(self, index: int, rng: random.Random) -> None:
        """This member comes back without its data: new key-generation secrets, no share."""
        self.cores[index - 1] = _core(index, self.keys[index - 1], self.cfg.kind, rng)
        self.runner.replace_core(index, self.cores[index - 1])

    def corrupt(self, members: set[int]) -> None:
        """These members sign the wrong round (a well-formed but invalid partial) and send a
        garbage part when they help a recovery."""

        def mutate(index: int, cmd: Signed) -> Signed:
            body = cmd.body
            if index in members and isinstance(body, RecoveryPartCmd):
                p = body.part
                garbage = RecoveredPart(p.helper, p.lost, bytes(len(p.sealed)))
                return Signed.by(
                    self.keys[index - 1], RecoveryPartCmd(index, body.attempt, garbage)
                )
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
