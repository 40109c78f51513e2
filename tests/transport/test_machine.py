"""The sans-IO link machine: handshake, identity, refusals, framing, fuzzing."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosaik.primitives import DecodeError, SecretKey, decode, encode, unique_id
from pymosaik.transport import (
    Closed,
    Established,
    Event,
    InboundOpen,
    LinkMachine,
    LinkState,
    Message,
    reasons,
)
from pymosaik.transport.framing import FrameKind, encode_frame
from pymosaik.transport.identity import (
    MAX_CONTROL_BODY,
    CloseFrame,
    Hello,
    export_secret,
    sign_hello,
)

NET = unique_id("pymosaik.test.transport")
OTHER_NET = unique_id("pymosaik.test.other")
PROTO = "/mosaik/streams/1.0"
ALICE = SecretKey.from_id(unique_id("alice"))
BOB = SecretKey.from_id(unique_id("bob"))
MALLORY = SecretKey.from_id(unique_id("mallory"))


def rng(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def make_pair(
    *,
    init_net=NET,
    resp_net=NET,
    expected=None,
    max_frame: int = 1 << 20,
    init_cls: type[LinkMachine] = LinkMachine,
) -> tuple[LinkMachine, LinkMachine]:
    i = init_cls(
        is_initiator=True,
        key=ALICE,
        network_id=init_net,
        random_bytes=rng(1),
        protocol=PROTO,
        expected_peer=expected,
        max_frame_size=max_frame,
    )
    r = LinkMachine.responder(BOB, resp_net, random_bytes=rng(2), max_frame_size=max_frame)
    return i, r


def pump(i: LinkMachine, r: LinkMachine, *, accept: bool = True) -> tuple[list[Event], list[Event]]:
    """Shuttle bytes until quiet; the responder accepts (or rejects) inbound opens."""
    ei: list[Event] = []
    er: list[Event] = []
    for _ in range(20):
        moved = False
        if data := i.data_to_send():
            moved = True
            new = r.receive_data(data)
            for ev in list(new):
                if isinstance(ev, InboundOpen):
                    if accept:
                        new.append(r.accept())
                    else:
                        r.reject(reasons.INVALID_ALPN)
            er += new
        if data := r.data_to_send():
            moved = True
            ei += i.receive_data(data)
        if not moved:
            break
    return ei, er


def open_pair(**kw: object) -> tuple[LinkMachine, LinkMachine]:
    i, r = make_pair(**kw)  # type: ignore[arg-type]
    ei, er = pump(i, r)
    assert isinstance(ei[-1], Established)
    assert isinstance(er[-1], Established)
    return i, r


def test_handshake_proves_both_identities_and_binds_the_channel() -> None:
    i, r = make_pair(expected=BOB.peer_id)
    ei, er = pump(i, r)
    assert er[0] == InboundOpen(ALICE.peer_id, PROTO)
    (ri,) = ei
    rr = er[1]
    assert isinstance(ri, Established)
    assert isinstance(rr, Established)
    assert ri.peer_id == BOB.peer_id
    assert rr.peer_id == ALICE.peer_id
    assert ri.protocol == rr.protocol == PROTO
    assert ri.network_id == rr.network_id == NET
    assert len(ri.channel_binding) == 32
    assert ri.channel_binding == rr.channel_binding
    assert i.state is r.state is LinkState.OPEN
    a = export_secret(ri.channel_binding, PROTO, b"mosaik.group.bond.id")
    b = export_secret(rr.channel_binding, PROTO, b"mosaik.group.bond.id")
    assert a == b
    assert a != export_secret(ri.channel_binding, PROTO, b"other")


def test_fresh_sessions_have_fresh_bindings() -> None:
    i1, _ = open_pair()
    i2 = LinkMachine.initiator(ALICE, NET, PROTO, random_bytes=rng(7))
    r2 = LinkMachine.responder(BOB, NET, random_bytes=rng(8))
    pump(i2, r2)
    assert i1.channel_binding != i2.channel_binding


def test_seeded_randomness_makes_the_wire_deterministic() -> None:
    def transcript() -> bytes:
        i, r = make_pair()
        first = i.data_to_send()
        r.receive_data(first)
        return first + r.data_to_send()

    assert transcript() == transcript()


def test_messages_flow_both_ways_in_order_and_large_ones_span_records() -> None:
    i, r = open_pair()
    big = bytes(range(256)) * 1000  # 256 KB: several Noise records
    i.send(b"one")
    i.send(big)
    r.send(b"reply")
    ei, er = pump(i, r)
    assert er == [Message(b"one"), Message(big)]
    assert ei == [Message(b"reply")]


def test_close_carries_reason_and_code() -> None:
    i, r = open_pair()
    r.close(reasons.TOO_SLOW)
    ei, _ = pump(i, r)
    assert ei == [Closed(reasons.TOO_SLOW, by_peer=True)]
    assert i.close_reason == reasons.TOO_SLOW
    assert i.close_reason.name == "TooSlow"
    assert i.is_closed
    assert r.is_closed


def test_application_close_codes_round_trip() -> None:
    i, r = open_pair()
    custom = reasons.CloseReason(5000, "MyAppError")
    i.close(custom)
    _, er = pump(i, r)
    assert er == [Closed(custom, by_peer=True)]
    assert er[0].reason.name == "MyAppError"  # type: ignore[union-attr]


def test_expected_peer_mismatch_is_refused_on_both_ends() -> None:
    i, r = make_pair(expected=MALLORY.peer_id)
    ei, er = pump(i, r)
    assert ei[-1] == Closed(reasons.UNEXPECTED_PEER, by_peer=False, detail=ei[-1].detail)  # type: ignore[union-attr]
    assert i.peer_id == BOB.peer_id  # proven, just not the one we wanted
    assert er[-1] == Closed(reasons.UNEXPECTED_PEER, by_peer=True)
    assert not any(isinstance(e, Established) for e in ei)


def test_different_network_is_refused_with_its_reason() -> None:
    i, r = make_pair(resp_net=OTHER_NET)
    ei, er = pump(i, r)
    assert er == [Closed(reasons.DIFFERENT_NETWORK, by_peer=False, detail=er[0].detail)]  # type: ignore[union-attr]
    assert ei == [Closed(reasons.DIFFERENT_NETWORK, by_peer=True)]
    assert not any(isinstance(e, InboundOpen) for e in er)


def test_unknown_protocol_rejected_with_invalid_alpn() -> None:
    i, r = make_pair()
    ei, er = pump(i, r, accept=False)
    assert isinstance(er[0], InboundOpen)
    assert ei == [Closed(reasons.INVALID_ALPN, by_peer=True)]


class ForgedSigner(LinkMachine):
    """Claims its own PeerId but signs the identity with someone else's key."""

    def _send_hello(self) -> None:
        assert self.channel_binding is not None
        real = sign_hello(MALLORY, self._static_public, self.channel_binding, NET, PROTO)
        forged = Hello(self.local_id.bytes, NET, PROTO, real.signature)
        self._plain += encode_frame(FrameKind.HELLO, encode(forged))


