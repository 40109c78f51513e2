"""An in-process zipnet deployment: clients, an aggregator, servers and the committee machine.

No network and no clock: ``run_round`` walks one round through every role in order. The
benchmark, the tests and the organisms simulator drive it, and its fault switches (a jamming
client, an aggregator that drops an envelope, a server that sends a wrong partial) are how the
checkers are shown to catch each fault. Not a production path: a labelled harness.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pymosaik.primitives import SecretKey
from pymosaik.sim.rng import seeded

from .aggregator import RoundFold
from .client import Receipt, ZipnetClient
from .dcnet import SharedSecrets, partial_unblind, schedule_hash, xor
from .machine import (
    ClientBundle,
    OpenRound,
    RegisterClient,
    SubmitAggregate,
    SubmitPartial,
    ZipnetMachine,
)
from .params import BroadcastRecord, Envelope, LiveRound, PartialUnblind, RoundParams, ZipnetConfig


class HarnessError(AssertionError):
    """The machine refused a step an honest deployment takes (a bug, not a fault)."""


@dataclass
class LocalServer:
    dh: X25519PrivateKey
    key: SecretKey
    shared: SharedSecrets = field(init=False)

    def __post_init__(self) -> None:
        self.shared = SharedSecrets(self.dh)

    @property
    def pub(self) -> bytes:
        return self.dh.public_key().public_bytes_raw()


@dataclass
class Faults:
    """Faults for one round; all off by default."""

    bad_partial: int | None = None  # index of a server that XORs noise into its partial
    drop: bytes | None = None  # a ClientId whose envelope the aggregator drops
    jam: tuple[int, int] | None = None  # (client index, slot) a client XORs noise into


@dataclass
class LocalDeployment:
    cfg: ZipnetConfig
    servers: list[LocalServer]
    clients: list[ZipnetClient]
    rng: random.Random
    machine: ZipnetMachine = field(init=False)
    last: BroadcastRecord | None = None
    round: int = 0
    #: The previous round's envelopes by ClientId (what the aggregator saw).
    envelopes: dict[bytes, bytes] = field(default_factory=dict)
    receipts: list[tuple[bytes, Receipt]] = field(default_factory=list)
    fold_cls: type[RoundFold] = RoundFold

    def __post_init__(self) -> None:
        self.machine = ZipnetMachine(self.cfg, {s.pub: s.key.peer_id for s in self.servers})
        for c in self.clients:
            if not self.machine.step(RegisterClient(ClientBundle(c.id, c.public))).ok:
                raise HarnessError("a client's registration was refused")

    @classmethod
    def create(
        cls,
        n_clients: int,
        n_servers: int,
        *,
        seed: int,
        params: RoundParams | None = None,
        client_cls: type[ZipnetClient] = ZipnetClient,
        fold_cls: type[RoundFold] = RoundFold,
    ) -> LocalDeployment:
        rng = seeded(seed)
        cfg = ZipnetConfig("local.zipnet", params or RoundParams(), rng.randbytes(32))
        servers = [
            LocalServer(
                X25519PrivateKey.from_private_bytes(rng.randbytes(32)),
                SecretKey(rng.randbytes(32)),
            )
            for _ in range(n_servers)
        ]
        clients = [
            client_cls(
                cfg, X25519PrivateKey.from_private_bytes(rng.randbytes(32)), entropy=rng.randbytes
            )
            for _ in range(n_clients)
        ]
        return cls(cfg, servers, clients, rng, fold_cls=fold_cls)

    @property
    def server_keys(self) -> list[bytes]:
        return sorted(s.pub for s in self.servers)

    def registry(self) -> dict[bytes, bytes]:
        return dict(self.machine.clients)

    def header(self) -> LiveRound:
        return LiveRound(
            self.round + 1,
            tuple(sorted(c.id for c in self.clients)),
            tuple(self.server_keys),
            schedule_hash(self.last.broadcast if self.last else None, self.cfg.params),
        )

    def seal_all(self, header: LiveRound, faults: Faults) -> list[Envelope]:
        p = self.cfg.params
        out = []
        for i, c in enumerate(self.clients):
            env = c.seal(header, self.server_keys, self.last)
            if env is None:
                continue
            if faults.jam is not None and faults.jam[0] == i:
                noise = bytearray(p.envelope_bytes)
                a = faults.jam[1] * p.slot_bytes
                noise[a : a + p.slot_bytes] = self.rng.randbytes(p.slot_bytes)
                env = Envelope(env.round, env.client, xor(env.payload, bytes(noise)))
            out.append(env)
        return out

    def run_round(self, faults: Faults | None = None) -> BroadcastRecord:
        faults = faults or Faults()
        p = self.cfg.params
        header = self.header()
        self.round = header.round
        if not self.machine.step(OpenRound(header)).ok:
            raise HarnessError("OpenRound refused")
        fold = self.fold_cls(p, header)
        envelopes = self.seal_all(header, faults)
        self.envelopes = {e.client: e.payload for e in envelopes}
        for env in envelopes:
            if env.client != faults.drop and fold.add(env) is not None:
                raise HarnessError("an honest envelope was refused")
        agg = fold.finish()
        if agg is None or not self.machine.step(SubmitAggregate(agg)).ok:
            raise HarnessError("aggregate refused")
        reg = self.registry()
        record: BroadcastRecord | None = None
        for i, s in enumerate(self.servers):
            payload = partial_unblind(
                s.shared, [reg[c] for c in agg.participants], p, header.round, header.schedule_hash
            )
            if i == faults.bad_partial:
                payload = xor(payload, self.rng.randbytes(len(payload)))
            res = self.machine.step(
                SubmitPartial.signed(s.key, PartialUnblind(header.round, s.pub, payload))
            )
            if not res.ok:
                raise HarnessError(f"partial refused: {res.reason}")
            record = res.finalized or record
        if record is None:
            raise HarnessError("round did not finalize")
        for c in self.clients:
            self.receipts.extend((c.id, r) for r in c.on_broadcast(record))
        self.last = record
        return record
