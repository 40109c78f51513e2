"""The coalition CLI from tests: one command as a subprocess, and ``coalition up`` in the
background (its members as real processes, not the in-process start hook)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from coalition.runtime.member import START_MEMBER_ENV


def cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``coalition ARGS`` in a subprocess: its exit code, stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "coalition", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def up_env() -> dict[str, str]:
    """This environment without the test hook that starts members in-process."""
    return {k: v for k, v in os.environ.items() if k != START_MEMBER_ENV}


def start_up(file: Path, data: Path, log: IO[str], *extra: str) -> subprocess.Popen[bytes]:
    """``coalition up FILE --data DATA --no-anchor`` in the background, logging to ``log``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coalition",
            "up",
            str(file),
            "--data",
            str(data),
            "--no-anchor",
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=up_env(),
    )


def status(data: Path) -> dict[str, object]:
    """``coalition status --json`` of DATA ({} while nothing answers)."""
    res = cli("status", "--data", str(data), "--json")
    doc: dict[str, object] = json.loads(res.stdout) if res.stdout.strip() else {}
    return doc
