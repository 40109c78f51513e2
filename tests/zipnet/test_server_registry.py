"""The ServerRegistry filled by the servers themselves: each signs its own X25519 key; a
stranger, a forged signature or a second key is refused; no round opens before every member's
key is in; the registry survives a snapshot; and each committed change is one surface event."""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from organisms.zipnet.machine import (
    ClientBundle,
    ClientJoined,
    OpenRound,
    RegisterClient,
    RegisterServer,
    RoundOpened,
    ServerJoined,
    ZipnetMachine,
)
from organisms.zipnet.params import LiveRound, ZipnetConfig, client_id, deployment_id
from organisms.zipnet.server import ZipnetServerCore
from pymosaik.primitives import SecretKey

CFG = ZipnetConfig("registry.zipnet")
KEYS = [SecretKey.generate() for _ in range(3)]
DHS = [X25519PrivateKey.generate() for _ in range(3)]


def _pub(dh: X25519PrivateKey) -> bytes:
    return dh.public_key().public_bytes_raw()


def _machine() -> ZipnetMachine:
    return ZipnetMachine(CFG, committee=[k.peer_id for k in KEYS])


def _client() -> ClientBundle:
    pub = _pub(X25519PrivateKey.generate())
    return ClientBundle(client_id(deployment_id(CFG), pub), pub)


def test_members_register_their_own_keys_and_nobody_else_can() -> None:
    m = _machine()
    res = m.step(RegisterServer.signed(KEYS[0], _pub(DHS[0])))
    assert res.ok and res.event == ServerJoined(res.event.bundle)  # type: ignore[union-attr]
    assert m.servers == {_pub(DHS[0]): KEYS[0].peer_id}
    stranger = m.step(RegisterServer.signed(SecretKey.generate(), _pub(DHS[1])))
    assert not stranger.ok and "not a member" in stranger.reason
    signed = RegisterServer.signed(KEYS[1], _pub(DHS[1]))
    forged = msgspec.structs.replace(signed, signature=bytes(64))
    assert "signature" in m.step(forged).reason
    claimed = RegisterServer.signed(KEYS[2], _pub(DHS[0]))  # member 2 claims member 0's key
    assert not m.step(claimed).ok
    second = RegisterServer.signed(KEYS[0], _pub(DHS[2]))  # member 0 swaps its key
    assert "keeps the key" in m.step(second).reason
    again = m.step(RegisterServer.signed(KEYS[0], _pub(DHS[0])))
    assert again.ok and again.event is None  # idempotent, no second event
    assert m.servers == {_pub(DHS[0]): KEYS[0].peer_id}


def test_no_round_opens_before_every_key_is_registered() -> None:
    m = _machine()
    client = _client()
    assert m.step(RegisterClient(client)).event == ClientJoined(client)
    for k, d in zip(KEYS[:2], DHS[:2], strict=True):
        assert m.step(RegisterServer.signed(k, _pub(d))).ok
    header = LiveRound(1, (client.client,), tuple(sorted(_pub(d) for d in DHS)))
    early = m.step(OpenRound(header))
    assert not early.ok and "not every server" in early.reason
    assert m.step(RegisterServer.signed(KEYS[2], _pub(DHS[2]))).ok
    assert m.complete
    assert m.step(OpenRound(header)).event == RoundOpened(header)
    restored = _machine()
    restored.restore(m.snapshot())
    assert restored.servers == m.servers and restored.complete
    assert restored.current == header


def test_a_server_core_registers_once_then_opens_rounds() -> None:
    m = _machine()
    pairs = enumerate(zip(KEYS, DHS, strict=True))
    cores = [ZipnetServerCore(i + 1, d, k, period_ms=100) for i, (k, d) in pairs]
    first = cores[0].step(m, 0)
    assert [type(c) for c in first] == [RegisterServer]
    assert cores[0].step(m, 50) == []  # not proposed twice while the first is in flight
    for c in first:
        assert m.step(c).ok
    assert cores[0].step(m, 60) == []  # the registry is incomplete: no round yet
    for core in cores[1:]:
        for c in core.step(m, 70):
            assert m.step(c).ok
    assert m.step(RegisterClient(_client())).ok
    opened = cores[0].step(m, 300)
    assert len(opened) == 1 and isinstance(opened[0], OpenRound)
    assert set(opened[0].header.servers) == {_pub(d) for d in DHS}
