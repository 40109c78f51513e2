"""The top-up agent on the network: the thin asyncio driver of `TopUpAgent`.

Every ``tick_s`` the driver steps the agent with the wall clock, the caller's load and the
grants seen so far on the Compute surface. A request the agent makes is paid through the
caller's ``pay`` (an EVM payment: `EvmSettlement.pay` or a wallet; it blocks, so the step runs
in a worker thread — the driver awaits it, so the agent is never touched from two threads at
once), then sent sealed through the module's shuffle. When one of its requests is granted the
driver waits for the provider's receipt on the reply board and opens it with the request's
one-time key. The decisions are the agent's; this module only moves bytes and time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coalition.config import CoalitionConfig
from coalition.crypto.reply import ReplyError
from coalition.framework.reader import SurfaceReader
from coalition.organism import OrganismConfig
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import DecodeError, decode, encode
from pymosaik.primitives.aio import TaskScope
from pymosaik.transport import EndpointAddr

from ..reply_board import ReplyBoard, ReplyReader
from ..shuffle_service import Shuffle, ShuffleClient
from .items import ComputeGrant, ComputeRequest, request_id
from .module import Compute, ComputeEvent
from .private import compute_shuffle
from .provider import Receipt
from .topup import TopUpAgent

__all__ = ["Submitted", "TopUpDriver"]

log = logging.getLogger("organisms.compute.topup")


@dataclass(frozen=True)
class Submitted:
    request: ComputeRequest
    at_ms: int


class TopUpDriver:
    """Use `start`; `close` stops the agent (it keeps what it was granted)."""

    def __init__(
        self,
        agent: TopUpAgent,
        decisions: SurfaceReader[ComputeEvent],
        client: ShuffleClient,
        replies: ReplyReader,
        *,
        pay: Callable[[int], bytes],
        load: Callable[[], float],
        tick_s: float,
        receipt_timeout_s: float,
    ) -> None:
        self.agent = agent
        self._decisions = decisions
        self._client, self._replies = client, replies
        self._pay, self._load = pay, load
        self._tick_s, self._receipt_timeout_s = tick_s, receipt_timeout_s
        #: Every grant seen on the Compute surface, by request id (what the agent steps on).
        self.grants: dict[bytes, ComputeGrant] = {}
        #: This agent's requests the committee refused, with the reason.
        self.refused: dict[bytes, str] = {}
        self.submitted: list[Submitted] = []
        #: Opened receipts of this agent's grants, by request id.
        self.receipts: dict[bytes, Receipt] = {}
        self._scope = TaskScope("top-up driver")

    @classmethod
    async def start(
        cls,
        network: Network,
        coalition: CoalitionConfig,
        agent: TopUpAgent,
        *,
        pay: Callable[[int], bytes],
        load: Callable[[], float],
        board: OrganismConfig,
        board_committee: Sequence[EndpointAddr],
        raft: RaftConfig | None = None,
        tick_s: float = 0.25,
        timeout_s: float = 30.0,
    ) -> TopUpDriver:
        """Connect to the module's shuffle (`ConnectTimeout` for a wrong Config; ValueError
        when the module runs none), the Compute surface and the reply board, then run."""
        shuffle = compute_shuffle(coalition)
        if shuffle is None:
            raise ValueError("the Compute module runs no shuffle: set shuffle = true")
        client = await Shuffle.client(network, shuffle, timeout_s=timeout_s)
        decisions = Compute.read(network, coalition, timeout_s=timeout_s)
        replies = ReplyBoard.read(network, board, board_committee, raft=raft)
        driver = cls(
            agent,
            decisions,
            client,
            replies,
            pay=pay,
            load=load,
            tick_s=tick_s,
            receipt_timeout_s=timeout_s,
        )
        driver._scope.spawn(driver._watch(), name="topup:grants")
        driver._scope.spawn(driver._tick(), name="topup:tick")
        return driver

    async def _watch(self) -> None:
        async for event in self._decisions:
            for grant in event.grants:
                self.grants[grant.request_id] = grant
                if grant.request_id in self.agent.tickets:
                    self._scope.spawn(self._open(grant.request_id), name="topup:receipt")
            for refusal in event.refusals:
                if refusal.request_id in self.agent.tickets:
                    self.refused[refusal.request_id] = refusal.reason
                    log.info("request %s refused: %s", refusal.request_id.hex()[:12],
                             refusal.reason)  # fmt: skip

    async def _tick(self) -> None:
        while True:
            now = int(time.time() * 1000)
            grants = dict(self.grants)  # a snapshot: the watcher adds while the step runs
            try:
                requests = await asyncio.to_thread(
                    self.agent.step, now, self._load(), grants, self._pay, set(self.refused)
                )
            except Exception as exc:  # a failed payment: the agent spent nothing, try next tick
                log.warning("top-up step failed: %r", exc)
                requests = []
            for req in requests:
                self._client.submit(encode(req))
                self.submitted.append(Submitted(req, now))
                log.info(
                    "requested %s (budget left %d)", request_id(req).hex()[:12], self.agent.budget
                )
            await asyncio.sleep(self._tick_s)

    async def _open(self, rid: bytes) -> None:
        try:
            sealed = await self._replies.reply(
                self.agent.tickets[rid], timeout_s=self._receipt_timeout_s
            )
            self.receipts[rid] = decode(sealed, Receipt)
        except (TimeoutError, ReplyError, DecodeError) as exc:  # the grant stands; say so
            log.warning("grant %s: no receipt opened: %r", rid.hex()[:12], exc)

    @property
    def exhausted(self) -> bool:
        """The budget covers no further grant and nothing is waiting to be cleared."""
        return self.agent.budget < self.agent.policy.max_price and not self.agent.pending

    async def close(self) -> None:
        try:
            await self._scope.aclose()
        finally:
            for h in (self._decisions, self._client, self._replies):
                await h.close()
