"""Records and frames: layout, limits, and fuzzing of both decoders."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosaik.transport.framing import (
    MAX_RECORD_LEN,
    FrameDecoder,
    FrameKind,
    FramingError,
    RecordDecoder,
    encode_frame,
    encode_record,
)


def test_frame_layout_is_u32_be_length_then_kind() -> None:
    assert encode_frame(FrameKind.DATA, b"abc") == b"\x00\x00\x00\x04\x02abc"
    assert encode_record(b"xy") == b"\x00\x02xy"


def test_record_limit() -> None:
    encode_record(bytes(MAX_RECORD_LEN))
    with pytest.raises(ValueError, match="exceeds"):
        encode_record(bytes(MAX_RECORD_LEN + 1))


def test_oversized_frame_refused_from_its_header_alone() -> None:
    decoder = FrameDecoder(max_body=10)
    # header announces an 11-byte body; not one body byte has arrived
    with pytest.raises(FramingError, match="exceeds"):
        decoder.feed((12).to_bytes(4, "big"))
    assert decoder.buffered == 4


def test_four_gib_header_never_allocates() -> None:
    decoder = FrameDecoder(max_body=1 << 20)
    with pytest.raises(FramingError):
        decoder.feed(b"\xff\xff\xff\xff\x02")


def test_frame_at_the_limit_passes() -> None:
    decoder = FrameDecoder(max_body=10)
    assert decoder.feed(encode_frame(FrameKind.DATA, bytes(10))) == [(FrameKind.DATA, bytes(10))]


@pytest.mark.parametrize(
    ("data", "match"),
    [(b"\x00\x00\x00\x00", "empty"), (b"\x00\x00\x00\x01\x09", "unknown frame kind")],
)
def test_malformed_frames(data: bytes, match: str) -> None:
    with pytest.raises(FramingError, match=match):
        FrameDecoder(100).feed(data)


def test_frames_before_a_bad_one_are_still_delivered() -> None:
    decoder = FrameDecoder(100)
    decoder.push(encode_frame(FrameKind.DATA, b"ok") + b"\x00\x00\x00\x00")
    assert decoder.next_frame() == (FrameKind.DATA, b"ok")
    with pytest.raises(FramingError):
        decoder.next_frame()


def test_record_minimum_length() -> None:
    decoder = RecordDecoder(min_len=17)
    with pytest.raises(FramingError, match="outside"):
        decoder.feed(b"\x00\x05hello")


def test_record_maximum_refused_from_header() -> None:
    decoder = RecordDecoder(min_len=32, max_len=32)
    with pytest.raises(FramingError, match="outside"):
        decoder.feed(b"GE")


frames_st = st.lists(
    st.tuples(st.sampled_from(list(FrameKind)), st.binary(max_size=300)), max_size=20
)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in [*points, len(data)]:
        out.append(data[last:p])
        last = p
    return out


@given(frames=frames_st, cuts=st.lists(st.integers(min_value=0), max_size=30))
def test_frames_round_trip_under_any_chunking(
    frames: list[tuple[FrameKind, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(encode_frame(k, b) for k, b in frames)
    decoder = FrameDecoder(300)
    got: list[tuple[FrameKind, bytes]] = []
    for chunk in _chunks(stream, cuts):
        got += decoder.feed(chunk)
    assert got == frames
    assert decoder.buffered == 0


@given(records=st.lists(st.binary(max_size=500), max_size=20), cuts=st.lists(st.integers(0)))
def test_records_round_trip_under_any_chunking(records: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode_record(r) for r in records)
    decoder = RecordDecoder()
    got: list[bytes] = []
    for chunk in _chunks(stream, cuts):
        got += decoder.feed(chunk)
    assert got == records


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=10), st.integers(0, 1000))
def test_frame_decoder_fuzz_only_framing_errors_and_bounded_buffer(
    chunks: list[bytes], limit: int
) -> None:
    decoder = FrameDecoder(limit)
    try:
        for chunk in chunks:
            for kind, body in decoder.feed(chunk):
                assert kind in FrameKind
                assert len(body) <= limit
            # whatever is buffered is at most one frame in progress
            assert decoder.buffered <= limit + 5 + 64
    except FramingError:
        pass


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=10), st.integers(0, 40))
def test_record_decoder_fuzz(chunks: list[bytes], min_len: int) -> None:
    decoder = RecordDecoder(min_len=min_len)
    try:
        for chunk in chunks:
            for record in decoder.feed(chunk):
                assert min_len <= len(record) <= MAX_RECORD_LEN
    except FramingError:
        pass
