"""The canonical encoding: round trips, strictness, canonicality."""

import subprocess
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymosaik.primitives import UNIVERSE, DecodeError, UniqueId, Wire, decode, encode
from pymosaik.primitives.nesting import MAX_DEPTH, NestingError, check_nesting


class Sample(Wire):
    n: int
    name: str
    id: UniqueId
    tags: dict[str, int]


def test_round_trip_and_layout() -> None:
    value = Sample(5, "a", UNIVERSE, {"b": 2, "a": 1})
    data = encode(value)
    # array of 4, fixint 5, fixstr "a", bin8 of 32 bytes, map sorted by key
    assert data[:4] == bytes([0x94, 0x05, 0xA1, ord("a")])
    assert data[4:6] == bytes([0xC4, 32])
    assert data[6:38] == UNIVERSE.bytes
    assert data[38:] == bytes([0x82, 0xA1, ord("a"), 1, 0xA1, ord("b"), 2])
    assert decode(data, Sample) == Sample(5, "a", UNIVERSE, {"a": 1, "b": 2})


def test_trailing_bytes_rejected() -> None:
    data = encode(Sample(1, "x", UNIVERSE, {}))
    with pytest.raises(DecodeError, match="trailing"):
        decode(data + b"\x00", Sample)


def test_oversize_rejected_before_parsing() -> None:
    data = encode(Sample(1, "x" * 100, UNIVERSE, {}))
    with pytest.raises(DecodeError, match="limit"):
        decode(data, Sample, max_size=50)


def test_non_minimal_integer_rejected() -> None:
    canonical = encode(Sample(5, "a", UNIVERSE, {}))
    # 5 as uint8 (0xcc 0x05) instead of positive fixint: same value, other bytes
    padded = canonical[:1] + b"\xcc\x05" + canonical[2:]
    assert msgspec.msgpack.decode(padded)[0] == 5
    with pytest.raises(DecodeError, match="non-canonical"):
        decode(padded, Sample)


def test_unsorted_map_rejected() -> None:
    body = msgspec.msgpack.encode([1, "x", UNIVERSE.bytes, {"b": 1, "a": 2}])
    with pytest.raises(DecodeError, match="non-canonical"):
        decode(body, Sample)


def test_wrong_id_length_rejected() -> None:
    body = msgspec.msgpack.encode([1, "x", b"\x01" * 31, {}])
    with pytest.raises(DecodeError):
        decode(body, Sample)


def test_wrong_shape_rejected() -> None:
    with pytest.raises(DecodeError):
        decode(msgspec.msgpack.encode([1, "x", UNIVERSE.bytes]), Sample)
    with pytest.raises(DecodeError):
        decode(msgspec.msgpack.encode([1, "x", UNIVERSE.bytes, {}, 9]), Sample)


def test_unencodable_type_refused() -> None:
    with pytest.raises(TypeError):
        encode(object())


@given(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(max_size=40),
    st.binary(min_size=32, max_size=32),
    st.dictionaries(st.text(max_size=8), st.integers(-1000, 1000), max_size=5),
)
def test_round_trip_property(n: int, name: str, raw: bytes, tags: dict[str, int]) -> None:
    value = Sample(n, name, UniqueId(raw), tags)
    assert decode(encode(value), Sample) == value


@given(st.binary(max_size=200))
def test_fuzz_never_crashes(data: bytes) -> None:
    try:
        value = decode(data, Sample)
    except DecodeError:
        return
    assert encode(value) == data


# ---- hostile input (docs/spec/encoding.md, "Hostile input") ----------------------
def _nested(levels: int) -> bytes:
    """``levels`` arrays of one element, innermost empty: ~1 byte per level."""
    return b"\x91" * (levels - 1) + b"\x90"


class Boxed(Wire, frozen=True):
    id: UniqueId


class Loose(Wire, frozen=True):
    anything: Any


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
@pytest.mark.parametrize("typ", [Sample, Boxed, Loose, dict, list, Any])
def test_deep_nesting_is_a_decode_error(typ: Any, levels: int) -> None:
    # Before the guards, 1,000 levels at a UniqueId or Any position escaped as RecursionError.
    data = _nested(levels)
    for blob in (data, b"\x91" + data, b"\x94\x01\xa1x" + data + b"\x80"):
        with pytest.raises(DecodeError):
            decode(blob, typ)


def test_deep_nesting_at_an_id_position_is_refused_as_a_type_not_walked() -> None:
    # The typed pass sees an array where 32 bytes belong and stops at once.
    with pytest.raises(DecodeError, match="Expected `bytes`, got `array`"):
        decode(b"\x91" + _nested(100_000), Boxed)


def test_nesting_up_to_the_bound_decodes() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH - 1):
        deep = [deep]
    assert decode(encode(Loose(deep)), Loose) == Loose(deep)
    with pytest.raises(DecodeError, match="nests deeper than 64"):
        decode(encode(Loose([deep])), Loose)


def test_non_string_map_keys_are_a_decode_error() -> None:
    # Before: the canonical re-encoding raised TypeError for {1: 2}.
    for blob in (b"\x81\x01\x02", b"\x81\x90\x01", b"\x81\xc0\x01"):
        with pytest.raises(DecodeError):
            decode(blob, dict)
        with pytest.raises(DecodeError):
            decode(b"\x91" + blob, Loose)


def test_deep_nesting_with_a_raised_recursion_limit_does_not_crash() -> None:
    """web3's dependencies raise the limit to 100,000: msgspec then overflowed the C stack."""
    code = (
        "import sys; sys.setrecursionlimit(100_000)\n"
        "from pymosaik.primitives import DecodeError, UniqueId, Wire, decode\n"
        "class Boxed(Wire, frozen=True):\n"
        "    id: UniqueId\n"
        "for typ in (Boxed, dict):\n"
        "    try:\n"
        "        decode(b'\\x91' * 100_000 + b'\\x90', typ)\n"
        "    except DecodeError:\n"
        "        print('DecodeError')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    assert done.stdout.split() == ["DecodeError", "DecodeError"]


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((max(_depth(k), _depth(v)) for k, v in value.items()), default=0)
    return 0


_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=300)
    | st.binary(max_size=300)
    | st.builds(msgspec.msgpack.Ext, st.integers(0, 127), st.binary(max_size=20))
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=20)
        | st.dictionaries(
            st.text(max_size=4) | st.integers(-(2**63), 2**64 - 1), inner, max_size=20
        )
    ),
    max_leaves=60,
)


@given(_VALUES, st.integers(1, 8))
def test_nesting_scan_agrees_with_the_value(value: Any, limit: int) -> None:
    data = msgspec.msgpack.encode(value)
    try:
        check_nesting(data, limit)
    except NestingError:
        assert _depth(value) > limit
    else:
        assert _depth(value) <= limit or len(data) <= limit
