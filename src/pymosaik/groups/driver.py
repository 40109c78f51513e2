"""The asyncio driver of a Raft group over transport links: bonds, the node loop, the API.

* **Bonds.** Members form a full mesh on ``/mosaik/groups/1``; the member with
  the smaller PeerId dials. Each side proves knowledge of the group secret
  bound to *this* link: ``proof = blake3_keyed(secret, domain ‖
  link.shared_random("mosaik.group.bond") ‖ group_id ‖ own PeerId)``, so a
  proof cannot be replayed on another link. Unknown group → ``GroupNotFound``,
  a non-member → ``NotAllowed``, a wrong proof → ``InvalidProof``. A dropped
  bond is re-dialled with backoff; Raft tolerates the messages lost meanwhile.
* **Tickets.** With ``require_ticket``, each side presents its tickets in the
  hello and the other validates them against the link's authenticated peer:
  no valid ticket → ``NotAllowed``; the bond is dropped when the validity
  lapses (re-dialling presents fresh tickets). Validator signatures enter the
  GroupId, so members that disagree on the requirement never bond.
* **Roles** (`GroupAccess`, groups/access.py). On top of ``require_ticket``:
  what a voter presents, who may observe, and which observers may forward
  commands. Every member gates a non-voter's Raft messages *before* its core
  sees them: a forwarded command without a writer ticket is answered "not
  appended" and never reaches the log; election or replication messages from
  a non-voter are dropped. ``Group.refused`` counts refusals per reason.
* **Observers.** A node joining with ``LeadershipPreference.observer()`` is not
  listed in ``members``: it dials every member, says so in its hello, and the
  members replicate to it as a non-voting learner (never counted in a quorum).
* **Loop.** One task per member feeds inbound Raft messages, client calls and
  timer ticks to the sans-IO `RaftNode`, takes its Ready, makes the step's
  writes durable in the group's own disk thread (``storage.sync()``: the fsync
  never runs on the event loop), calls ``advance()`` and only then sends the
  Ready's messages and resolves client futures. While a sync is in flight the
  loop task waits and nothing else touches the node or its storage: clients'
  calls queue (``_calls``) and inbound messages batch for the next step, while
  the event loop serves every other task. A leader's new entries go out while
  its own sync runs (``take_early_messages``). See docs/spec/raft.md, "Persistence".
* **Damaged storage.** A read that meets a damaged record raises
  `StorageCorruptionError` out of the core; the loop treats it as a crash: it
  logs the cause, fails what is pending, resets the state machine and starts a
  fresh `RaftNode` on the same storage, which drops the damage and catches up
  (docs/spec/raft.md). ``Group.storage_fault`` keeps the cause for status.
* **API.** ``execute`` (wait for results), ``feed`` (wait for log positions),
  ``query`` (weak or strong); failures raise `GroupError` with the reason and
  whether the command may still have been applied.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import blake3

from ..primitives import Clock, DecodeError, PeerId, SystemClock, UniqueId, Wire, encode, unique_id
from ..primitives.aio import TaskScope
from ..tickets import (
    NEVER,
    AllOf,
    Expiration,
    InvalidTicketError,
    Ticket,
    TicketRequirement,
    TicketValidator,
)
from ..transport import (
    CloseReason,
    Endpoint,
    EndpointAddr,
    Link,
    LinkClosedError,
    LinkError,
    reasons,
)
from .access import GroupAccess, TicketPolicy, refusal, requirement_parts
from .machine import StateMachine
from .raft import (
    CommandAssigned,
    CommandCommitted,
    CommandFailed,
    Consistency,
    FailReason,
    LeaderChanged,
    LeadershipPreference,
    Membership,
    Outgoing,
    QueryAnswered,
    QueryFailed,
    RaftConfig,
    RaftNode,
    decode_message,
    encode_message,
)
from .raft.messages import ForwardCommand, ForwardCommandAck
from .storage.base import LogStorage
from .storage.integrity import StorageCorruptionError
from .storage.memory import MemoryStorage

__all__ = [
    "GROUPS_PROTOCOL",
    "Group",
    "GroupAccess",
    "GroupBuilder",
    "GroupError",
    "GroupWhen",
    "Groups",
    "derive_group_id",
]

GROUPS_PROTOCOL: Final = "/mosaik/groups/1"
_log = logging.getLogger(__name__)
_PROOF_DOMAIN: Final = b"mosaik.group.bond.proof.v1|"
BOND_TIMEOUT_S: Final = 5.0


class BondHello(Wire, frozen=True):
    group_id: UniqueId
    proof: bytes
    #: The sender joins as an observer (not in the members' list; never votes).
    observer: bool
    #: The sender's tickets, validated by a peer whose group requires tickets.
    tickets: tuple[Ticket, ...]


#: The tickets this node presents: fixed, or read afresh for each bond (renewals).
TicketSource = Sequence[Ticket] | Callable[[], Sequence[Ticket]]


class GroupError(Exception):
    """A command or query that did not complete; ``maybe_applied`` says if it may have.

    When the commands certainly never reached the log (``maybe_applied`` is
    False, e.g. the group is offline or closed), ``commands`` hands them back
    so the caller can resubmit them elsewhere — mosaik's errors do the same.
    """

    def __init__(
        self, reason: FailReason, maybe_applied: bool, commands: tuple[bytes, ...] = ()
    ) -> None:
        super().__init__(f"group request failed: {reason.value}")
        self.reason = reason
        self.maybe_applied = maybe_applied
        self.commands = commands


def derive_group_id(
    secret: UniqueId,
    config: RaftConfig,
    machine: StateMachine,
    validator_signatures: Sequence[UniqueId] = (),
) -> UniqueId:
    """mosaik's chain: secret, consensus digest, state-machine signature, validators.

    The secret enters hashed, so the id (public: it is announced in discovery)
    commits to it without revealing it. See docs/spec/groups.md.
    """
    consensus = encode(
        (
            config.heartbeat_interval_ms,
            config.election_timeout_ms,
            config.bootstrap_delay_ms,
            config.max_entries_per_append,
            config.snapshot_threshold,
        )
    )
    gid = unique_id("mosaik.groups.v1").derive(secret.hashed().bytes)
    gid = gid.derive(UniqueId.hash(consensus).bytes).derive(machine.signature().bytes)
    for sig in validator_signatures:
        gid = gid.derive(sig.bytes)
    return gid


def _proof(secret: UniqueId, link: Link, group_id: UniqueId, prover: PeerId) -> bytes:
    binding = link.shared_random("mosaik.group.bond").bytes
    hasher = blake3.blake3(
        _PROOF_DOMAIN + binding + group_id.bytes + prover.bytes, key=secret.bytes
    )
    proof: bytes = hasher.digest()
    return proof


class _Wakeup:
    """Wakes the node loop on input or at a deadline.

    One future and one timer handle per wait: the loop runs once per message
    batch, and ``asyncio.wait`` over fresh tasks cost more than the Raft step.
    """

    __slots__ = ("_flag", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._flag = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._flag = False

    async def wait(self, timeout: float) -> None:
        """Return once set (at once if set since the last ``clear``) or after ``timeout`` s."""
        if self._flag:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass
class _Pending:
    future: asyncio.Future[object]
    kind: str  # "execute" | "feed" | "query"


#: A client's step on the core, run by the node loop: (node, now_ms) -> request id.
_Step = Callable[[RaftNode, int], int]


@dataclass
class _Call:
    """A client request waiting for the node loop (only the loop steps the core)."""

    step: _Step
    kind: str
    future: asyncio.Future[object]
    #: What a failure to step (damaged storage) says about the command.
    maybe_applied: bool


@dataclass
class Group:
    """One member of one group on this node."""

    groups: Groups
    group_id: UniqueId
    secret: UniqueId
    members: dict[PeerId, EndpointAddr]
    node: RaftNode
    clock: Clock
    links: dict[PeerId, Link] = field(default_factory=dict)
    _inbox: deque[tuple[PeerId, bytes]] = field(default_factory=deque)
    _wake: _Wakeup = field(default_factory=_Wakeup)
    _pending: dict[int, _Pending] = field(default_factory=dict)
    _calls: deque[_Call] = field(default_factory=deque)
    #: The one thread that makes this group's storage durable (created on first use).
    _disk: concurrent.futures.ThreadPoolExecutor | None = None
    _scope: TaskScope = field(default_factory=lambda: TaskScope("group"))
    _leader_changed: asyncio.Event = field(default_factory=asyncio.Event)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False
    #: Every part must pass for a peer to bond (empty: no tickets needed).
    requirements: tuple[TicketRequirement, ...] = ()
    tickets: TicketSource = ()
    preference: LeadershipPreference = field(default_factory=LeadershipPreference.normal)
    #: Until when each bonded peer's tickets are valid.
    bond_expiry: dict[PeerId, Expiration] = field(default_factory=dict)
    #: Per-role rules: voters' tickets, who may observe, which observers may forward.
    access: GroupAccess = field(default_factory=GroupAccess)
    #: Until when each bonded observer's forwarded commands may reach the log.
    write_expiry: dict[PeerId, Expiration] = field(default_factory=dict)
    #: Non-voter messages this member refused, by reason (groups/access.py).
    refused: Counter[str] = field(default_factory=Counter)
    #: Why each member we dial refused our last attempt (e.g. ``NotAllowed``); cleared on bonding.
    bond_refusals: dict[PeerId, CloseReason] = field(default_factory=dict)
    #: The last damaged record this member found in its storage (None: none found).
    storage_fault: str | None = None
    #: The state machine's image before anything was applied: a restart starts here.
    initial_state: bytes = b""

    # ---- client API ------------------------------------------------------------
    @property
    def peer_id(self) -> PeerId:
        return self.groups.endpoint.peer_id

    @property
    def leader(self) -> PeerId | None:
        lead = self.node.leader
        return PeerId(lead) if lead is not None else None

    @property
    def is_leader(self) -> bool:
        return self.node.is_leader

    @property
    def is_observer(self) -> bool:
        return self.preference.is_observer

    @property
    def observers(self) -> frozenset[PeerId]:
        """Observers currently bonded to this member (they replicate, never vote)."""
        return frozenset(
            PeerId(n) for n in self.node.membership.observers if n != self.node.node_id
        )

    @property
    def applied_index(self) -> int:
        return self.node.applied_index

    @property
    def repairing(self) -> bool:
        """Catching up after dropping damaged storage (votes guarded, no campaigns)."""
        return self.node.repairing

    async def execute(self, command: bytes) -> bytes:
        """Commit ``command`` and return the state machine's result."""
        results = await self.execute_many([command])
        return results[0]

    async def execute_many(self, commands: Sequence[bytes]) -> tuple[bytes, ...]:
        try:
            result = await self._request(_submit(commands), "execute", maybe_applied=True)
        except GroupError as exc:
            raise _handing_back(exc, commands) from None
        assert isinstance(result, tuple)
        return result

    async def feed(self, command: bytes) -> int:
        """Append ``command``; return its log index once assigned (not yet committed)."""
        try:
            result = await self._request(_submit([command]), "feed", maybe_applied=True)
        except GroupError as exc:
            raise _handing_back(exc, [command]) from None
        assert isinstance(result, int)
        return result

    def when(self) -> GroupWhen:
        """Conditions to wait for: ``await group.when().committed_reaches(i)`` and friends."""
        return GroupWhen(self)

    async def query(self, query: bytes, consistency: Consistency = Consistency.STRONG) -> bytes:
        result = await self._request(
            lambda node, now: node.query(query, consistency, now), "query", maybe_applied=False
        )
        assert isinstance(result, bytes)
        return result

    async def when_leader_known(self) -> PeerId:
        while self.node.leader is None:
            self._leader_changed.clear()
            await self._leader_changed.wait()
        leader = self.leader
        assert leader is not None
        return leader

    async def _request(self, step: _Step, kind: str, *, maybe_applied: bool) -> object:
        if self._closed:
            raise GroupError(FailReason.OFFLINE, False)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._calls.append(_Call(step, kind, future, maybe_applied))
        self._wake.set()
        return await future

    # ---- the node loop ---------------------------------------------------------
    def start(self) -> None:
        self._spawn(self._guarded_run())
        for peer, addr in self.members.items():
            if peer != self.peer_id and (self.is_observer or self.peer_id < peer):
                self._spawn(self._dial(peer, addr))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._scope.spawn(coro)

    async def _guarded_run(self) -> None:
        """A bug in the loop must not leave clients waiting forever: fail them, loudly.

        The error then stops the group's other tasks and ``close()`` raises it.
        """
        try:
            await self._run()
        except Exception as exc:
            _log.error("group %s: node loop crashed: %r", self.group_id.short(), exc)
            self._closed = True
            self._fail_waiting()
            raise

    def _fail_waiting(self) -> None:
        """The member is gone: fail every caller, queued or waiting for its outcome."""
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(GroupError(FailReason.OFFLINE, True))
        self._pending.clear()
        while self._calls:
            call = self._calls.popleft()
            if not call.future.done():
                call.future.set_exception(GroupError(FailReason.OFFLINE, False))

    async def _run(self) -> None:
        inbox, calls = self._inbox, self._calls
        while True:
            if not inbox and not calls:
                delay = max(0, self.node.next_deadline() - self.clock.now_ms()) / 1000
                await self._wake.wait(delay)
            self._wake.clear()  # what arrived so far is handled below
            try:
                while calls:
                    self._step_call(calls.popleft())
                while inbox:
                    self._receive(*inbox.popleft())
                now = self.clock.now_ms()
                if now >= self.node.next_deadline():
                    self.node.tick(now)
                await self._flush_ready()
            except StorageCorruptionError as exc:
                self._storage_failed(exc)

    def report_damage(self) -> None:
        """Say loudly what the node's start found damaged and dropped (if anything)."""
        damage = self.node.damage
        if damage is not None:
            self.storage_fault = str(damage)
            _log.error(
                "group %s: %s; dropped it and the log after it, catching up from peers "
                "(no campaigns, guarded votes until repaired)",
                self.group_id.short(),
                damage,
            )

    def _storage_failed(self, exc: StorageCorruptionError) -> None:
        """A read met a damaged record: void this node, as a crash, and start it afresh.

        The store rolled back the step's writes and nothing of the step was sent
        (``take_ready()`` never returned), so this is a crash and restart; the fresh
        node scans the storage, drops the damage and catches up from the peers.
        """
        _log.error(
            "group %s: %s; restarting the member from its storage", self.group_id.short(), exc
        )
        self.storage_fault = str(exc)
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(GroupError(FailReason.OFFLINE, True))
        self._pending.clear()
        old = self.node
        old.machine.restore(self.initial_state)
        self.node = RaftNode(
            old.node_id,
            old.membership,
            old.storage,
            old.machine,
            rng=random.Random(),  # noqa: S311 - timer jitter, not security
            now_ms=self.clock.now_ms(),
            config=old.config,
            preference=self.preference,
        )
        self.report_damage()
        self._leader_changed.set()
        self._wake.set()

    def _step_call(self, call: _Call) -> None:
        if call.future.done():
            return  # the caller gave up while queued
        try:
            request = call.step(self.node, self.clock.now_ms())
        except StorageCorruptionError:
            call.future.set_exception(GroupError(FailReason.OFFLINE, call.maybe_applied))
            raise
        self._pending[request] = _Pending(call.future, call.kind)

    def _receive(self, sender: PeerId, raw: bytes) -> None:
        try:
            message = decode_message(raw)
        except DecodeError:
            link = self.links.pop(sender, None)
            if link is not None:
                self._spawn(link.close(reasons.PROTOCOL_VIOLATION))
            return
        now = self.clock.now_ms()
        if sender.bytes not in self.node.membership.voters:
            write = self.write_expiry.get(sender)
            may_write = write is not None and not write.is_expired(now)
            why = refusal(message, may_write=may_write, term=self.node.term)
            if why is not None:
                self._refuse(sender, message, why)
                return
        self.node.receive(sender.bytes, message, now)

    def _refuse(self, sender: PeerId, message: object, why: str) -> None:
        """Drop a non-voter's message before the core; a forwarder hears "not appended"."""
        self.refused[why] += 1
        _log.debug("group %s: refused %s: %s", self.group_id.short(), sender.short(), why)
        if isinstance(message, ForwardCommand) and message.request_id is not None:
            link = self.links.get(sender)
            if link is not None and not link.is_closed:
                with contextlib.suppress(LinkError):
                    link.feed_raw(encode_message(ForwardCommandAck(message.request_id, 0, 0, 0)))
                    self._spawn(_flush(link))

    async def _flush_ready(self) -> None:
        """Readies until the node has none: persist off the loop, ``advance``, then act."""
        self._progress.set()  # wake `when()` waiters: the node may have moved on
        node = self.node
        while True:
            # A leader's AppendEntries go out while its own fsync runs (the core
            # counts the leader toward a commit only after ``advance()``), so the
            # followers' disk writes overlap the leader's instead of following it.
            early = node.take_early_messages()
            ready = node.take_ready()
            synced = self._sync(node.storage) if ready.persist else None
            if early:
                await self._send_all(early)
            if synced is not None:
                await synced
            node.advance()
            resolved = False
            for event in ready.events:
                resolved = self._on_event(event) or resolved
            if resolved and ready.messages:
                # Let the callers we just answered run before the (durable, but not
                # urgent) commit notices go out: a local client need not wait for them.
                await asyncio.sleep(0)
            await self._send_all(ready.messages)
            if not node.has_ready():
                return

    def _sync(self, storage: LogStorage) -> asyncio.Future[None]:
        """Run ``storage.sync()`` in this group's disk thread; the loop stays free meanwhile.

        The loop task touches neither the node nor its storage until this
        completes, so the connection has one user at a time (the loop between
        syncs, the disk thread during one).
        """
        if self._disk is None:
            self._disk = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"raft-disk-{self.group_id.short()}"
            )
        return asyncio.wrap_future(self._disk.submit(storage.sync))

    async def _send_all(self, messages: Sequence[Outgoing]) -> None:
        touched: set[Link] = set()
        for out in messages:
            link = self.links.get(PeerId(out.to))
            if link is None or link.is_closed:
                continue  # not bonded right now: Raft retries
            with contextlib.suppress(LinkError):
                link.feed_raw(encode_message(out.message))
                touched.add(link)
        for link in touched:
            with contextlib.suppress(LinkError, OSError):
                await link.flush()

    def _on_event(self, event: object) -> bool:
        """Hand ``event`` to the caller waiting for it; True if a caller was answered."""
        if isinstance(event, LeaderChanged):
            self._leader_changed.set()
            return False
        request = getattr(event, "request", None)
        pending = self._pending.get(request) if isinstance(request, int) else None
        if pending is None:
            return False
        fut = pending.future
        if fut.done():  # the caller gave up (cancelled or timed out): nobody to tell
            del self._pending[request]  # type: ignore[arg-type]
            return False
        if isinstance(event, CommandAssigned) and pending.kind == "feed":
            fut.set_result(event.first)
        elif isinstance(event, CommandCommitted) and pending.kind == "execute":
            fut.set_result(event.results)
        elif isinstance(event, QueryAnswered):
            fut.set_result(event.result)
        elif isinstance(event, CommandFailed):
            fut.set_exception(GroupError(event.reason, event.maybe_applied))
        elif isinstance(event, QueryFailed):
            fut.set_exception(GroupError(event.reason, False))
        else:
            return False
        del self._pending[request]  # type: ignore[arg-type]
        return True

    # ---- bonds ---------------------------------------------------------------
    async def _dial(self, peer: PeerId, addr: EndpointAddr) -> None:
        rng = random.Random()  # noqa: S311 - backoff jitter
        backoff = 0.05
        while True:
            if peer not in self.links:
                try:
                    async with asyncio.timeout(BOND_TIMEOUT_S):
                        link = await self.groups.endpoint.connect(addr, GROUPS_PROTOCOL)
                        await link.send(self._hello(link))
                        hello = await link.recv(BondHello)
                    expires = self._admit(link, hello, observer=False)
                    if hello.proof != _proof(self.secret, link, self.group_id, peer):
                        await link.close(reasons.INVALID_PROOF)
                    elif hello.observer or expires is None:
                        await link.close(reasons.GROUP_NOT_ALLOWED)
                    else:
                        self.bond_refusals.pop(peer, None)
                        await self._bonded(peer, link, expires)
                        backoff = 0.05
                        continue
                except LinkClosedError as exc:
                    if exc.by_peer:
                        self.bond_refusals[peer] = exc.reason
                except (LinkError, OSError, TimeoutError):
                    pass
            await asyncio.sleep(rng.uniform(0, backoff))
            backoff = min(backoff * 2, 2.0)

    async def accept_bond(self, link: Link, hello: BondHello) -> None:
        peer = link.peer_id
        # Members are listed; observers are not and say so. Observers accept no bonds.
        listed = peer in self.members
        if self.is_observer or listed == hello.observer:
            await link.close(reasons.GROUP_NOT_ALLOWED)
            return
        if hello.proof != _proof(self.secret, link, self.group_id, peer):
            await link.close(reasons.INVALID_PROOF)
            return
        expires = self._admit(link, hello, observer=hello.observer)
        if expires is None:
            await link.close(reasons.GROUP_NOT_ALLOWED)
            return
        await link.send(self._hello(link))
        if hello.observer:
            writes = self.access.admit_forwarder(hello.tickets, link, self.clock.now_ms())
            if writes is None:
                self.write_expiry.pop(peer, None)
            else:
                self.write_expiry[peer] = writes
            if self.node.add_observer(peer.bytes):
                self._wake.set()
        await self._bonded(peer, link, expires)

    def _hello(self, link: Link) -> BondHello:
        tickets = self.tickets() if callable(self.tickets) else self.tickets
        return BondHello(
            self.group_id,
            _proof(self.secret, link, self.group_id, self.peer_id),
            self.is_observer,
            tuple(tickets),
        )

    def _admit(self, link: Link, hello: BondHello, *, observer: bool) -> Expiration | None:
        """Until when the peer's hello tickets admit it in its role; None: refuse."""
        now = self.clock.now_ms()
        admit = self.access.admit_observer if observer else self.access.admit_voter
        role = admit(hello.tickets, link, now)
        if role is None or not self.requirements:
            return role
        try:
            expires = AllOf(*self.requirements).evaluate(hello.tickets, link, now)
        except InvalidTicketError:
            return None
        return None if expires.is_expired(now) else min(expires, role)

    async def _bonded(self, peer: PeerId, link: Link, expires: Expiration = NEVER) -> None:
        """Own the bond until it closes (or its tickets lapse): read Raft messages."""
        old = self.links.get(peer)
        self.links[peer] = link
        self.bond_expiry[peer] = expires
        if old is not None and old is not link:
            self._spawn(old.close(reasons.ALREADY_BONDED))
        watch = None if expires.is_never else asyncio.ensure_future(self._expire(link, expires))
        try:
            while True:
                for raw in await link.recv_raw_many():
                    self._inbox.append((peer, raw))
                self._wake.set()
        except LinkError:
            pass
        finally:
            if watch is not None:
                watch.cancel()
            if self.links.get(peer) is link:
                del self.links[peer]
                self.bond_expiry.pop(peer, None)
                self.write_expiry.pop(peer, None)
                if peer not in self.members and self.node.remove_observer(peer.bytes):
                    self._wake.set()

    async def _expire(self, link: Link, expires: Expiration) -> None:
        """mosaik: a bond lives only as long as the peer's tickets."""
        while True:
            remaining = expires.remaining_ms(self.clock.now_ms())
            if remaining is None:
                break
            await asyncio.sleep(remaining / 1000 + 0.001)
        with contextlib.suppress(LinkError):
            await link.close(reasons.GROUP_NOT_ALLOWED)

    async def close(self) -> None:
        """Leave the group: stop the loop, close every bond, fail what is pending.

        Raises the node loop's crash, if it had one, after all of that is done.
        """
        self._closed = True
        # Snapshot the bonds first: cancelling a bond's task drops it from ``links``.
        links = list(self.links.values())
        try:
            await self._scope.aclose()
        finally:
            await self._release(links)

    async def _release(self, links: list[Link]) -> None:
        for link in links:
            with contextlib.suppress(LinkError):
                await link.close(reasons.GRACEFUL_SHUTDOWN)
        self._fail_waiting()
        self.groups._groups.pop(self.group_id, None)
        if self._disk is not None:
            # A sync in flight when the loop was cancelled finishes before the store closes.
            await asyncio.to_thread(self._disk.shutdown)
        self.node.storage.close()


