"""Many `DiscoveryCore`s on a seeded virtual network: convergence, partitions and churn.

The harness is deliberately small: a virtual clock in ms, one event queue, every `Send`
encoded and strictly decoded (the wire path), delivered after a random delay unless lost
or cut by a partition. A message with a reply (SyncRequest, Ping) models the driver's
link exchange: the reply travels back over the same kind of lossy hop to the dialler.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pymosaik.discovery.core import (
    Departed,
    Discovered,
    DiscoveryConfig,
    DiscoveryCore,
    Send,
    Updated,
)
from pymosaik.discovery.messages import DiscoveryMessage
from pymosaik.primitives import UNIVERSE, PeerId, SecretKey, decode, encode
from pymosaik.transport import EndpointAddr

CFG = DiscoveryConfig(
    fanout=3,
    announce_interval_ms=2_000,
    sync_interval_ms=3_000,
    ping_interval_ms=2_000,
    ttl_ms=12_000,
    max_drift_ms=4_000,
)
T0 = 1_700_000_000_000
LIMIT_MS = 60_000


@dataclass
class Node:
    key: SecretKey
    addr: tuple[str, int]
    core: DiscoveryCore
    incarnation: int
    alive: bool = True
    scheduled_tick: int | None = None
    events: list[object] = field(default_factory=list)

    @property
    def peer_id(self) -> PeerId:
        return self.key.peer_id


class Sim:
    def __init__(self, seed: int, n: int, *, loss: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.now = T0
        self.loss = loss
        self.cut: Callable[[PeerId, PeerId], bool] | None = None
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._incarnations = 0
        self.sent = 0
        self.gone = 0  # nodes that left for good: `converged` expects the others only
        self.keys = [SecretKey(self.rng.randbytes(32)) for _ in range(n)]
        self.nodes: dict[PeerId, Node] = {}
        self.hint = ("10.0.0.0", 7000)  # node 0's address: everyone's only bootstrap hint
        for i, key in enumerate(self.keys):
            self._start_at(self.now + self.rng.randrange(0, 2_000), key, ("10.0.0.0", 7000 + i))

    def _start_at(self, time: int, key: SecretKey, addr: tuple[str, int]) -> None:
        def go() -> None:
            self.start(key, addr)

        self.at(time, go)

    # ---- event queue ---------------------------------------------------------
    def at(self, time: int, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (time, self._seq, action))

    def run_until(self, done: Callable[[], bool], limit_ms: int, step_ms: int = 250) -> int:
        """Run until ``done()`` holds (checked every ``step_ms``); return the virtual ms spent."""
        start = self.now
        while not done():
            if self.now - start >= limit_ms:
                raise AssertionError(f"not converged within {limit_ms} ms of virtual time")
            self.advance(step_ms)
        return self.now - start

    def advance(self, ms: int) -> None:
        end = self.now + ms
        while self._queue and self._queue[0][0] <= end:
            time, _, action = heapq.heappop(self._queue)
            self.now = time
            action()
        self.now = end

    # ---- nodes ---------------------------------------------------------------
    def start(self, key: SecretKey, addr: tuple[str, int]) -> Node:
        self._incarnations += 1
        core = DiscoveryCore(
            key, UNIVERSE, [addr], self.now, rng=random.Random(self.rng.getrandbits(64)), config=CFG
        )
        node = Node(key, addr, core, self._incarnations)
        self.nodes[key.peer_id] = node
        if addr != self.hint:
            core.bootstrap([self.hint])
        self.pump(node)
        return node

    def crash(self, node: Node) -> None:
        node.alive = False
        del self.nodes[node.peer_id]

    def depart(self, node: Node) -> None:
        node.core.depart(self.now)
        self.pump(node)
        self.crash(node)

    def restart(self, node: Node) -> Node:
        if node.alive:
            self.crash(node)
        return self.start(node.key, node.addr)

    def _tick(self, node: Node, when: int) -> None:
        if not node.alive or node.scheduled_tick != when:
            return  # crashed, or superseded by an earlier deadline
        node.scheduled_tick = None
        node.core.tick(self.now)
        self.pump(node)

    def pump(self, node: Node) -> None:
        """Route the node's outputs and (re)schedule its next tick."""
        for out in node.core.take_outputs():
            if isinstance(out, Send):
                self.route(node, out)
            else:
                node.events.append(out)
        if node.alive:
            deadline = max(node.core.next_deadline(), self.now + 1)
            if node.scheduled_tick is None or deadline < node.scheduled_tick:
                node.scheduled_tick = deadline
                self.at(deadline, lambda: self._tick(node, deadline))

    # ---- network -------------------------------------------------------------
    def resolve(self, send: Send) -> Node | None:
        if send.to is not None:
            node = self.nodes.get(send.to)
            if node is not None and isinstance(send.addr, EndpointAddr):
                assert send.addr.peer_id == send.to
            return node
        assert isinstance(send.addr, tuple)
        return next((n for n in self.nodes.values() if n.addr == send.addr), None)

    def hop(self, src: Node, dst: Node, deliver: Callable[[], None]) -> None:
        self.sent += 1
        if self.cut is not None and self.cut(src.peer_id, dst.peer_id):
            return
        if self.rng.random() < self.loss:
            return
        self.at(self.now + self.rng.randrange(2, 80), deliver)

    def route(self, src: Node, send: Send) -> None:
        dst = self.resolve(send)
        if dst is None:
            return  # nobody there (crashed, not started yet)
        raw = encode(send.message)
        self.hop(src, dst, lambda: self.deliver(src, dst, raw))

    def deliver(self, src: Node, dst: Node, raw: bytes) -> None:
        if not dst.alive:
            return
        msg: DiscoveryMessage = decode(raw, DiscoveryMessage)  # type: ignore[arg-type]
        reply = dst.core.on_message(src.peer_id, msg, self.now)
        self.pump(dst)
        if reply is not None and src.alive:
            back = encode(reply)
            self.hop(dst, src, lambda: self.answer(dst, src, back))

    def answer(self, responder: Node, dialler: Node, raw: bytes) -> None:
        if not dialler.alive:
            return
        msg: DiscoveryMessage = decode(raw, DiscoveryMessage)  # type: ignore[arg-type]
        assert dialler.core.on_message(responder.peer_id, msg, self.now) is None
        self.pump(dialler)

    # ---- observations --------------------------------------------------------
    def alive(self) -> list[Node]:
        return list(self.nodes.values())

    def converged(self) -> bool:
        """Every live node's catalog holds exactly the other live nodes, at their current run."""
        live = self.alive()
        if len(live) < len(self.keys) - self.gone:
            return False
        runs = {n.peer_id: n.core.local.started_ms for n in live}
        for n in live:
            cat = n.core.catalog
            if len(cat) != len(live) - 1:
                return False
            for pid, started in runs.items():
                if pid == n.peer_id:
                    continue
                e = cat.get(pid)
                if e is None or e.started_ms != started:
                    return False
        return True

    def node(self, i: int) -> Node:
        return self.nodes[self.keys[i].peer_id]


