"""The sans-IO Raft core of one group member, following mosaik's variant.

One :class:`RaftNode` per member. It owns the state machine and writes to the
:class:`~pymosaik.groups.storage.LogStorage` during a step (buffered: the store's
open transaction); it never syncs it, and never touches a socket, a clock or
global randomness. Inputs carry the caller's ``now_ms``:

* :meth:`RaftNode.receive` — a message from another member;
* :meth:`RaftNode.tick` — time passed (call at :meth:`RaftNode.next_deadline`);
* :meth:`RaftNode.submit` / :meth:`RaftNode.query` — client commands and reads.

Outputs accumulate until :meth:`RaftNode.take_ready` hands them out as a
:class:`Ready`; the caller makes the writes durable (``storage.sync()``, where it
likes: the asyncio driver uses a worker thread), calls :meth:`RaftNode.advance`,
and only then acts on the Ready — etcd raft's split (see :mod:`.events`, the
persistence rule in :mod:`pymosaik.groups.storage.base` and docs/spec/raft.md).

mosaik's variant, kept: three-valued votes (observers and non-committee members
abstain), a committee of at most five odd-sized voters, leadership preferences
(reluctant nodes wait longer, observers never campaign or count), rival-leader
detection, stale messages ignored rather than answered, batching of commands into
one AppendEntries per step, forwarding of commands and strong queries to the leader.

Deliberate departures (docs/spec/raft.md): quorums are majorities of the fixed,
deterministic committee rather than of whoever is bonded or answering (mosaik's
shrinking denominator lets an isolated node elect itself); the D5 fixes — durable
term and vote, commit only by counting current-term entries (plus a leader no-op),
pre-vote with leader stickiness — each with a switch in :class:`RaftConfig`;
strong queries use a read index confirmed by a heartbeat round; followers report
the verified match index, not their raw log end.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..machine import ApplyContext, StateMachine
from ..storage.integrity import Damage, Record, StorageCorruptionError
from .config import LeadershipPreference, Membership, NodeId, RaftConfig
from .events import (
    Applied,
    CommandAssigned,
    CommandCommitted,
    CommandFailed,
    CommitAdvanced,
    CommitConflict,
    Consistency,
    Event,
    FailReason,
    LeaderChanged,
    Outgoing,
    QueryAnswered,
    QueryFailed,
    Ready,
    Role,
    RoleChanged,
)
from .log import EntryKind, HardState, LogEntry, Snapshot
from .messages import (
    AppendEntries,
    AppendEntriesResponse,
    ForwardCommand,
    ForwardCommandAck,
    ForwardQuery,
    ForwardQueryResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    Vote,
)

if TYPE_CHECKING:  # storage.base imports raft.log: a runtime import here would be a cycle
    from ..storage.base import LogStorage

#: AppendEntries batches in flight to a follower that is catching up.
_CATCH_UP_BATCHES = 4
#: How many applied results a node remembers for late forward acknowledgements.
_RECENT_RESULTS = 1024
#: Stands for "an unknown index" in a repair point (a damaged snapshot and no log).
_UNKNOWN_INDEX = 1 << 62


@dataclass(slots=True)
class _Forward:
    request: int
    deadline: int
    count: int


@dataclass(slots=True)
class _Command:
    term: int
    first: int
    results: list[bytes | None]


@dataclass(slots=True)
class _Read:
    query: bytes
    #: Local request id, or None when forwarded.
    request: int | None
    #: (follower, its request id) for a forwarded query.
    origin: tuple[NodeId, int] | None
    seq: int
    deadline: int
    read_index: int | None = None


class RaftNode:
    """One member's consensus state machine (see the module docstring)."""

    def __init__(
        self,
        node_id: NodeId,
        membership: Membership,
        storage: LogStorage,
        machine: StateMachine,
        *,
        rng: random.Random,
        now_ms: int,
        config: RaftConfig | None = None,
        preference: LeadershipPreference | None = None,
    ) -> None:
        if node_id not in membership.members:
            raise ValueError("node is not a member of the group")
        is_observer = node_id in membership.observers
        if preference is None:
            preference = (
                LeadershipPreference.observer() if is_observer else LeadershipPreference.normal()
            )
        if preference.is_observer != is_observer:
            raise ValueError("an observer's preference must match the membership")
        self._id = node_id
        self._membership = membership
        self._config = config or RaftConfig()
        self._storage = storage
        self._machine = machine
        self._rng = rng
        self._pref = preference
        self._now = now_ms
        self._peers = tuple(m for m in membership.members if m != node_id)
        self._member_set = frozenset(membership.members)
        self._voters = frozenset(membership.voters)
        self._is_voter = node_id in self._voters
        self._quorum = membership.quorum

        #: The damaged record this start found and repaired (None: the disk was whole).
        self.damage: Damage | None = storage.scan()
        if self.damage is not None:
            _repair_storage(storage, self.damage)
        stored = storage.hard_state()
        #: (last term, last index) the log had before a damaged suffix was dropped;
        #: (0, 0) when whole. Until the log is at least that up to date again the
        #: member votes as if it still held the lost entries and does not campaign.
        self._repair = (stored.repair_term, stored.repair_index)
        hard = HardState() if self._config.volatile_vote else stored
        self._term = hard.term
        self._voted_for = hard.voted_for
        self._commit = 0
        self._applied = 0
        #: Our own log is durable up to here (what the last ``advance()`` acknowledged). A
        #: leader counts itself toward a commit quorum only up to this index, so its
        #: AppendEntries may leave before its own write is synced (thesis §10.2.1).
        self._durable = storage.last_index()
        #: The term whose hard state (term, vote) the last ``advance()`` acknowledged.
        self._synced_term = self._term
        snapshot = storage.snapshot()
        if snapshot is not None:
            machine.restore(snapshot.data)
            self._commit = self._applied = snapshot.index

        self._role = Role.FOLLOWER
        self._leader: NodeId | None = None
        self._leader_contact: int | None = None
        timeout = self._config.election_timeout(rng, preference)
        if self._term == 0:
            # mosaik: the very first term waits for peers to start and bond.
            timeout += self._config.bootstrap_delay_ms * preference.factor
        self._election_at = now_ms + timeout

        self._init_volatile_state()

        self._out = Ready()
        #: The steps wrote to storage since the last ``take_ready``.
        self._dirty = False
        #: (last index, term) the handed-out Ready covers, until ``advance()``.
        self._unacked: tuple[int, int] | None = None

    def _init_volatile_state(self) -> None:
        """Role, leader and client bookkeeping: none of it survives a restart."""
        # candidate / pre-candidate
        self._granted: set[NodeId] = set()
        self._vote_resend_at = 0
        # leader
        self._next: dict[NodeId, int] = {}
        self._match: dict[NodeId, int] = {}
        self._ack_seq: dict[NodeId, int] = {}
        self._seq = 0
        self._heartbeat_at = 0
        self._broadcast_pending = False
        self._reads: list[_Read] = []
        #: Snapshot transfer in progress per peer: (snapshot index, next byte offset).
        self._snap_out: dict[NodeId, tuple[int, int]] = {}
        # follower: the chunks of one leader snapshot received so far
        self._snap_in: tuple[tuple[int, int, int], bytearray] | None = None
        # client requests
        self._next_request = 1
        self._forwards: dict[int, _Forward] = {}
        self._fwd_queries: dict[int, tuple[int, int]] = {}
        self._commands: dict[int, _Command] = {}
        self._awaiting: dict[int, int] = {}
        self._recent: OrderedDict[int, tuple[int, bytes]] = OrderedDict()

    # ------------------------------------------------------------------ views

    @property
    def node_id(self) -> NodeId:
        return self._id

    @property
    def membership(self) -> Membership:
        return self._membership

    @property
    def config(self) -> RaftConfig:
        return self._config

    @property
    def role(self) -> Role:
        return self._role

    @property
    def term(self) -> int:
        return self._term

    @property
    def voted_for(self) -> NodeId | None:
        return self._voted_for

    @property
    def leader(self) -> NodeId | None:
        return self._leader

    @property
    def is_leader(self) -> bool:
        return self._role is Role.LEADER

    @property
    def commit_index(self) -> int:
        return self._commit

    @property
    def applied_index(self) -> int:
        return self._applied

    @property
    def last_index(self) -> int:
        return self._storage.last_index()

    @property
    def repairing(self) -> bool:
        """Catching up after dropping a damaged log suffix: no campaigns, guarded votes."""
        return self._repair != (0, 0)

    @property
    def storage(self) -> LogStorage:
        return self._storage

    @property
    def machine(self) -> StateMachine:
        return self._machine

    @property
    def online(self) -> bool:
        """mosaik's "online": leader, or a follower that knows its leader."""
        return self._role is Role.LEADER or (
            self._role is Role.FOLLOWER and self._leader is not None
        )

    def next_deadline(self) -> int:
        """The earliest local time at which :meth:`tick` has work to do."""
        if self._role is Role.LEADER:
            deadline = self._heartbeat_at
            for read in self._reads:
                deadline = min(deadline, read.deadline)
        else:
            deadline = self._election_at
            if self._role is not Role.FOLLOWER:
                deadline = min(deadline, self._vote_resend_at)
        for fwd in self._forwards.values():
            deadline = min(deadline, fwd.deadline)
        for _, query_deadline in self._fwd_queries.values():
            deadline = min(deadline, query_deadline)
        return deadline

    # ------------------------------------------------------------- observers

    def add_observer(self, node: NodeId) -> bool:
        """Start replicating to ``node`` as an observer (a non-voting learner).

        Not committed through the log: an observer never votes, never leads and is
        never counted in a quorum, so members may disagree about who observes without
        any effect on safety. Returns False if ``node`` is already a member.
        """
        if node == self._id or node in self._member_set:
            return False
        self._member_set = self._member_set | {node}
        self._peers = (*self._peers, node)
        m = self._membership
        self._membership = Membership(
            voters=m.voters,
            members=tuple(sorted((*m.members, node))),
            observers=m.observers | {node},
        )
        if self._role is Role.LEADER:
            # Probe from our log end; the follower's resume hint walks us back, to
            # the snapshot if its log is behind our compaction point.
            self._next[node] = self._storage.last_index() + 1
            self._match[node] = 0
            # Sent with the next take_ready() (a storage read belongs in the driver's loop,
            # which restarts the member if it meets damage).
            self._broadcast_pending = True
        return True

    def remove_observer(self, node: NodeId) -> bool:
        """Stop replicating to an observer added by :meth:`add_observer`."""
        if node not in self._membership.observers or node == self._id:
            return False
        self._member_set = self._member_set - {node}
        self._peers = tuple(p for p in self._peers if p != node)
        m = self._membership
        self._membership = Membership(
            voters=m.voters,
            members=tuple(p for p in m.members if p != node),
            observers=m.observers - {node},
        )
        self._next.pop(node, None)
        self._match.pop(node, None)
        self._ack_seq.pop(node, None)
        return True

    # ----------------------------------------------------------------- inputs

    def take_ready(self) -> Ready:
        """Hand out the outputs of the steps so far; the caller persists, then ``advance()``.

        The etcd-raft split: the steps wrote to the storage's open transaction (no
        I/O wait); ``Ready.persist`` says whether there is anything to make durable.
        The caller runs ``storage.sync()`` where it likes (the asyncio driver: a
        worker thread), then :meth:`advance`, and only then acts on the Ready —
        sends its messages, hands out its applied results and events. Until
        ``advance()`` the node takes no input and hands out no other Ready, so
        no two Readies overlap and a crash loses the whole step or nothing.
        """
        self._check_idle()
        if self._role is Role.LEADER and self._broadcast_pending:
            self._broadcast()
        self._broadcast_pending = False
        out, self._out = self._out, Ready()
        out.persist = self._dirty
        self._dirty = False
        self._unacked = (self._storage.last_index(), self._term)
        return out

    def advance(self) -> None:
        """The last Ready's writes are durable: count them, and act on what that enables.

        A leader now counts its own entries toward a commit quorum; what that
        commits (applied results, commit notices) goes out with the next Ready.
        """
        if self._unacked is None:
            raise RuntimeError("advance() without a Ready handed out")
        self._durable, self._synced_term = self._unacked
        self._unacked = None
        if self._role is Role.LEADER:
            # Our own entries now count toward the quorum; tell followers at once.
            self._advance_commit()

    def has_ready(self) -> bool:
        """There are outputs or writes for another :meth:`take_ready`."""
        return self._dirty or self._broadcast_pending or bool(self._out)

    def ready(self) -> Ready:
        """``take_ready``, ``storage.sync()``, ``advance`` in one call (tests, in-memory use).

        Blocks on the sync; the asyncio driver uses the split calls instead. The
        outputs ``advance`` produced are included (they rest on writes just synced,
        save a compaction snapshot, whose loss in a crash costs nothing).
        """
        out = self.take_ready()
        if out.persist:
            self._storage.sync()
        self.advance()
        if self._broadcast_pending:
            self._broadcast()
        self._broadcast_pending = False
        more, self._out = self._out, Ready()
        out.messages += more.messages
        out.applied += more.applied
        out.events += more.events
        return out

    def _check_idle(self) -> None:
        if self._unacked is not None:
            raise RuntimeError("a Ready is not yet persisted: call advance() first")

    def take_early_messages(self) -> list[Outgoing]:
        """The leader's AppendEntries with entries: they may leave before the sync.

        Raft thesis §10.2.1: a leader may replicate in parallel with its own disk
        write, because it counts itself toward a commit quorum only once
        ``advance()`` has acknowledged its entries (``_durable``). Nothing leaves early
        until the leader's term and vote are durable, and ``leader_commit`` only
        covers entries durable on a quorum. Everything else (votes, follower
        acknowledgements, forward acknowledgements, client answers, empty appends
        with no write to overlap) waits for ``advance()``. Call it before
        :meth:`take_ready`. Optional: a driver that never calls this gets the same
        messages in the Ready.
        """
        self._check_idle()
        if self._role is not Role.LEADER or self._synced_term != self._term:
            # A lone voter wins in the very step that raised its term: until that
            # term is durable, a crash could let a restart lead the same term again.
            return []
        if self._broadcast_pending:
            self._broadcast()
        early: list[Outgoing] = []
        rest: list[Outgoing] = []
        term = self._term
        for out in self._out.messages:
            message = out.message
            if isinstance(message, AppendEntries) and message.term == term and message.entries:
                early.append(out)
            else:
                rest.append(out)
        self._out.messages = rest
        return early

    def tick(self, now_ms: int) -> None:
        self._check_idle()
        self._advance(now_ms)
        now = self._now
        if self._role is Role.LEADER:
            if now >= self._heartbeat_at:
                self._broadcast()
            self._expire_reads()
        elif now >= self._election_at:
            self._on_election_timeout()
        elif self._role is not Role.FOLLOWER and now >= self._vote_resend_at:
            self._request_votes(resend=True)
        for fwd_id, fwd in list(self._forwards.items()):
            if now >= fwd.deadline:
                del self._forwards[fwd_id]
                self._emit(CommandFailed(fwd.request, FailReason.TIMEOUT, maybe_applied=True))
        for fwd_id, (request, deadline) in list(self._fwd_queries.items()):
            if now >= deadline:
                del self._fwd_queries[fwd_id]
                self._emit(QueryFailed(request, FailReason.TIMEOUT))

    def submit(self, commands: Sequence[bytes], now_ms: int) -> int:
        """Submit commands (mosaik `feed`/`execute`); returns the local request id.

        The outcome arrives as events: ``CommandAssigned`` then ``CommandCommitted``,
        or ``CommandFailed``.
        """
        if not commands:
            raise ValueError("no commands")
        self._check_idle()
        self._advance(now_ms)
        request = self._new_request()
        if self._role is Role.LEADER:
            first, last = self._append_commands(commands)
            self._emit(CommandAssigned(request, self._term, first, last))
            self._track(request, self._term, first, last)
        elif self._role is Role.FOLLOWER and self._leader is not None:
            fwd_id = self._fresh_id(self._forwards)
            self._send(self._leader, ForwardCommand(tuple(commands), fwd_id))
            deadline = self._now + self._config.forward_timeout_ms
            self._forwards[fwd_id] = _Forward(request, deadline, len(commands))
        else:
            self._emit(CommandFailed(request, FailReason.OFFLINE, maybe_applied=False))
        return request

    def query(self, query: bytes, consistency: Consistency, now_ms: int) -> int:
        """Read the state machine; the answer arrives as ``QueryAnswered``/``QueryFailed``."""
        self._check_idle()
        self._advance(now_ms)
        request = self._new_request()
        if consistency is Consistency.WEAK:
            self._emit(QueryAnswered(request, self._machine.query(query), self._applied))
        elif self._role is Role.LEADER:
            self._add_read(_Read(query, request, None, self._seq + 1, self._read_deadline()))
        elif self._role is Role.FOLLOWER and self._leader is not None:
            fwd_id = self._fresh_id(self._fwd_queries)
            self._send(self._leader, ForwardQuery(query, fwd_id))
            self._fwd_queries[fwd_id] = (request, self._now + self._config.query_timeout_ms)
        else:
            self._emit(QueryFailed(request, FailReason.OFFLINE))
        return request

    def receive(self, sender: NodeId, message: Message, now_ms: int) -> None:
        """Handle one message from ``sender`` (the transport authenticated it)."""
        self._check_idle()
        self._advance(now_ms)
        if sender == self._id or sender not in self._member_set:
            return
        if isinstance(message, ForwardCommand):
            self._on_forward_command(sender, message)
        elif isinstance(message, ForwardCommandAck):
            self._on_forward_ack(message)
        elif isinstance(message, ForwardQuery):
            self._on_forward_query(sender, message)
        elif isinstance(message, ForwardQueryResponse):
            self._on_forward_query_response(message)
        elif isinstance(message, RequestVote) and message.prevote:
            self._on_prevote(sender, message)
        elif isinstance(message, RequestVoteResponse) and message.prevote:
            self._on_prevote_response(sender, message)
        else:
            self._on_term_message(sender, message)

    # ------------------------------------------------------------ term rules

    def _on_term_message(self, sender: NodeId, message: Message) -> None:
        assert isinstance(
            message,
            AppendEntries
            | AppendEntriesResponse
            | RequestVote
            | RequestVoteResponse
            | InstallSnapshot
            | InstallSnapshotResponse,
        )
        if message.term < self._term:
            if not self._config.no_prevote and isinstance(message, AppendEntries | InstallSnapshot):
                # Companion of pre-vote (as in etcd): a node whose term rose during a
                # partition can neither win (its pre-votes are refused while the leader
                # lives) nor follow the lower-term leader, so tell that leader our term.
                last = self._storage.last_index()
                self._send(
                    sender,
                    AppendEntriesResponse(self._term, Vote.DENIED, False, last, message.seq),
                )
            return  # otherwise stale messages are ignored, as mosaik does
        if isinstance(message, RequestVote) and self._in_lease():
            # Leader stickiness (part of the pre-vote fix): while we hear from a
            # live leader, a higher-term vote request must not depose it.
            return
        if message.term > self._term:
            leader = (
                message.leader if isinstance(message, AppendEntries | InstallSnapshot) else None
            )
            self._become_follower(message.term, leader)
        if isinstance(message, AppendEntries):
            self._on_append_entries(sender, message)
        elif isinstance(message, AppendEntriesResponse):
            self._on_append_response(sender, message)
        elif isinstance(message, RequestVote):
            self._on_request_vote(sender, message)
        elif isinstance(message, RequestVoteResponse):
            self._on_vote_response(sender, message)
        elif isinstance(message, InstallSnapshot):
            self._on_install_snapshot(sender, message)
        else:
            self._on_snapshot_response(sender, message)

    def _in_lease(self) -> bool:
        if self._config.no_prevote:
            return False
        if self._role is Role.LEADER:
            return True
        return (
            self._leader is not None
            and self._leader_contact is not None
            and self._now - self._leader_contact < self._config.election_timeout_ms
        )

    def _become_follower(self, term: int, leader: NodeId | None) -> None:
        if term > self._term:
            self._term = term
            self._voted_for = None
            self._persist_hard_state()
        if self._role is Role.LEADER:
            self._fail_reads()
        previous = self._role
        self._role = Role.FOLLOWER
        self._granted = set()
        self._set_leader(leader)
        self._reset_election_timer()
        if previous is not Role.FOLLOWER:
            self._emit(RoleChanged(Role.FOLLOWER, self._term))

    # -------------------------------------------------------------- elections

    def _on_election_timeout(self) -> None:
        if self._pref.is_observer or (self.repairing and not self._config.vote_while_repairing):
            # Observers never campaign; nor does a member missing entries it may have
            # helped commit (it would vote for itself without them).
            self._reset_election_timer()
        elif self._config.no_prevote:
            self._become_candidate()
        else:
            self._become_precandidate()

    def _become_precandidate(self) -> None:
        self._set_role(Role.PRECANDIDATE)
        self._set_leader(None)
        self._granted = {self._id} if self._is_voter else set()
        self._reset_election_timer()
        self._request_votes(resend=False)
        self._check_election()

    def _become_candidate(self) -> None:
        self._term += 1
        self._voted_for = self._id
        self._persist_hard_state()
        self._set_role(Role.CANDIDATE)
        self._set_leader(None)
        self._granted = {self._id} if self._is_voter else set()
        self._reset_election_timer()
        self._request_votes(resend=False)
        self._check_election()

    def _request_votes(self, *, resend: bool) -> None:
        prevote = self._role is Role.PRECANDIDATE
        term = self._term + 1 if prevote else self._term
        last = self._storage.last_index()
        request = RequestVote(term, self._id, last, self._last_term(), prevote)
        for voter in self._membership.voters:
            if voter != self._id and voter not in self._granted:
                self._send(voter, request)
        self._vote_resend_at = self._now + self._config.heartbeat_interval_ms

    def _candidate_up_to_date(self, last_term: int, last_index: int) -> bool:
        own = (self._last_term(), self._storage.last_index())
        if not self._config.vote_while_repairing:
            # Vote as the undamaged log would have: Raft's election restriction only
            # needs the (last term, last index) of a log holding every entry we acked.
            own = max(own, self._repair)
        return (last_term, last_index) >= own

    def _check_repaired(self) -> None:
        """Leave repair once the log is again as up to date as before the damage."""
        if self.repairing and (self._last_term(), self._storage.last_index()) >= self._repair:
            self._repair = (0, 0)
            self._persist_hard_state()

    def _on_prevote(self, sender: NodeId, request: RequestVote) -> None:
        if not self._is_voter:
            vote, term = Vote.ABSTAINED, request.term
        elif (
            request.term > self._term
            and self._candidate_up_to_date(request.last_term, request.last_index)
            and not self._in_lease()
        ):
            vote, term = Vote.GRANTED, request.term
        else:
            vote, term = Vote.DENIED, self._term
        self._send(sender, RequestVoteResponse(term, vote, prevote=True))

    def _on_prevote_response(self, sender: NodeId, response: RequestVoteResponse) -> None:
        if self._role is not Role.PRECANDIDATE:
            return
        if response.vote is Vote.GRANTED and response.term == self._term + 1:
            if sender in self._voters:
                self._granted.add(sender)
                self._check_election()
        elif response.term > self._term:
            self._become_follower(response.term, None)

    def _on_request_vote(self, sender: NodeId, request: RequestVote) -> None:
        if not self._is_voter:
            self._send(sender, RequestVoteResponse(self._term, Vote.ABSTAINED, prevote=False))
            return
        if self._voted_for is not None and self._voted_for != request.candidate:
            vote = Vote.DENIED  # already voted for someone else in this term
        elif not self._candidate_up_to_date(request.last_term, request.last_index):
            vote = Vote.DENIED  # our log is ahead of the candidate's
        else:
            vote = Vote.GRANTED
            self._voted_for = request.candidate
            # Durable before the answer leaves (the driver syncs before it sends).
            self._persist_hard_state()
            if self._role is Role.FOLLOWER:
                self._reset_election_timer()
        self._send(sender, RequestVoteResponse(self._term, vote, prevote=False))

    def _on_vote_response(self, sender: NodeId, response: RequestVoteResponse) -> None:
        if (
            self._role is Role.CANDIDATE
            and response.vote is Vote.GRANTED
            and sender in self._voters
        ):
            self._granted.add(sender)
            self._check_election()

    def _check_election(self) -> None:
        if len(self._granted & self._voters) < self._quorum:
            return
        if self._role is Role.PRECANDIDATE:
            self._become_candidate()
        elif self._role is Role.CANDIDATE:
            self._become_leader()

    def _become_leader(self) -> None:
        self._set_role(Role.LEADER)
        self._set_leader(self._id)
        last = self._storage.last_index()
        self._next = dict.fromkeys(self._peers, last + 1)
        self._match = dict.fromkeys(self._peers, 0)
        self._ack_seq = {}
        self._reads = []
        self._snap_out = {}
        if not self._config.any_term_commit:
            # Raft §8: commit an entry of our own term so earlier ones commit too.
            self._storage.append([LogEntry(self._term, EntryKind.NOOP, b"")])
            self._dirty = True
        self._broadcast()
        self._advance_commit()

    # ------------------------------------------------------------ replication

    def _broadcast(self) -> None:
        self._seq += 1
        for peer in self._peers:
            self._send_append(peer)
        self._heartbeat_at = self._now + self._config.heartbeat_delay(self._rng)
        self._broadcast_pending = False

    def _send_append(self, peer: NodeId) -> None:
        prev = self._next[peer] - 1
        snapshot_index = self._storage.first_index() - 1
        if prev < snapshot_index:
            snapshot = self._storage.snapshot()
            assert snapshot is not None
            index, offset = self._snap_out.get(peer, (snapshot.index, 0))
            if index != snapshot.index or offset > len(snapshot.data):
                offset = 0
            chunk = snapshot.data[offset : offset + self._config.snapshot_chunk_bytes]
            done = offset + len(chunk) >= len(snapshot.data)
            self._send(
                peer,
                InstallSnapshot(
                    self._term,
                    self._id,
                    snapshot.index,
                    snapshot.term,
                    chunk,
                    self._seq,
                    offset,
                    done,
                ),
            )
            self._snap_out[peer] = (snapshot.index, offset)
            if done:
                self._next[peer] = snapshot.index + 1
            return
        last = self._storage.last_index()
        high = min(last, prev + self._config.max_entries_per_append)
        entries = tuple(self._storage.entries(prev + 1, high)) if high > prev else ()
        prev_term = self._storage.term_at(prev)
        assert prev_term is not None
        self._send(
            peer,
            AppendEntries(self._term, self._id, prev, prev_term, entries, self._commit, self._seq),
        )
        self._next[peer] = max(prev, high) + 1

    def _append_commands(self, commands: Sequence[bytes]) -> tuple[int, int]:
        first = self._storage.last_index() + 1
        self._storage.append([LogEntry(self._term, EntryKind.COMMAND, c) for c in commands])
        self._dirty = True
        self._broadcast_pending = True
        self._advance_commit()
        return first, first + len(commands) - 1

    def _on_append_response(self, sender: NodeId, response: AppendEntriesResponse) -> None:
        if self._role is not Role.LEADER:
            return
        self._ack_seq[sender] = max(self._ack_seq.get(sender, 0), response.seq)
        if response.accepted:
            self._acknowledge(sender, response.last_index)
        else:
            resume = min(response.last_index, self._storage.last_index())
            # A refusal below what the follower acknowledged: it dropped a damaged
            # suffix (or the refusal is stale). Resending is safe either way, and the
            # commit index never moves back.
            self._match[sender] = min(self._match[sender], resume)
            self._next[sender] = resume + 1
            self._send_append(sender)
        self._check_reads()

    def _on_snapshot_response(self, sender: NodeId, response: InstallSnapshotResponse) -> None:
        if self._role is not Role.LEADER:
            return
        self._ack_seq[sender] = max(self._ack_seq.get(sender, 0), response.seq)
        sending = self._snap_out.get(sender)
        if response.received > 0 and sending is not None:
            # Mid-transfer: send the next chunk from what the follower holds.
            self._snap_out[sender] = (sending[0], response.received)
            if self._next[sender] <= sending[0]:
                self._send_append(sender)
        else:
            self._snap_out.pop(sender, None)
            self._acknowledge(sender, response.last_index)
        self._check_reads()

    def _acknowledge(self, peer: NodeId, index: int) -> None:
        if index > self._match[peer]:
            self._match[peer] = index
            if peer in self._voters:
                self._advance_commit()
        if self._next[peer] <= index:
            self._next[peer] = index + 1
        # Keep a catching-up follower streaming, a few batches in flight (the link is
        # ordered; a lost or refused batch only costs a resend from the resume hint).
        window = self._config.max_entries_per_append * _CATCH_UP_BATCHES
        last = self._storage.last_index()
        while self._next[peer] <= last and self._next[peer] - 1 - index < window:
            before = self._next[peer]
            self._send_append(peer)
            if self._next[peer] == before:
                break  # a snapshot chunk: one at a time

    def _advance_commit(self) -> None:
        if self._role is not Role.LEADER:
            return
        own = min(self._durable, self._storage.last_index())
        marks = sorted(
            (own if v == self._id else self._match.get(v, 0) for v in self._membership.voters),
            reverse=True,
        )
        candidate = marks[self._quorum - 1]
        if candidate <= self._commit:
            return
        # D5 / Raft §5.4.2: only an entry of the current term commits by counting.
        if not self._config.any_term_commit and self._storage.term_at(candidate) != self._term:
            return
        self._commit = candidate
        self._apply_committed()
        self._broadcast_pending = True  # tell followers promptly (mosaik does too)
        self._check_reads()

    def _on_append_entries(self, sender: NodeId, request: AppendEntries) -> None:
        if self._role is Role.LEADER:
            # Two leaders in one term: mosaik's rival-leader detection campaigns anew.
            self._become_candidate()
            return
        if self._role is not Role.FOLLOWER:
            self._become_follower(self._term, request.leader)
        self._set_leader(request.leader)
        self._leader_contact = self._now
        self._reset_election_timer()

        prev, prev_term, entries = request.prev_index, request.prev_term, request.entries
        snapshot_index = self._storage.first_index() - 1
        if prev < snapshot_index:
            skip = snapshot_index - prev
            if skip >= len(entries):
                # Everything offered is already inside our (committed) snapshot.
                self._reply_append(sender, True, prev + len(entries), request.seq)
                return
            prev_term = entries[skip - 1].term
            entries = entries[skip:]
            prev = snapshot_index
        local_term = self._storage.term_at(prev)
        if local_term is None:
            self._reply_append(sender, False, self._storage.last_index(), request.seq)
            return
        if local_term != prev_term:
            if prev <= self._commit:
                self._emit(CommitConflict(prev))
                self._reply_append(sender, False, self._commit, request.seq)
                return
            # The entry at prev conflicts, so it is not committed: drop it and what
            # follows. Earlier entries of the same term may still match the leader's
            # (and may be committed), so keep them and only hint the leader to resume
            # from the start of that run; matching entries are then skipped.
            self._truncate(prev)
            start = prev
            while start - 1 > self._commit and self._storage.term_at(start - 1) == local_term:
                start -= 1
            self._reply_append(sender, False, start - 1, request.seq)
            return
        for offset, entry in enumerate(entries):
            index = prev + 1 + offset
            existing = self._storage.term_at(index)
            if existing == entry.term:
                continue
            if existing is not None:
                if index <= self._commit:
                    self._emit(CommitConflict(index))
                    self._reply_append(sender, False, self._commit, request.seq)
                    return
                self._truncate(index)
            self._storage.append(entries[offset:])
            self._dirty = True
            break
        matched = prev + len(entries)
        new_commit = min(request.leader_commit, matched)
        if new_commit > self._commit:
            self._commit = new_commit
            self._apply_committed()
        self._check_repaired()
        self._reply_append(sender, True, matched, request.seq)

    def _truncate(self, index: int) -> None:
        self._storage.truncate_from(index)
        self._dirty = True
        self._durable = min(self._durable, index - 1)

    def _reply_append(self, leader: NodeId, accepted: bool, last_index: int, seq: int) -> None:
        vote = Vote.GRANTED if self._is_voter else Vote.ABSTAINED
        self._send(leader, AppendEntriesResponse(self._term, vote, accepted, last_index, seq))

    def _on_install_snapshot(self, sender: NodeId, request: InstallSnapshot) -> None:
        if self._role is Role.LEADER:
            self._become_candidate()
            return
        if self._role is not Role.FOLLOWER:
            self._become_follower(self._term, request.leader)
        self._set_leader(request.leader)
        self._leader_contact = self._now
        self._reset_election_timer()
        if request.index > self._commit:
            data = self._receive_chunk(request)
            if data is None:
                received = len(self._snap_in[1]) if self._snap_in is not None else 0
                response = InstallSnapshotResponse(self._term, self._commit, request.seq, received)
                self._send(sender, response)
                return
            snapshot = Snapshot(request.index, request.snapshot_term, data)
            self._storage.save_snapshot(snapshot)
            self._dirty = True
            self._durable = min(self._durable, request.index)
            self._machine.restore(data)
            self._commit = self._applied = request.index
            self._recent.clear()
            for index in sorted(i for i in self._awaiting if i <= request.index):
                # Failing one request drops all its indices: look each up afresh.
                waiting = self._awaiting.get(index)
                if waiting is not None:
                    self._fail_command(waiting, FailReason.UNKNOWN)
            self._emit(CommitAdvanced(self._commit))
            self._check_repaired()
        matched = max(request.index, self._commit)
        self._send(sender, InstallSnapshotResponse(self._term, matched, request.seq))

    def _receive_chunk(self, request: InstallSnapshot) -> bytes | None:
        """Assemble a chunked snapshot; the whole of it once the last chunk is in.

        Chunks are matched by (index, snapshot term, leader term): one leader's
        snapshot at one index, so bytes of different encodings never mix.
        """
        if request.offset == 0 and request.done:
            self._snap_in = None
            return request.data
        key = (request.index, request.snapshot_term, request.term)
        if request.offset == 0 and (self._snap_in is None or self._snap_in[0] != key):
            self._snap_in = (key, bytearray())
        if self._snap_in is None or self._snap_in[0] != key:
            return None  # no start of this snapshot held: the leader starts over
        buffer = self._snap_in[1]
        if request.offset != len(buffer):
            return None  # duplicate or gap: the response says where we are
        buffer += request.data
        if not request.done:
            return None
        self._snap_in = None
        return bytes(buffer)

    # ------------------------------------------------------------ application

    def _apply_committed(self) -> None:
        if self._applied >= self._commit:
            return
        entries = self._storage.entries(self._applied + 1, self._commit)
        for entry in entries:
            index = self._applied + 1
            if entry.kind is EntryKind.COMMAND:
                ctx = ApplyContext(index=index, term=entry.term, committed=self._commit)
                result = self._machine.apply(entry.data, ctx)
            else:
                result = b""
            self._applied = index
            self._out.applied.append(Applied(index, entry.term, entry.kind, entry.data, result))
            self._remember(index, entry.term, result)
            request = self._awaiting.pop(index, None)
            if request is not None:
                self._resolve(request, index, entry.term, result)
        self._emit(CommitAdvanced(self._commit))
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        threshold = self._config.snapshot_threshold
        snapshot_index = self._storage.first_index() - 1
        if threshold and self._applied - snapshot_index >= threshold:
            term = self._storage.term_at(self._applied)
            assert term is not None
            self._storage.save_snapshot(Snapshot(self._applied, term, self._machine.snapshot()))
            self._dirty = True

    def _remember(self, index: int, term: int, result: bytes) -> None:
        self._recent[index] = (term, result)
        while len(self._recent) > _RECENT_RESULTS:
            self._recent.popitem(last=False)

    # --------------------------------------------------------- client requests

    def _new_request(self) -> int:
        request = self._next_request
        self._next_request += 1
        return request

    def _fresh_id(self, taken: Mapping[int, object]) -> int:
        while True:
            candidate = self._rng.getrandbits(63)
            if candidate not in taken:
                return candidate

    def _track(self, request: int, term: int, first: int, last: int) -> None:
        tracked = _Command(term, first, [None] * (last - first + 1))
        self._commands[request] = tracked
        for index in range(first, last + 1):
            if index <= self._applied:
                known = self._recent.get(index)
                if known is None:
                    self._fail_command(request, FailReason.UNKNOWN)
                    return
                self._resolve(request, index, known[0], known[1])
                if request not in self._commands:
                    return
            else:
                self._awaiting[index] = request

    def _resolve(self, request: int, index: int, term: int, result: bytes) -> None:
        tracked = self._commands.get(request)
        if tracked is None:
            return
        if term != tracked.term:
            self._fail_command(request, FailReason.LOST)
            return
        tracked.results[index - tracked.first] = result
        if all(r is not None for r in tracked.results):
            del self._commands[request]
            results = tuple(r for r in tracked.results if r is not None)
            last = tracked.first + len(results) - 1
            self._emit(CommandCommitted(request, tracked.first, last, results))

    def _fail_command(self, request: int, reason: FailReason) -> None:
        tracked = self._commands.pop(request, None)
        if tracked is None:
            return
        for offset in range(len(tracked.results)):
            if self._awaiting.get(tracked.first + offset) == request:
                del self._awaiting[tracked.first + offset]
        self._emit(CommandFailed(request, reason, maybe_applied=True))

    def _on_forward_command(self, sender: NodeId, message: ForwardCommand) -> None:
        if self._role is not Role.LEADER or not message.commands:
            if message.request_id is not None:
                self._send(sender, ForwardCommandAck(message.request_id, 0, 0, 0))
            return
        first, last = self._append_commands(message.commands)
        if message.request_id is not None:
            self._send(sender, ForwardCommandAck(message.request_id, self._term, first, last))

    def _on_forward_ack(self, ack: ForwardCommandAck) -> None:
        fwd = self._forwards.pop(ack.request_id, None)
        if fwd is None:
            return
        if ack.term == 0 or ack.last - ack.first + 1 != fwd.count:
            self._emit(CommandFailed(fwd.request, FailReason.REJECTED, maybe_applied=True))
            return
        self._emit(CommandAssigned(fwd.request, ack.term, ack.first, ack.last))
        self._track(fwd.request, ack.term, ack.first, ack.last)

    def _on_forward_query(self, sender: NodeId, message: ForwardQuery) -> None:
        if self._role is not Role.LEADER:
            self._send(sender, ForwardQueryResponse(message.request_id, False, b"", 0))
            return
        origin = (sender, message.request_id)
        self._add_read(_Read(message.query, None, origin, self._seq + 1, self._read_deadline()))

    def _on_forward_query_response(self, message: ForwardQueryResponse) -> None:
        pending = self._fwd_queries.pop(message.request_id, None)
        if pending is None:
            return
        request = pending[0]
        if message.ok:
            self._emit(QueryAnswered(request, message.result, message.position))
        else:
            self._emit(QueryFailed(request, FailReason.REJECTED))

    # ------------------------------------------------------- read-index reads

    def _read_deadline(self) -> int:
        return self._now + self._config.query_timeout_ms

    def _add_read(self, read: _Read) -> None:
        self._reads.append(read)
        self._broadcast_pending = True  # the confirming heartbeat round
        self._check_reads()

    def _check_reads(self) -> None:
        if self._role is not Role.LEADER or not self._reads:
            return
        if not self._config.any_term_commit and self._storage.term_at(self._commit) != self._term:
            return  # the leader's commit index is not yet known to be current
        marks = sorted(
            (
                self._seq if v == self._id else self._ack_seq.get(v, 0)
                for v in self._membership.voters
            ),
            reverse=True,
        )
        confirmed = marks[self._quorum - 1]
        waiting: list[_Read] = []
        for read in self._reads:
            if read.read_index is None:
                read.read_index = self._commit
            if read.seq <= confirmed and self._applied >= read.read_index:
                self._answer_read(read, True, self._machine.query(read.query))
            else:
                waiting.append(read)
        self._reads = waiting

    def _answer_read(self, read: _Read, ok: bool, result: bytes) -> None:
        if read.origin is not None:
            peer, request_id = read.origin
            self._send(peer, ForwardQueryResponse(request_id, ok, result, self._applied))
        elif read.request is not None:
            if ok:
                self._emit(QueryAnswered(read.request, result, self._applied))
            else:
                self._emit(QueryFailed(read.request, FailReason.REJECTED))

    def _fail_reads(self) -> None:
        reads, self._reads = self._reads, []
        for read in reads:
            self._answer_read(read, False, b"")

    def _expire_reads(self) -> None:
        expired = [r for r in self._reads if self._now >= r.deadline]
        if expired:
            self._reads = [r for r in self._reads if self._now < r.deadline]
            for read in expired:
                self._answer_read(read, False, b"")

    # ---------------------------------------------------------------- helpers

    def _advance(self, now_ms: int) -> None:
        self._now = max(self._now, now_ms)

    def _last_term(self) -> int:
        term = self._storage.term_at(self._storage.last_index())
        assert term is not None
        return term

    def _persist_hard_state(self) -> None:
        if not self._config.volatile_vote:
            self._storage.set_hard_state(HardState(self._term, self._voted_for, *self._repair))
            self._dirty = True

    def _reset_election_timer(self) -> None:
        self._election_at = self._now + self._config.election_timeout(self._rng, self._pref)

    def _set_role(self, role: Role) -> None:
        if role is not self._role:
            self._role = role
            self._emit(RoleChanged(role, self._term))

    def _set_leader(self, leader: NodeId | None) -> None:
        if leader != self._leader:
            self._leader = leader
            self._emit(LeaderChanged(leader, self._term))

    def _send(self, to: NodeId, message: Message) -> None:
        self._out.messages.append(Outgoing(to, message))

    def _emit(self, event: Event) -> None:
        self._out.events.append(event)


def _repair_storage(storage: LogStorage, damage: Damage) -> None:
    """Drop the damaged record and the log after it; remember what the log was.

    The repair point is the (last term, last index) of the log as it was: the
    last entry's term if it still verifies, else the current term (an upper
    bound: entries never carry a term above it), which only makes the vote
    guard stricter. Durable before the node does anything else.
    """
    hard = storage.hard_state()
    last = storage.last_index()
    if damage.record is Record.SNAPSHOT and last == 0:
        # The snapshot held the log's end: its separately stored index and term, or
        # else an unknown index (repaired only by an entry of a later term).
        last = damage.index or _UNKNOWN_INDEX
        last_term = damage.term or hard.term
    else:
        try:
            last_term = storage.term_at(last) or hard.term
        except StorageCorruptionError:
            last_term = hard.term
    point = max((hard.repair_term, hard.repair_index), (last_term, last))
    if damage.record is Record.ENTRY and damage.index > storage.first_index() - 1:
        storage.truncate_from(damage.index)
    else:
        storage.discard_log()
    storage.set_hard_state(HardState(hard.term, hard.voted_for, *point))
    storage.sync()