class Groups:
    """Per-node registry of joined groups and the ``/mosaik/groups/1`` acceptor."""

    def __init__(self, endpoint: Endpoint, clock: Clock | None = None) -> None:
        self.endpoint = endpoint
        self.clock = clock or SystemClock()
        self._groups: dict[UniqueId, Group] = {}
        endpoint.accept(GROUPS_PROTOCOL, self._accept)

    def with_key(self, secret: UniqueId) -> GroupBuilder:
        """Start mosaik's builder: ``with_key(k).with_state_machine(m)...join()``."""
        return GroupBuilder(self, secret)

    def join(
        self,
        secret: UniqueId,
        machine: StateMachine,
        members: Sequence[EndpointAddr],
        *,
        storage: LogStorage | None = None,
        config: RaftConfig | None = None,
        seed: int | None = None,
        preference: LeadershipPreference | None = None,
        require_ticket: TicketPolicy | None = None,
        tickets: TicketSource = (),
        access: GroupAccess | None = None,
    ) -> Group:
        """Join (or re-join after a restart, with the same durable ``storage``).

        ``preference``: ``normal()`` (default), ``reluctant(k)`` (k× slower to
        campaign) or ``observer()`` — then this node must not be in ``members``; it
        bonds to them, replicates and answers weak queries, never votes or leads.
        ``require_ticket``: validator(s) every bonded peer's hello tickets must
        pass; ``tickets``: what this node presents (a callable is read per bond).
        ``access``: per-role rules on top of that (`GroupAccess`; default: any
        observer, and observers may forward commands).
        """
        config = config or RaftConfig()
        preference = preference or LeadershipPreference.normal()
        me = self.endpoint.peer_id
        addrs = {a.peer_id: a for a in members}
        if preference.is_observer:
            if me in addrs:
                raise ValueError("an observer must not be listed among the members")
            if not addrs:
                raise ValueError("an observer needs members to follow")
        elif me not in addrs:
            addrs[me] = self.endpoint.addr
        parts = requirement_parts(require_ticket)
        access = access or GroupAccess()
        signatures = [p.signature() for p in parts] + access.signatures()
        group_id = derive_group_id(secret, config, machine, signatures)
        if group_id in self._groups:
            raise ValueError("this node already joined that group")
        prefs = {p.bytes: LeadershipPreference.normal() for p in addrs}
        if preference.is_observer:
            prefs[me.bytes] = preference
        initial_state = machine.snapshot()  # before the node restores its own snapshot
        node = RaftNode(
            me.bytes,
            Membership.of(prefs),
            storage or MemoryStorage(),
            machine,
            rng=random.Random(seed),  # noqa: S311 - timer jitter, not security
            now_ms=self.clock.now_ms(),
            config=config,
            preference=preference,
        )
        group = Group(
            self,
            group_id,
            secret,
            addrs,
            node,
            self.clock,
            requirements=parts,
            tickets=tickets,
            preference=preference,
            access=access,
            initial_state=initial_state,
        )
        group.report_damage()
        self._groups[group_id] = group
        group.start()
        return group

    async def _accept(self, link: Link) -> None:
        try:
            async with asyncio.timeout(BOND_TIMEOUT_S):
                hello = await link.recv(BondHello)
        except (LinkError, TimeoutError):
            return
        group = self._groups.get(hello.group_id)
        if group is None:
            await link.close(reasons.GROUP_NOT_FOUND)
            return
        await group.accept_bond(link, hello)

    async def aclose(self) -> None:
        """Close every group, even when one raises (the first error then propagates)."""
        async with contextlib.AsyncExitStack() as stack:
            for group in list(self._groups.values()):
                stack.push_async_callback(group.close)