class Replayer(LinkMachine):
    """Signs correctly, but over another session's handshake hash."""

    def _send_hello(self) -> None:
        hello = sign_hello(ALICE, self._static_public, bytes(32), NET, PROTO)
        self._plain += encode_frame(FrameKind.HELLO, encode(hello))


class Impostor(LinkMachine):
    """Presents a valid signature by Mallory but claims Alice's PeerId."""

    def _send_hello(self) -> None:
        assert self.channel_binding is not None
        real = sign_hello(MALLORY, self._static_public, self.channel_binding, NET, PROTO)
        self._plain += encode_frame(
            FrameKind.HELLO, encode(Hello(ALICE.peer_id.bytes, NET, PROTO, real.signature))
        )


@pytest.mark.parametrize("cls", [ForgedSigner, Replayer, Impostor])
def test_wrongly_signed_identity_closes_with_protocol_violation(cls: type[LinkMachine]) -> None:
    i, r = make_pair(init_cls=cls)
    ei, er = pump(i, r)
    assert len(er) == 1
    assert isinstance(er[0], Closed)
    assert er[0].reason == reasons.PROTOCOL_VIOLATION
    assert not er[0].by_peer
    assert ei == [Closed(reasons.PROTOCOL_VIOLATION, by_peer=True)]
    assert r.peer_id is None


def test_garbage_instead_of_handshake_closes_quietly() -> None:
    r = LinkMachine.responder(BOB, NET, random_bytes=rng(3))
    events = r.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert events == [Closed(reasons.PROTOCOL_VIOLATION, by_peer=False, detail=events[0].detail)]  # type: ignore[union-attr]
    assert r.data_to_send() == b""  # no keys: nothing to tell a stranger
    assert r.receive_data(b"more") == []


def test_truncated_handshake_waits_then_eof_is_unexpected_close() -> None:
    i, r = make_pair()
    first = i.data_to_send()
    assert r.receive_data(first[:10]) == []
    assert r.state is LinkState.HANDSHAKE
    (event,) = r.receive_eof()
    assert isinstance(event, Closed)
    assert event.reason == reasons.UNEXPECTED_CLOSE
    assert event.by_peer
    assert r.is_closed
    assert r.receive_eof() == []


