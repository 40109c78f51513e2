"""An in-process unseal committee: n replicas fed one committed log in order, as Raft would.

A labelled harness like ``organisms.zipnet.local``: the benchmark and the tests drive it, and
its switches (members that stay silent, members whose shares are corrupted) are how a checker
is shown to catch each fault. Every replica must give the same result for every command; a
divergence raises at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import PartialDecryption
from coalition.keygen import Deadlines
from pymosaik.primitives import SecretKey
from pymosaik.sim.rng import seeded

from .items import Shares, Signed, SlotPartial, UnsealConfig
from .machine import UnsealMachine
from .member import UnsealMemberCore


class DivergenceError(AssertionError):
    """Two replicas answered one committed command differently."""


@dataclass
class LocalCommittee:
    cfg: UnsealConfig
    keys: list[SecretKey]
    cores: list[UnsealMemberCore]
    replicas: list[UnsealMachine]
    log: list[Signed] = field(default_factory=list)
    now_ms: int = 0
    #: Members whose Shares are replaced by wrong (but well-formed) elements.
    corrupt: set[int] = field(default_factory=set)
    #: Members that propose nothing (crashed, or withholding).
    silent: set[int] = field(default_factory=set)

    @classmethod
    def create(cls, n: int, t: int, *, seed: int, name: str = "local.unseal") -> LocalCommittee:
        rng = seeded(seed)
        cfg = UnsealConfig(name, t, n)
        keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
        cores = [
            UnsealMemberCore(
                i + 1,
                keys[i],
                encryption_key=X25519PrivateKey.from_private_bytes(rng.randbytes(32)),
                deadlines=Deadlines(dealing_ms=3_000, complaints_ms=2_000, justification_ms=2_000),
                entropy=rng.randbytes,
            )
            for i in range(n)
        ]
        peers = [k.peer_id for k in keys]
        return cls(cfg, keys, cores, [UnsealMachine(cfg, peers) for _ in range(n)])

    def pump(self, steps: int = 50, *, step_ms: int = 1_000) -> int:
        """Let every member react until nothing new is proposed; returns commands committed."""
        committed = 0
        for _ in range(steps):
            self.now_ms += step_ms
            new: list[Signed] = []
            for core, replica in zip(self.cores, self.replicas, strict=True):
                if core.index in self.silent:
                    continue
                for out in core.step(replica, self.now_ms):
                    if core.index in self.corrupt and isinstance(out.body, Shares):
                        out = self._corrupted(core.index, out.body)  # noqa: PLW2901
                    new.append(out)
            for cmd in new:
                self.log.append(cmd)
                results = {(r.ok, r.reason) for r in (rep.step(cmd) for rep in self.replicas)}
                if len(results) != 1:
                    raise DivergenceError(f"replicas disagree on {type(cmd.body).__name__}")
            committed += len(new)
            if not new and self.replicas[0].key is not None:
                break
        return committed

    def _corrupted(self, index: int, body: Shares) -> Signed:
        wrong = RISTRETTO255.base_mul(12345)
        bad = tuple(
            SlotPartial(sp.slot_index, PartialDecryption(index, wrong, sp.partial.proof))
            for sp in body.partials
        )
        return Signed.by(self.keys[index - 1], Shares(index, body.round, bad))
