"""The read side of a public surface: subscribe to every member, dedupe, follow successors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pymosaik.network import Network
from pymosaik.primitives import DecodeError, UniqueId, decode
from pymosaik.streams import Consumer
from pymosaik.tickets import TicketValidator

from .errors import ConnectTimeout, OrganismRetired
from .sequencer import FrameSequencer
from .surface import Frame, Published, Retirement

__all__ = ["SelectedReader", "SurfaceReader"]

T = TypeVar("T")
U = TypeVar("U")

#: How long a reader waits for the first frame unless told otherwise.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
#: ``ready()`` stops draining the catch-up burst after this long without a frame.
DRAIN_QUIET_S = 0.1


@dataclass(frozen=True)
class ReaderStats:
    frames: int = 0
    duplicates: int = 0
    #: Frames never seen because the reader joined after them or missed them.
    gaps: int = 0
    successors_followed: int = 0


class SurfaceReader(Generic[T]):
    """Yields a surface's items in sequence order, each once, across all committee members.

    ``decode_body`` turns a frame's bytes into the typed item; a body that does
    not decode is a committee bug and ends the reader with `DecodeError`.
    With ``follow_successors`` a retirement that names a successor surface
    moves the reader there; otherwise iteration raises `OrganismRetired`.

    Surface ids derive from public Configs, so anyone can produce on one:
    ``producers`` (a TicketValidator, e.g. the committee's TDX measurements or
    the coalition issuer) limits the reader to producers holding a valid
    ticket — the way a reader authenticates the committee.
    """

    def __init__(
        self,
        network: Network,
        what: str,
        surface: UniqueId,
        decode_body: Callable[[bytes], T],
        *,
        follow_successors: bool = False,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        producers: TicketValidator | None = None,
    ) -> None:
        self._network = network
        self.what = what
        self.surface = surface
        self._decode = decode_body
        self.follow_successors = follow_successors
        self.connect_timeout_s = connect_timeout_s
        self.latest: T | None = None
        self.last_seq: int | None = None
        self.retirement: Retirement | None = None
        self._frames, self._followed = 0, 0
        self._sequencer: FrameSequencer[Frame] = FrameSequencer()
        self._producers = producers
        self._consumer: Consumer[Frame] = self._subscribe(surface)

    @classmethod
    def of(
        cls,
        network: Network,
        what: str,
        surface: UniqueId,
        item: type[T],
        *,
        timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        follow_successors: bool = False,
        producers: TicketValidator | None = None,
    ) -> SurfaceReader[T]:
        """A reader whose items are the canonical encoding of ``item``."""
        return cls(
            network,
            what,
            surface,
            lambda body: decode(body, item),
            follow_successors=follow_successors,
            connect_timeout_s=timeout_s,
            producers=producers,
        )

    @property
    def stats(self) -> ReaderStats:
        seq = self._sequencer.stats
        return ReaderStats(self._frames, seq.duplicates, seq.gaps, self._followed)

    def _subscribe(self, surface: UniqueId) -> Consumer[Frame]:
        builder = self._network.streams.consumer(Frame, stream_id=surface)
        if self._producers is not None:
            builder = builder.require_ticket(self._producers)
        return builder.build()

    async def ready(self, *, drain: bool = True) -> T:
        """The current item; `ConnectTimeout` if nothing answers within the deadline.

        Members replay their recent frames to a new reader; with ``drain`` the
        reader consumes that burst and returns the newest item (a state
        surface's current value). With ``drain=False`` it returns the first
        item it sees, and `next()` continues from there (a log reader).
        """
        if self.latest is None:
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    while self.latest is None:
                        await self._next_frame()
            except TimeoutError:
                raise ConnectTimeout(self.what, self.connect_timeout_s) from None
        while drain:
            try:
                async with asyncio.timeout(DRAIN_QUIET_S):
                    await self._next_frame()
            except TimeoutError:
                break
        assert self.latest is not None
        return self.latest

    async def next(self) -> T:
        """The next new item (after ``ready``, what comes after the current one)."""
        return await self._next_frame()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            yield await self._next_frame()

    async def _recv(self) -> Frame:
        while True:
            frame = await self._consumer.recv()
            if frame is None:
                raise ConnectionError(f"{self.what}: reader closed")
            if frame.surface == self.surface:  # else: a producer on the wrong stream id
                self._frames += 1
                return frame

    async def _ordered(self) -> Frame:
        """The next frame in sequence order (``FrameSequencer`` decides; this only waits)."""
        loop = asyncio.get_running_loop()
        seq = self._sequencer
        while True:
            now_ms = int(loop.time() * 1000)
            frame = seq.take(now_ms)
            if frame is not None:
                return frame
            deadline = seq.deadline()
            try:
                if deadline is None:
                    frame = await self._recv()
                else:
                    async with asyncio.timeout(max(deadline - now_ms, 0) / 1000):
                        frame = await self._recv()
            except TimeoutError:
                continue
            seq.offer(frame.seq, frame, int(loop.time() * 1000))

    async def _next_frame(self) -> T:
        while True:
            frame = await self._ordered()
            self.last_seq = frame.seq
            content = frame.content
            if isinstance(content, Retirement):
                await self._retired(content)
                continue
            item = self._body(content)
            self.latest = item
            return item

    def _body(self, content: Published) -> T:
        try:
            return self._decode(content.body)
        except (DecodeError, ValueError) as exc:
            raise DecodeError(f"{self.what}: undecodable item from the committee: {exc}") from exc

    async def _retired(self, retirement: Retirement) -> None:
        self.retirement = retirement
        successor = retirement.successor_surface
        if not self.follow_successors or successor is None:
            raise OrganismRetired(self.what, retirement.marker)
        old = self._consumer
        self.surface = successor
        self.last_seq = None
        self.latest = None
        self._sequencer.reset()
        self._followed += 1
        self._consumer = self._subscribe(successor)
        with contextlib.suppress(Exception):
            await old.close()

    async def close(self) -> None:
        await self._consumer.close()

    async def __aenter__(self) -> SurfaceReader[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class SelectedReader(Generic[T, U]):
    """The items of one kind on a surface that carries several (``pick`` returns ``None`` for
    the others), in order; the first `next` is `ConnectTimeout` if nothing answers."""

    def __init__(self, reader: SurfaceReader[T], pick: Callable[[T], U | None]) -> None:
        self.reader, self._pick = reader, pick
        self._started = False

    async def next(self) -> U:
        while True:
            if not self._started:
                self._started = True
                item = await self.reader.ready(drain=False)
            else:
                item = await self.reader.next()
            picked = self._pick(item)
            if picked is not None:
                return picked

    def __aiter__(self) -> AsyncIterator[U]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[U]:
        while True:
            yield await self.next()

    async def close(self) -> None:
        await self.reader.close()
