"""`Expiration`: until when a successful ticket validation holds.

mosaik's ``Expiration::{Never, At(DateTime)}``; the port counts milliseconds
since the Unix epoch so that validation stays a pure function of ``now_ms``.
Ordering: every ``At`` is earlier than ``Never``; all-of compositions take the
minimum, any-of the maximum.
"""

from __future__ import annotations

from typing import Final

from pymosaik.primitives import Wire

__all__ = ["NEVER", "Expiration"]

_MAX_MS: Final = (1 << 63) - 1


class Expiration(Wire, frozen=True):
    """``at_ms`` None means Never; otherwise the instant (ms since epoch) it lapses."""

    at_ms: int | None = None

    def __post_init__(self) -> None:
        if self.at_ms is not None and not 0 <= self.at_ms <= _MAX_MS:
            raise ValueError(f"expiration {self.at_ms} out of range")

    @classmethod
    def never(cls) -> Expiration:
        return NEVER

    @classmethod
    def at(cls, at_ms: int) -> Expiration:
        return cls(at_ms)

    @classmethod
    def after(cls, now_ms: int, duration_ms: int) -> Expiration:
        return cls(now_ms + duration_ms)

    @property
    def is_never(self) -> bool:
        return self.at_ms is None

    def is_expired(self, now_ms: int) -> bool:
        """True once ``now_ms`` is past the instant (mosaik: ``t < now``)."""
        return self.at_ms is not None and self.at_ms < now_ms

    def remaining_ms(self, now_ms: int) -> int | None:
        """Time left, or None when it never expires or has already expired."""
        if self.at_ms is None or self.at_ms < now_ms:
            return None
        return self.at_ms - now_ms

    def _key(self) -> tuple[int, int]:
        return (1, 0) if self.at_ms is None else (0, self.at_ms)

    def __lt__(self, other: Expiration) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Expiration) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Expiration) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Expiration) -> bool:
        return self._key() >= other._key()

    def __repr__(self) -> str:
        return "Expiration.Never" if self.at_ms is None else f"Expiration.At({self.at_ms})"


NEVER: Final = Expiration()
