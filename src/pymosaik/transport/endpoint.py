"""`Endpoint`: a node's listening socket, its accept handlers and the links it owns.

mosaik's ``LocalNode`` + iroh ``Router`` in one asyncio object::

    async with Endpoint(secret_key, network_id) as ep:
        ep.accept("/mosaik/streams/1.0", serve_consumer)   # async (Link) -> None
        link = await ep.connect(peer_addr, "/mosaik/streams/1.0")

Every task the endpoint starts (handshakes, reader loops, handlers) lives in
its `TaskScope` and ends when the endpoint closes: live links are closed with
GracefulShutdown first. A handler owns its link for the handler's duration;
when it returns the link is closed with Success (if still open), when it
raises with UnexpectedClose and one logged line. Nothing a peer sends can
crash the endpoint; a bug in the endpoint's own code is not swallowed: it stops
the endpoint and ``aclose()`` raises it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Self

from pymosaik.primitives import NetworkId, PeerId, SecretKey
from pymosaik.primitives.aio import TaskScope

from .config import EndpointAddr, SocketAddr, TransportConfig
from .errors import LinkClosedError
from .identity import check_protocol_name
from .link import Link, _Socket, handshake
from .machine import InboundOpen, LinkMachine
from .reasons import (
    CANCELLED,
    GRACEFUL_SHUTDOWN,
    INVALID_ALPN,
    SUCCESS,
    UNEXPECTED_CLOSE,
    CloseReason,
)

__all__ = ["AcceptHandler", "Endpoint"]

log = logging.getLogger("pymosaik.transport")

#: Serves one inbound link of a protocol; the link closes when it returns.
AcceptHandler = Callable[[Link], Awaitable[None]]


class Endpoint:
    """Listens on ``host:port`` (default 127.0.0.1, ephemeral port) as ``key.peer_id``."""

    def __init__(
        self,
        key: SecretKey,
        network_id: NetworkId,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: TransportConfig | None = None,
    ) -> None:
        self._key = key
        self.network_id = network_id
        self.config = config or TransportConfig()
        self._host = host
        self._port = port
        self._handlers: dict[str, AcceptHandler] = {}
        self._links: set[Link] = set()
        self._scope = TaskScope("endpoint")
        self._server: asyncio.Server | None = None
        self._closing = False

    # ---- identity and address ---------------------------------------------------
    @property
    def peer_id(self) -> PeerId:
        return self._key.peer_id

    @property
    def secret_key(self) -> SecretKey:
        return self._key

    @property
    def socket_addr(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("endpoint is not listening")
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def addr(self) -> EndpointAddr:
        """This node's PeerId and listening address, for dialling and discovery."""
        return EndpointAddr.of(self.peer_id, self.socket_addr)

    @property
    def links(self) -> frozenset[Link]:
        """Links currently open (both directions)."""
        return frozenset(self._links)

    # ---- protocols ---------------------------------------------------------------
    def accept(self, protocol: str, handler: AcceptHandler) -> None:
        """Serve inbound links of ``protocol`` with ``handler`` (one protocol, one handler)."""
        check_protocol_name(protocol)
        if protocol in self._handlers:
            raise ValueError(f"protocol {protocol!r} already has a handler")
        self._handlers[protocol] = handler

    def _open_policy(self, request: InboundOpen) -> CloseReason | None:
        if self._closing:
            return GRACEFUL_SHUTDOWN
        if request.protocol not in self._handlers:
            return INVALID_ALPN
        return None

    # ---- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        """Start listening; the owner calls ``aclose()`` (or uses ``async with``)."""
        if self._server is not None or self._closing:
            raise RuntimeError("endpoint already started")
        self._server = await asyncio.start_server(self._on_client, self._host, self._port)

    @property
    def _running(self) -> bool:
        return self._server is not None and not self._closing and self._scope.active

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening, close every link with GracefulShutdown, end every task.

        Raises the endpoint's own bug, if one stopped it (see `TaskScope`).
        """
        if self._server is None or self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        links = list(self._links)
        if links:
            await asyncio.gather(*(link.close(GRACEFUL_SHUTDOWN) for link in links))
        try:
            await self._scope.aclose()
        finally:
            for link in list(self._links):  # opened after the snapshot above: release them
                link._sock.writer.transport.abort()
            self._links.clear()
            await self._server.wait_closed()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if not self._running:
            coro.close()
            raise RuntimeError("endpoint is not running") from self._scope.error
        self._scope.spawn(coro)

    # ---- dialling ------------------------------------------------------------------
    async def connect(
        self,
        addr: EndpointAddr | SocketAddr | tuple[str, int],
        protocol: str,
        *,
        expected: PeerId | None = None,
    ) -> Link:
        """Open a link speaking ``protocol``.

        Dialling an `EndpointAddr` verifies its PeerId; for a bare address pass
        ``expected`` to verify, or None to accept whoever answers (the link's
        ``peer_id`` is proven either way). Raises `LinkClosedError` with the
        peer's reason (DifferentNetwork, InvalidAlpn, …), `PeerMismatchError`,
        `TimeoutError`, or `OSError` when no address answers.
        """
        if not self._running:
            raise RuntimeError("endpoint is not running") from self._scope.error
        if isinstance(addr, EndpointAddr):
            expected = expected or addr.peer_id
            targets = [(a.host, a.port) for a in addr.addrs]
        elif isinstance(addr, SocketAddr):
            targets = [(addr.host, addr.port)]
        else:
            targets = [addr]
        if not targets:
            raise OSError("address has no socket addresses")
        errors: list[OSError] = []
        for host, port in targets:
            try:
                async with asyncio.timeout(self.config.handshake_timeout):
                    reader, writer = await asyncio.open_connection(host, port)
            except (OSError, TimeoutError) as exc:
                errors.append(OSError(f"{host}:{port}: {exc}"))
                continue
            return await self._dial(reader, writer, protocol, expected)
        raise OSError("; ".join(str(e) for e in errors))

    async def _dial(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        protocol: str,
        expected: PeerId | None,
    ) -> Link:
        machine = LinkMachine.initiator(
            self._key,
            self.network_id,
            protocol,
            random_bytes=self.config.random_bytes,
            expected_peer=expected,
            max_frame_size=self.config.max_frame_size,
        )
        sock = _Socket(machine, reader, writer, self.config)
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                established, after = await handshake(sock, None)
        except (LinkClosedError, TimeoutError, OSError):
            await sock.abandon(CANCELLED)
            raise
        except BaseException:
            writer.transport.abort()
            raise
        link = Link(sock, established, on_finished=self._links.discard)
        link.deliver(after)
        self._links.add(link)
        try:
            self._spawn(link.run())
        except RuntimeError:  # the endpoint closed during the handshake
            writer.transport.abort()
            raise
        return link

    # ---- accepting -----------------------------------------------------------------
    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._running:
            writer.close()
            return
        self._spawn(self._serve(reader, writer))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        machine = LinkMachine.responder(
            self._key,
            self.network_id,
            random_bytes=self.config.random_bytes,
            max_frame_size=self.config.max_frame_size,
        )
        sock = _Socket(machine, reader, writer, self.config)
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                established, after = await handshake(sock, self._open_policy)
        except (LinkClosedError, TimeoutError, OSError) as exc:
            log.debug("inbound handshake failed: %r", exc)
            await sock.abandon(CANCELLED)
            return
        except BaseException:  # cancelled (endpoint closing): release the socket now
            writer.transport.abort()
            raise
        link = Link(sock, established, on_finished=self._links.discard)
        link.deliver(after)
        self._links.add(link)
        try:
            self._spawn(link.run())
            handler = self._handlers[link.protocol]
            try:
                await handler(link)
            except LinkClosedError:
                pass
            except Exception as exc:
                # The peer's session failed, not the endpoint: one line, and the link says so.
                log.error(
                    "handler for %s from %s failed: %r",
                    link.protocol,
                    link.peer_id.short(),
                    exc,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                await link.close(UNEXPECTED_CLOSE)
            await link.close(SUCCESS)
        except BaseException:
            writer.transport.abort()
            raise
