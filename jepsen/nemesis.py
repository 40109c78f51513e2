"""Faults in the Jepsen manner, applied to the lab's namespaces and member processes.

Each fault is started, held for a while, then healed; `heal_all` undoes whatever is left
(flush every namespace's iptables, drop netem qdiscs, bring veths up, SIGCONT paused members,
restart killed ones, set every host's wall clock back), so the final reads run on a whole,
connected cluster.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .clock import HostClocks
from .netns import Host, sh

__all__ = ["FAULTS", "Fault", "Nemesis", "Processes"]

FAULTS = (
    "partition-minority",
    "partition-oneway",
    "bridge-cut",
    "lossy",
    "pause",
    "kill",
    "kill-host",
    "clock-jump",
)

#: Wall-clock jumps (ms): small and large, both directions (an NTP step, a bad RTC).
CLOCK_JUMPS = (30_000, -30_000, 300_000, -300_000)


def netem_available(host: Host) -> bool:
    """Whether this kernel has the netem qdisc (probed on the host's loopback)."""
    try:
        host.run("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")
    except RuntimeError:
        return False
    host.run("tc", "qdisc", "del", "dev", "lo", "root", check=False)
    return True


class Processes(Protocol):
    """What the nemesis needs from the runner's member processes (by host)."""

    def on_host(self, host: str) -> list[str]: ...

    def pause(self, seat: str) -> None: ...

    def resume(self, seat: str) -> None: ...

    def kill(self, seat: str) -> None: ...

    def restart_dead(self) -> list[str]: ...


@dataclass(frozen=True)
class Fault:
    name: str
    target: str
    #: Undoes this one fault (heal_all undoes everything regardless).
    heal: Callable[[], object]

    def describe(self) -> str:
        return f"{self.name} {self.target}"


class Nemesis:
    def __init__(
        self,
        hosts: Sequence[Host],
        procs: Processes,
        rng: random.Random,
        faults: Sequence[str] = FAULTS,
        *,
        clocks: HostClocks | None = None,
    ) -> None:
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
        self.hosts = list(hosts)
        self.procs = procs
        self.rng = rng
        self.faults = list(faults)
        self.clocks = clocks
        if "clock-jump" in self.faults and clocks is None:
            raise ValueError("clock-jump needs the members' clock shim (HostClocks)")
        self.netem = netem_available(self.hosts[0])

    def _others(self, victim: Host) -> list[Host]:
        return [h for h in self.hosts if h is not victim]

    def start(self) -> Fault:
        """Inject one random fault on one random host."""
        name = self.rng.choice(self.faults)
        victim = self.rng.choice(self.hosts)
        if name in ("partition-minority", "partition-oneway"):
            for other in self._others(victim):
                victim.run("iptables", "-A", "INPUT", "-s", other.address, "-j", "DROP")
                if name == "partition-minority":
                    victim.run("iptables", "-A", "OUTPUT", "-d", other.address, "-j", "DROP")
            side = "cut off from" if name == "partition-minority" else "hears nothing from"
            target = f"{victim.name} {side} {','.join(h.name for h in self._others(victim))}"
            return Fault(name, target, lambda: victim.run("iptables", "-F"))
        if name == "bridge-cut":
            sh("ip", "link", "set", victim.veth, "down")
            return Fault(name, victim.name, lambda: sh("ip", "link", "set", victim.veth, "up"))
        if name == "lossy":
            return self._lossy(victim)
        if name == "clock-jump":
            clocks = self.clocks
            assert clocks is not None
            jump = self.rng.choice(CLOCK_JUMPS)
            clocks.set(victim.name, jump)
            target = f"{victim.name} wall clock {jump / 1000:+.0f}s"
            return Fault(name, target, lambda: clocks.set(victim.name, 0))
        seats = self.procs.on_host(victim.name)
        if name == "pause":
            for seat in seats:
                self.procs.pause(seat)

            def resume() -> None:
                for seat in seats:
                    self.procs.resume(seat)

            return Fault(name, f"{','.join(seats)} (SIGSTOP)", resume)
        if name == "kill":
            seats = [self.rng.choice(seats)]
        for seat in seats:
            self.procs.kill(seat)

        def restart() -> None:
            self.procs.restart_dead()

        return Fault(name, f"{','.join(seats)} (SIGKILL)", restart)

    def _lossy(self, victim: Host) -> Fault:
        """Loss and delay with ``tc netem``; where the kernel lacks netem (this sandbox's
        does), loss through iptables' statistic match and delay through a tight ``tbf``
        queue — said so in the fault's description."""
        loss = self.rng.choice((10, 30, 60))
        delay = self.rng.choice((50, 200, 500))
        if self.netem:
            args = ["delay", f"{delay}ms", f"{delay // 2}ms", "loss", f"{loss}%"]
            victim.run("tc", "qdisc", "add", "dev", "eth0", "root", "netem", *args)
            what = f"netem {' '.join(args)}"
        else:
            p = f"{loss / 100:.2f}"
            for chain in ("INPUT", "OUTPUT"):
                victim.run("iptables", "-A", chain, "-m", "statistic", "--mode", "random",
                           "--probability", p, "-j", "DROP")  # fmt: skip
            victim.run("tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "256kbit",
                       "burst", "16kbit", "latency", f"{delay}ms")  # fmt: skip
            what = f"loss {loss}% (iptables statistic), tbf 256kbit latency {delay}ms (no netem)"

        def heal() -> None:
            victim.run("iptables", "-F", check=False)
            victim.run("tc", "qdisc", "del", "dev", "eth0", "root", check=False)

        return Fault("lossy", f"{victim.name} {what}", heal)

    def heal_all(self) -> None:
        if self.clocks is not None:
            self.clocks.reset_all()
        for host in self.hosts:
            host.run("iptables", "-F", check=False)
            host.run("tc", "qdisc", "del", "dev", "eth0", "root", check=False)
            sh("ip", "link", "set", host.veth, "up", check=False)
            for seat in self.procs.on_host(host.name):
                self.procs.resume(seat)
        self.procs.restart_dead()
