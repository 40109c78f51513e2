"""The reply board: sealed answers to shuffled requests, keyed by reply tag (D6's reply path).

A request that went through a shuffle carries a one-time X25519 reply key and a random reply
tag (`coalition.crypto.reply`). The organism that answers seals its reply to that key (HPKE
base mode) and puts it on the board under the tag; only the submitter, holding the
`ReplyTicket`, knows which tag is its own and can open what is there. The board is a keyed
`Registry`: a reader replicates the whole board, so the committee cannot tell which reply a
reader is waiting for; the writers are the answering organisms (by ticket or the Config's ACL).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from coalition.acl_validator import AclContext
from coalition.crypto.reply import ReplyTicket, SealedRequest, open_reply, seal_reply
from coalition.framework import CommitteeMember
from coalition.organism import OrganismConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.tickets import TicketValidator
from pymosaik.transport import EndpointAddr

from .registry import Registry, RegistryEntry, RegistryReader, RegistryWriter

__all__ = ["ReplyBoard", "ReplyPublisher", "ReplyReader"]


def _key(tag: bytes) -> str:
    if len(tag) != 32:
        raise ValueError("a reply tag is 32 bytes")
    return tag.hex()


class ReplyPublisher:
    """An answering organism's side: seal to the request's reply key, post under its tag."""

    def __init__(self, writer: RegistryWriter) -> None:
        self.writer = writer

    async def answer(self, request: SealedRequest, body: bytes, *, timeout_s: float = 10.0) -> int:
        """Seal ``body`` for ``request``'s submitter and post it; its board sequence number."""
        return await self.post(request.reply_tag, seal_reply(request, body), timeout_s=timeout_s)

    async def post(self, tag: bytes, sealed: bytes, *, timeout_s: float = 10.0) -> int:
        """Post an answer already sealed to its requester (``seal_to``) under ``tag``."""
        entry = RegistryEntry(sealed, int(time.time() * 1000))
        return await self.writer.put(_key(tag), entry, timeout_s=timeout_s)

    async def close(self) -> None:
        await self.writer.close()


class ReplyReader:
    """The submitter's side: the whole board replicated, its own reply opened."""

    def __init__(self, reader: RegistryReader) -> None:
        self.reader = reader

    async def reply(self, ticket: ReplyTicket, *, timeout_s: float = 30.0) -> bytes:
        """The opened reply for ``ticket`` (waits for it); `TimeoutError` if none comes,
        `ReplyError` if what is posted under its tag does not open with its key."""
        key, entries = _key(ticket.tag), self.reader.entries
        async with asyncio.timeout(timeout_s):
            await self.reader.ready(timeout_s)
            waiting = entries.when()
            found = entries.get(key)
            while found is None:  # not posted yet (or removed): the next version
                found = (await waiting.updated(key)).value
        return open_reply(ticket, found.data)

    async def close(self) -> None:
        await self.reader.close()


class ReplyBoard:
    """``member`` runs the board's committee; ``publish`` and ``read`` are the two sides."""

    @staticmethod
    def member(
        network: Network,
        cfg: OrganismConfig,
        committee: Sequence[EndpointAddr],
        *,
        writers: TicketValidator | None = None,
        acl_context: AclContext | None = None,
        raft: RaftConfig | None = None,
    ) -> CommitteeMember:
        return Registry.member(
            network, cfg, committee, writers=writers, acl_context=acl_context, raft=raft
        )

    @staticmethod
    def publish(network: Network, cfg: OrganismConfig) -> ReplyPublisher:
        return ReplyPublisher(Registry.publish(network, cfg))

    @staticmethod
    def read(
        network: Network,
        cfg: OrganismConfig,
        committee: Sequence[EndpointAddr],
        *,
        raft: RaftConfig | None = None,
    ) -> ReplyReader:
        return ReplyReader(Registry.read(network, cfg, committee, raft=raft))
