"""Signed peer entries and departures: signatures bind every field, decoding is strict."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from pymosaik.discovery.entry import MAX_ITEMS, Departure, PeerEntry, SignedPeerEntry
from pymosaik.discovery.messages import (
    MAX_SYNC_ENTRIES,
    Announce,
    Depart,
    DiscoveryMessage,
    Ping,
    Pong,
    SyncRequest,
    SyncResponse,
)
from pymosaik.primitives import (
    UNIVERSE,
    DecodeError,
    SecretKey,
    UniqueId,
    decode,
    encode,
    unique_id,
)
from pymosaik.tickets import Ticket
from pymosaik.transport import SocketAddr

KEY = SecretKey.from_id(unique_id("test.entry.key"))
OTHER = SecretKey.from_id(unique_id("test.entry.other"))
TICKET = Ticket(unique_id("jwt"), b"token-bytes")


def full_entry(key: SecretKey = KEY) -> PeerEntry:
    return PeerEntry(
        UNIVERSE,
        key.peer_id.bytes,
        1_000,
        2_000,
        (SocketAddr("127.0.0.1", 4000), SocketAddr("10.0.0.1", 4001)),
        (unique_id("tag.a"), unique_id("tag.b")),
        (unique_id("stream.x"),),
        (unique_id("group.g"),),
        (TICKET,),
    )


ALTERATIONS = {
    "network_id": unique_id("another.network"),
    "key": OTHER.peer_id.bytes,
    "started_ms": 1_001,
    "update_ms": 2_001,
    "addrs": (SocketAddr("127.0.0.1", 4002),),
    "tags": (unique_id("tag.a"),),
    "streams": (),
    "groups": (unique_id("group.h"),),
    "tickets": (Ticket(unique_id("jwt"), b"other-token"),),
}


def test_sign_verify_round_trip() -> None:
    signed = full_entry().sign(KEY)
    assert signed.verify()
    assert signed.entry.peer_id == KEY.peer_id
    assert signed.entry.version == (1_000, 2_000)
    assert signed.entry.addr.peer_id == KEY.peer_id
    assert signed.entry.addr.addrs == full_entry().addrs


@pytest.mark.parametrize("field", sorted(ALTERATIONS))
def test_altering_any_field_breaks_the_signature(field: str) -> None:
    signed = full_entry().sign(KEY)
    altered = SignedPeerEntry(
        replace(signed.entry, **{field: ALTERATIONS[field]}), signed.signature
    )
    assert altered.entry != signed.entry
    assert not altered.verify()


def test_altered_or_truncated_signature_is_refused() -> None:
    signed = full_entry().sign(KEY)
    flipped = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    assert not SignedPeerEntry(signed.entry, flipped).verify()
    assert not SignedPeerEntry(signed.entry, signed.signature[:-1]).verify()
    assert not SignedPeerEntry(signed.entry, b"").verify()


def test_signing_with_another_key_is_refused() -> None:
    with pytest.raises(ValueError, match="own peer"):
        full_entry().sign(OTHER)


def test_entry_signature_is_not_a_departure_signature() -> None:
    """Domain separation: a signature over one kind of body never verifies as another."""
    dep = Departure.signed(KEY, UNIVERSE, 1_000)
    entry = full_entry()
    assert not SignedPeerEntry(entry, dep.signature).verify()


def test_signed_entry_canonical_round_trip() -> None:
    signed = full_entry().sign(KEY)
    raw = encode(signed)
    back = decode(raw, SignedPeerEntry)
    assert back == signed
    assert back.verify()
    assert encode(back) == raw


def test_departure_sign_verify_and_round_trip() -> None:
    dep = Departure.signed(KEY, UNIVERSE, 1_000)
    assert dep.verify()
    back = decode(encode(dep), Departure)
    assert back == dep
    assert back.verify()
    for field, value in {
        "network_id": unique_id("another.network"),
        "key": OTHER.peer_id.bytes,
        "started_ms": 1_001,
        "signature": dep.signature[:-1] + bytes([dep.signature[-1] ^ 1]),
    }.items():
        assert not replace(dep, **{field: value}).verify(), field


def test_unsigned_departure_does_not_verify() -> None:
    assert not Departure(UNIVERSE, KEY.peer_id.bytes, 1_000).verify()


@pytest.mark.parametrize("key", [b"", b"short", bytes(33)])
def test_entry_and_departure_with_a_malformed_key_never_decode(key: bytes) -> None:
    """A malformed key must fail at decode, not later inside the catalog."""
    forged_entry = encode((UNIVERSE.bytes, key, 1, 2, [], [], [], [], []))
    forged_signed = encode(((UNIVERSE.bytes, key, 1, 2, [], [], [], [], []), bytes(64)))
    forged_dep = encode((UNIVERSE.bytes, key, 1, bytes(64)))
    with pytest.raises(DecodeError):
        decode(forged_entry, PeerEntry)
    with pytest.raises(DecodeError):
        decode(forged_signed, SignedPeerEntry)
    with pytest.raises(DecodeError):
        decode(forged_dep, Departure)
    with pytest.raises(DecodeError):
        decode(encode(Depart(Departure.signed(KEY, UNIVERSE, 1)))[:-1], DiscoveryMessage)  # type: ignore[arg-type]


def test_too_many_items_are_refused() -> None:
    many = tuple(UniqueId.from_u64(i) for i in range(MAX_ITEMS + 1))
    with pytest.raises(ValueError, match="at most"):
        replace(full_entry(), tags=many)
    at_limit = replace(full_entry(), tags=many[:MAX_ITEMS])  # the limit itself is fine
    assert decode(encode(at_limit), PeerEntry) == at_limit
    forged = encode((UNIVERSE, KEY.peer_id.bytes, 1, 2, (), many, (), (), ()))
    with pytest.raises(DecodeError):
        decode(forged, PeerEntry)


def test_oversized_input_is_refused_before_parsing() -> None:
    raw = encode(full_entry().sign(KEY))
    with pytest.raises(DecodeError, match="limit"):
        decode(raw, SignedPeerEntry, max_size=len(raw) - 1)


def test_trailing_bytes_are_refused() -> None:
    raw = encode(full_entry().sign(KEY))
    with pytest.raises(DecodeError):
        decode(raw + b"\x00", SignedPeerEntry)


def test_sync_messages_bound_their_entry_count() -> None:
    signed = full_entry().sign(KEY)
    SyncRequest((signed,) * MAX_SYNC_ENTRIES)
    for kind in (Announce, SyncRequest, SyncResponse):
        with pytest.raises(ValueError, match="at most"):
            kind((signed,) * (MAX_SYNC_ENTRIES + 1))
        forged = encode((kind.__struct_config__.tag, (signed,) * (MAX_SYNC_ENTRIES + 1)))
        with pytest.raises(DecodeError):
            decode(forged, DiscoveryMessage)  # type: ignore[arg-type]


# ---- fuzzing ------------------------------------------------------------------------------

u63 = st.integers(min_value=0, max_value=2**63 - 1)
ids = st.binary(min_size=32, max_size=32).map(UniqueId)
socket_addrs = st.builds(SocketAddr, st.text(max_size=12), st.integers(0, 65535))
tickets = st.builds(Ticket, ids, st.binary(max_size=24))
keys = st.sampled_from([KEY, OTHER])


@st.composite
def signed_entries(draw: st.DrawFn) -> SignedPeerEntry:
    key = draw(keys)
    started = draw(u63)
    entry = PeerEntry(
        draw(st.sampled_from([UNIVERSE, unique_id("another.network")])),
        key.peer_id.bytes,
        started,
        draw(st.integers(min_value=started, max_value=2**63 - 1)),
        tuple(draw(st.lists(socket_addrs, max_size=3))),
        tuple(draw(st.lists(ids, max_size=3))),
        tuple(draw(st.lists(ids, max_size=2))),
        tuple(draw(st.lists(ids, max_size=2))),
        tuple(draw(st.lists(tickets, max_size=2))),
    )
    return entry.sign(key)


departures = st.builds(
    lambda key, started: Departure.signed(key, UNIVERSE, started),
    keys,
    u63,
)
messages: st.SearchStrategy[DiscoveryMessage] = st.one_of(
    st.builds(Announce, st.lists(signed_entries(), max_size=3).map(tuple)),
    st.builds(SyncRequest, st.lists(signed_entries(), max_size=3).map(tuple)),
    st.builds(SyncResponse, st.lists(signed_entries(), max_size=3).map(tuple)),
    st.builds(Ping, u63, u63),
    st.builds(Pong, u63, u63),
    st.builds(Depart, departures),
)


@settings(max_examples=150, deadline=None)
@given(signed_entries())
def test_fuzz_signed_entry_round_trips_and_verifies(signed: SignedPeerEntry) -> None:
    raw = encode(signed)
    back = decode(raw, SignedPeerEntry)
    assert back == signed
    assert back.verify()


@settings(max_examples=150, deadline=None)
@given(messages)
def test_fuzz_message_round_trips(message: DiscoveryMessage) -> None:
    assert decode(encode(message), DiscoveryMessage) == message  # type: ignore[arg-type]


def _decode_or_refuse(data: bytes, typ: Any) -> object | None:
    """Anything but a clean value or DecodeError (e.g. ValueError from PeerId) fails the test."""
    try:
        value: object = decode(data, typ)
    except DecodeError:
        return None
    assert encode(value) == data
    return value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_as_signed_entry(data: bytes) -> None:
    value = _decode_or_refuse(data, SignedPeerEntry)
    if isinstance(value, SignedPeerEntry):
        value.verify()  # must not raise
        _ = value.entry.peer_id, value.entry.addr


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_as_message(data: bytes) -> None:
    _decode_or_refuse(data, DiscoveryMessage)


@settings(max_examples=200, deadline=None)
@given(messages, st.data())
def test_fuzz_truncated_extended_or_mutated_messages(
    message: DiscoveryMessage, data: st.DataObject
) -> None:
    raw = encode(message)
    cut = data.draw(st.integers(0, len(raw) - 1))
    assert _decode_or_refuse(raw[:cut], DiscoveryMessage) is None
    tail = data.draw(st.binary(min_size=1, max_size=8))
    assert _decode_or_refuse(raw + tail, DiscoveryMessage) is None
    pos = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255))
    mutated = raw[:pos] + bytes([byte]) + raw[pos + 1 :]
    value = _decode_or_refuse(mutated, DiscoveryMessage)
    if isinstance(value, Announce | SyncRequest | SyncResponse):
        for signed in value.entries:
            signed.verify()
            _ = signed.entry.peer_id
    elif isinstance(value, Depart):
        value.departure.verify()


@settings(max_examples=100, deadline=None)
@given(signed_entries(), st.data())
def test_fuzz_mutated_signed_entry_never_verifies_unless_unchanged(
    signed: SignedPeerEntry, data: st.DataObject
) -> None:
    raw = encode(signed)
    pos = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]))
    value = _decode_or_refuse(raw[:pos] + bytes([byte]) + raw[pos + 1 :], SignedPeerEntry)
    if isinstance(value, SignedPeerEntry):
        assert not value.verify()


def test_oversized_message_is_refused() -> None:
    big = Announce((full_entry().sign(KEY),) * 4)
    raw = encode(big)
    with pytest.raises(DecodeError):
        decode(raw, DiscoveryMessage, max_size=len(raw) - 1)  # type: ignore[arg-type]
