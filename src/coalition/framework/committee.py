"""Running one committee member of an organism: group, public surface, request intake.

A member joins the organism's Raft group with a `SurfaceMachine`, publishes
every frame it applies on the public stream (and the newest one again at a
cadence, and its recent history whenever a new reader subscribes), and takes
write requests from the organism's request stream, gated by the organism's
TicketValidator. Every member executes every request it receives; the
machine's request memory makes that idempotent, and every member replies, so a
writer is answered as long as one member lives.

The leader also commits how many readers the surface has (stream subscribers
and log observers, by PeerId) whenever that changes, and every member
publishes the committed count on a public stream (``SurfaceIds.subscribers``)
that anyone may read: a watchdog needs no reader ticket to see it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pymosaik.groups.access import GroupAccess
from pymosaik.groups.driver import Group, GroupError, TicketSource
from pymosaik.groups.raft import Consistency, RaftConfig
from pymosaik.groups.storage.base import LogStorage
from pymosaik.groups.storage.memory import MemoryStorage
from pymosaik.groups.storage.sqlite import SqliteStorage, SyncStats
from pymosaik.network import Network
from pymosaik.primitives import DecodeError, UniqueId, Wire, decode, encode
from pymosaik.primitives.aio import TaskScope
from pymosaik.streams import Consumer, Producer
from pymosaik.streams.producer import ProducerError
from pymosaik.tickets import TicketRequirement, TicketValidator
from pymosaik.transport import EndpointAddr

from ..retirement import RetirementMarker
from .surface import (
    Frame,
    Published,
    Readers,
    Retire,
    SubscriberCount,
    SurfaceMachine,
    SurfaceResult,
    Wrapped,
)

__all__ = ["MEMBERS_ONLY", "PUBLIC_LOG", "CommitteeMember", "Reply", "Request", "SurfaceIds"]

#: A committee's group secret derives from public config, so by default only the
#: listed members bond: no observers, and no commands forwarded from outside.
MEMBERS_ONLY = GroupAccess(observers=False, forwarders=False)
#: Members bond by listing; anyone may replicate the log (for an organism whose log is all
#: public material, read by key through ``OrganismSpec.replica``); nobody forwards commands.
PUBLIC_LOG = GroupAccess(observers=True, forwarders=False)

#: How often a member looks for newly subscribed readers to replay history to.
HISTORY_POLL_S = 0.05
#: How often the leader compares the reader count it sees with the committed one (it also
#: bounds how fast reader churn can grow the log: at most one entry per look).
READERS_POLL_S = 0.5


class Request(Wire, frozen=True):
    """A write from outside the committee: a unique id and one inner command."""

    id: UniqueId
    command: bytes


class Reply(Wire, frozen=True):
    id: UniqueId
    ok: bool
    reason: str = ""
    result: bytes = b""


@dataclass(frozen=True)
class SurfaceIds:
    """The ids one organism derives from its Config; they never leave its package."""

    group_secret: UniqueId
    surface: UniqueId
    requests: UniqueId | None = None

    @classmethod
    def derive(cls, organism_id: UniqueId, *, writable: bool) -> SurfaceIds:
        return cls(
            organism_id.derive("committee"),
            organism_id.derive("surface"),
            organism_id.derive("requests") if writable else None,
        )

    @property
    def replies(self) -> UniqueId | None:
        return None if self.requests is None else self.requests.derive("replies")

    @property
    def subscribers(self) -> UniqueId:
        """The public stream of the surface's committed reader count (`SubscriberCount`)."""
        return self.surface.derive("subscribers")


