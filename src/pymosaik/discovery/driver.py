"""`Discovery`: the asyncio driver of `DiscoveryCore` over real links.

Each protocol exchange is a short-lived link on ``/mosaik/discovery/1.0``:
the dialler sends one message and, for a sync or a ping, reads one answer.
The link proves the sender's PeerId, which is what the core trusts for
replies (pongs, departures). The driver also implements the streams
`Directory` protocol, so producers and consumers see the catalog directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable
from typing import Final

from ..primitives import Clock, DecodeError, NetworkId, PeerId, UniqueId, decode
from ..primitives.aio import TaskScope, Watch
from ..tickets import Ticket
from ..transport import Endpoint, EndpointAddr, Link, LinkError, reasons
from .core import Departed, Discovered, DiscoveryConfig, DiscoveryCore, Send, Updated
from .entry import PeerEntry
from .log_limit import LogLimiter
from .messages import DISCOVERY_PROTOCOL, DiscoveryMessage, Ping, SyncRequest

__all__ = ["Discovery"]

EXCHANGE_TIMEOUT_S: Final = 5.0
MAX_IN_FLIGHT: Final = 32
#: Malformed-message lines per peer per interval; the rest are counted, not logged.
COMPLAINTS_PER_PEER: Final = 3
COMPLAINT_INTERVAL_MS: Final = 60_000
MAX_REASON_CHARS: Final = 200

log = logging.getLogger("pymosaik.discovery")


class Discovery:
    def __init__(
        self,
        endpoint: Endpoint,
        network_id: NetworkId,
        clock: Clock,
        *,
        config: DiscoveryConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.core = DiscoveryCore(
            endpoint.secret_key,
            network_id,
            [endpoint.socket_addr],
            clock.now_ms(),
            rng=rng or random.Random(),  # noqa: S311 - gossip peer choice, not security
            config=config,
        )
        self._watch = Watch()
        self._wake = asyncio.Event()
        self._scope = TaskScope("discovery")
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._closing = False
        self._complaints: LogLimiter[PeerId] = LogLimiter(
            COMPLAINTS_PER_PEER, COMPLAINT_INTERVAL_MS
        )
        endpoint.accept(DISCOVERY_PROTOCOL, self._accept)

    # ---- lifecycle ------------------------------------------------------------
    def start(self, bootstrap: Iterable[EndpointAddr | tuple[str, int]] = ()) -> None:
        self.core.bootstrap(bootstrap)
        self._scope.spawn(self._run(), name="discovery")

    async def aclose(self) -> None:
        """Announce a graceful departure (best effort, bounded), then stop every task."""
        if self._closing:
            return
        self._closing = True
        self.core.depart(self.clock.now_ms())
        if self._scope.active:
            departures = [self._scope.spawn(self._exchange(o)) for o in self._sends()]
            if departures:
                await asyncio.wait(departures, timeout=EXCHANGE_TIMEOUT_S)
        await self._scope.aclose()

    # ---- the loop -------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._dispatch()
            delay = max(0, self.core.next_deadline() - self.clock.now_ms()) / 1000
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self.core.tick(self.clock.now_ms())

    def _sends(self) -> list[Send]:
        sends = []
        for out in self.core.take_outputs():
            if isinstance(out, Send):
                sends.append(out)
            elif isinstance(out, Discovered | Updated | Departed):
                self._watch.bump()
        return sends

    def _dispatch(self) -> None:
        if self._closing:
            return
        for send in self._sends():
            self._scope.spawn(self._exchange(send))

    async def _exchange(self, send: Send) -> None:
        async with self._slots:
            try:
                async with asyncio.timeout(EXCHANGE_TIMEOUT_S):
                    link = await self.endpoint.connect(send.addr, DISCOVERY_PROTOCOL)
                try:
                    async with asyncio.timeout(EXCHANGE_TIMEOUT_S):
                        await link.send(send.message)
                        if isinstance(send.message, SyncRequest | Ping):
                            reply = await _recv_message(link)
                            self.core.on_message(link.peer_id, reply, self.clock.now_ms())
                except TimeoutError:
                    await link.close(reasons.TIMEOUT)
                    return
                except DecodeError as exc:
                    await self._reject(link, exc)
                    return
                finally:
                    await link.close()  # a no-op after the closes above
            except (LinkError, OSError, TimeoutError):
                return  # unreachable or misbehaving peer: TTLs and retries take care of it
        self._wake.set()

    async def _accept(self, link: Link) -> None:
        try:
            async with asyncio.timeout(EXCHANGE_TIMEOUT_S):
                msg = await _recv_message(link)
                reply = self.core.on_message(link.peer_id, msg, self.clock.now_ms())
                if reply is not None:
                    await link.send(reply)
        except TimeoutError:  # an idle (or stalled) dialler: tell it why it is dropped
            await link.close(reasons.TIMEOUT)
            return
        except DecodeError as exc:
            await self._reject(link, exc)
            return
        except LinkError:
            return
        self._wake.set()

    async def _reject(self, link: Link, exc: DecodeError) -> None:
        """Close with ProtocolViolation, as mosaik does, after one warning line;
        at most `COMPLAINTS_PER_PEER` lines per peer per interval (no traceback)."""
        logged, suppressed = self._complaints.admit(link.peer_id, self.clock.now_ms())
        if logged:
            reason = " ".join(str(exc).split())[:MAX_REASON_CHARS] or type(exc).__name__
            more = f" ({suppressed} more from this peer suppressed)" if suppressed else ""
            log.warning("discovery: malformed message from %s: %s%s", link.peer_id, reason, more)
        await link.close(reasons.PROTOCOL_VIOLATION)

    # ---- local entry ------------------------------------------------------------
    def _update(self, **changes: Iterable[UniqueId] | Iterable[Ticket]) -> None:
        self.core.update_local(self.clock.now_ms(), **changes)  # type: ignore[arg-type]
        self._watch.bump()
        self._wake.set()

    def set_tags(self, tags: Iterable[UniqueId]) -> None:
        self._update(tags=list(tags))

    def set_tickets(self, tickets: Iterable[Ticket]) -> None:
        self._update(tickets=list(tickets))

    def add_ticket(self, ticket: Ticket) -> None:
        self._update(tickets=[*self.core.local.tickets, ticket])

    def join_group(self, group_id: UniqueId) -> None:
        self._update(groups=[*self.core.local.groups, group_id])

    def leave_group(self, group_id: UniqueId) -> None:
        self._update(groups=[g for g in self.core.local.groups if g != group_id])

    # ---- streams Directory ------------------------------------------------------
    def get(self, peer_id: PeerId) -> PeerEntry | None:
        return self.core.catalog.get(peer_id)

    def local(self) -> PeerEntry:
        return self.core.local

    def peers(self) -> list[PeerEntry]:
        return list(self.core.catalog)

    @property
    def version(self) -> int:
        return self._watch.version

    async def changed(self, since: int) -> int:
        return await self._watch.changed(since)

    async def resync(self, peer: PeerId) -> None:
        entry = self.core.catalog.get(peer)
        if entry is None:
            return
        send = Send(peer, entry.addr, SyncRequest(self.core._sync_payload()))
        await self._exchange(send)
        self._dispatch()

    def advertise_stream(self, stream_id: UniqueId) -> None:
        self._update(streams=[*self.core.local.streams, stream_id])

    def withdraw_stream(self, stream_id: UniqueId) -> None:
        self._update(streams=[s for s in self.core.local.streams if s != stream_id])

    # ---- conveniences -----------------------------------------------------------
    async def until_known(self, count: int) -> None:
        """Wait until the catalog holds at least ``count`` other peers."""
        await self._watch.until(lambda: len(self.core.catalog) >= count)

    def rtt_ms(self, peer: PeerId) -> float | None:
        est = self.core.rtt.get(peer)
        return est.srtt if est else None


async def _recv_message(link: Link) -> DiscoveryMessage:
    """One strictly decoded protocol message; DecodeError otherwise (see `_reject`)."""
    raw = await link.recv_raw()
    msg: DiscoveryMessage = decode(raw, DiscoveryMessage)  # type: ignore[arg-type]
    return msg
