"""A provider on the network: it watches the Compute surface for its grants and runs them.

`ProviderAgent` is the provider's side of the v0.6 flow over real links: each grant naming
this provider is run by its `LocalProvider` (the image's hash checked before start, duration
and resource limits enforced, the TDX measurement matched where the grant expects one) in a
worker thread; the provider-signed `ComputeLog` is committed through the Compute intake, and
the receipt — already HPKE-sealed to the requester's reply key under the request id — is
posted on a reply board, where only the requester can open it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from coalition.config import CoalitionConfig
from coalition.framework.errors import OrganismError
from coalition.organism import OrganismConfig
from pymosaik.network import Network
from pymosaik.primitives.aio import TaskScope
from pymosaik.tickets import TicketValidator

from ..reply_board import ReplyBoard
from .items import ComputeGrant
from .module import Compute
from .private import compute_replies
from .provider import Handled, LocalProvider

__all__ = ["ProviderAgent"]

log = logging.getLogger("organisms.compute.agent")


class ProviderAgent:
    def __init__(
        self,
        network: Network,
        coalition: CoalitionConfig,
        provider: LocalProvider,
        *,
        board: OrganismConfig | None = None,
        timeout_s: float = 30.0,
        producers: TicketValidator | None = None,
    ) -> None:
        """``board``: where receipts go; by default the module's own (`compute_replies`).
        ``producers``: whose grants to believe (``committee_members(coalition, COMPUTE,
        operator)``); without it, whoever publishes on the Compute surface's ids."""
        board = board or compute_replies(coalition)
        if board is None:
            raise ValueError("the Compute module runs no shuffle, so no reply board: give one")
        self.provider = provider
        self._decisions = Compute.read(network, coalition, timeout_s=timeout_s, producers=producers)
        self._writer = Compute.publish(network, coalition)
        self._board = ReplyBoard.publish(network, board)
        self._seen: set[bytes] = set()
        self.handled: list[Handled] = []
        self._scope = TaskScope("provider agent")
        self._scope.spawn(self._run(), name="provider:grants")

    async def _run(self) -> None:
        # every decision as it comes, with no connect deadline: a provider registered on an
        # idle committee may wait longer than any timeout for its first grant
        async for event in self._decisions:
            mine = [g for g in event.grants if g.provider == self.provider.provider_id]
            for grant in mine:
                if grant.request_id not in self._seen:
                    self._seen.add(grant.request_id)
                    await self._serve(grant)

    async def _serve(self, grant: ComputeGrant) -> None:
        now = int(time.time() * 1000)
        try:
            out = await asyncio.to_thread(
                self.provider.handle, grant, max(now, grant.valid_from_ms)
            )
        except Exception as exc:
            log.warning("grant %s: could not run: %r", grant.request_id.hex()[:12], exc)
            return
        self.handled.append(out)
        log.info("grant %s: %s", grant.request_id.hex()[:12], out.reason)
        try:
            if out.log is not None:
                await self._writer.append_log(out.log)
            if out.receipt is not None:
                await self._board.post(grant.request_id, out.receipt)
        except OrganismError as exc:  # the next grant still gets served
            log.warning("grant %s: not recorded: %s", grant.request_id.hex()[:12], exc)

    async def close(self) -> None:
        try:
            await self._scope.aclose()
        finally:
            for h in (self._decisions, self._writer, self._board):
                await h.close()
