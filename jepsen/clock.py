"""Wall-clock jumps for member processes: the `clockshift.c` shim, built once per campaign.

Every namespace ("host") has one offset file; its members run with the shim preloaded and read
their wall clock as real time plus that offset. The nemesis writes the file (a jump) and writes
0 again (the heal). Only wall time moves, as with an NTP step: monotonic timers are untouched.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Final

__all__ = ["HostClocks", "build_shim"]

SOURCE: Final = Path(__file__).with_name("clockshift.c")


def build_shim(out_dir: Path) -> tuple[Path | None, str]:
    """Compile the shim into ``out_dir``: its path, or ``None`` and why it cannot be built."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None, "no C compiler (apt-get install gcc): clock jumps skipped"
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / "clockshift.so"
    argv = [cc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(SOURCE), "-ldl", "-lpthread"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["unknown error"])[0]
        return None, f"the clock shim did not build ({first}): clock jumps skipped"
    return lib, ""


class HostClocks:
    """The per-host offset files and the environment a member needs to honour them."""

    def __init__(self, lib: Path, directory: Path, hosts: Iterable[str]) -> None:
        self.lib = lib
        directory.mkdir(parents=True, exist_ok=True)
        self.files = {h: directory / h for h in hosts}
        self.offsets: dict[str, int] = {}
        for host in self.files:
            self.set(host, 0)

    def env(self, host: str) -> dict[str, str]:
        return {"LD_PRELOAD": str(self.lib), "JEPSEN_CLOCK_FILE": str(self.files[host])}

    def set(self, host: str, offset_ms: int) -> None:
        """Jump ``host``'s wall clock to real time + ``offset_ms`` (written atomically)."""
        tmp = self.files[host].with_suffix(".tmp")
        tmp.write_text(f"{offset_ms}\n")
        tmp.replace(self.files[host])
        self.offsets[host] = offset_ms

    def reset_all(self) -> None:
        for host in self.files:
            self.set(host, 0)
