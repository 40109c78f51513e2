"""One deterministic simulated run of a Raft group under a fault schedule.

Everything — schedule, network, node RNGs, clients — derives from the seed, and
the event queue breaks ties by insertion order, so a seed replays exactly.
Nodes exchange *encoded* messages, so the wire format is exercised too.

Disk damage: in most fault phases a seed may flip bits of stored entries
(:meth:`SimDisk.flip`), drawn from a stream of its own; half the flipped nodes
are restarted at once (the start-up scan finds the damage), the others meet it
when they next read the entry (the read voids the step; the node restarts).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from ..groups.map_machine import MapCommand, MapMachine, MapOp, MapQuery, MapResult
from ..groups.raft.config import Membership, RaftConfig
from ..groups.raft.core import RaftNode
from ..groups.raft.events import (
    CommandCommitted,
    CommandFailed,
    CommitConflict,
    Consistency,
    Outgoing,
    QueryAnswered,
    QueryFailed,
    Ready,
    Role,
    RoleChanged,
)
from ..groups.raft.log import EntryKind, LogEntry
from ..groups.raft.messages import (
    AppendEntries,
    RequestVoteResponse,
    Vote,
    decode_message,
    encode_message,
)
from ..groups.storage.integrity import StorageCorruptionError
from ..primitives import decode, encode
from .campaign import Campaign
from .checkers import SafetyChecker
from .disk import SimDisk
from .kernel import Host, Kernel, Violation
from .linearizability import Operation, OpKind, check_history
from .network import CALM, VirtualNetwork
from .rng import seeded
from .schedule import Phase, PhaseKind, Plan, make_plan

UNSAFE_SWITCHES = {
    "volatile-vote": "volatile_vote",
    "any-term-commit": "any_term_commit",
    "no-prevote": "no_prevote",
    "vote-while-repairing": "vote_while_repairing",
}
#: Switches of the simulated disk rather than the core: a store that ignores checksums.
DISK_SWITCHES = frozenset({"ignore-checksums"})
#: Switches of the driver: send a Ready's messages before its writes are synced.
DRIVER_SWITCHES = frozenset({"send-before-persist"})
#: Chance that a fault phase (other than isolate-rejoin) also flips stored bits.
_FLIP_PHASE_CHANCE = 0.35


@dataclass(frozen=True, slots=True)
class SimOptions:
    nodes: int = 3
    unsafe: tuple[str, ...] = ()
    clients: int = 3
    keys: int = 2

    def raft_config(self) -> RaftConfig:
        flags = {UNSAFE_SWITCHES[name]: True for name in self.unsafe if name in UNSAFE_SWITCHES}
        return replace(RaftConfig(), **flags)


@dataclass(slots=True)
class SeedResult:
    seed: int
    violations: list[Violation]
    #: The trace lines leading up to the first violation (empty when clean).
    trace: list[str]
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True, eq=False, kw_only=True)
class _Node(Host):
    nid: bytes
    storage: SimDisk
    #: The running core; None while the host is down.
    raft: RaftNode | None = None
    wake_token: int = 0
    wake_at: int = -1
    last_index: int = 0
    #: A Ready's writes are being synced: inputs wait in ``deferred`` (the driver's rule).
    persisting: bool = False
    deferred: list[Callable[[RaftNode], object]] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    node: str
    request: int
    incarnation: int
    kind: OpKind
    key: bytes
    call: int
    deadline: int
    command: bytes | None
    value: bytes | None = None
    expected: bytes | None = None


@dataclass(slots=True)
class _Client:
    name: str
    seq: int = 0
    pending: _Pending | None = None
    target: str | None = None
    last_seen: dict[bytes, bytes | None] = field(default_factory=dict)


class World(Kernel[_Node]):
    """The simulated cluster for one seed."""

    def __init__(self, seed: int, options: SimOptions) -> None:
        super().__init__()
        self.seed = seed
        self.options = options
        root = seeded(seed)
        self.plan: Plan = make_plan(
            seeded(root.getrandbits(64)), options.nodes, options.raft_config()
        )
        self.config = self.plan.config
        self.faults_rng = seeded(root.getrandbits(64))
        self.client_rng = seeded(root.getrandbits(64))
        self.net: VirtualNetwork[bytes] = VirtualNetwork(seeded(root.getrandbits(64)))
        #: Bit flips draw from their own stream, so the other draws stay as they were.
        self.disk_rng = seeded(root.getrandbits(64))
        #: How long each simulated fsync takes, and whether a crash during one lands it.
        self.fsync_rng = seeded(root.getrandbits(64))
        self.checker = SafetyChecker(self.record)
        self.history: list[Operation] = []
        self.stats = {
            "elections": 0,
            "acked": 0,
            "unknown": 0,
            "messages": 0,
            "crashes": 0,
            "early_crashes": 0,
            "persists": 0,
            "deferred_inputs": 0,
            "crashes_in_persist": 0,
            "advance_crashes": 0,
            "flips": 0,
            "repairs": 0,
            "damaged_reads": 0,
        }

        names = [f"n{i + 1}" for i in range(options.nodes)]
        verify = "ignore-checksums" not in options.unsafe
        self.send_before_persist = "send-before-persist" in options.unsafe
        self.nodes = {
            name: _Node(
                name=name,
                nid=name.encode(),
                storage=SimDisk(verify=verify),
                rate=self.plan.clocks[i][0],
                offset=self.plan.clocks[i][1],
            )
            for i, name in enumerate(names)
        }
        self.by_id = {n.nid: n for n in self.nodes.values()}
        self.membership = Membership.uniform(n.nid for n in self.nodes.values())
        self.clients = [_Client(f"c{i + 1}") for i in range(options.clients)]
        self.keys = [f"k{i}".encode() for i in range(options.keys)]
        self._pending_by_request: dict[tuple[str, int, int], _Client] = {}
        # hooks
        self.crash_after_vote = 0.0
        self.crash_before_send = 0.0
        self.crash_before_sync = 0.0
        self.crash_before_advance = 0.0
        self.hook_downtime = (5, 150)
        self.rotate_restart = False
        self._down: list[_Node] = []
        # isolate-rejoin probe
        self._probe: tuple[str, int, int] | None = None  # (leader, term, grace end)

    # ---------------------------------------------------------------- nodes

    def on_boot(self, node: _Node) -> None:
        rng = seeded(f"{self.seed}/{node.name}/{node.incarnation}")
        node.raft = RaftNode(
            node.nid,
            self.membership,
            node.storage,
            MapMachine(),
            rng=rng,
            now_ms=self.local(node),
            config=self.config,
        )
        node.last_index = node.raft.last_index
        node.wake_at = -1
        if node.raft.damage is not None:
            self.stats["repairs"] += 1
            self.log(f"{node.name} REPAIR {node.raft.damage} repairing={node.raft.repairing}")
        self._drain(node)
        if node.incarnation > 1 and node.raft is not None:
            self.log(f"{node.name} RESTART term={node.raft.term} log={node.raft.last_index}")

    def on_crash(self, node: _Node) -> None:
        """Power cut: what was not synced is lost; the client calls on it end unknown."""
        self.stats["crashes"] += 1
        node.raft = None
        if node.persisting:
            # Power cut during the fsync: it either reached the disk whole or not at all.
            self.stats["crashes_in_persist"] += 1
            if self.fsync_rng.random() < 0.5:
                node.storage.sync()
        node.storage.lose_unsynced()
        node.persisting = False
        node.deferred.clear()
        self._down.append(node)
        self.log(f"{node.name} CRASH (restart in {node.down_until - self.now} ms)")
        for client in self.clients:
            p = client.pending
            if p is not None and p.node == node.name:
                self._finish(client, None)

    def _restart_previous(self, crashed: _Node) -> None:
        """Bring back the node that went down before ``crashed`` (leader rotation)."""
        for other in reversed(self._down):
            if other is not crashed and not other.up:
                other.down_until = self.now
                self.at(self.now + self.faults_rng.randint(10, 50), self.restart, other)
                return

    def leader(self) -> _Node | None:
        best: _Node | None = None
        best_term = -1
        for node in self.nodes.values():
            raft = node.raft
            if raft is not None and raft.is_leader and (best is None or raft.term > best_term):
                best, best_term = node, raft.term
        return best

    def _drain(self, node: _Node, action: Callable[[RaftNode], object] | None = None) -> None:
        """Run ``action`` on the node, then hand out its outputs; damage read means a restart."""
        raft = node.raft
        assert raft is not None
        if node.persisting:
            # The driver steps no node whose Ready is being synced: inputs wait.
            if action is not None:
                self.stats["deferred_inputs"] += 1
                node.deferred.append(action)
            return
        try:
            if action is not None:
                action(raft)
            self._drain_outputs(node, raft)
        except StorageCorruptionError as exc:
            self._disk_fault(node, exc)

    def _disk_fault(self, node: _Node, exc: StorageCorruptionError) -> None:
        """A read met damage: the disk voided the step; the node restarts (and repairs)."""
        self.stats["damaged_reads"] += 1
        self.log(f"{node.name} DISK {exc}")
        self.crash(node, self.disk_rng.randint(5, 200))

    def _flip(self, name: str) -> None:
        """Damage a stored entry of ``name``, within what Raft can tolerate.

        A member with damaged or repairing storage is faulty until repaired, so at
        most a minority may be (with two of three, an entry both lost may have
        been committed: no member can tell, and the group rightly stalls).
        """
        faulty = sum(
            1
            for n in self.nodes.values()
            if n.storage.damaged or n.storage.hard_state().repair_index
        )
        if faulty >= (len(self.nodes) - 1) // 2:
            return
        node = self.nodes[name]
        index = node.storage.flip(self.disk_rng)
        if index is None:
            return
        self.stats["flips"] += 1
        self.log(f"{name} FLIP stored entry {index}")
        if node.raft is not None and self.disk_rng.random() < 0.5:
            self.crash(node, self.disk_rng.randint(5, 300))  # the start-up scan finds it

    def _check_used(self, node: _Node, ready: Ready, early: list[Outgoing]) -> None:
        damaged = node.storage.damaged
        for applied in ready.applied:
            entry = LogEntry(applied.term, applied.kind, applied.command)
            self.checker.on_entry_used(
                self.now,
                node.name,
                how="applied",
                index=applied.index,
                entry=entry,
                damaged=damaged,
            )
        for out in (*early, *ready.messages):
            msg = out.message
            if isinstance(msg, AppendEntries):
                for k, entry in enumerate(msg.entries):
                    index = msg.prev_index + 1 + k
                    self.checker.on_entry_used(
                        self.now, node.name, how="sent", index=index, entry=entry, damaged=damaged
                    )

    def _drain_outputs(self, node: _Node, raft: RaftNode) -> None:
        # The leader's appends may leave before its own sync; not while the
        # crash-before-send hook models a write that never left the leader.
        early = [] if self.crash_before_send else raft.take_early_messages()
        for out in early:
            self._send(node, out.to, encode_message(out.message))
        if early and self.crash_before_sync and self.faults_rng.random() < self.crash_before_sync:
            # Power cut after the early send, before the leader's write reached the disk.
            self.stats["early_crashes"] += 1
            node.storage.lose_unsynced()
            self.crash(node, self.faults_rng.randint(*self.hook_downtime))
            return
        ready = raft.take_ready()
        if self.send_before_persist:
            for out in ready.messages:  # the broken driver: a vote leaves before it is durable
                self._send(node, out.to, encode_message(out.message))
            ready.messages = []
        if not ready.persist:
            self._persisted(node, raft, ready, early)
            return
        self.stats["persists"] += 1
        latency = self.fsync_rng.choice((0, 0, 1, 2, 4))
        if latency == 0:
            node.storage.sync()
            self._persisted(node, raft, ready, early)
            return
        # The fsync runs off the loop: the node waits, the rest of the world goes on.
        node.persisting = True
        if self.crash_before_advance and self.faults_rng.random() < self.crash_before_advance:
            # Power cut while the fsync runs (``crash`` decides whether it landed).
            downtime = self.faults_rng.randint(*self.hook_downtime)
            at = self.now + self.fsync_rng.randrange(latency)
            self.at(at, self._crash_if, node, raft, downtime)
        self.at(self.now + latency, self._sync_done, node, raft, ready, early)

    def _crash_if(self, node: _Node, raft: RaftNode, downtime: int) -> None:
        if node.raft is raft and node.persisting:
            self.crash(node, downtime)

    def _sync_done(self, node: _Node, raft: RaftNode, ready: Ready, early: list[Outgoing]) -> None:
        if node.raft is not raft:
            return  # crashed meanwhile: ``crash`` decided what reached the disk
        node.storage.sync()
        node.persisting = False
        try:
            self._persisted(node, raft, ready, early)
        except StorageCorruptionError as exc:
            self._disk_fault(node, exc)

    def _persisted(self, node: _Node, raft: RaftNode, ready: Ready, early: list[Outgoing]) -> None:
        """The Ready's writes are durable: maybe crash before ``advance()``, else act on it."""
        grew = raft.last_index > node.last_index
        node.last_index = raft.last_index
        if (
            self.crash_before_send
            and grew
            and raft.is_leader
            and node.storage.written().entries(raft.last_index, raft.last_index)[0].kind
            is EntryKind.COMMAND
            and self.faults_rng.random() < self.crash_before_send
        ):
            # Crash after the append reached storage but before anything was sent.
            self.crash(node, self.faults_rng.randint(*self.hook_downtime))
            if self.rotate_restart:
                self._restart_previous(node)
            return
        if (
            self.crash_before_advance
            and ready.persist
            and self.faults_rng.random() < self.crash_before_advance
        ):
            # Durable, but the node dies before ``advance()``: nothing of the step acted on.
            self.stats["advance_crashes"] += 1
            self.crash(node, self.faults_rng.randint(*self.hook_downtime))
            return
        raft.advance()
        if node.storage.damaged:
            self._check_used(node, ready, early)
        for applied in ready.applied:
            self.checker.on_apply(self.now, node.name, raft.term, applied)
        self._events(node, ready)
        if node.raft is None:
            return
        voted = False
        for out in ready.messages:
            msg = out.message
            if isinstance(msg, RequestVoteResponse) and not msg.prevote:
                voted = voted or msg.vote is Vote.GRANTED
            self._send(node, out.to, encode_message(msg))
        if voted and self.crash_after_vote and self.faults_rng.random() < self.crash_after_vote:
            self.crash(node, self.faults_rng.randint(*self.hook_downtime))
            return
        deferred, node.deferred = node.deferred, []
        for action in deferred:
            action(raft)
        if deferred or raft.has_ready():
            self._drain_outputs(node, raft)
        else:
            self._schedule_wake(node)

    def _send(self, node: _Node, to: bytes, payload: bytes) -> None:
        self.stats["messages"] += 1
        for delay in self.net.deliveries(node.nid, to):
            self.at(self.now + delay, self._deliver, to, node.nid, payload)

    def _schedule_wake(self, node: _Node) -> None:
        assert node.raft is not None
        at = self.to_global(node, node.raft.next_deadline())
        if at != node.wake_at:
            node.wake_at = at
            node.wake_token += 1
            self.at(at, self._wake, node, node.wake_token)

    def _events(self, node: _Node, ready: Ready) -> None:
        raft = node.raft
        assert raft is not None
        for event in ready.events:
            if isinstance(event, RoleChanged):
                self.log(
                    f"{node.name} -> {event.role.value} term={event.term} log={raft.last_index}"
                )
                if event.role is Role.LEADER:
                    self.stats["elections"] += 1
                    self.checker.on_leader(self.now, node.name, event.term, node.storage.written())
                    self._probe_check(node)
                elif self._probe is not None and self._probe[0] == node.name:
                    self._probe_check(node)
            elif isinstance(event, CommitConflict):
                self.record(
                    Violation(
                        "committed-entry-conflict",
                        f"{node.name} was asked to overwrite committed index {event.index}",
                        self.now,
                    )
                )
            elif isinstance(event, CommandCommitted | CommandFailed | QueryAnswered | QueryFailed):
                client = self._pending_by_request.get((node.name, node.incarnation, event.request))
                if client is not None:
                    self._on_outcome(client, event)

    # --------------------------------------------------------------- clients

    def _client_step(self, client: _Client, timeout: _Pending | None) -> None:
        """Issue the client's next operation, or time out ``timeout`` if still pending."""
        p = client.pending
        if timeout is not None:
            if p is timeout:
                self._finish(client, None)
            return
        if p is not None:
            return
        if self.now >= self.plan.quiet_ms:
            return
        rng = self.client_rng
        names = sorted(self.nodes)
        if client.target is None or rng.random() < 0.3:
            client.target = rng.choice(names)
        node = self.nodes[client.target]
        if node.raft is None:
            client.target = None
            self.at(self.now + rng.randint(20, 200), self._client_step, client, None)
            return
        if node.persisting:
            # Only the node's own loop steps it, and not during a sync: call again soon.
            self.at(self.now + rng.randint(1, 5), self._client_step, client, None)
            return
        key = rng.choice(self.keys)
        client.seq += 1
        roll = rng.random()
        value = f"{client.name}:{client.seq}".encode()
        expected: bytes | None = None
        if roll < 0.35:
            kind, op = OpKind.PUT, MapOp.PUT
        elif roll < 0.6:
            kind, op = OpKind.CAS, MapOp.CAS
            expected = client.last_seen.get(key)
        else:
            kind, op = OpKind.GET, MapOp.GET
            value = b""
        deadline = self.now + 6000
        local = self.local(node)
        raft = node.raft
        command: bytes | None = None
        if not (kind is OpKind.GET and rng.random() < 0.5):  # else a strong read
            written = value if kind is not OpKind.GET else None
            command = encode(
                MapCommand(client.name.encode(), client.seq, op, key, written, expected)
            )
        request = self._issue(node, raft, key, command, local)
        if request is None:
            self.at(self.now + rng.randint(20, 200), self._client_step, client, None)
            return
        if command is None:
            pending = _Pending(
                node.name, request, node.incarnation, kind, key, self.now, deadline, None
            )
        else:
            pending = _Pending(
                node.name,
                request,
                node.incarnation,
                kind,
                key,
                self.now,
                deadline,
                command,
                value if kind is not OpKind.GET else None,
                expected,
            )
        client.pending = pending
        self._pending_by_request[(node.name, node.incarnation, request)] = client
        self.at(deadline, self._client_step, client, pending)
        self._drain(node)

    def _issue(
        self, node: _Node, raft: RaftNode, key: bytes, command: bytes | None, local: int
    ) -> int | None:
        """Submit ``command`` (None: a strong read of ``key``); None if the disk failed it."""
        try:
            if command is None:
                return raft.query(encode(MapQuery(key)), Consistency.STRONG, local)
            return raft.submit([command], local)
        except StorageCorruptionError as exc:
            self._disk_fault(node, exc)
            return None

    def _on_outcome(
        self,
        client: _Client,
        event: CommandCommitted | CommandFailed | QueryAnswered | QueryFailed,
    ) -> None:
        p = client.pending
        if p is None:
            return
        if isinstance(event, CommandCommitted):
            result = decode(event.results[0], MapResult)
            assert p.command is not None
            self.checker.on_ack(
                event.first, self._entry_term(p, event.first), p.command, client.name
            )
            self._finish(client, (result.ok, result.value))
        elif isinstance(event, QueryAnswered):
            result = decode(event.result, MapResult)
            self._finish(client, (True, result.value))
        elif isinstance(event, CommandFailed) and event.maybe_applied:
            self._finish(client, None)
        else:
            self._finish(client, "void")

    def _entry_term(self, p: _Pending, index: int) -> int:
        node = self.nodes[p.node]
        if node.raft is not None:
            term = node.storage.written().term_at(index)
            if term is not None:
                return term
        known = self.checker.committed.get(index)
        return known.term if known else -1

    def _finish(self, client: _Client, outcome: tuple[bool, bytes | None] | str | None) -> None:
        """Record the client's operation: ``None`` unknown, ``"void"`` had no effect."""
        p = client.pending
        assert p is not None
        client.pending = None
        self._pending_by_request.pop((p.node, p.incarnation, p.request), None)
        if outcome == "void":
            pass
        elif outcome is None:
            if p.kind is not OpKind.GET or p.command is not None:
                self.stats["unknown"] += 1
                self.history.append(
                    Operation(client.name, p.key, p.kind, p.call, math.inf, p.value, p.expected)
                )
        else:
            assert isinstance(outcome, tuple)
            ok, output = outcome
            self.stats["acked"] += 1
            client.last_seen[p.key] = (
                p.value if (p.kind is OpKind.PUT or (p.kind is OpKind.CAS and ok)) else output
            )
            self.history.append(
                Operation(
                    client.name, p.key, p.kind, p.call, self.now, p.value, p.expected, ok, output
                )
            )
        self.at(self.now + self.client_rng.randint(100, 900), self._client_step, client, None)

    # ---------------------------------------------------------------- phases

    def _begin_phase(self, phase: Phase[PhaseKind]) -> None:
        self.log(f"PHASE {phase.kind.value} for {phase.duration_ms} ms {phase.faults}")
        self.net.faults = phase.faults
        self.net.heal()
        self.crash_after_vote = self.crash_before_send = self.crash_before_sync = 0.0
        self.crash_before_advance = 0.0
        self.rotate_restart = False
        rng = self.faults_rng
        names = sorted(self.nodes)
        minority = (len(names) - 1) // 2
        kind = phase.kind
        if kind is not PhaseKind.ISOLATE_REJOIN and phase is not self.plan.phases[-1]:
            self._plan_flips(phase, names)
        if kind is PhaseKind.PARTITION:
            for k in range(rng.randint(1, 2)):
                at = phase.start_ms + k * phase.duration_ms // 2
                self.at(at, self._random_partition, names)
        elif kind is PhaseKind.CRASH:
            for _ in range(rng.randint(1, 3)):
                at = rng.randint(phase.start_ms, phase.end_ms - 500)
                victims = rng.sample(names, rng.randint(1, max(1, minority)))
                downtime = rng.randint(200, 5000)
                self.at(at, self._crash_names, victims, downtime)
        elif kind is PhaseKind.LEADER_CRASH:
            for k in range(rng.randint(1, 2)):
                at = phase.start_ms + k * phase.duration_ms // 2 + rng.randint(0, 500)
                downtime = rng.randint(200, 4000)
                self.at(at, self._crash_leader, downtime)
        elif kind is PhaseKind.VOTE_CRASH:
            self.crash_after_vote = 0.8
            self.hook_downtime = (5, 150)
            self._split_followers()
            self._crash_leader(rng.randint(50, 400))
        elif kind is PhaseKind.CHURN:
            if rng.random() < 0.5:
                self.crash_before_send = rng.uniform(0.3, 0.7)
            else:
                self.crash_before_sync = rng.uniform(0.1, 0.4)
            self.crash_before_advance = rng.uniform(0.02, 0.1)
            self.hook_downtime = (300, 4000)
        elif kind is PhaseKind.FIGURE8:
            self.crash_before_send = 1.0
            self.hook_downtime = (2500, 6000)
            self.rotate_restart = True
        elif kind is PhaseKind.ISOLATE_REJOIN:
            self.at(phase.start_ms + 1000, self._isolate, phase)

    def _plan_flips(self, phase: Phase[PhaseKind], names: list[str]) -> None:
        """Maybe flip stored bits in ``phase`` (not the availability probe, not the calm end)."""
        rng = self.disk_rng
        if rng.random() >= _FLIP_PHASE_CHANCE:
            return
        for _ in range(rng.randint(1, 2)):
            at = rng.randint(phase.start_ms, max(phase.start_ms, phase.end_ms - 500))
            self.at(at, self._flip, rng.choice(names))

    def _end_phase(self, phase: Phase[PhaseKind]) -> None:
        self.net.faults = CALM
        self.net.heal()
        self.crash_after_vote = self.crash_before_send = self.crash_before_sync = 0.0
        self.crash_before_advance = 0.0
        self.rotate_restart = False
        self.log(f"END {phase.kind.value}")

    def _random_partition(self, names: list[str]) -> None:
        rng = self.faults_rng
        self.net.heal()
        shuffled = list(names)
        rng.shuffle(shuffled)
        cut = rng.randint(1, len(names) - 1)
        a, b = shuffled[:cut], shuffled[cut:]
        self.net.partition([self.nodes[n].nid for n in a], [self.nodes[n].nid for n in b])
        self.log(f"PARTITION {a} | {b}")

    def _split_followers(self) -> None:
        """Cut the followers into two halves that only meet through the leader.

        Each half then needs the (restarted) old leader's vote to elect anyone, so
        a voter that forgets its vote is asked twice in one term.
        """
        leader = self.leader()
        if leader is None:
            return
        followers = sorted(n for n in self.nodes if n != leader.name)
        self.faults_rng.shuffle(followers)
        half = len(followers) // 2
        a, b = followers[:half], followers[half:]
        self.net.partition([self.nodes[n].nid for n in a], [self.nodes[n].nid for n in b])
        self.log(f"SPLIT followers {a} | {b} (via {leader.name})")

    def _crash_names(self, victims: list[str], downtime: int) -> None:
        for name in victims:
            self.crash(self.nodes[name], downtime)

    def _crash_leader(self, downtime: int) -> None:
        leader = self.leader()
        if leader is not None:
            self.crash(leader, downtime)

    def _isolate(self, phase: Phase[PhaseKind]) -> None:
        """Availability probe: cut a follower off, rejoin it, the leader must survive."""
        for node in self.nodes.values():
            if node.raft is None:
                return  # only probe a fully running group
        leader = self.leader()
        if leader is None or leader.raft is None:
            return
        followers = sorted(n for n in self.nodes if n != leader.name)
        victim = self.nodes[self.faults_rng.choice(followers)]
        if victim.raft is None or victim.raft.term > leader.raft.term:
            return  # the victim already carries a newer term: not a healthy start
        others = [n.nid for n in self.nodes.values()]
        self.net.isolate(victim.nid, others)
        self.log(f"ISOLATE {victim.name} (leader {leader.name} term {leader.raft.term})")
        term = leader.raft.term
        heal_at = phase.end_ms - 4000
        self.at(heal_at, self._rejoin, victim.name, leader.name, term, phase.end_ms - 100)

    def _rejoin(self, victim: str, leader: str, term: int, grace_end: int) -> None:
        self.net.heal()
        node = self.nodes[leader]
        if node.raft is None or not node.raft.is_leader or node.raft.term != term:
            self.log(f"REJOIN {victim}: leader changed during isolation, no probe")
            return
        self.log(f"REJOIN {victim} (leader {leader} term {term} still leads)")
        self._probe = (leader, term, grace_end)
        self.at(grace_end, self._probe_done)

    def _probe_check(self, node: _Node) -> None:
        probe = self._probe
        if probe is None or node.raft is None:
            return
        leader, term, _ = probe
        boss = self.nodes[leader].raft
        if boss is None or not boss.is_leader or boss.term != term:
            self._probe = None
            self.record(
                Violation(
                    "rejoin-disruption",
                    f"leader {leader} (term {term}, healthy quorum) was deposed after a "
                    f"follower rejoined a calm network",
                    self.now,
                )
            )

    def _probe_done(self) -> None:
        if self._probe is not None:
            self._probe_check(self.nodes[self._probe[0]])
            self._probe = None

    # ------------------------------------------------------------------ run

    def run(self) -> SeedResult:
        for node in self.nodes.values():
            self.boot(node)
        for client in self.clients:
            self.at(self.client_rng.randint(0, 500), self._client_step, client, None)
        for phase in self.plan.phases:
            self.at(phase.start_ms, self._begin_phase, phase)
            self.at(phase.end_ms, self._end_phase, phase)
        # A failing seed stops at its first violation.
        if self.run_until(self.plan.end_ms, stop_on_violation=True):
            self._finish_run()
        return SeedResult(self.seed, self.violations, self.first_trace, self.stats)

    def _deliver(self, to: bytes, sender: bytes, payload: bytes) -> None:
        node = self.by_id[to]
        if node.raft is not None:
            receive = partial(
                RaftNode.receive,
                sender=sender,
                message=decode_message(payload),
                now_ms=self.local(node),
            )
            self._drain(node, receive)

    def _wake(self, node: _Node, token: int) -> None:
        if node.raft is not None and token == node.wake_token:
            node.wake_at = -1
            self._drain(node, partial(RaftNode.tick, now_ms=self.local(node)))

    def _finish_run(self) -> None:
        for client in self.clients:
            if client.pending is not None:
                self._finish(client, None)
        live = [n for n in self.nodes.values() if n.raft is not None]
        leader = self.leader()
        converged = (
            len(live) == len(self.nodes)
            and leader is not None
            and leader.raft is not None
            and all(
                n.raft is not None and n.raft.applied_index == leader.raft.commit_index
                for n in live
            )
        )
        if not converged:
            state = ", ".join(
                f"{n.name}:{n.raft.role.value}/t{n.raft.term}/c{n.raft.commit_index}"
                if n.raft
                else f"{n.name}:down"
                for n in self.nodes.values()
            )
            self.record(
                Violation(
                    "no-convergence", f"group did not settle in the calm end: {state}", self.now
                )
            )
        logs = {n.name: n.storage.written() for n in self.nodes.values()}
        self.checker.finish(self.now, logs, converged)
        verdict = check_history(self.history)
        for key in verdict.violations:
            ops = [op for op in self.history if op.key == key]
            ops.sort(key=lambda o: o.call)
            detail = "; ".join(op.describe() for op in ops[-12:])
            self.record(
                Violation(
                    "linearizability", f"key {key!r} history not linearizable: {detail}", self.now
                )
            )
        self.stats["inconclusive"] = len(verdict.inconclusive)
        self.stats["ops"] = len(self.history)


