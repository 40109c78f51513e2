"""Sans-IO byte codecs of the link: Noise records and length-delimited frames.

Two layers (docs/spec/transport.md §3):

* **records** carry Noise messages on the TCP stream: ``u16 BE length ‖ bytes``
  (the Noise spec's own framing; a Noise message is at most 65535 bytes);
* **frames** are cut from the decrypted byte stream: ``u32 BE length ‖ kind u8 ‖
  body`` where ``length = 1 + len(body)``. This is mosaik's 4-byte big-endian
  ``LengthDelimitedCodec`` plus one kind byte. The length is checked against the
  limit as soon as its four bytes arrive, so an oversized frame is refused
  before a single byte of its body is buffered.

Decoders raise `FramingError` and nothing else on any input.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "FRAME_HEADER_LEN",
    "MAX_RECORD_LEN",
    "RECORD_HEADER_LEN",
    "FrameDecoder",
    "FrameKind",
    "FramingError",
    "RecordDecoder",
    "encode_frame",
    "encode_record",
]

RECORD_HEADER_LEN: Final = 2
#: Noise's hard limit on one message (ciphertext including the 16-byte tag).
MAX_RECORD_LEN: Final = 65535
FRAME_HEADER_LEN: Final = 5


class FramingError(ValueError):
    """Bytes that cannot be cut into records or frames; the link must close."""


class FrameKind(IntEnum):
    """What a frame's body holds."""

    HELLO = 1  #: identity proof and protocol (canonical `Hello`)
    DATA = 2  #: one application message (opaque bytes, usually canonical encoding)
    CLOSE = 3  #: the close reason (canonical `CloseFrame`); last frame of a link


_KINDS: Final = {int(k): k for k in FrameKind}


def encode_record(payload: bytes) -> bytes:
    """Prefix one Noise message with its u16 length."""
    if len(payload) > MAX_RECORD_LEN:
        raise ValueError(f"record of {len(payload)} bytes exceeds {MAX_RECORD_LEN}")
    return len(payload).to_bytes(2, "big") + payload


def encode_frame(kind: FrameKind, body: bytes) -> bytes:
    """Prefix ``body`` with its length and kind (no size check: senders check limits)."""
    return (len(body) + 1).to_bytes(4, "big") + bytes((kind,)) + body


class _Buffer:
    """An append-only byte buffer read from a moving offset (compacted on push)."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def push(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data


class RecordDecoder(_Buffer):
    """Cuts a byte stream into Noise records of ``min_len..max_len`` bytes.

    A length outside the bounds is refused as soon as its two bytes arrive.
    """

    __slots__ = ("_max_len", "_min_len")

    def __init__(self, *, min_len: int = 0, max_len: int = MAX_RECORD_LEN) -> None:
        super().__init__()
        self._min_len = min_len
        self._max_len = max_len

    def set_bounds(self, min_len: int, max_len: int = MAX_RECORD_LEN) -> None:
        self._min_len = min_len
        self._max_len = max_len

    def next_record(self) -> bytes | None:
        """Pop one complete record, or None when more bytes are needed."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < RECORD_HEADER_LEN:
            return None
        size = (buf[pos] << 8) | buf[pos + 1]
        if not self._min_len <= size <= self._max_len:
            raise FramingError(
                f"record of {size} bytes is outside {self._min_len}..{self._max_len}"
            )
        end = pos + RECORD_HEADER_LEN + size
        if len(buf) < end:
            return None
        self._pos = end
        return bytes(buf[pos + RECORD_HEADER_LEN : end])

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data`` and return every record now complete."""
        self.push(data)
        out: list[bytes] = []
        while (record := self.next_record()) is not None:
            out.append(record)
        return out


class FrameDecoder(_Buffer):
    """Cuts decrypted bytes into ``(kind, body)`` frames with bodies ≤ ``max_body``."""

    __slots__ = ("_max_body",)

    def __init__(self, max_body: int) -> None:
        if max_body < 0:
            raise ValueError("max_body must be >= 0")
        super().__init__()
        self._max_body = max_body

    def set_max_body(self, max_body: int) -> None:
        """Raise or lower the limit (the link lifts it once the peer is verified)."""
        self._max_body = max_body

    def next_frame(self) -> tuple[FrameKind, bytes] | None:
        """Pop one complete frame, or None when more bytes are needed.

        Raises `FramingError` on a zero length, an unknown kind, or a length above
        the limit — the latter as soon as the four length bytes are seen.
        """
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if avail < 4:
            return None
        size = int.from_bytes(buf[pos : pos + 4], "big")
        if size == 0:
            raise FramingError("empty frame")
        if size - 1 > self._max_body:
            raise FramingError(f"frame body of {size - 1} bytes exceeds the limit {self._max_body}")
        if avail < 5:
            return None
        kind = _KINDS.get(buf[pos + 4])
        if kind is None:
            raise FramingError(f"unknown frame kind {buf[pos + 4]}")
        end = pos + 4 + size
        if len(buf) < end:
            return None
        self._pos = end
        return kind, bytes(buf[pos + FRAME_HEADER_LEN : end])

    def feed(self, data: bytes) -> list[tuple[FrameKind, bytes]]:
        """Append ``data`` and return every frame now complete (raises on bad input)."""
        self.push(data)
        out: list[tuple[FrameKind, bytes]] = []
        while (frame := self.next_frame()) is not None:
            out.append(frame)
        return out
