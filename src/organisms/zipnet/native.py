"""The native pad batch (``pads.c`` over OpenSSL's libcrypto), built at first use and cached.

A server's partial is one pad per participant; in Python each pad costs ~11 µs of API work
(HKDF, cipher setup) beside ~2 µs of keystream, so the per-client loop runs in C. The library
is compiled once per machine into the user's cache (``cc -O2 pads.c -lcrypto``: needs a C
compiler and OpenSSL's headers, Debian's gcc and libssl-dev, which ``.ci/run`` installs), named
by a hash of its source, and loaded with ctypes. When it cannot be built, ``xor_pads`` returns
``None``, the reason is logged once, and dcnet keeps its pure-Python loop (the same bytes).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Final

__all__ = ["load", "unavailable_reason", "xor_pads"]

log = logging.getLogger("organisms.zipnet.native")

SOURCE: Final = Path(__file__).with_name("pads.c")
_FLAGS: Final = ("-shared", "-fPIC", "-O2")
_LIBS: Final = ("-lcrypto",)
#: the build's first error line when OpenSSL's headers are missing (not a defect of pads.c)
NO_HEADERS: Final = "openssl/evp.h: No such file"

_lock = threading.Lock()
_state: dict[str, object] = {}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ai-on-mosaik"


def _build(cc: str) -> tuple[Path | None, str]:
    source = SOURCE.read_bytes()
    tag = hashlib.sha256(
        b"\0".join([source, cc.encode(), platform.machine().encode(), *map(str.encode, _FLAGS)])
    ).hexdigest()[:16]
    for directory in (_cache_dir(), Path(tempfile.gettempdir()) / f"ai-on-mosaik-{os.getuid()}"):
        lib = directory / f"zipnet-pads-{tag}.so"
        if lib.exists():
            return lib, ""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=lib.name, suffix=".tmp", dir=directory)
        except OSError:
            continue
        os.close(fd)
        argv = [cc, *_FLAGS, "-o", tmp, str(SOURCE), *_LIBS]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            Path(tmp).unlink(missing_ok=True)
            first = (done.stderr.strip().splitlines() or ["unknown error"])[0]
            return None, f"pads.c did not build ({first})"
        os.replace(tmp, lib)  # atomic: concurrent first uses each build, one file wins
        return lib, ""
    return None, "no writable cache directory for the native pads"


def load() -> ctypes.CDLL | None:
    """The built library, or ``None`` (the reason in ``unavailable_reason()``, logged once)."""
    with _lock:
        if "lib" in _state:
            return _state["lib"]  # type: ignore[return-value]
        lib: ctypes.CDLL | None = None
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            reason = "no C compiler (apt-get install gcc libssl-dev)"
        else:
            path, reason = _build(cc)
            if path is not None:
                try:
                    lib = ctypes.CDLL(str(path))
                except OSError as e:
                    reason = f"the native pads did not load ({e})"
        if lib is not None:
            fn = lib.zipnet_xor_pads
            fn.restype = ctypes.c_int
            fn.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_size_t,
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_char_p,
                ctypes.c_void_p,
                ctypes.c_size_t,
            ]
        else:
            log.warning("zipnet pads run in pure Python (about 5x slower per client): %s", reason)
        _state["lib"] = lib
        _state["reason"] = reason if lib is None else ""
        return lib


def unavailable_reason() -> str:
    """Why the native pads are not in use ('' when they are)."""
    load()
    return str(_state["reason"])


def xor_pads(
    vector: bytes, secrets: list[bytes], *, salt: bytes, info: bytes, iv: bytes
) -> bytes | None:
    """``vector`` XOR, for each secret, AES-128-CTR(HKDF-SHA256(salt, secret, info)[:16], iv);
    ``None`` when the native library is unavailable."""
    lib = load()
    if lib is None:
        return None
    if len(iv) != 16 or not salt or any(len(s) != 32 for s in secrets):
        raise ValueError("native pads take 32-byte secrets, a salt and a 16-byte iv")
    out = bytearray(vector)
    buf = (ctypes.c_char * len(out)).from_buffer(out)
    rc = lib.zipnet_xor_pads(
        b"".join(secrets), len(secrets), 32, salt, len(salt), info, len(info), iv, buf, len(out)
    )
    if rc != 0:
        raise RuntimeError(f"native pads failed (code {rc})")
    return bytes(out)
