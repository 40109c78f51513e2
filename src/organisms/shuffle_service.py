"""The shuffle deployed: one committee runs a zipnet server and an unseal member side by side.

``Shuffle.member`` starts both on one network, and feeds the unseal core the sealed boxes of
every round its *own* zipnet replica finalized (never a broadcast someone else relays), so a
round opens only when t members extracted the same boxes. ``await Shuffle.client`` is the
submitter's side: the committee key from the unseal surface, a zipnet `Submitter`, and
`SealClient`'s sealing and salted commitment. ``Shuffle.read`` yields UnsealedPool entries.
The aggregator is zipnet's (`Zipnet.aggregator`): untrusted for anonymity, one per deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.group import Entropy
from coalition.framework.reader import SelectedReader
from coalition.keygen import DEFAULT_DEADLINES, Deadlines, KeygenSecrets
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives.aio import TaskScope
from pymosaik.tickets import TicketRequirement, TicketValidator
from pymosaik.transport import EndpointAddr

from .shuffle import SealClient, ShuffleConfig, Submission, boxes_from_broadcast
from .unseal.items import PoolEntry, UnsealedRound, UnsealEvent
from .unseal.organism import UNSEAL, Unseal, UnsealServer
from .zipnet.client import Receipt
from .zipnet.organism import Submitter, Zipnet, ZipnetServer

__all__ = ["PoolReader", "Shuffle", "ShuffleClient", "ShuffleMember"]

#: UnsealedPool entries, in slot order.
PoolReader = SelectedReader[UnsealEvent, UnsealedRound]


def _entry(event: UnsealEvent) -> UnsealedRound | None:
    return event.entry if isinstance(event, PoolEntry) else None


def _sub(data_dir: Path | None, name: str) -> Path | None:
    return None if data_dir is None else data_dir / name


@dataclass
class ShuffleMember:
    cfg: ShuffleConfig
    zipnet: ZipnetServer
    unseal: UnsealServer
    scope: TaskScope = field(default_factory=lambda: TaskScope("shuffle member"))

    def start(self) -> None:
        self.scope.spawn(self._feed_unseal(), name="shuffle:feed")

    async def _feed_unseal(self) -> None:
        group, seen = self.zipnet.committee.group, 0
        while True:
            applied = group.applied_index
            history = self.zipnet.machine.history
            if history and history[-1].round > seen:  # most applied commands finalize nothing
                for record in list(history):
                    if record.round > seen:
                        seen = record.round
                        self.unseal.observe(
                            record.round, boxes_from_broadcast(self.cfg.zipnet, record)
                        )
            await group.when().applied_reaches(applied + 1)

    def status(self) -> dict[str, object]:
        current = self.zipnet.machine.current
        unseal = self.unseal.status()
        return {
            **self.zipnet.status(),
            **unseal,
            "participants": len(current.clients) if current else 0,
            # finalized rounds carrying requests that unseal has not opened yet
            "unseal_lag": unseal["unseal_pending"],
        }

    async def close(self) -> None:
        try:
            await self.scope.aclose()
        finally:
            with contextlib.suppress(Exception):
                await self.unseal.close()
            await self.zipnet.close()


@dataclass
class ShuffleClient:
    """Seals requests to the committee key and sends them through zipnet."""

    cfg: ShuffleConfig
    submitter: Submitter
    group_key: bytes
    sealer: SealClient

    def capacity(self) -> int:
        return self.sealer.capacity()

    def submit(self, body: bytes) -> Submission:
        """Seal ``body`` and queue it; keep the `Submission` (commitment, reply ticket)."""
        return self.sealer.submit(body, self.group_key)

    async def receipt(self) -> Receipt:
        return await self.submitter.receipt()

    async def close(self) -> None:
        await self.submitter.close()


class Shuffle:
    """The verbs of a zipnet + unseal pair named by one `ShuffleConfig`."""

    @staticmethod
    def member(
        network: Network,
        cfg: ShuffleConfig,
        committee: Sequence[EndpointAddr],
        *,
        dh: X25519PrivateKey,
        secrets: KeygenSecrets,
        aggregators: TicketValidator | TicketRequirement | None = None,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        data_dir: Path | None = None,
        raft: RaftConfig | None = None,
        period_ms: int = 1_000,
        deadline_ms: int = 5_000,
        private: bool = False,
    ) -> ShuffleMember:
        """``private``: opened requests stay inside the committee (`Unseal.member`)."""
        zipnet = Zipnet.member(
            network,
            cfg.zipnet,
            committee,
            dh=dh,
            aggregators=aggregators,
            data_dir=_sub(data_dir, "zipnet"),
            raft=raft,
            period_ms=period_ms,
            deadline_ms=deadline_ms,
        )
        unseal = Unseal.member(
            network,
            cfg.unseal,
            committee,
            secrets=secrets,
            deadlines=deadlines,
            data_dir=_sub(data_dir, "unseal"),
            raft=raft,
            private=private,
        )
        member = ShuffleMember(cfg, zipnet, unseal)
        member.start()
        return member

    @staticmethod
    async def client(
        network: Network,
        cfg: ShuffleConfig,
        *,
        dh: X25519PrivateKey | None = None,
        timeout_s: float = 10.0,
        entropy: Entropy = os.urandom,
        producers: TicketValidator | None = None,
    ) -> ShuffleClient:
        """A client once both committees answer; `ConnectTimeout` for a wrong Config.
        ``producers`` authenticates the committee: without it the key is whoever's answers
        first on the public surface ids (`Unseal.group_key`)."""
        key, submitter = await asyncio.gather(
            Unseal.group_key(network, cfg.unseal, timeout_s=timeout_s, producers=producers),
            Zipnet.submit(network, cfg.zipnet, dh=dh, timeout_s=timeout_s, producers=producers),
            return_exceptions=True,
        )
        if isinstance(key, BaseException) or isinstance(submitter, BaseException):
            if isinstance(submitter, Submitter):
                await submitter.close()
            raise key if isinstance(key, BaseException) else submitter  # type: ignore[misc]
        return ShuffleClient(
            cfg, submitter, key, SealClient(cfg, submitter.client, entropy=entropy)
        )

    @staticmethod
    def read(
        network: Network,
        cfg: ShuffleConfig,
        *,
        timeout_s: float = 10.0,
        producers: TicketValidator | None = None,
    ) -> PoolReader:
        reader = UNSEAL.read(network, cfg.unseal, timeout_s=timeout_s, producers=producers)
        return SelectedReader(reader, _entry)