async def _flush(link: Link) -> None:
    with contextlib.suppress(LinkError, OSError):
        await link.flush()


def _submit(commands: Sequence[bytes]) -> _Step:
    batch = list(commands)
    return lambda node, now: node.submit(batch, now)


def _handing_back(exc: GroupError, commands: Sequence[bytes]) -> GroupError:
    if exc.maybe_applied or exc.commands:
        return exc
    return GroupError(exc.reason, False, tuple(commands))


class GroupWhen:
    """Awaitable conditions on one group member (mosaik's ``group.when()``)."""

    def __init__(self, group: Group) -> None:
        self._group = group

    async def _until(self, predicate: Callable[[], bool]) -> None:
        group = self._group
        while not predicate():
            if group._closed:
                raise GroupError(FailReason.OFFLINE, False)
            group._progress.clear()
            await group._progress.wait()

    async def leader_elected(self) -> PeerId:
        """Some leader is known (returns it)."""
        await self._until(lambda: self._group.leader is not None)
        leader = self._group.leader
        assert leader is not None
        return leader

    async def leader_changed(self, since: PeerId | None) -> PeerId:
        """A leader other than ``since`` is known (returns it)."""
        await self._until(lambda: self._group.leader not in (None, since))
        leader = self._group.leader
        assert leader is not None
        return leader

    async def online(self) -> None:
        """This member can serve: it leads, or it is bonded to the known leader."""

        def serving() -> bool:
            g = self._group
            lead = g.leader
            return lead is not None and (lead == g.peer_id or lead in g.links)

        await self._until(serving)

    async def committed_reaches(self, index: int) -> None:
        """The commit index learned by this member is at least ``index``."""
        await self._until(lambda: self._group.node.commit_index >= index)

    async def applied_reaches(self, index: int) -> None:
        """This member's state machine has applied up to ``index``."""
        await self._until(lambda: self._group.applied_index >= index)


