"""`TdxTicket`: a TDX quote plus the extra data its report data commits to.

Port of mosaik ``src/tee/tdx/ticket.rs``. The quote's 64-byte report data is
``binding(extra) ‖ 0^32`` where ``binding`` hashes the peer id, network id and
the ticket's times, so a quote cannot be replayed by another peer or on
another network. Differences from mosaik: times are milliseconds (mosaik:
seconds), the data is the canonical encoding without zstd, and the ticket
class is the port's own, because the bytes are not mosaik's.
"""

from __future__ import annotations

from typing import Final, Protocol

from pymosaik.primitives import NetworkId, PeerId, UniqueId, Wire, decode, encode, unique_id
from pymosaik.tickets import Expiration, Ticket

from .quote import REPORT_DATA_LEN

__all__ = [
    "MAX_TICKET_SIZE",
    "TDX_CLASS",
    "ExtraData",
    "QuoteSource",
    "TdxTicket",
    "TdxTicketBuilder",
    "report_data_for",
]

#: Ticket class of pymosaik TDX tickets.
TDX_CLASS: Final = unique_id("pymosaik.tee.tdx.ticket.v1")
#: Decoding bound (mosaik's decompression bound).
MAX_TICKET_SIZE: Final = 64 * 1024
_EXTRA_TAG: Final = unique_id("pymosaik.tee.tdx.ticket.extra.v1")


def _u64le(n: int) -> bytes:
    return n.to_bytes(8, "little")


class ExtraData(Wire, frozen=True):
    """Who the quote speaks for, and when; committed to by the report data."""

    peer_id: bytes
    network_id: UniqueId
    started_at_ms: int
    quoted_at_ms: int
    expiration: Expiration

    def __post_init__(self) -> None:
        if len(self.peer_id) != 32:
            raise ValueError("peer_id must be 32 bytes")
        for t in (self.started_at_ms, self.quoted_at_ms):
            if not 0 <= t < 1 << 63:
                raise ValueError("timestamp out of range")

    def binding(self) -> UniqueId:
        """mosaik's ``ExtraData::signature`` in milliseconds; Never hashes as zero."""
        return (
            _EXTRA_TAG.derive(self.peer_id)
            .derive(self.network_id.bytes)
            .derive(_u64le(self.started_at_ms))
            .derive(_u64le(self.quoted_at_ms))
            .derive(_u64le(self.expiration.at_ms or 0))
        )


def report_data_for(extra: ExtraData) -> bytes:
    """The report data a quote for ``extra`` must carry: binding then 32 zero bytes."""
    return extra.binding().bytes + bytes(REPORT_DATA_LEN - 32)


class TdxTicket(Wire, frozen=True):
    """The ``data`` of a TDX `Ticket`."""

    quote: bytes
    extra: ExtraData

    def to_ticket(self) -> Ticket:
        return Ticket(TDX_CLASS, encode(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> TdxTicket:
        """Strict decode; raises `DecodeError`."""
        return decode(data, cls, max_size=MAX_TICKET_SIZE)


class QuoteSource(Protocol):
    """Produces a quote over 64 bytes of report data (hardware or simulated)."""

    def quote(self, report_data: bytes) -> bytes: ...


class TdxTicketBuilder:
    """Issues TDX tickets from a `QuoteSource` (mosaik ``NetworkTdxExt::ticket``)."""

    def __init__(self, source: QuoteSource) -> None:
        self._source = source

    def ticket(
        self,
        peer_id: PeerId,
        network_id: NetworkId,
        now_ms: int,
        ttl_ms: int | None = None,
        *,
        started_at_ms: int | None = None,
    ) -> Ticket:
        """A ticket for ``peer_id`` on ``network_id`` quoted at ``now_ms``.

        ``ttl_ms`` None means the ticket never expires (mosaik's default).
        """
        if ttl_ms is not None and ttl_ms < 0:
            raise ValueError("ttl_ms must not be negative")
        expiration = Expiration.never() if ttl_ms is None else Expiration.after(now_ms, ttl_ms)
        extra = ExtraData(
            peer_id.bytes,
            network_id,
            now_ms if started_at_ms is None else started_at_ms,
            now_ms,
            expiration,
        )
        quote = self._source.quote(report_data_for(extra))
        return TdxTicket(quote, extra).to_ticket()
