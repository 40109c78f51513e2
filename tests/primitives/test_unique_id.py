"""UniqueId against golden vectors computed independently from the written rules."""

import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymosaik import UNIVERSE, UniqueId, unique_id

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "unique_id.json").read_text())


@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: f"{v['kind']}:{v['input'][:20]}")
def test_golden_vector(vec: dict[str, str]) -> None:
    kind, arg, expect = vec["kind"], vec["input"], vec["expect"]
    if kind == "from_str":
        got = UniqueId.from_str(arg)
        assert unique_id(arg) == got
        assert UniqueId.from_input(arg.encode()) == got
    elif kind == "from_input_bytes_hex":
        got = UniqueId.from_input(bytes.fromhex(arg))
    elif kind == "hash":
        got = UniqueId.hash(arg)
    elif kind in ("derive", "hashed", "derive_chain"):
        base = UniqueId.from_hex(vec["base"])
        if kind == "derive":
            got = base.derive(arg)
        elif kind == "derive_chain":
            first, second = arg.split("/")
            got = base.derive(first).derive(second)
        else:
            got = base.hashed()
    elif kind == "from_parts":
        got = UniqueId.from_parts(*arg.split("|"))
    else:
        got = getattr(UniqueId, kind)(int(arg))
    assert got.hex() == expect


def test_universe_is_the_shared_network_id() -> None:
    assert unique_id("mosaik.universe") == UNIVERSE
    assert str(UNIVERSE) == UNIVERSE.hex() == UNIVERSE.hex().lower()


def test_hex_rule_case_and_length_edges() -> None:
    lower = "ab" * 32
    assert UniqueId.from_str(lower).bytes == bytes.fromhex(lower)
    assert UniqueId.from_str(lower.upper()) == UniqueId.from_str(lower)
    assert UniqueId.from_str(lower[:-1]) == UniqueId.hash(lower[:-1])
    assert UniqueId.from_str(lower + "a") == UniqueId.hash(lower + "a")
    # 32 binary bytes are hashed, never taken as the id.
    raw = bytes(range(32))
    assert UniqueId.from_input(raw) == UniqueId.hash(raw) != UniqueId.from_bytes(raw)


def test_from_bytes_is_strict() -> None:
    for n in (0, 31, 33, 64):
        with pytest.raises(ValueError, match="exactly 32 bytes"):
            UniqueId.from_bytes(bytes(n))


def test_from_hex_is_strict() -> None:
    for bad in ("", "ab" * 31, "ab" * 33, "zz" * 32, " " + "ab" * 32):
        with pytest.raises(ValueError, match="64-hex-digit"):
            UniqueId.from_hex(bad)


def test_integer_ranges_checked() -> None:
    with pytest.raises(ValueError, match="does not fit in u8"):
        UniqueId.from_u8(256)
    with pytest.raises(ValueError, match="does not fit in u64"):
        UniqueId.from_u64(-1)
    assert UniqueId.from_u128(0) == UniqueId.zero()


def test_immutable_hashable_ordered_not_picklable() -> None:
    a, b = UniqueId.from_u8(1), UniqueId.from_u8(2)
    assert a < b
    assert b > a
    assert a <= a
    assert sorted([b, a]) == [a, b]
    assert {a: 1}[UniqueId.from_u8(1)] == 1
    with pytest.raises(AttributeError):
        a._b = b"x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        pickle.dumps(a)


def test_random_ids_differ_and_zero_is_zero() -> None:
    assert UniqueId.random() != UniqueId.random()
    assert UniqueId.zero().is_zero()
    assert not UNIVERSE.is_zero()


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=64))
def test_derive_is_blake3_of_concatenation(raw: bytes, info: bytes) -> None:
    base = UniqueId.from_bytes(raw)
    assert base.derive(info) == UniqueId.hash(raw + info) == UniqueId.from_parts(raw, info)
    assert base.hashed() == UniqueId.hash(raw)


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_ordering_is_bytewise(x: bytes, y: bytes) -> None:
    assert (UniqueId(x) < UniqueId(y)) == (x < y)
    assert (UniqueId(x) == UniqueId(y)) == (x == y)
