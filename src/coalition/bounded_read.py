"""Reading an operator-named file without trusting it: bounded, regular files only.

``stat`` sizes lie (``/dev/zero`` reports 0, a FIFO never ends, ``/proc`` files
report 0 and are not), so the size check is the read itself: at most
``limit + 1`` bytes are read, whatever the file says. The file is opened
non-blocking so a FIFO with no writer cannot hang the open, and anything but a
regular file is refused. Every failure is an `UnreadableFileError` whose
message is one line naming the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Final

__all__ = ["UnreadableFileError", "os_reason", "read_bounded"]

CHUNK: Final = 64 * 1024

_REASONS: Final = {
    errno.ENOENT: "no such file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a parent in the path is not a directory",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many levels of symbolic links",
}
_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableFileError(ValueError):
    """One line: the file and why it cannot be read (``errno`` is set for OS errors)."""

    def __init__(self, path: Path, reason: str, errno_: int | None = None) -> None:
        self.path, self.reason, self.errno = path, reason, errno_
        super().__init__(f"{path}: {reason}")


def os_reason(exc: OSError) -> str:
    """A short lower-case phrase for an OS error on a path (no errno number, no path)."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return (exc.strerror or type(exc).__name__).lower()


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bounded(path: Path, limit: int, *, private: bool = False) -> bytes:
    """The bytes of the regular file ``path``, refusing it when it holds more than ``limit``.

    ``private``: also refuse a file group or others may access (keys, like ssh); the
    mode is checked on the opened file, so it is the mode of what is read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except ValueError:  # an embedded NUL
        raise UnreadableFileError(path, "the path contains a NUL byte") from None
    except OSError as exc:
        raise UnreadableFileError(path, os_reason(exc), exc.errno) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _kind(mode)
            raise UnreadableFileError(path, f"is {kind}, not a regular file")
        if private and mode & 0o077:
            perms = stat.S_IMODE(mode)
            raise UnreadableFileError(path, f"key file mode is {perms:o}; it must be 600")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, CHUNK))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise UnreadableFileError(path, os_reason(exc), exc.errno) from None
    finally:
        os.close(fd)
    if left <= 0:
        raise UnreadableFileError(path, f"is larger than {limit} bytes")
    return b"".join(chunks)
