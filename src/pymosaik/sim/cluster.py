"""A tiny deterministic in-process cluster for unit tests and examples.

Instant, ordered delivery (optionally cut by ``block``), a clock moved by hand, crash
and restart around surviving storage. Messages are encoded and decoded on the way, as
they would be on a real bond. The fault-injecting simulator lives in
:mod:`pymosaik.sim.world`; this is the calm-weather harness, on the same kernel and
network: a message is an event due now, on a network whose links take no time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from ..groups.machine import StateMachine
from ..groups.map_machine import MapMachine
from ..groups.raft.config import LeadershipPreference, Membership, NodeId, RaftConfig
from ..groups.raft.core import RaftNode
from ..groups.raft.events import Applied, Consistency, Event
from ..groups.raft.messages import Message, decode_message, encode_message
from ..groups.storage.base import LogStorage
from ..groups.storage.memory import MemoryStorage
from .kernel import Host, Kernel
from .network import LinkFaults, VirtualNetwork
from .rng import seeded

#: Links that take no time and lose nothing: only ``block`` cuts them.
INSTANT = LinkFaults(min_delay_ms=0, max_delay_ms=0)


class LocalCluster:
    """Members named by byte strings, all sharing one virtual clock."""

    def __init__(
        self,
        names: Iterable[NodeId],
        *,
        config: RaftConfig | None = None,
        preferences: Mapping[NodeId, LeadershipPreference] | None = None,
        seed: int = 0,
        storage_factory: Callable[[NodeId], LogStorage] | None = None,
        machine_factory: Callable[[], StateMachine] = MapMachine,
    ) -> None:
        ids = list(names)
        prefs = {n: LeadershipPreference.normal() for n in ids}
        prefs.update(preferences or {})
        self.membership = Membership.of(prefs)
        self.preferences = prefs
        self.config = config or RaftConfig()
        self.seed = seed
        self.kernel: Kernel[Host] = Kernel()
        self.net: VirtualNetwork[NodeId] = VirtualNetwork(seeded(f"{seed}/net"), INSTANT)
        self.machine_factory = machine_factory
        factory = storage_factory or (lambda _n: MemoryStorage())
        self.storages: dict[NodeId, LogStorage] = {n: factory(n) for n in ids}
        self.nodes: dict[NodeId, RaftNode] = {}
        self.incarnations: dict[NodeId, int] = dict.fromkeys(ids, 0)
        self.events: dict[NodeId, list[Event]] = {n: [] for n in ids}
        self.applied: dict[NodeId, list[Applied]] = {n: [] for n in ids}
        self.sent: list[tuple[NodeId, NodeId, Message]] = []
        self._delivered = 0
        self._max_messages = 100_000
        for n in ids:
            self.start(n)

    @property
    def now(self) -> int:
        return self.kernel.now

    # ------------------------------------------------------------ lifecycle

    def start(self, node: NodeId) -> RaftNode:
        self.incarnations[node] += 1
        raft = RaftNode(
            node,
            self.membership,
            self.storages[node],
            self.machine_factory(),
            rng=seeded(f"{self.seed}/{node!r}/{self.incarnations[node]}"),
            now_ms=self.now,
            config=self.config,
            preference=self.preferences[node],
        )
        self.nodes[node] = raft
        return raft

    def crash(self, node: NodeId) -> None:
        """Stop the node; its storage survives (whatever was synced)."""
        self.nodes.pop(node, None)

    def restart(self, node: NodeId) -> RaftNode:
        return self.start(node)

    def block(self, a: NodeId, b: NodeId) -> None:
        self.net.partition([a], [b])

    def isolate(self, node: NodeId) -> None:
        self.net.isolate(node, self.storages)

    def heal(self) -> None:
        self.net.heal()

    # ---------------------------------------------------------------- driving

    def pump(self, max_messages: int = 100_000) -> None:
        """Collect outputs and deliver messages until nothing is in flight."""
        self._collect()
        self._delivered, self._max_messages = 0, max_messages
        self.kernel.run_until(self.now)

    def _deliver(self, src: NodeId, dst: NodeId, payload: bytes) -> None:
        raft = self.nodes.get(dst)
        if raft is None:
            return
        raft.receive(src, decode_message(payload), self.now)
        self._collect()
        self._delivered += 1
        if self._delivered > self._max_messages:
            raise RuntimeError("message storm: cluster did not quiesce")

    def advance(self, ms: int, step: int = 10) -> None:
        """Move the clock forward in ``step`` increments, ticking due nodes."""
        end = self.now + ms
        while self.now < end:
            self.kernel.run_until(min(end, self.now + step))
            for raft in list(self.nodes.values()):
                if raft.next_deadline() <= self.now:
                    raft.tick(self.now)
            self.pump()

    def run_until(self, predicate: Callable[[], bool], timeout_ms: int = 30_000) -> bool:
        end = self.now + timeout_ms
        self.pump()
        while not predicate():
            if self.now >= end:
                return False
            self.advance(10)
        return True

    def _collect(self) -> None:
        for name, raft in list(self.nodes.items()):
            ready = raft.ready()
            if not ready:
                continue
            self.events[name].extend(ready.events)
            self.applied[name].extend(ready.applied)
            for out in ready.messages:
                self.sent.append((name, out.to, out.message))
                payload = encode_message(out.message)
                for delay in self.net.deliveries(name, out.to):
                    self.kernel.at(self.now + delay, self._deliver, name, out.to, payload)

    # ---------------------------------------------------------------- clients

    def submit(self, node: NodeId, commands: Sequence[bytes]) -> int:
        request = self.nodes[node].submit(commands, self.now)
        self.pump()
        return request

    def query(self, node: NodeId, query: bytes, consistency: Consistency) -> int:
        request = self.nodes[node].query(query, consistency, self.now)
        self.pump()
        return request

    # ------------------------------------------------------------------ views

    def leaders(self) -> list[NodeId]:
        return [n for n, r in self.nodes.items() if r.is_leader]

    def leader(self) -> NodeId | None:
        leaders = sorted(self.leaders(), key=lambda n: self.nodes[n].term)
        return leaders[-1] if leaders else None

    def wait_for_leader(self, timeout_ms: int = 30_000) -> NodeId:
        if not self.run_until(lambda: self.leader() is not None, timeout_ms):
            raise TimeoutError("no leader elected")
        leader = self.leader()
        assert leader is not None
        return leader
