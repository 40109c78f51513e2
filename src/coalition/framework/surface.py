"""An organism's public surface: a committee-ordered, sequenced, retirable stream of frames.

Every committee member applies the same commits, so every member can publish
the same frame sequence; readers subscribe to all of them and keep the first
copy of each ``seq``. A member that dies costs nothing; a reader never sees a
frame twice or out of order. Members republish the newest frame at a cadence,
so a reader that subscribes late learns the current state (and a retirement)
without a history service.

The last frame of a retired surface is a `Retirement`: after it the machine
admits nothing, and a reader that meets it either follows the successor's
surface or raises `OrganismRetired`.

How many readers a surface has is committed too (`Readers`, proposed by the
leader when the count it sees changes), so the count is one agreed number a
third party can read from any member (`SubscriberCount`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

import msgspec

from pymosaik.groups import ApplyContext, StateMachine
from pymosaik.primitives import DecodeError, UniqueId, Wire, decode, encode

from ..identity import hash_many
from ..retirement import RetirementEvidence, RetirementMarker

__all__ = [
    "Frame",
    "Published",
    "Readers",
    "Retire",
    "Retirement",
    "SubscriberCount",
    "SurfaceMachine",
    "SurfaceResult",
    "Wrapped",
]

#: How many recent frames a member keeps for republishing after a restart.
FRAME_HISTORY: Final = 256
#: How many request ids the machine remembers for deduplication.
REQUEST_MEMORY: Final = 4096


class Published(Wire, frozen=True, tag="published"):
    """One public item: the inner machine's canonical bytes for the item type."""

    body: bytes


class Retirement(Wire, frozen=True, tag="retirement"):
    """The surface's last frame: the marker and, when known, the successor's surface."""

    marker: RetirementMarker
    successor_surface: UniqueId | None = None


class Frame(Wire, frozen=True):
    """What goes over the public stream: a gap-free sequence number and its content."""

    surface: UniqueId
    seq: int
    content: Published | Retirement


class Wrapped(Wire, frozen=True, tag="op"):
    """A command for the inner machine; ``request`` dedupes retried / multi-member submissions."""

    command: bytes
    request: UniqueId | None = None


class Retire(Wire, frozen=True, tag="retire"):
    marker: RetirementMarker
    successor_surface: UniqueId | None = None


class Readers(Wire, frozen=True, tag="readers"):
    """The leader saw ``count`` distinct readers (only members propose it: the intake wraps)."""

    count: int


class SubscriberCount(Wire, frozen=True):
    """The committed number of readers of a surface; ``seq`` counts changes from 0."""

    count: int
    seq: int
    index: int  # the committee log index that committed it


class SurfaceResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    result: bytes = b""


class _Image(Wire, frozen=True):
    inner: bytes
    next_seq: int
    retired: Retirement | None
    recent: tuple[Frame, ...]
    requests: tuple[tuple[UniqueId, bytes], ...]
    subscribers: SubscriberCount | None = None


_COMMAND = Wrapped | Retire | Readers
#: Bound on a machine image (keyed surfaces keep their whole history in it).
MAX_IMAGE_BYTES: Final = 256 * 1024 * 1024

#: Given the inner machine's result for a command, the public bodies it yields.
Extractor = Callable[[bytes], list[bytes]]


class SurfaceMachine:
    """Wraps an organism's machine: numbers its public outputs and enforces retirement.

    ``extract`` maps the inner result of each applied command to the public
    bodies it produced (zero or more). Deterministic like any state machine:
    the frame sequence is a function of the log alone.
    """

    def __init__(self, surface: UniqueId, inner: StateMachine, extract: Extractor) -> None:
        self.surface = surface
        self.inner = inner
        self._extract = extract
        self.next_seq = 0
        self.retired: Retirement | None = None
        self.recent: deque[Frame] = deque(maxlen=FRAME_HISTORY)
        #: Results of recent requests by id: a resubmitted request is answered, not re-applied.
        self.requests: dict[UniqueId, bytes] = {}
        #: Called with every new frame as it is applied (the member's publisher).
        self.on_frame: Callable[[Frame], None] | None = None
        #: The committed reader count (None until the leader first proposes one).
        self.subscribers: SubscriberCount | None = None

    def signature(self) -> UniqueId:
        return self.inner.signature().derive("surface.v1")

    def apply(self, command: bytes, ctx: ApplyContext) -> bytes:
        try:
            cmd: Wrapped | Retire | Readers = decode(command, _COMMAND)  # type: ignore[arg-type]
        except DecodeError as exc:
            return encode(SurfaceResult(False, f"malformed command: {exc}"))
        if isinstance(cmd, Readers):
            return self._readers(cmd.count, ctx.index)
        if isinstance(cmd, Wrapped) and cmd.request is not None and cmd.request in self.requests:
            return self.requests[cmd.request]  # a resend: answer it, even after retirement
        if self.retired is not None:
            return encode(SurfaceResult(False, "retired"))
        if isinstance(cmd, Retire):
            marker = msgspec.structs.replace(cmd.marker, evidence=self._last_commit())
            self.retired = Retirement(marker, cmd.successor_surface)
            self._emit(self.retired)
            return encode(SurfaceResult(True))
        result = self.inner.apply(cmd.command, ctx)
        for body in self._extract(result):
            self._emit(Published(body))
        out = encode(SurfaceResult(True, result=result))
        if cmd.request is not None:
            self.requests[cmd.request] = out
            while len(self.requests) > REQUEST_MEMORY:
                del self.requests[next(iter(self.requests))]
        return out

    def _readers(self, count: int, index: int) -> bytes:
        current = self.subscribers
        if count < 0:
            return encode(SurfaceResult(False, "negative reader count"))
        if current is None or current.count != count:
            self.subscribers = SubscriberCount(
                count, 0 if current is None else current.seq + 1, index
            )
        return encode(SurfaceResult(True))

    def _last_commit(self) -> tuple[RetirementEvidence, ...]:
        """D11: the marker points at the surface's last frame (seq and digest), so a consumer
        can tell it has seen everything the component published before it stopped."""
        last = self.last_frame
        if last is None:
            return ()
        digest = hash_many([b"frame|", encode(last)])
        return (RetirementEvidence(self.surface, last.seq, digest),)

    def _emit(self, content: Published | Retirement) -> None:
        frame = Frame(self.surface, self.next_seq, content)
        self.next_seq += 1
        self.recent.append(frame)
        if self.on_frame is not None:
            self.on_frame(frame)

    def query(self, query: bytes) -> bytes:
        return self.inner.query(query)

    def snapshot(self) -> bytes:
        return encode(
            _Image(
                self.inner.snapshot(),
                self.next_seq,
                self.retired,
                tuple(self.recent),
                tuple(self.requests.items()),
                self.subscribers,
            )
        )

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image, max_size=MAX_IMAGE_BYTES)
        self.inner.restore(image.inner)
        self.next_seq = image.next_seq
        self.retired = image.retired
        self.recent = deque(image.recent, maxlen=FRAME_HISTORY)
        self.requests = dict(image.requests)
        self.subscribers = image.subscribers
        if self.on_frame is not None and self.recent:
            self.on_frame(self.recent[-1])

    @property
    def last_frame(self) -> Frame | None:
        return self.recent[-1] if self.recent else None