def _converge(sim: Sim, limit_ms: int = LIMIT_MS) -> int:
    return sim.run_until(sim.converged, limit_ms)


@pytest.mark.parametrize(("n", "seed"), [(5, 1), (5, 2), (20, 3)])
def test_lossy_bootstrap_from_one_seed_converges(n: int, seed: int) -> None:
    sim = Sim(seed, n, loss=0.10)
    took = _converge(sim)
    assert took < LIMIT_MS
    # Every node saw every other as Discovered exactly once (no flapping on the way).
    for node in sim.alive():
        discovered = [e for e in node.events if isinstance(e, Discovered)]
        assert len(discovered) == n - 1
        assert not [e for e in node.events if isinstance(e, Departed)]
    # ... and it stays converged while the announcements keep refreshing the TTLs.
    for _ in range(40):
        sim.advance(500)
        assert sim.converged()
    # RTT was sampled (pings and pongs flowed, measured on the virtual clock).
    assert any(node.core.rtt for node in sim.alive())
    for node in sim.alive():
        for est in node.core.rtt.values():
            assert est.srtt is not None
            assert 0 < est.srtt < 200


def test_lossless_bootstrap_is_quick() -> None:
    sim = Sim(7, 20)
    assert _converge(sim) < 10_000


def _halves(sim: Sim) -> Callable[[PeerId, PeerId], bool]:
    left = {k.peer_id for k in sim.keys[: len(sim.keys) // 2]}
    return lambda a, b: (a in left) != (b in left)


@pytest.mark.parametrize("partition_ms", [5_000, 2 * CFG.ttl_ms])
def test_partition_heals(partition_ms: int) -> None:
    sim = Sim(11, 10, loss=0.10)
    _converge(sim)
    sim.cut = _halves(sim)
    sim.advance(partition_ms)
    if partition_ms > CFG.ttl_ms + CFG.max_drift_ms:
        # Long enough for each half to forget the other.
        left = {k.peer_id for k in sim.keys[:5]}
        for node in sim.alive():
            side = left if node.peer_id in left else {n.peer_id for n in sim.alive()} - left
            assert {e.peer_id for e in node.core.catalog} == side - {node.peer_id}
    sim.cut = None
    _converge(sim)


def test_graceful_departure_is_removed_everywhere() -> None:
    sim = Sim(21, 8, loss=0.10)
    _converge(sim)
    leaving = sim.node(3)
    gone = leaving.peer_id
    sim.depart(leaving)
    sim.gone = 1
    sim.run_until(sim.converged, CFG.ttl_ms + CFG.announce_interval_ms)
    # Those that heard the departure dropped it at once; the others by TTL. Either way it
    # never comes back, although peers that missed the departure kept gossiping it.
    for _ in range(2 * CFG.ttl_ms // 500):
        sim.advance(500)
        for node in sim.alive():
            assert node.core.catalog.get(gone) is None
    told = [n for n in sim.alive() if Departed(gone) in n.events]
    assert len(told) == len(sim.alive())


def test_graceful_departure_without_loss_is_immediate() -> None:
    sim = Sim(22, 8)
    _converge(sim)
    leaving = sim.node(5)
    sim.depart(leaving)
    sim.gone = 1
    assert sim.run_until(sim.converged, 1_000) <= 250


def test_silent_crash_is_purged_by_ttl_and_stays_purged() -> None:
    sim = Sim(31, 8, loss=0.10)
    _converge(sim)
    dead = sim.node(4)
    last_update = dead.core.local.update_ms
    sim.crash(dead)
    sim.gone = 1
    # Removed everywhere once its last signed update is older than the TTL (checked on the
    # next tick); a late copy circulating between the survivors cannot extend that.
    sim.run_until(sim.converged, CFG.ttl_ms + CFG.announce_interval_ms + 1_000)
    assert sim.now - last_update > CFG.ttl_ms
    for _ in range(2 * CFG.ttl_ms // 500):
        sim.advance(500)
        assert sim.converged()


def test_crash_of_the_seed_leaves_the_rest_connected() -> None:
    sim = Sim(41, 6, loss=0.10)
    _converge(sim)
    sim.crash(sim.node(0))
    sim.gone = 1
    sim.run_until(sim.converged, CFG.ttl_ms + 5_000)
    # The seed comes back (new run, same address): everyone re-learns it through their hint.
    seed = sim.start(sim.keys[0], sim.hint)
    sim.gone = 0
    _converge(sim)
    assert all(n.core.catalog.get(seed.peer_id) is not None for n in sim.alive() if n is not seed)


@pytest.mark.parametrize("graceful", [False, True])
def test_restart_replaces_the_old_run_everywhere(graceful: bool) -> None:
    sim = Sim(51, 8, loss=0.10)
    _converge(sim)
    old = sim.node(6)
    old_started = old.core.local.started_ms
    if graceful:
        sim.depart(old)
    else:
        sim.crash(old)
    sim.advance(1_000)
    new = sim.restart(old)
    assert new.core.local.started_ms > old_started
    _converge(sim)  # `converged` checks every catalog holds the *new* run's started_ms
    for node in sim.alive():
        if node is not new:
            e = node.core.catalog.get(new.peer_id)
            assert e is not None
            assert e.started_ms == new.core.local.started_ms
            assert e.version > (old_started, 0)
    if not graceful:
        # The old run was replaced in place: an update, never a departure.
        for node in sim.alive():
            if node is not new:
                assert Departed(new.peer_id) not in node.events
                assert any(
                    isinstance(e, Updated) and e.entry.started_ms == new.core.local.started_ms
                    for e in node.events
                )


def test_mixed_churn_with_loss() -> None:
    """A departure, a crash and a restart overlapping, on a lossy network, then quiet."""
    sim = Sim(61, 12, loss=0.10)
    _converge(sim)
    sim.depart(sim.node(2))
    sim.advance(700)
    sim.crash(sim.node(5))
    sim.advance(1_300)
    restarted = sim.node(9)
    sim.crash(restarted)
    sim.advance(500)
    sim.restart(restarted)
    sim.gone = 2
    sim.run_until(sim.converged, CFG.ttl_ms + LIMIT_MS // 2)


def test_same_seed_same_run() -> None:
    """The whole simulation is a function of its seed."""

    def trace(seed: int) -> tuple[int, int, list[int]]:
        sim = Sim(seed, 6, loss=0.2)
        took = _converge(sim)
        return took, sim.sent, sorted(len(n.events) for n in sim.alive())

    assert trace(5) == trace(5)


@pytest.mark.parametrize("seed", range(100, 112))
def test_seed_sweep_bootstrap_then_random_churn(seed: int) -> None:
    """Many small worlds: each converges, suffers one random churn event, converges again."""
    sim = Sim(seed, 7, loss=0.15)
    _converge(sim)
    victim = sim.node(sim.rng.randrange(1, 7))
    match sim.rng.choice(["depart", "crash", "restart"]):
        case "depart":
            sim.depart(victim)
            sim.gone = 1
        case "crash":
            sim.crash(victim)
            sim.gone = 1
        case _:
            sim.restart(victim)
    sim.run_until(sim.converged, CFG.ttl_ms + LIMIT_MS // 2)
