"""The one-supervisor rule: an exclusive ``flock`` on ``<data>/supervisor.lock``.

``coalition up`` takes the lock before it writes anything else in the data
directory (plan, keys, pid file) and holds it until it exits; the kernel drops
it when the process dies, however it dies, so a stale lock cannot exist. A
check-then-write on the pid file could let two racing ``up`` commands both
through; ``flock(LOCK_EX | LOCK_NB)`` cannot. The lock file is never deleted
(deleting a lock file lets a late opener lock an orphaned inode); the holder
writes its pid into it so a refused ``up`` can name the running supervisor.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path
from types import TracebackType
from typing import Final

from ..bounded_read import UnreadableFileError, os_reason, read_bounded
from .files import DIR_MODE, KEY_MODE
from .plan import PlanError

__all__ = ["LOCK_FILE", "DataDirLock"]

LOCK_FILE: Final = "supervisor.lock"
#: How long a refused ``up`` waits for the holder (which has just locked) to write its pid.
PID_WAIT_S: Final = 2.0


def _prepare_dir(data_dir: Path) -> None:
    """Create ``data_dir`` if missing; one line naming it when that is impossible."""
    try:
        mode = os.stat(data_dir).st_mode
    except FileNotFoundError:
        mode = None
    except (OSError, ValueError) as exc:
        reason = os_reason(exc) if isinstance(exc, OSError) else "the path contains a NUL byte"
        raise PlanError(f"{data_dir}: cannot use as the data directory: {reason}") from None
    if mode is not None and not stat.S_ISDIR(mode):
        raise PlanError(f"{data_dir}: cannot use as the data directory: not a directory")
    try:
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise PlanError(f"{data_dir}: cannot create the data directory: {os_reason(exc)}") from None


def _holder_pid(path: Path) -> int | None:
    """The pid the lock's holder wrote, waiting briefly for a holder that just locked."""
    deadline = time.monotonic() + PID_WAIT_S
    while True:
        with contextlib.suppress(UnreadableFileError, ValueError):
            pid = int(read_bounded(path, 64).decode("ascii"))
            if pid > 0:
                return pid
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


class DataDirLock:
    """The exclusive lock of one data directory, held by this process until `release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Lock ``data_dir`` (created if needed) or raise `PlanError` naming the holder."""
        _prepare_dir(data_dir)
        path = data_dir / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, KEY_MODE)
        except OSError as exc:
            raise PlanError(f"{path}: cannot open the lock file: {os_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise PlanError(f"{path}: cannot lock: {os_reason(exc)}") from None
            pid = _holder_pid(path)
            raise PlanError(
                f"{data_dir}: a supervisor is already running "
                f"(pid {pid if pid is not None else 'unknown'}); "
                "see `coalition status` or stop it with `coalition down`"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Clear the pid and unlock (closing the descriptor drops the flock)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