def run_seed(seed: int, options: SimOptions) -> SeedResult:
    return World(seed, options).run()


def raft_campaign(options: SimOptions) -> Campaign[SeedResult]:
    """``python -m pymosaik.sim raft``: seeds of :class:`World` with ``options``."""
    return Campaign(
        partial(run_seed, options=options),
        partial(format_failure, options=options),
        footer=_inconclusive_note,
    )


def format_failure(result: SeedResult, options: SimOptions) -> str:
    unsafe = "".join(f" --unsafe {u}" for u in options.unsafe)
    lines = [
        f"seed {result.seed}: {len(result.violations)} violation(s); replay with "
        f"python -m pymosaik.sim raft --nodes {options.nodes}{unsafe} --seed {result.seed}"
    ]
    seen: set[str] = set()
    for v in result.violations:
        if v.kind in seen:
            continue
        seen.add(v.kind)
        lines.append(f"  [{v.time_ms} ms] {v.kind}: {v.detail}")
    lines.append("  trace before the first violation:")
    lines.extend(f"    {line}" for line in result.trace)
    return "\n".join(lines)


def _inconclusive_note(totals: Counter[str]) -> list[str]:
    """Per-key histories the linearizability search gave up on (neither pass nor fail)."""
    count = totals.get("inconclusive", 0)
    return [f"note: {count} key histories too large to decide (not counted)"] if count else []
