"""The campaign's "hosts": network namespaces on one bridge, all named with one prefix.

Every namespace, veth and bridge a run creates is named ``PREFIX-…`` (``PREFIX`` is ``jp`` and
four hex digits), and the run's owner pid is written to ``RUN_DIR/PREFIX.pid``. `cleanup`
removes everything with a prefix — the processes inside its namespaces first — and
`cleanup_stale` does that for every prefix whose owner is gone (a run that was ``kill -9``ed).
The bridge has no address: traffic between the namespaces never reaches the host's own
network stack, and nothing else joins the bridge.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "RUN_DIR",
    "Host",
    "Lab",
    "cleanup",
    "cleanup_stale",
    "netns_available",
    "sh",
]

RUN_DIR: Final = Path("/run/coalition-jepsen")
PREFIX_BASE: Final = "jp"
SUBNET: Final = "10.77.0"


def sh(*argv: str, check: bool = True) -> str:
    """Run an ip/tc/iptables command; its stdout."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def netns_available() -> str | None:
    """None when namespaces can be made here, else why not (for a skip reason)."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth, iptables)"
    for tool in ("ip", "tc", "iptables"):
        if subprocess.run(["which", tool], capture_output=True, check=False).returncode:
            return f"{tool} is not installed (apt-get install -y iproute2 iptables)"
    probe = f"{PREFIX_BASE}probe{os.getpid() % 10000}"
    try:
        sh("ip", "netns", "add", probe)
    except RuntimeError as exc:
        return f"ip netns unavailable: {exc}"
    sh("ip", "netns", "del", probe, check=False)
    return None


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    address: str
    #: The bridge-side end of its veth (set down to cut the host off the bridge).
    veth: str

    def exec_argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, *argv: str, check: bool = True) -> str:
        return sh(*self.exec_argv(*argv), check=check)


@dataclass
class Lab:
    """N namespaces on one bridge; `close` (or `cleanup`) removes them."""

    prefix: str
    hosts: list[Host] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    @classmethod
    def create(cls, names: list[str]) -> Lab:
        cleanup_stale()
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        prefix = f"{PREFIX_BASE}{secrets.token_hex(2)}"
        (RUN_DIR / f"{prefix}.pid").write_text(f"{os.getpid()}\n")
        lab = cls(prefix)
        try:
            sh("ip", "link", "add", lab.bridge, "type", "bridge")
            sh("ip", "link", "set", lab.bridge, "up")
            for i, name in enumerate(names):
                lab.hosts.append(lab._add_host(name, i + 1))
        except BaseException:
            lab.close()
            raise
        return lab

    def _add_host(self, name: str, n: int) -> Host:
        netns, outer, inner = f"{self.prefix}-{name}", f"{self.prefix}-{name}", f"{self.prefix}i{n}"
        sh("ip", "netns", "add", netns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        sh("ip", "link", "set", inner, "netns", netns)
        sh("ip", "link", "set", outer, "master", self.bridge)
        sh("ip", "link", "set", outer, "up")
        host = Host(name, netns, f"{SUBNET}.{n}", outer)
        host.run("ip", "link", "set", inner, "name", "eth0")
        host.run("ip", "addr", "add", f"{host.address}/24", "dev", "eth0")
        host.run("ip", "link", "set", "eth0", "up")
        host.run("ip", "link", "set", "lo", "up")
        return host

    def close(self) -> None:
        cleanup(self.prefix)


def _namespaces(prefix: str) -> list[str]:
    out = sh("ip", "netns", "list", check=False)
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(f"{prefix}-")]


def cleanup(prefix: str) -> int:
    """Kill the processes in ``prefix``'s namespaces, delete them, its links and pid file."""
    removed = 0
    for ns in _namespaces(prefix):
        for pid in sh("ip", "netns", "pids", ns, check=False).split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGCONT)  # a paused process must be able to die
                os.kill(int(pid), signal.SIGKILL)
        sh("ip", "netns", "del", ns, check=False)
        removed += 1
    for line in sh("ip", "-o", "link", "show", check=False).splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(f"{prefix}-") or name.startswith(f"{prefix}i"):
                sh("ip", "link", "del", name, check=False)
                removed += 1
    (RUN_DIR / f"{prefix}.pid").unlink(missing_ok=True)
    return removed


def _owner_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale(*, everything: bool = False) -> list[str]:
    """Clean up every prefix whose owning run is gone (all of them with ``everything``)."""
    prefixes = {p.stem for p in RUN_DIR.glob(f"{PREFIX_BASE}*.pid")} if RUN_DIR.is_dir() else set()
    prefixes |= {ns.split("-")[0] for ns in _namespaces(PREFIX_BASE) if "-" in ns}
    prefixes |= {
        n.split("-")[0]
        for n in sh("ip", "netns", "list", check=False).split()
        if n.startswith(PREFIX_BASE) and "-" in n
    }
    done = []
    for prefix in sorted(prefixes):
        if everything or not _owner_alive(RUN_DIR / f"{prefix}.pid"):
            cleanup(prefix)
            done.append(prefix)
    return done
