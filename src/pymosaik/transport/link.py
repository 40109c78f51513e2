"""`Link`: the asyncio driver of one established `LinkMachine` (mosaik's ``Link<P>``).

A link is one TCP connection speaking one protocol between two proven PeerIds.
Its reader task (owned by the `Endpoint`'s TaskGroup) feeds the socket into
the machine; ``send``/``recv``/``close`` are the application's side. Messages
that arrived before a peer's Close stay readable; after them ``recv`` raises
`LinkClosedError` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from pymosaik.primitives import DecodeError, NetworkId, PeerId, UniqueId, decode, encode

from .config import TransportConfig
from .errors import LinkClosedError, PeerMismatchError
from .identity import export_secret
from .machine import Closed, Established, Event, InboundOpen, LinkMachine, Message
from .reasons import (
    CANCELLED,
    PROTOCOL_VIOLATION,
    SUCCESS,
    UNEXPECTED_CLOSE,
    UNEXPECTED_PEER,
    CloseReason,
)

__all__ = ["Link"]

T = TypeVar("T")
log = logging.getLogger("pymosaik.transport")

#: Decides an inbound protocol request: return None to accept or a reason to refuse.
OpenPolicy = Callable[[InboundOpen], CloseReason | None]


class _Socket:
    """The byte pipe under a machine, with the close choreography in one place."""

    __slots__ = ("config", "eof", "machine", "reader", "writer")

    def __init__(
        self,
        machine: LinkMachine,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        config: TransportConfig,
    ) -> None:
        self.machine = machine
        self.reader = reader
        self.writer = writer
        self.config = config
        self.eof = False

    def flush(self) -> None:
        """Write whatever the machine has queued; after a close also half-close."""
        data = self.machine.data_to_send()
        writer = self.writer
        if writer.is_closing():
            return
        if data:
            writer.write(data)
        if self.machine.is_closed and writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()

    async def read(self) -> list[Event]:
        try:
            data = await self.reader.read(self.config.read_chunk)
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return self.machine.receive_eof()
        return self.machine.receive_data(data)

    async def drain(self) -> None:
        await self.writer.drain()

    async def abandon(self, reason: CloseReason) -> None:
        """Give up on a link that never opened: tell the peer if we can, then release."""
        self.machine.close(reason)  # no-op if the machine already closed
        self.flush()
        await self.finish()

    async def finish(self) -> None:
        """Wait (bounded) for the peer to end its side, then release the socket.

        Closing a socket with unread input sends RST, which can destroy our Close
        frame in flight; reading to EOF first lets the peer see the reason.
        """
        if self.machine.has_keys and not self.eof:
            try:
                async with asyncio.timeout(self.config.close_timeout):
                    while await self.reader.read(self.config.read_chunk):
                        pass
            except (TimeoutError, OSError):
                pass
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def handshake(sock: _Socket, policy: OpenPolicy | None) -> tuple[Established, list[Event]]:
    """Drive ``sock.machine`` to Established; return it and any events that followed.

    Raises `LinkClosedError` (or `PeerMismatchError`) if the link closes first;
    the caller owns the socket either way.
    """
    machine = sock.machine
    sock.flush()
    while True:
        events = await sock.read()
        established: Established | None = None
        after: list[Event] = []
        for event in events:
            if established is not None:
                after.append(event)
            elif isinstance(event, InboundOpen):
                refusal = policy(event) if policy is not None else None
                if refusal is None:
                    established = machine.accept()
                else:
                    machine.reject(refusal)
                    sock.flush()
                    raise LinkClosedError(refusal, by_peer=False, detail=event.protocol)
            elif isinstance(event, Established):
                established = event
            elif isinstance(event, Closed):
                sock.flush()
                expected = machine.expected_peer
                if event.reason == UNEXPECTED_PEER and expected and machine.peer_id:
                    raise PeerMismatchError(expected, machine.peer_id)
                raise LinkClosedError(event.reason, by_peer=event.by_peer, detail=event.detail)
        sock.flush()
        await sock.drain()
        if established is not None:
            return established, after


class Link:
    """An authenticated, encrypted, framed, bidirectional message channel.

    ``peer_id`` is the peer's proven identity; ``channel_binding`` the Noise
    handshake hash both ends share. Obtain links from `Endpoint.connect` or an
    accept handler; never construct one directly.
    """

    def __init__(
        self,
        sock: _Socket,
        established: Established,
        on_finished: Callable[[Link], None] | None = None,
    ) -> None:
        self._sock = sock
        self._machine = sock.machine
        self._config = sock.config
        self.peer_id: PeerId = established.peer_id
        self.local_id: PeerId = sock.machine.local_id
        self.network_id: NetworkId = established.network_id
        self.protocol: str = established.protocol
        self.channel_binding: bytes = established.channel_binding
        self._inbox: deque[bytes] = deque()
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closed: Closed | None = None
        self._closed_event = asyncio.Event()
        self._finished = asyncio.Event()
        self._on_finished = on_finished

    def __repr__(self) -> str:
        return f"Link<{self.protocol}:{self.peer_id.short()}>"

    # ---- identity ------------------------------------------------------------
    def shared_random(self, label: str | bytes) -> UniqueId:
        """A secret both ends derive alike for ``label`` (mosaik ``Link::shared_random``)."""
        raw = label.encode("utf-8") if isinstance(label, str) else bytes(label)
        return export_secret(self.channel_binding, self.protocol, raw)

    @property
    def remote_addr(self) -> tuple[str, int] | None:
        """The peer's socket address as this end sees it (None once unknown)."""
        peer = self._sock.writer.get_extra_info("peername")
        if not isinstance(peer, tuple) or len(peer) < 2:
            return None
        return str(peer[0]), int(peer[1])

    # ---- state -----------------------------------------------------------------
    @property
    def is_closed(self) -> bool:
        return self._closed is not None

    @property
    def close_reason(self) -> CloseReason | None:
        return None if self._closed is None else self._closed.reason

    async def closed(self) -> CloseReason:
        """Wait until the link is closed (by either side) and return the reason."""
        await self._closed_event.wait()
        assert self._closed is not None
        return self._closed.reason

    # ---- sending ---------------------------------------------------------------
    def feed(self, message: object) -> int:
        """Queue ``message`` (canonically encoded) without waiting; see `flush`."""
        return self.feed_raw(encode(message))

    def feed_raw(self, data: bytes) -> int:
        """Queue pre-encoded bytes as one message without waiting."""
        self._raise_if_closed()
        self._machine.send(data)
        return len(data)

    def feed_raw_many(self, messages: list[bytes]) -> int:
        """Queue several pre-encoded messages without waiting (bulk senders)."""
        self._raise_if_closed()
        self._machine.send_many(messages)
        return sum(len(m) for m in messages)

    async def flush(self) -> None:
        """Write queued messages and wait for socket buffer room (backpressure)."""
        self._sock.flush()
        try:
            await self._sock.drain()
        except OSError as exc:
            self._mark_closed(Closed(UNEXPECTED_CLOSE, by_peer=True, detail=str(exc)))
            self._raise_if_closed()

    async def send(self, message: object) -> int:
        """Send one message in the canonical encoding; return its size in bytes."""
        size = self.feed(message)
        await self.flush()
        return size

    async def send_raw(self, data: bytes) -> int:
        """Send pre-encoded bytes as one message."""
        size = self.feed_raw(data)
        await self.flush()
        return size

    # ---- receiving -------------------------------------------------------------
    async def recv_raw(self) -> bytes:
        """The next message body; `LinkClosedError` once the link is closed and drained."""
        while True:
            if self._inbox:
                payload = self._inbox.popleft()
                if len(self._inbox) < self._config.inbox_high_water // 2:
                    self._room.set()
                return payload
            self._raise_if_closed()
            self._readable.clear()
            await self._readable.wait()

    async def recv_raw_many(self, limit: int = 1024) -> list[bytes]:
        """Every buffered message body, at least one and at most ``limit`` (bulk readers)."""
        out = [await self.recv_raw()]
        inbox = self._inbox
        while inbox and len(out) < limit:
            out.append(inbox.popleft())
        if len(inbox) < self._config.inbox_high_water // 2:
            self._room.set()
        return out

    async def recv(self, typ: type[T]) -> T:
        """The next message decoded strictly as ``typ``.

        Bytes that are not a canonical ``typ`` close the link with
        ProtocolViolation, as mosaik does on a decode failure.
        """
        payload = await self.recv_raw()
        try:
            return decode(payload, typ, max_size=self._config.max_frame_size)
        except DecodeError as exc:
            await self.close(PROTOCOL_VIOLATION)
            raise LinkClosedError(PROTOCOL_VIOLATION, by_peer=False, detail=str(exc)) from exc

    # ---- closing ---------------------------------------------------------------
    async def close(self, reason: CloseReason = SUCCESS) -> None:
        """Send ``reason`` to the peer and wait (bounded) until the socket is released.

        Idempotent: closing a closed link only waits for the release.
        """
        if self._closed is None:
            self._machine.close(reason)
            self._sock.flush()
            self._mark_closed(Closed(reason, by_peer=False))
        try:
            async with asyncio.timeout(self._config.close_timeout * 2):
                await self._finished.wait()
        except TimeoutError:
            self._sock.writer.transport.abort()

    async def __aenter__(self) -> Link:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            reason = SUCCESS
        elif isinstance(exc, asyncio.CancelledError):
            reason = CANCELLED
        else:
            reason = UNEXPECTED_CLOSE
        await self.close(reason)

    # ---- driver ----------------------------------------------------------------
    def deliver(self, events: list[Event]) -> None:
        """Apply machine events (used for events that arrived with the handshake)."""
        for event in events:
            if isinstance(event, Message):
                self._inbox.append(event.payload)
                self._readable.set()
                if len(self._inbox) >= self._config.inbox_high_water:
                    self._room.clear()
            elif isinstance(event, Closed):
                self._mark_closed(event)

    async def run(self) -> None:
        """Reader loop: socket → machine → inbox, until closed; then release the socket."""
        sock = self._sock
        try:
            while not self._machine.is_closed:
                await self._room.wait()
                if self._machine.is_closed:
                    break
                events = await sock.read()
                sock.flush()
                self.deliver(events)
            await sock.finish()
        finally:
            if self._closed is None:  # cancelled mid-read
                self._machine.close(CANCELLED)
                sock.flush()
                self._mark_closed(Closed(CANCELLED, by_peer=False))
                sock.writer.transport.abort()
            self._finished.set()
            if self._on_finished is not None:
                self._on_finished(self)

    def _mark_closed(self, event: Closed) -> None:
        if self._closed is not None:
            return
        self._closed = event
        if event.detail:
            log.debug("%r closed: %s (%s)", self, event.reason, event.detail)
        self._readable.set()
        self._room.set()
        self._closed_event.set()

    def _raise_if_closed(self) -> None:
        closed = self._closed
        if closed is not None:
            raise LinkClosedError(closed.reason, by_peer=closed.by_peer, detail=closed.detail)
