"""Small file helpers shared by the supervisor and the members: atomic JSON, key files, pids."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from pymosaik.primitives import KEY_LEN, SecretKey

from ..bounded_read import read_bounded

KEY_MODE = 0o600
DIR_MODE = 0o700
#: Status, supervisor and plan files are small; anything larger is not ours.
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_KEY_BYTES = 1024


def write_json_atomic(path: Path, value: Any) -> None:
    """Write via a temp file and rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when it is missing or unreadable."""
    try:
        value = json.loads(read_bounded(path, MAX_JSON_BYTES))
    except ValueError:  # unreadable (UnreadableFileError), not UTF-8 or not JSON
        return None
    return value if isinstance(value, dict) else None


def write_key(path: Path, key: SecretKey) -> None:
    """Persist a key's seed as hex in a new 0600 file; never overwrites an existing key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.seed_bytes().hex() + "\n")


def load_or_create_seed(path: Path, length: int = KEY_LEN) -> bytes:
    """A durable secret seed: read from ``path`` (0600 hex, like a key file), or drawn from the
    OS and written there first — file and directory synced, so a crash right after the seed
    was first used cannot come back with another one (a key-generation seed, for instance,
    must survive or the member's key share is lost)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    except FileExistsError:
        return _read_hex(path, length, "seed")
    seed = os.urandom(length)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(seed.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return seed


def _read_hex(path: Path, length: int, what: str) -> bytes:
    text = read_private_text(path)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path}: not a hex {what}") from None
    if len(raw) != length:
        raise ValueError(f"{path}: {what} needs {length} bytes, got {len(raw)}")
    return raw


def read_private_text(path: Path) -> str:
    """A small text file nobody else may read (like ssh); ValueError names the file."""
    raw = read_bounded(path, MAX_KEY_BYTES, private=True)  # UnreadableFileError is a ValueError
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not an ASCII key file") from None


def read_key(path: Path) -> SecretKey:
    """Load a key written by `write_key`; refuses files others can read."""
    return SecretKey(_read_hex(path, KEY_LEN, "key"))


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (psutil: portable, and it reads the
    process state rather than guessing from a signal)."""
    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def now() -> float:
    return time.time()
