"""The committed ClientRegistry and the aggregator's pure core."""

from __future__ import annotations

import random

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from organisms.zipnet.aggregator import AggregatorCore
from organisms.zipnet.client import ZipnetClient
from organisms.zipnet.machine import (
    ClientBundle,
    OpenRound,
    RegisterClient,
    SubmitAggregate,
    ZipnetMachine,
)
from organisms.zipnet.params import Envelope, LiveRound, RoundParams, ZipnetConfig
from pymosaik.primitives import SecretKey

PARAMS = RoundParams(num_slots=8, slot_bytes=64, tag_len=16, sched_slots=32)


def setup(n: int = 3) -> tuple[ZipnetConfig, ZipnetMachine, list[ZipnetClient], bytes]:
    rng = random.Random(3)
    cfg = ZipnetConfig("registry.test", PARAMS, rng.randbytes(32))
    server = X25519PrivateKey.from_private_bytes(rng.randbytes(32)).public_key().public_bytes_raw()
    m = ZipnetMachine(cfg, {server: SecretKey(rng.randbytes(32)).peer_id})
    clients = [
        ZipnetClient(
            cfg, X25519PrivateKey.from_private_bytes(rng.randbytes(32)), entropy=rng.randbytes
        )
        for _ in range(n)
    ]
    return cfg, m, clients, server


def bundle(c: ZipnetClient) -> ClientBundle:
    return ClientBundle(c.id, c.public)


def test_registry_takes_only_well_formed_bundles_and_rounds_list_only_registered_clients() -> None:
    cfg, m, (a, b, _), server = setup()
    assert m.step(RegisterClient(bundle(a))).ok
    again = m.step(RegisterClient(bundle(a)))
    assert again.ok and "already" in again.reason
    forged = m.step(RegisterClient(ClientBundle(a.id, b.public)))
    assert not forged.ok and "not derived" in forged.reason
    zero = m.step(RegisterClient(ClientBundle(a.id, bytes(32))))
    assert not zero.ok
    short = m.step(RegisterClient(ClientBundle(a.id, b"\x01" * 31)))
    assert not short.ok
    assert m.clients == {a.id: a.public}

    rogue = m.step(OpenRound(LiveRound(1, tuple(sorted((a.id, b.id))), (server,))))
    assert not rogue.ok and "not registered" in rogue.reason
    assert m.step(OpenRound(LiveRound(1, (a.id,), (server,)))).ok

    copy = ZipnetMachine(cfg, {server: SecretKey.generate().peer_id})
    copy.restore(m.snapshot())
    assert copy.clients == m.clients and copy.current == m.current


def test_aggregator_registers_folds_and_submits_when_complete() -> None:
    _, m, clients, server = setup()
    agg = AggregatorCore(PARAMS, fold_ms=1_000)
    for c in clients:
        assert agg.register(bundle(c)) is None
    cmds = agg.step(m, 0)
    assert [type(c) for c in cmds] == [RegisterClient] * 3
    assert agg.step(m, 10) == []  # proposed, not committed yet: not proposed again
    for cmd in cmds:
        assert m.step(cmd).ok
    header = LiveRound(1, tuple(sorted(c.id for c in clients)), (server,))
    assert m.step(OpenRound(header)).ok
    assert agg.step(m, 20) == []  # nothing received yet
    for c in clients:
        env = c.seal(header, [server], None)
        assert env is not None and agg.receive(env) is None
    dup = clients[0].seal(header, [server], None)
    assert dup is None or agg.receive(dup) is not None
    out = agg.step(m, 30)
    assert len(out) == 1 and isinstance(out[0], SubmitAggregate)
    assert set(out[0].aggregate.participants) == set(header.clients)
    assert m.step(out[0]).ok
    assert agg.step(m, 40) == []  # submitted once


def test_aggregator_submits_what_it_has_at_the_fold_deadline_and_keeps_early_envelopes() -> None:
    _, m, clients, server = setup()
    for c in clients:
        assert m.step(RegisterClient(bundle(c))).ok
    agg = AggregatorCore(PARAMS, fold_ms=1_000)
    ids = tuple(sorted(c.id for c in clients))
    header = LiveRound(1, ids, (server,))
    # a client saw round 1 open before the aggregator's replica did
    early = clients[0].seal(header, [server], None)
    assert early is not None and agg.receive(early) is None
    assert m.step(OpenRound(header)).ok
    assert agg.step(m, 0) == []  # one of three in, the deadline not reached
    assert agg.step(m, 999) == []
    out = agg.step(m, 1_000)
    assert len(out) == 1 and isinstance(out[0], SubmitAggregate)
    assert out[0].aggregate.participants == (clients[0].id,)
    # stale, far-future and wrong-length envelopes are refused with a reason
    assert "round 1 is open" in (agg.receive(Envelope(0, ids[0], early.payload)) or "")
    assert "round 1 is open" in (agg.receive(Envelope(9, ids[0], early.payload)) or "")
    assert agg.receive(Envelope(2, ids[0], b"short")) is not None
    assert agg.refused == 3
