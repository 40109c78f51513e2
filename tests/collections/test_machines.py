"""Unit tests of the collection state machines: apply, CAS, snapshots, canonical bytes."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pymosaik.collections import (
    CellMachine,
    MapMachine,
    OnceMachine,
    Outcome,
    PriorityQueueMachine,
    SetMachine,
    VecMachine,
    store_id,
)
from pymosaik.collections.base import CollectionMachine
from pymosaik.collections.cell import CellCAS, CellClear, CellWrite, OnceWrite
from pymosaik.collections.map import MapCAS, MapClear, MapExtend, MapInsert, MapRemove
from pymosaik.collections.pqueue import (
    PQCompareExchangeValue,
    PQExtend,
    PQInsert,
    PQRemoveKeys,
    PQRemoveRange,
    PQUpdatePriority,
    PQUpdateValue,
)
from pymosaik.collections.set import SetExtend, SetInsert, SetRemove
from pymosaik.collections.vec import (
    VecInsert,
    VecPopBack,
    VecPopFront,
    VecPushBack,
    VecPushFront,
    VecRemove,
    VecSwap,
    VecTruncate,
)
from pymosaik.groups.machine import ApplyContext
from pymosaik.primitives import UniqueId, Wire, decode, encode

SECRET = UniqueId.hash("collections test secret")
STORE = store_id(SECRET, "test.store v1")


class Applier:
    """Feeds commands with consecutive log indices, as a Raft node would."""

    def __init__(self, machine: CollectionMachine[Any]) -> None:
        self.machine = machine
        self.index = 0

    def __call__(self, cmd: Wire | bytes) -> Outcome:
        self.index += 1
        raw = cmd if isinstance(cmd, bytes) else encode(cmd)
        return decode(self.machine.apply(raw, ApplyContext(self.index, 1, self.index)), Outcome)


def roundtrip(machine: CollectionMachine[Any], fresh: CollectionMachine[Any]) -> None:
    fresh.restore(machine.snapshot())
    assert fresh.snapshot() == machine.snapshot()
    assert fresh.version == machine.version


def test_store_ids_separate_schemas_secrets_and_kinds() -> None:
    assert store_id(SECRET, "a") != store_id(SECRET, "b")
    assert store_id(SECRET, "a") != store_id(UniqueId.hash("other"), "a")
    assert MapMachine(STORE).signature() != SetMachine(STORE).signature()
    assert CellMachine(STORE).signature() != OnceMachine(STORE).signature()
    assert MapMachine(STORE).signature() == MapMachine(STORE).signature()


def test_map_apply_cas_and_snapshot() -> None:
    m = MapMachine(STORE)
    run = Applier(m)
    assert run(MapInsert(b"a", b"1")) == Outcome(1, True)
    assert run(MapExtend(((b"b", b"2"), (b"c", b"3")))).changed
    assert not run(MapCAS(b"a", b"wrong", b"9")).changed
    assert m.data[b"a"] == b"1"
    assert run(MapCAS(b"a", b"1", b"9")).changed
    assert m.data[b"a"] == b"9"
    assert not run(MapCAS(b"z", b"1", b"9")).changed  # absent key, expected present
    assert run(MapCAS(b"z", None, b"new")).changed  # insert-if-absent
    assert not run(MapCAS(b"z", None, b"again")).changed
    assert run(MapCAS(b"z", b"new", None)).changed  # delete
    assert b"z" not in m.data
    assert run(MapRemove((b"b", b"missing"))).changed
    assert m.data == {b"a": b"9", b"c": b"3"}
    assert m.version == 9
    roundtrip(m, MapMachine(STORE))
    run(MapClear())
    assert m.data == {}


def test_malformed_command_is_rejected_but_versioned() -> None:
    m = MapMachine(STORE)
    run = Applier(m)
    assert run(b"\xff garbage") == Outcome(1, False)
    assert m.version == 1
    assert m.data == {}


@given(st.dictionaries(st.binary(max_size=8), st.binary(max_size=8), max_size=20), st.randoms())
def test_map_snapshot_independent_of_insertion_order(
    items: dict[bytes, bytes], rnd: random.Random
) -> None:
    pairs = list(items.items())
    shuffled = pairs[:]
    rnd.shuffle(shuffled)
    a, b = MapMachine(STORE), MapMachine(STORE)
    run_a, run_b = Applier(a), Applier(b)
    for k, v in pairs:
        run_a(MapInsert(k, v))
    for k, v in shuffled:
        run_b(MapInsert(k, v))
    assert a.snapshot() == b.snapshot()


@given(st.sets(st.binary(max_size=8), max_size=20), st.randoms())
def test_set_snapshot_independent_of_insertion_order(items: set[bytes], rnd: random.Random) -> None:
    order = sorted(items)
    shuffled = order[:]
    rnd.shuffle(shuffled)
    a, b = SetMachine(STORE), SetMachine(STORE)
    Applier(a)(SetExtend(tuple(order)))
    Applier(b)(SetExtend(tuple(shuffled)))
    assert a.snapshot() == b.snapshot()


def test_set_apply_and_roundtrip() -> None:
    s = SetMachine(STORE)
    run = Applier(s)
    run(SetInsert(b"x"))
    run(SetInsert(b"x"))
    run(SetExtend((b"y", b"z")))
    run(SetRemove((b"y",)))
    assert s.data == {b"x", b"z"}
    roundtrip(s, SetMachine(STORE))


def test_vec_operations_and_bounds() -> None:
    v = VecMachine(STORE)
    run = Applier(v)
    run(VecPushBack(b"b"))
    run(VecPushFront(b"a"))
    run(VecPushBack(b"c"))
    assert v.data == [b"a", b"b", b"c"]
    assert run(VecSwap(0, 2)).changed
    assert v.data == [b"c", b"b", b"a"]
    assert not run(VecSwap(0, 3)).changed
    assert not run(VecInsert(4, b"x")).changed
    assert run(VecInsert(3, b"d")).changed
    assert run(VecRemove(1)).changed
    assert not run(VecRemove(10)).changed
    assert v.data == [b"c", b"a", b"d"]
    run(VecPopFront())
    run(VecPopBack())
    assert v.data == [b"a"]
    run(VecTruncate(0))
    assert not run(VecPopBack()).changed
    run(VecPushBack(b"q"))
    roundtrip(v, VecMachine(STORE))


def test_cell_cas_and_once_first_write_wins() -> None:
    c = CellMachine(STORE)
    run = Applier(c)
    assert not run(CellCAS(b"x", b"y")).changed  # empty, expected x
    assert run(CellCAS(None, b"y")).changed
    assert run(CellWrite(b"z")).changed
    assert not run(CellCAS(b"y", b"w")).changed
    assert run(CellCAS(b"z", None)).changed
    assert c.value is None
    run(CellWrite(b"v"))
    roundtrip(c, CellMachine(STORE))
    run(CellClear())
    assert c.value is None

    o = OnceMachine(STORE)
    run_o = Applier(o)
    assert run_o(OnceWrite(b"first")).changed
    assert not run_o(OnceWrite(b"second")).changed
    assert o.value == b"first"
    roundtrip(o, OnceMachine(STORE))


def test_priority_queue() -> None:
    q = PriorityQueueMachine(STORE)
    run = Applier(q)
    run(PQInsert(5, b"k5", b"v5"))
    run(PQExtend(((1, b"k1", b"v1"), (9, b"k9", b"v9"), (5, b"k0", b"v0"))))
    assert [k for _, k, _ in q.entries()] == [b"k1", b"k0", b"k5", b"k9"]
    run(PQInsert(0, b"k9", b"v9b"))  # re-insert replaces priority and value
    assert q.entries()[0] == (0, b"k9", b"v9b")
    assert run(PQUpdatePriority(b"k1", 20)).changed
    assert not run(PQUpdatePriority(b"nope", 1)).changed
    assert run(PQUpdateValue(b"k1", b"v1b")).changed
    assert q.entries()[-1] == (20, b"k1", b"v1b")
    assert not run(PQCompareExchangeValue(b"k5", b"bad", b"x")).changed
    assert run(PQCompareExchangeValue(b"k5", b"v5", b"x")).changed
    assert q.by_key[b"k5"] == (5, b"x")
    assert run(PQCompareExchangeValue(b"k5", b"x", None)).changed
    assert b"k5" not in q.by_key
    roundtrip(q, PriorityQueueMachine(STORE))
    run(PQRemoveRange(0, 6))  # removes k9 (0) and k0 (5)
    assert [k for _, k, _ in q.entries()] == [b"k1"]
    run(PQRemoveKeys((b"k1",)))
    assert q.entries() == []


def test_pqueue_snapshot_order_canonical() -> None:
    a, b = PriorityQueueMachine(STORE), PriorityQueueMachine(STORE)
    entries = [(3, b"c", b"1"), (1, b"a", b"2"), (3, b"b", b"3")]
    Applier(a)(PQExtend(tuple(entries)))
    Applier(b)(PQExtend(tuple(reversed(entries))))
    assert a.snapshot() == b.snapshot()


def test_listeners_see_versions() -> None:
    m = MapMachine(STORE)
    seen: list[int] = []
    m.subscribe(seen.append)
    run = Applier(m)
    run(MapInsert(b"a", b"1"))
    run(MapInsert(b"b", b"2"))
    m.restore(m.snapshot())
    assert seen == [1, 2, 2]


@given(st.binary(max_size=200))
def test_decoders_never_raise_on_garbage(data: bytes) -> None:
    for machine in (
        MapMachine(STORE),
        VecMachine(STORE),
        SetMachine(STORE),
        CellMachine(STORE),
        OnceMachine(STORE),
        PriorityQueueMachine(STORE),
    ):
        out = decode(machine.apply(data, ApplyContext(1, 1, 1)), Outcome)
        assert out.version == 1
