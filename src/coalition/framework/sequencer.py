"""The reader's pure core: a surface's frames, each once, in sequence order.

Committee members replay recent frames to a new reader while republishing their newest, so
frames from several members interleave, repeat and arrive out of order — most of all across a
leader change. ``FrameSequencer`` takes them as they come (``offer``) and hands them out in
order (``take``): a duplicate is counted and dropped, and a missing sequence number is given
``gap_ms`` to arrive before the reader moves past it (counted as a gap: it joined after that
frame, or the frame is older than the members' replay window). Pure like the Raft core: the
caller passes the time; ``deadline`` says when a waiting gap expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Generic, TypeVar

F = TypeVar("F")

#: How long a missing sequence number may take to arrive before the reader skips it.
GAP_MS: Final = 250


@dataclass
class SequencerStats:
    duplicates: int = 0
    #: Sequence numbers never delivered because the reader joined after them or missed them.
    gaps: int = 0


class FrameSequencer(Generic[F]):
    def __init__(self, *, gap_ms: int = GAP_MS) -> None:
        self.gap_ms = gap_ms
        self.last_seq: int | None = None
        self.stats = SequencerStats()
        self._pending: dict[int, F] = {}
        self._gap_since: int | None = None

    def offer(self, seq: int, frame: F, now_ms: int) -> None:
        if (self.last_seq is not None and seq <= self.last_seq) or seq in self._pending:
            self.stats.duplicates += 1
            return
        self._pending[seq] = frame
        if self._gap_since is None and self._next() is None:
            self._gap_since = now_ms

    def take(self, now_ms: int) -> F | None:
        """The next frame in order, or the first after an expired gap; None to wait."""
        nxt = self._next()
        if nxt is None:
            if not self._pending:
                return None
            since = now_ms if self._gap_since is None else self._gap_since
            self._gap_since = since
            if now_ms - since < self.gap_ms:
                return None
            nxt = min(self._pending)
            if self.last_seq is not None:
                self.stats.gaps += nxt - self.last_seq - 1
        frame = self._pending.pop(nxt)
        self.last_seq = nxt
        self._gap_since = None if self._next() is not None or not self._pending else now_ms
        return frame

    def deadline(self) -> int | None:
        """When a waiting gap expires (the caller's next wake-up), if one is waiting."""
        if self._next() is not None or not self._pending or self._gap_since is None:
            return None
        return self._gap_since + self.gap_ms

    def reset(self) -> None:
        """Start over (a new surface: the successor's sequence numbers begin again)."""
        self.last_seq, self._gap_since = None, None
        self._pending.clear()

    def _next(self) -> int | None:
        """The sequence number deliverable now without waiting, if any."""
        if self.last_seq is None:
            return None
        want = self.last_seq + 1
        return want if want in self._pending else None