def test_oversized_frame_closes_with_protocol_violation_and_tells_the_peer() -> None:
    i, r = open_pair(max_frame=1000)
    # bypass the sender's own check, as a hostile peer would
    i._plain += encode_frame(FrameKind.DATA, bytes(5000))
    ei, er = pump(i, r)
    assert len(er) == 1
    assert isinstance(er[0], Closed)
    assert er[0].reason == reasons.PROTOCOL_VIOLATION
    assert "exceeds" in er[0].detail
    assert ei == [Closed(reasons.PROTOCOL_VIOLATION, by_peer=True)]


def test_sender_refuses_oversized_messages() -> None:
    i, _ = open_pair(max_frame=1000)
    with pytest.raises(ValueError, match="exceeds"):
        i.send(bytes(1001))


def test_tampered_ciphertext_closes_with_protocol_violation() -> None:
    i, r = open_pair()
    i.send(b"hello")
    data = bytearray(i.data_to_send())
    data[-1] ^= 1
    events = r.receive_data(bytes(data))
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason == reasons.PROTOCOL_VIOLATION


def test_data_before_open_is_a_violation() -> None:
    i, r = make_pair()
    r.receive_data(i.data_to_send())
    i.receive_data(r.data_to_send())  # initiator now has keys and queued its Hello
    i._plain[:0] = encode_frame(FrameKind.DATA, b"early")
    events = r.receive_data(i.data_to_send())
    assert isinstance(events[-1], Closed)
    assert events[-1].reason == reasons.PROTOCOL_VIOLATION


def test_commands_in_wrong_states_raise() -> None:
    i, r = make_pair()
    with pytest.raises(RuntimeError):
        i.send(b"x")
    with pytest.raises(RuntimeError):
        r.accept()


def test_control_frames_decode_strictly() -> None:
    with pytest.raises(DecodeError):
        decode(b"\x92\xcd\x00\xc8\xa1x", CloseFrame)  # non-canonical u16 for 200
    assert decode(encode(CloseFrame(200, "Success")), CloseFrame) == CloseFrame(200, "Success")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_responder_handshake_input(data: bytes) -> None:
    r = LinkMachine.responder(BOB, NET, random_bytes=rng(4))
    events = r.receive_data(data)
    assert all(isinstance(e, Closed) for e in events)
    assert r.state in (LinkState.HANDSHAKE, LinkState.CLOSED)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_initiator_handshake_input(data: bytes) -> None:
    i = LinkMachine.initiator(ALICE, NET, PROTO, random_bytes=rng(5))
    events = i.receive_data(data)
    assert all(isinstance(e, Closed) for e in events)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_fuzz_open_link_input(data: bytes) -> None:
    """Random bytes injected into an open link: never an exception, never a Message."""
    _, r = open_pair()
    events = r.receive_data(data)
    assert not any(isinstance(e, Message) for e in events)
    assert all(isinstance(e, Closed) and e.reason == reasons.PROTOCOL_VIOLATION for e in events)


@settings(max_examples=50, deadline=None)
@given(
    msgs=st.lists(st.binary(max_size=2000), max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=10),
)
def test_any_chunking_delivers_the_same_messages(msgs: list[bytes], cuts: list[int]) -> None:
    i, r = open_pair()
    for m in msgs:
        i.send(m)
    stream = i.data_to_send()
    got: list[Event] = []
    pos = 0
    k = 0
    while pos < len(stream):
        step = cuts[k % len(cuts)]
        got += r.receive_data(stream[pos : pos + step])
        pos += step
        k += 1
    assert got == [Message(m) for m in msgs]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=MAX_CONTROL_BODY + 10))
def test_fuzz_hello_and_close_decoders(data: bytes) -> None:
    for typ in (Hello, CloseFrame):
        with contextlib.suppress(DecodeError):
            decode(data, typ, max_size=MAX_CONTROL_BODY)


@pytest.mark.parametrize("point", [bytes(32), b"\x01" + bytes(31)])
def test_low_order_ephemeral_is_a_violation_not_a_crash(point: bytes) -> None:
    r = LinkMachine.responder(BOB, NET, random_bytes=rng(6))
    (event,) = r.receive_data(b"\x00\x20" + point)
    assert isinstance(event, Closed)
    assert event.reason == reasons.PROTOCOL_VIOLATION
    i = LinkMachine.initiator(ALICE, NET, PROTO, random_bytes=rng(6))
    i.data_to_send()
    (event,) = i.receive_data(b"\x00\x60" + point + bytes(64))
    assert isinstance(event, Closed)
    assert event.reason == reasons.PROTOCOL_VIOLATION
