"""`LogLimiter`: at most a few log lines per peer per interval (sans-IO).

A peer that keeps sending malformed messages must not be able to fill the
operator's log: each peer gets ``burst`` lines per ``interval_ms``; the rest
are counted, and the next line logged for that peer says how many were
suppressed. Pure state: the caller passes the time and does the logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Generic, TypeVar

__all__ = ["LogLimiter"]

K = TypeVar("K")

#: Peers tracked at once; a flood of fresh ids evicts the oldest windows.
MAX_KEYS: Final = 1024


@dataclass(slots=True)
class _Window:
    """Mutable per-key counters (bookkeeping, not a data type)."""

    start_ms: int
    logged: int = 0
    suppressed: int = 0


class LogLimiter(Generic[K]):
    def __init__(self, burst: int = 3, interval_ms: int = 60_000, max_keys: int = MAX_KEYS) -> None:
        if burst < 1 or interval_ms <= 0 or max_keys < 1:
            raise ValueError("burst, interval_ms and max_keys must be positive")
        self.burst, self.interval_ms, self.max_keys = burst, interval_ms, max_keys
        self._windows: dict[K, _Window] = {}

    def admit(self, key: K, now_ms: int) -> tuple[bool, int]:
        """``(log it, suppressed)``: whether to log this event for ``key`` and, if so,
        how many of its events were suppressed since its last logged line."""
        window = self._windows.get(key)
        if window is None:
            self._make_room(now_ms)
            window = self._windows[key] = _Window(now_ms)
        elif now_ms - window.start_ms >= self.interval_ms:
            window.start_ms, window.logged = now_ms, 0  # the suppressed count carries over
        if window.logged >= self.burst:
            window.suppressed += 1
            return False, 0
        window.logged += 1
        suppressed, window.suppressed = window.suppressed, 0
        return True, suppressed

    def _make_room(self, now_ms: int) -> None:
        if len(self._windows) < self.max_keys:
            return
        for key in [k for k, w in self._windows.items() if now_ms - w.start_ms >= self.interval_ms]:
            if not self._windows[key].suppressed:
                del self._windows[key]
        while len(self._windows) >= self.max_keys:
            del self._windows[next(iter(self._windows))]
