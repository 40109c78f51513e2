"""The canonical encoding: round trips, strictness, canonicality."""

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymosaik.primitives import UNIVERSE, DecodeError, UniqueId, Wire, decode, encode


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
