"""Keyed surfaces without sockets: history, snapshots, size limits, when() cursors, pointers."""

from __future__ import annotations

import asyncio

import pytest

from coalition.framework.history import EvidenceMismatch, EvidenceUnavailable, HistoryResolver
from coalition.framework.keyed import KeyedPointer, KeyedStore, MapSurface, VecSurface
from coalition.framework.keyed_read import MapView, VecView
from coalition.framework.surface import Readers, SurfaceMachine, SurfaceResult, Wrapped
from organisms.registry import ENTRIES, RegistryEntry, RegistryMachine, _Put
from pymosaik.groups import ApplyContext
from pymosaik.primitives import DecodeError, UniqueId, Wire, decode, encode


class Card(Wire, frozen=True):
    score_bps: int
    note: str


CARDS = MapSurface("cards", str, Card, max_value_bytes=64)
POOL = VecSurface("pool", int)
ORG = UniqueId.from_parts(b"keyed-test")


def store() -> KeyedStore:
    return KeyedStore(ORG, [CARDS, POOL])


def test_every_version_of_a_key_is_kept_with_its_log_index() -> None:
    s = store()
    for i in range(300):  # more than the 256 frames a stream surface replays
        s.put(CARDS, "a" if i % 2 else "b", Card(i, "x"), index=10 + i)
    assert s.remove(CARDS, "a", index=400) is not None
    assert s.remove(CARDS, "a", index=401) is None  # nothing to remove: no version
    view = MapView(CARDS, s.log(CARDS))
    history = view.history("a")
    assert len(history) == 151
    assert [v.value.score_bps for v in history[:3] if v.value] == [1, 3, 5]
    assert history[0].seq == 1 and history[0].index == 11
    assert history[-1].value is None and history[-1].index == 400
    assert view.get("a") is None and "a" not in view
    assert view.get("b") == Card(298, "x")
    assert view.keys() == ["b"] and len(view) == 1


def test_snapshot_restores_the_whole_history_and_refuses_gaps() -> None:
    s = store()
    s.put(CARDS, "k", Card(1, "one"), index=3)
    s.put(CARDS, "k", Card(2, "two"), index=4)
    s.append(POOL, 7, index=5)
    copy = store()
    copy.restore(s.image())
    assert copy.image() == s.image()
    assert MapView(CARDS, copy.log(CARDS)).history("k")[0].value == Card(1, "one")
    assert VecView(POOL, copy.log(POOL)).get(0) == 7
    with pytest.raises(ValueError, match="undeclared surface"):
        KeyedStore(ORG, [POOL]).restore(s.image())


def test_size_limits_and_strict_decoding() -> None:
    s = store()
    with pytest.raises(ValueError, match="allows 64"):
        s.put(CARDS, "k", Card(1, "x" * 100), index=1)
    with pytest.raises(DecodeError):  # a value of another type never reads back as a Card
        CARDS.decode_value(encode(("not", "a card")))
    with pytest.raises(DecodeError):
        CARDS.decode_value(b"\x92" + b"\x00" * 70)


def test_registry_machine_refuses_oversize_and_garbage_deterministically() -> None:
    m = RegistryMachine(ORG)
    ctx = ApplyContext(1, 1, 1)
    assert decode(m.apply(encode(_Put("k", RegistryEntry(b"x" * 20_000, 1))), ctx), int) == -1
    assert decode(m.apply(b"\xff garbage", ctx), int) == -1
    assert decode(m.apply(encode(_Put("k", RegistryEntry(b"ok", 1))), ctx), int) == 0
    assert MapView(ENTRIES, m.store.log(ENTRIES)).get("k") == RegistryEntry(b"ok", 1)


def test_reader_count_is_committed_state_and_survives_a_snapshot() -> None:
    m = SurfaceMachine(ORG, RegistryMachine(ORG), lambda _: [])
    ctx = ApplyContext(5, 1, 5)
    assert decode(m.apply(encode(Readers(2)), ctx), SurfaceResult).ok
    assert m.apply(encode(Readers(2)), ApplyContext(6, 1, 6))  # same count: no new version
    m.apply(encode(Readers(1)), ApplyContext(7, 1, 7))
    assert m.subscribers is not None
    assert (m.subscribers.count, m.subscribers.seq, m.subscribers.index) == (1, 1, 7)
    copy = SurfaceMachine(ORG, RegistryMachine(ORG), lambda _: [])
    copy.restore(m.snapshot())
    assert copy.subscribers == m.subscribers
    # A writer cannot forge a count: its bytes are wrapped for the organism's machine.
    m.apply(encode(Wrapped(encode(Readers(99)))), ApplyContext(8, 1, 8))
    assert m.subscribers.count == 1