class GroupBuilder:
    """``net.groups.with_key(k).with_state_machine(m).with_members(a).join()`` (mosaik's shape)."""

    def __init__(self, groups: Groups, secret: UniqueId) -> None:
        self._groups = groups
        self._secret = secret
        self._machine: StateMachine | None = None
        self._members: list[EndpointAddr] = []
        self._storage: LogStorage | None = None
        self._config: RaftConfig | None = None
        self._preference: LeadershipPreference | None = None
        self._require: list[TicketValidator | TicketRequirement] = []
        self._tickets: TicketSource = ()
        self._access: GroupAccess | None = None

    def with_state_machine(self, machine: StateMachine) -> GroupBuilder:
        self._machine = machine
        return self

    def with_members(self, members: Sequence[EndpointAddr]) -> GroupBuilder:
        self._members = list(members)
        return self

    def with_storage(self, storage: LogStorage) -> GroupBuilder:
        self._storage = storage
        return self

    def with_config(self, config: RaftConfig) -> GroupBuilder:
        self._config = config
        return self

    def with_preference(self, preference: LeadershipPreference) -> GroupBuilder:
        self._preference = preference
        return self

    def require_ticket(self, validator: TicketValidator | TicketRequirement) -> GroupBuilder:
        self._require.append(validator)
        return self

    def with_tickets(self, tickets: TicketSource) -> GroupBuilder:
        self._tickets = tickets
        return self

    def with_access(self, access: GroupAccess) -> GroupBuilder:
        """Per-role rules: voters' tickets, who may observe, who may forward commands."""
        self._access = access
        return self

    def join(self) -> Group:
        if self._machine is None:
            raise ValueError("a group needs a state machine: call with_state_machine() first")
        return self._groups.join(
            self._secret,
            self._machine,
            self._members,
            storage=self._storage,
            config=self._config,
            preference=self._preference,
            require_ticket=list(self._require) or None,
            tickets=self._tickets,
            access=self._access,
        )
