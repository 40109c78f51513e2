"""The native pad batch (pads.c over libcrypto) gives exactly the pure-Python path's bytes, and
dcnet falls back to that path, saying so once, when the library cannot be built."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from organisms.zipnet import dcnet, native
from organisms.zipnet.params import RoundParams

SMALL = RoundParams(num_slots=16, slot_bytes=64, tag_len=16, sched_slots=64, footprint_bytes=4)
#: odd sizes: the keystream's last block is partial and the schedule length is not a multiple
#: of 16
ODD = RoundParams(num_slots=3, slot_bytes=41, tag_len=8, sched_slots=5, footprint_bytes=3)


@pytest.fixture(scope="module", autouse=True)
def _native_built() -> None:
    """Skip only when this machine lacks the toolchain; any other build failure fails."""
    reason = native.unavailable_reason()
    if reason.startswith("no C compiler") or native.NO_HEADERS in reason:
        pytest.skip(f"native pads unavailable here: {reason}")
    assert reason == "", reason


def both(
    vector: bytes, secrets: list[bytes], p: RoundParams, round_: int, sh: bytes
) -> tuple[bytes, bytes]:
    return (
        dcnet.apply_pads(vector, secrets, p, round_, sh),
        dcnet.apply_pads_python(vector, secrets, p, round_, sh),
    )


@settings(max_examples=150, deadline=None)
@given(
    params=st.sampled_from([SMALL, ODD, RoundParams()]),
    secrets=st.lists(st.binary(min_size=32, max_size=32), max_size=6),
    round_=st.integers(min_value=0, max_value=2**64 - 1),
    sh=st.binary(min_size=32, max_size=32),
    data=st.data(),
)
def test_native_batch_matches_python_path(
    params: RoundParams,
    secrets: list[bytes],
    round_: int,
    sh: bytes,
    data: st.DataObject,
) -> None:
    n = params.envelope_bytes
    vector = data.draw(st.binary(min_size=n, max_size=n))
    fast, slow = both(vector, secrets, params, round_, sh)
    assert fast == slow
    assert len(fast) == n
    if not secrets:
        assert fast == vector


def test_each_input_moves_the_pad() -> None:
    """Round, schedule hash, shape and secret all enter the native key and iv."""
    s = [bytes(range(32))]
    zeros = bytes(SMALL.envelope_bytes)
    base = dcnet.apply_pads(zeros, s, SMALL, 5, bytes(32))
    assert base != zeros
    assert base == dcnet.apply_pads_python(zeros, s, SMALL, 5, bytes(32))
    assert dcnet.apply_pads(zeros, s, SMALL, 6, bytes(32)) != base
    assert dcnet.apply_pads(zeros, s, SMALL, 5, b"\x01" * 32) != base
    assert dcnet.apply_pads(zeros, [bytes(32)], SMALL, 5, bytes(32)) != base
    other = RoundParams(num_slots=16, slot_bytes=64, tag_len=17, sched_slots=64)
    assert dcnet.apply_pads(zeros, s, other, 5, bytes(32))[:64] != base[:64]
    # two equal pads cancel, as the DC-net needs
    assert dcnet.apply_pads(zeros, s * 2, SMALL, 5, bytes(32)) == zeros


def test_native_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(ValueError, match="32-byte secrets"):
        native.xor_pads(b"x" * 16, [b"short"], salt=b"s", info=b"i", iv=bytes(16))
    with pytest.raises(ValueError, match="16-byte iv"):
        native.xor_pads(b"x" * 16, [bytes(32)], salt=b"s", info=b"i", iv=bytes(8))
    with pytest.raises(ValueError, match="wrong length"):
        dcnet.apply_pads(b"x", [bytes(32)], SMALL, 1, bytes(32))


def test_fallback_is_the_python_path_and_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setattr(native.shutil, "which", lambda _name: None)
    secrets = [bytes([i]) * 32 for i in range(3)]
    vector = bytes(range(256)) * (SMALL.envelope_bytes // 256)
    with caplog.at_level(logging.WARNING, logger="organisms.zipnet.native"):
        first = dcnet.apply_pads(vector, secrets, SMALL, 9, bytes(32))
        second = dcnet.apply_pads(vector, secrets, SMALL, 9, bytes(32))
    assert native.xor_pads(vector, secrets, salt=b"s", info=b"i", iv=bytes(16)) is None
    assert native.unavailable_reason().startswith("no C compiler")
    warnings = [r for r in caplog.records if "pure Python" in r.getMessage()]
    assert len(warnings) == 1
    assert first == second == dcnet.apply_pads_python(vector, secrets, SMALL, 9, bytes(32))
    monkeypatch.undo()
    assert dcnet.apply_pads(vector, secrets, SMALL, 9, bytes(32)) == first
