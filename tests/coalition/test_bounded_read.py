"""`read_bounded`: the bound is the read itself, never what stat reports."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from coalition.bounded_read import UnreadableFileError, read_bounded


def test_reads_up_to_the_limit_and_refuses_one_byte_more(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100
    with pytest.raises(UnreadableFileError, match="larger than 99 bytes") as info:
        read_bounded(path, 99)
    assert info.value.path == path and str(info.value).startswith(f"{path}: ")


def test_a_file_whose_stat_size_lies_is_bounded_by_the_read() -> None:
    """/proc files report st_size 0 and still hold bytes: they are read, and bounded."""
    maps = Path("/proc/self/maps")
    assert maps.stat().st_size == 0
    assert read_bounded(maps, 1 << 20)
    with pytest.raises(UnreadableFileError, match="larger than 8 bytes"):
        read_bounded(maps, 8)


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "p")  # no writer: a blocking open or read would hang
    return d / "p"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_fifo, "is a FIFO, not a regular file"),
        (lambda d: Path("/dev/zero"), "is a character device, not a regular file"),
        (lambda d: d, "is a directory, not a regular file"),
        (lambda d: d / "missing", "no such file"),
        (lambda d: d / ("n" * 300), "file name too long"),
        (lambda d: Path(f"{d}/a\x00b"), "the path contains a NUL byte"),
    ],
)
def test_refusals_name_the_file_in_one_line(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(UnreadableFileError) as info:
        read_bounded(path, 1024)
    assert info.value.reason == reason and "\n" not in str(info.value)


def test_private_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("00")
    path.chmod(0o640)
    with pytest.raises(UnreadableFileError, match="mode is 640; it must be 600"):
        read_bounded(path, 64, private=True)
    path.chmod(0o600)
    assert read_bounded(path, 64, private=True) == b"00"
