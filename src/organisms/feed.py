"""Feed: the smallest standalone organism — an ordered, ticketed stream of operator events.

It stands in for any member that publishes facts (an oracle's observations,
a lattice's block headers): a committee orders writes, readers get each item
once and in order, writers must hold a ticket the organism's ACL accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from coalition.framework import (
    CommitteeMember,
    SurfaceIds,
    SurfaceMachine,
    SurfaceReader,
    SurfaceWriter,
)
from coalition.organism import OrganismConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import DecodeError, UniqueId, Wire, decode, encode
from pymosaik.tickets import TicketValidator
from pymosaik.transport import EndpointAddr

__all__ = ["Feed", "FeedItem", "FeedMachine", "FeedWriter"]

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


def _ids(cfg: OrganismConfig) -> SurfaceIds:
    return SurfaceIds.derive(cfg.organism_id(), writable=True)


def _what(cfg: OrganismConfig) -> str:
    return f"feed {cfg.name!r}"


class Feed:
    """``Feed.member(...)`` runs the committee; ``Feed.read`` / ``Feed.publish`` are the verbs."""

    @staticmethod
    def member(
        network: Network,
        cfg: OrganismConfig,
        committee: Sequence[EndpointAddr],
        *,
        writers: TicketValidator | None = None,
        data_dir: Path | None = None,
        raft: RaftConfig | None = None,
    ) -> CommitteeMember:
        machine = FeedMachine()
        surface = SurfaceMachine(_ids(cfg).surface, machine, lambda r: [r] if r else [])
        return CommitteeMember.start(
            network,
            _what(cfg),
            _ids(cfg),
            surface,
            committee,
            data_dir=data_dir,
            raft=raft,
            writers=writers,
        )

    @staticmethod
    def read(
        network: Network,
        cfg: OrganismConfig,
        *,
        timeout_s: float = 10.0,
        follow_successors: bool = False,
    ) -> SurfaceReader[FeedItem]:
        return SurfaceReader.of(
            network,
            _what(cfg),
            _ids(cfg).surface,
            FeedItem,
            timeout_s=timeout_s,
            follow_successors=follow_successors,
        )

    @staticmethod
    def publish(network: Network, cfg: OrganismConfig) -> FeedWriter:
        return FeedWriter(SurfaceWriter(network, _what(cfg), _ids(cfg)))


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
