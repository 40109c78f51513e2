"""Feed: the smallest standalone organism — an ordered, ticketed stream of operator events.

It stands in for any member that publishes facts (an oracle's observations,
a lattice's block headers): a committee orders writes, readers get each item
once and in order, writers must hold a ticket the organism's ACL accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from coalition.acl_validator import AclContext
from coalition.framework import CommitteeMember, SurfaceIds, SurfaceWriter
from coalition.framework.spec import OrganismSpec
from coalition.organism import OrganismConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import DecodeError, UniqueId, Wire, decode, encode
from pymosaik.tickets import TicketValidator
from pymosaik.transport import EndpointAddr

__all__ = ["FEED", "Feed", "FeedItem", "FeedMachine", "FeedWriter"]

MAX_PAYLOAD = 64 * 1024


class FeedItem(Wire, frozen=True):
    seq: int
    payload: bytes
    #: The writer's clock when it submitted (advisory, like every timestamp here).
    at_ms: int


class _Post(Wire, frozen=True):
    payload: bytes
    at_ms: int


class _Image(Wire, frozen=True):
    next_seq: int


class FeedMachine:
    def __init__(self) -> None:
        self.next_seq = 0

    def signature(self) -> UniqueId:
        return UniqueId.from_parts(b"organisms.feed.v1")

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        try:
            post = decode(command, _Post, max_size=MAX_PAYLOAD + 64)
        except DecodeError:
            return b""
        item = FeedItem(self.next_seq, post.payload, post.at_ms)
        self.next_seq += 1
        return encode(item)

    def query(self, query: bytes) -> bytes:
        return encode(self.next_seq)

    def snapshot(self) -> bytes:
        return encode(_Image(self.next_seq))

    def restore(self, data: bytes) -> None:
        self.next_seq = decode(data, _Image).next_seq


#: The declaration every verb comes from: ids and name from the OrganismConfig.
FEED: OrganismSpec[OrganismConfig, FeedItem] = OrganismSpec(
    "feed",
    FeedItem,
    lambda cfg: SurfaceIds.derive(cfg.organism_id(), writable=True),
    lambda cfg: f"feed {cfg.name!r}",
    acl=lambda cfg: cfg.acl,
)


class Feed:
    """``Feed.member(...)`` runs the committee; ``Feed.read`` / ``Feed.publish`` are the verbs."""

    read = FEED.read

    @staticmethod
    def member(
        network: Network,
        cfg: OrganismConfig,
        committee: Sequence[EndpointAddr],
        *,
        writers: TicketValidator | None = None,
        acl_context: AclContext | None = None,
        data_dir: Path | None = None,
        raft: RaftConfig | None = None,
    ) -> CommitteeMember:
        """Start one member. Writers are ``writers`` if given, else whoever passes the
        Config's ACL (evaluated with ``acl_context``'s lookups)."""
        return FEED.committee(
            network,
            cfg,
            FeedMachine(),
            lambda result: [result] if result else [],
            committee,
            data_dir=data_dir,
            raft=raft,
            writers=writers,
            acl_context=acl_context,
        )

    @staticmethod
    def publish(network: Network, cfg: OrganismConfig) -> FeedWriter:
        return FeedWriter(FEED.writer(network, cfg))


class FeedWriter:
    def __init__(self, writer: SurfaceWriter) -> None:
        self.writer = writer

    async def post(self, payload: bytes, at_ms: int, *, timeout_s: float = 10.0) -> int:
        """Commit one event; its sequence number in the feed."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"a feed payload is at most {MAX_PAYLOAD} bytes")
        raw = await self.writer.submit(encode(_Post(payload, at_ms)), timeout_s=timeout_s)
        return decode(raw, FeedItem).seq

    async def close(self) -> None:
        await self.writer.close()
