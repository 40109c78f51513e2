"""A tiny deterministic in-process cluster for unit tests and examples.

Instant, ordered delivery (optionally cut by ``block``), a manual clock, crash and
restart around surviving storage. Messages are encoded and decoded on the way, as
they would be on a real bond. The fault-injecting simulator lives in
:mod:`pymosaik.sim.world`; this is the calm-weather harness.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

from ..groups.machine import StateMachine
from ..groups.map_machine import MapMachine
from ..groups.raft.config import LeadershipPreference, Membership, NodeId, RaftConfig
from ..groups.raft.core import RaftNode
from ..groups.raft.events import Applied, Consistency, Event
from ..groups.raft.messages import Message, decode_message, encode_message
from ..groups.storage.base import LogStorage
from ..groups.storage.memory import MemoryStorage
from .rng import seeded


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
        self.now = 0
        self.machine_factory = machine_factory
        factory = storage_factory or (lambda _n: MemoryStorage())
        self.storages: dict[NodeId, LogStorage] = {n: factory(n) for n in ids}
        self.nodes: dict[NodeId, RaftNode] = {}
        self.incarnations: dict[NodeId, int] = dict.fromkeys(ids, 0)
        self.blocked: set[tuple[NodeId, NodeId]] = set()
        self.events: dict[NodeId, list[Event]] = {n: [] for n in ids}
        self.applied: dict[NodeId, list[Applied]] = {n: [] for n in ids}
        self.sent: list[tuple[NodeId, NodeId, Message]] = []
        self._inbox: deque[tuple[NodeId, NodeId, bytes]] = deque()
        for n in ids:
            self.start(n)

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
        self.blocked.add((a, b))
        self.blocked.add((b, a))

    def isolate(self, node: NodeId) -> None:
        for other in self.storages:
            if other != node:
                self.block(node, other)

    def heal(self) -> None:
        self.blocked.clear()

    # ---------------------------------------------------------------- driving

    def pump(self, max_messages: int = 100_000) -> None:
        """Collect outputs and deliver messages until nothing is in flight."""
        self._collect()
        delivered = 0
        while self._inbox:
            src, dst, payload = self._inbox.popleft()
            raft = self.nodes.get(dst)
            if raft is None or (src, dst) in self.blocked:
                continue
            raft.receive(src, decode_message(payload), self.now)
            self._collect()
            delivered += 1
            if delivered > max_messages:
                raise RuntimeError("message storm: cluster did not quiesce")

    def advance(self, ms: int, step: int = 10) -> None:
        """Move the clock forward in ``step`` increments, ticking due nodes."""
        end = self.now + ms
        while self.now < end:
            self.now = min(end, self.now + step)
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
                self._inbox.append((name, out.to, encode_message(out.message)))

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
