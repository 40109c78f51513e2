"""The simulator kernel: time order with insertion tiebreak, stop on violation, and the
network's per-link faults, partitions and reliable-stream delays."""

from __future__ import annotations

from pymosaik.sim.kernel import Host, Kernel
from pymosaik.sim.network import LinkFaults, VirtualNetwork
from pymosaik.sim.rng import seeded


def test_events_run_in_time_order_ties_in_insertion_order() -> None:
    kernel = Kernel(start_ms=1_000)
    seen: list[tuple[int, str]] = []

    def note(label: str) -> None:
        seen.append((kernel.elapsed, label))
        if label == "a":
            kernel.at(kernel.now, note, "a-child")  # due now: after what is already due now

    kernel.at(1_020, note, "c")
    kernel.at(1_010, note, "a")
    kernel.at(1_010, note, "b")
    kernel.at(1_500, note, "late")
    assert kernel.run_until(1_100)
    assert seen == [(10, "a"), (10, "b"), (10, "a-child"), (20, "c")]
    assert kernel.now == 1_100  # a completed run leaves the clock at its end
    kernel.at(1_700, note, "last")
    assert kernel.run_until()  # until nothing is left: the clock stays at the last event
    assert seen[-2:] == [(500, "late"), (700, "last")] and kernel.now == 1_700


def test_a_violation_stops_the_run_there_with_the_trace_before_it() -> None:
    kernel = Kernel()
    ran: list[int] = []

    def step(i: int) -> None:
        ran.append(i)
        kernel.log(f"step {i}")
        if i == 3:
            kernel.violation("broken", "step three")

    for i in range(6):
        kernel.at(i * 10, step, i)
    assert not kernel.run_until(100, stop_on_violation=True)
    assert ran == [0, 1, 2, 3]
    assert kernel.now == 30
    assert [(v.kind, v.time_ms) for v in kernel.violations] == [("broken", 30)]
    assert kernel.first_trace[-2:] == ["     30 step 3", "     30 VIOLATION broken: step three"]


def test_violations_are_capped() -> None:
    kernel = Kernel(max_violations=2)
    for i in range(5):
        kernel.violation("k", str(i))
    assert [v.detail for v in kernel.violations] == ["0", "1"]


def test_per_link_faults_override_the_shared_ones_until_healed() -> None:
    net: VirtualNetwork[str] = VirtualNetwork(seeded(1), LinkFaults(max_delay_ms=5))
    net.set_link("a", "b", LinkFaults(loss=1.0))
    assert net.deliveries("a", "b") == []
    assert all(1 <= d <= 5 for d in net.deliveries("b", "a"))  # the other direction
    net.set_link("b", "c", LinkFaults(duplicate=1.0, min_delay_ms=50, max_delay_ms=60))
    copies = net.deliveries("b", "c")
    assert len(copies) == 2 and all(50 <= d <= 60 for d in copies)
    net.heal()
    assert len(net.deliveries("a", "b")) == 1


def test_partitions_block_both_directions() -> None:
    net: VirtualNetwork[str] = VirtualNetwork(seeded(2))
    net.partition(["a"], ["b", "c"])
    assert net.deliveries("c", "a") == [] and not net.connected("a", "b")
    assert net.connected("b", "c")
    net.heal()
    assert net.connected("a", "b")


def test_a_reliable_stream_pays_for_loss_in_time_never_in_frames() -> None:
    net: VirtualNetwork[str] = VirtualNetwork(seeded(3), LinkFaults(max_delay_ms=10))
    assert all(1 <= net.stream_delay("a", "b", 200) <= 10 for _ in range(50))
    net.faults = LinkFaults(loss=0.5, max_delay_ms=10)
    delays = [net.stream_delay("a", "b", 200) for _ in range(200)]
    assert max(delays) >= 400  # some frames were lost twice or more, and still arrive
    assert {d % 200 for d in delays} <= set(range(1, 11))  # whole retransmission timeouts


def test_periodic_actions_keep_their_order_at_shared_instants() -> None:
    kernel = Kernel()
    seen: list[tuple[int, str]] = []
    kernel.every(50, lambda: seen.append((kernel.now, "a")))
    kernel.every(50, lambda: seen.append((kernel.now, "b")))
    kernel.at(50, lambda: seen.append((kernel.now, "x")))  # queued before the second round
    kernel.run_until(100)
    assert seen == [(0, "a"), (0, "b"), (50, "x"), (50, "a"), (50, "b"), (100, "a"), (100, "b")]


class Machines(Kernel[Host]):
    """Records the hook calls the kernel makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, str, int]] = []

    def on_boot(self, host: Host) -> None:
        self.calls.append((self.now, "boot", host.incarnation))

    def on_crash(self, host: Host) -> None:
        self.calls.append((self.now, "crash", host.incarnation))


def test_a_crash_restarts_after_its_downtime_and_a_later_crash_wins() -> None:
    kernel = Machines()
    host = Host(name="h")
    kernel.boot(host)
    kernel.at(10, kernel.crash, host, 100)  # restart due at 110 ...
    kernel.at(50, kernel.restart, host)  # too early: nothing
    kernel.at(60, setattr, host, "down_until", 60)  # brought back early (leader rotation)
    kernel.at(60, kernel.restart, host)
    kernel.at(70, kernel.crash, host, 200)  # ... down again until 270: the 110 restart is void
    kernel.at(80, kernel.crash, host, 5)  # already down: nothing
    kernel.run_until(1_000)
    assert kernel.calls == [
        (0, "boot", 1),
        (10, "crash", 1),
        (60, "boot", 2),
        (70, "crash", 2),
        (270, "boot", 3),
    ]
    assert host.up


def test_a_host_clock_runs_at_its_rate_from_its_offset() -> None:
    kernel = Machines()
    fast = Host(name="fast", rate=1.03, offset=5_000)
    kernel.run_until(1_000)
    assert kernel.local(fast) == 5_000 + 1_030
    at = kernel.to_global(fast, 7_000)
    assert kernel.local(fast) < 7_000  # not yet
    kernel.run_until(at)
    assert kernel.local(fast) >= 7_000 and fast.offset + int((at - 1) * fast.rate) < 7_000