@dataclass
class CommitteeMember:
    """One running member; ``close()`` stops it, ``retire()`` first commits the marker."""

    network: Network
    what: str
    ids: SurfaceIds
    machine: SurfaceMachine
    group: Group
    producer: Producer[Frame]
    republish_s: float
    requests: Consumer[Request] | None = None
    replies: Producer[Reply] | None = None
    counts: Producer[Frame] | None = None
    _scope: TaskScope = field(default_factory=lambda: TaskScope("committee member"))

    @classmethod
    def start(
        cls,
        network: Network,
        what: str,
        ids: SurfaceIds,
        machine: SurfaceMachine,
        committee: Sequence[EndpointAddr],
        *,
        data_dir: Path | None = None,
        storage: LogStorage | None = None,
        raft: RaftConfig | None = None,
        writers: TicketValidator | TicketRequirement | None = None,
        republish_s: float = 1.0,
        access: GroupAccess = MEMBERS_ONLY,
        tickets: TicketSource = (),
    ) -> CommitteeMember:
        """Join the committee group and open the public surface (and the intake if writable).

        ``access``/``tickets``: who may bond to the group as what, and what this
        member presents (`GroupAccess`; default `MEMBERS_ONLY`). ``writers`` gates
        the request stream, which is a separate door.
        """
        if storage is None:
            if data_dir is not None:
                data_dir.mkdir(parents=True, exist_ok=True)
                storage = SqliteStorage(data_dir / "raft.sqlite3")
            else:
                storage = MemoryStorage()
        producer = network.streams.producer(Frame, stream_id=ids.surface).build()
        requests = replies = None
        if ids.requests is not None and ids.replies is not None:
            builder = network.streams.consumer(Request, stream_id=ids.requests)
            if writers is not None:
                builder = builder.require_ticket(writers)
            requests = builder.build()
            # replies go only to peers who could have written: the same door as requests
            out = network.streams.producer(Reply, stream_id=ids.replies)
            if writers is not None:
                out = out.require_ticket(writers)
            replies = out.build()
        machine.on_frame = lambda frame: _offer(producer, frame)
        group = network.groups.join(
            ids.group_secret,
            machine,
            committee,
            storage=storage,
            config=raft,
            access=access,
            tickets=tickets,
        )
        counts = network.streams.producer(Frame, stream_id=ids.subscribers).build()
        member = cls(
            network, what, ids, machine, group, producer, republish_s, requests, replies, counts
        )
        member._scope.spawn(member._republish(), name=f"{what}:republish")
        member._scope.spawn(member._readership(), name=f"{what}:readers")
        member._scope.spawn(member._history(), name=f"{what}:history")
        if requests is not None:
            member._scope.spawn(member._intake(), name=f"{what}:intake")
        return member

    # ---- the committee's own commands ---------------------------------------
    async def execute(self, command: bytes, request: UniqueId | None = None) -> SurfaceResult:
        raw = await self.group.execute(encode(Wrapped(command, request)))
        return decode(raw, SurfaceResult)

    async def query(self, query: bytes, consistency: Consistency = Consistency.WEAK) -> bytes:
        return await self.group.query(query, consistency)

    async def retire(
        self, marker: RetirementMarker, successor_surface: UniqueId | None = None
    ) -> None:
        """Commit the retirement marker as the surface's last frame (idempotent)."""
        if self.machine.retired is not None:
            return
        raw = await self.group.execute(encode(Retire(marker, successor_surface)))
        decode(raw, SurfaceResult)  # ok, or "retired" when another member got there first
        last = self.machine.last_frame
        if last is not None:
            _offer(self.producer, last)

    # ---- background loops -----------------------------------------------------
    async def _republish(self) -> None:
        while True:
            await asyncio.sleep(self.republish_s)
            last = self.machine.last_frame
            if last is not None:
                _offer(self.producer, last)
            self._offer_count()

    def readers(self) -> int:
        """Distinct peers reading this surface from here: stream subscribers and observers."""
        peers = {c.consumer_id for c in self.producer.consumers() if c.is_connected}
        return len(peers | self.group.observers)

    async def _readership(self) -> None:
        """The leader commits the reader count when it changes; every member publishes it."""
        published: SubscriberCount | None = None
        while True:
            await asyncio.sleep(READERS_POLL_S)
            committed = self.machine.subscribers
            if self.group.is_leader:
                seen = self.readers()
                if committed is None or committed.count != seen:
                    with contextlib.suppress(GroupError, DecodeError):
                        decode(await self.group.execute(encode(Readers(seen))), SurfaceResult)
            if self.machine.subscribers != published:
                published = self._offer_count()

    def _offer_count(self) -> SubscriberCount | None:
        count = self.machine.subscribers
        if count is not None and self.counts is not None:
            frame = Frame(self.ids.subscribers, count.seq, Published(encode(count)))
            _offer(self.counts, frame)
        return count

    async def _history(self) -> None:
        """When a new reader subscribes, replay recent frames (readers drop duplicates).

        Compares the set of connected channels, not a count, so a departure and
        an arrival between two looks still count as an arrival.
        """
        known: set[tuple[bytes, int]] = set()
        while True:
            current = {
                (c.consumer_id.bytes, id(c)) for c in self.producer.consumers() if c.is_connected
            }
            if current - known:
                for frame in list(self.machine.recent):
                    _offer(self.producer, frame)
            known = current
            await asyncio.sleep(HISTORY_POLL_S)

    async def _intake(self) -> None:
        assert self.requests is not None
        assert self.replies is not None
        while (req := await self.requests.recv()) is not None:
            try:
                result = await self.execute(req.command, req.id)
            except (GroupError, DecodeError):
                continue  # no answer: the writer resends, another member may answer
            _offer(self.replies, Reply(req.id, result.ok, result.reason, result.result))

    # ---- status and shutdown ----------------------------------------------------
    def status(self) -> dict[str, object]:
        leader = self.group.leader
        return {
            "leader": leader.bytes.hex() if leader is not None else None,
            "is_leader": self.group.is_leader,
            "committed": self.group.node.commit_index,
            "applied": self.group.applied_index,
            "term": self.group.node.term,
            "bonds": len(self.group.links),
            "frames": self.machine.next_seq,
            # The public surface's stream: datums queued for the slowest reader, and datums
            # readers missed (a reader too slow is disconnected, or skipped and counted).
            "stream_lag": self.producer.lag(),
            "stream_dropped": self.producer.stats.dropped,
            "subscribers": self.machine.subscribers.count if self.machine.subscribers else 0,
            "retired": self.machine.retired is not None,
            # Messages from outsiders dropped before the log, by reason (decision 0012).
            "refused": dict(self.group.refused),
            # A damaged record found in the Raft log (the member dropped it and
            # catches up; see the runbook), and whether it is still catching up.
            "storage_fault": self.group.storage_fault,
            "repairing": self.group.repairing,
            # How long each durable commit (fsync) took, when the log is on disk.
            "fsync": fsync.as_json() if (fsync := _sync_stats(self.group)) is not None else None,
        }

    async def close(self) -> None:
        """Stop the loops, then the surfaces and the group; a loop's bug is raised last."""
        try:
            await self._scope.aclose()
        finally:
            await self._close_surfaces()

    async def _close_surfaces(self) -> None:
        if self.requests is not None:
            await self.requests.close()
        if self.replies is not None:
            await self.replies.close()
        if self.counts is not None:
            await self.counts.close()
        await self.producer.close()
        await self.group.close()


def _offer(producer: Producer[Frame] | Producer[Reply], item: Frame | Reply) -> None:
    """Best effort: a surface with no reader right now simply has nobody to tell."""
    with contextlib.suppress(ProducerError):
        producer.try_send(item)  # type: ignore[arg-type]


def _sync_stats(group: Group) -> SyncStats | None:
    storage = group.node.storage
    return storage.sync_stats if isinstance(storage, SqliteStorage) else None