async def test_when_cursors_miss_nothing() -> None:
    s = store()
    s.append(POOL, 0, index=1)  # before the When: not "appended" to it
    vec = VecView(POOL, s.log(POOL))
    cards = MapView(CARDS, s.log(CARDS))
    appended = asyncio.ensure_future(vec.when().appended())
    updated = asyncio.ensure_future(cards.when().updated("k"))
    any_change = asyncio.ensure_future(cards.watch().changed())  # mosaik's updated()
    await asyncio.sleep(0)
    assert not appended.done() and not updated.done() and not any_change.done()
    s.append(POOL, 10, index=2)
    s.append(POOL, 20, index=3)  # two land before anyone looks again
    s.put(CARDS, "other", Card(0, ""), index=4)
    s.put(CARDS, "k", Card(1, "v1"), index=5)
    s.put(CARDS, "k", Card(2, "v2"), index=6)
    assert await any_change == 3  # woken by the put to "other"; counts what landed since
    assert await appended == 1
    assert await vec.when().appended() == 2  # the shared cursor moves on
    assert await vec.watch().reaches(3) == 3
    first = await updated
    assert (first.value, first.index) == (Card(1, "v1"), 5)
    second = await asyncio.wait_for(cards.when().updated("k"), 1)
    assert (second.value, second.index) == (Card(2, "v2"), 6)
    fresh = cards.watch()  # a new When starts at the present
    later = asyncio.ensure_future(fresh.updated("k"))
    await asyncio.sleep(0)
    assert not later.done()
    s.remove(CARDS, "k", index=7)
    assert (await later).value is None


def test_history_resolver_names_exact_bytes_or_says_why_not() -> None:
    s = store()
    s.put(CARDS, "k", Card(1, "v1"), index=1)
    s.put(CARDS, "k", Card(2, "v2"), index=2)
    view = MapView(CARDS, s.log(CARDS))
    resolver = HistoryResolver()
    resolver.follow(s)
    old = view.pointer("k", seq=0)
    assert resolver.resolve(old) == encode(Card(1, "v1"))  # an older version, exactly
    assert resolver.resolve(view.pointer("k")) == encode(Card(2, "v2"))
    with pytest.raises(EvidenceUnavailable, match="not there"):
        resolver.resolve(KeyedPointer(old.surface, old.key, 5, old.digest))
    with pytest.raises(EvidenceUnavailable, match="not read here"):
        resolver.resolve(KeyedPointer(ORG, old.key, 0, old.digest))
    with pytest.raises(EvidenceMismatch, match="other bytes"):
        resolver.resolve(KeyedPointer(old.surface, old.key, 0, view.pointer("k").digest))
    with pytest.raises(EvidenceMismatch, match="another key"):
        resolver.resolve(KeyedPointer(old.surface, CARDS.encode_key("z"), 0, old.digest))


async def test_history_resolver_waits_for_a_version_still_coming() -> None:
    s = store()
    s.put(CARDS, "k", Card(1, "v1"), index=1)
    resolver = HistoryResolver()
    resolver.follow(s)
    future = KeyedPointer.to(s.log(CARDS).surface, s.log(CARDS).entries[0])
    ahead = KeyedPointer(
        future.surface, future.key, 1, MapView(CARDS, s.log(CARDS)).pointer("k").digest
    )
    waiting = asyncio.ensure_future(resolver.wait(ahead, 2.0))
    await asyncio.sleep(0)
    s.put(CARDS, "k", Card(1, "v1"), index=2)  # same bytes again, as seq 1
    assert await waiting == encode(Card(1, "v1"))
    with pytest.raises(EvidenceUnavailable):
        await resolver.wait(KeyedPointer(future.surface, future.key, 9, future.digest), 0.05)
