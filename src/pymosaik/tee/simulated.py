"""SIMULATED TDX: software-signed quotes for machines without TDX hardware.

Nothing here is attested by hardware. A "simulated root" Ed25519 key signs a
quote structure carrying measurements and report data; anyone holding that key
can mint any measurements. The `Tdx` validator refuses these quotes unless the
configuration calls ``allow_simulated()`` (decision D5), and the verifier only
trusts the root key it is given.
"""

from __future__ import annotations

from typing import Final

from pymosaik.primitives import (
    DecodeError,
    PeerId,
    SecretKey,
    UniqueId,
    Wire,
    decode,
    encode,
    unique_id,
)
from pymosaik.tickets import Ticket

from .measurements import Measurements
from .quote import REPORT_DATA_LEN, QuoteError, VerifiedQuote
from .ticket import TdxTicketBuilder

__all__ = [
    "SIMULATED_MAGIC",
    "SimulatedQuote",
    "SimulatedQuoteBody",
    "SimulatedTdx",
    "SimulatedTdxProvider",
]

#: First field of every simulated quote, so it can never pass for a DCAP quote.
SIMULATED_MAGIC: Final = "pymosaik.SIMULATED-tdx-quote.v1"
_SIGNING_DOMAIN: Final = b"pymosaik.tee.simulated-quote.v1\x00"
_MAX_QUOTE_SIZE: Final = 4096
_VERIFIER_TAG: Final = unique_id("pymosaik.tee.simulated-verifier.v1")


class SimulatedQuoteBody(Wire, frozen=True):
    """What the simulated root vouches for."""

    magic: str
    measurements: Measurements
    report_data: bytes

    def __post_init__(self) -> None:
        if self.magic != SIMULATED_MAGIC:
            raise ValueError("not a simulated quote")
        if len(self.report_data) != REPORT_DATA_LEN:
            raise ValueError(f"report data is {REPORT_DATA_LEN} bytes")

    def signing_bytes(self) -> bytes:
        return _SIGNING_DOMAIN + encode(self)


class SimulatedQuote(Wire, frozen=True):
    """A SIMULATED quote: body, the root's public key and its signature."""

    body: SimulatedQuoteBody
    root: bytes
    signature: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> SimulatedQuote:
        """Strict decode; raises `DecodeError`."""
        return decode(data, cls, max_size=_MAX_QUOTE_SIZE)


class SimulatedTdx:
    """`QuoteVerifier` for SIMULATED quotes signed by one trusted root key."""

    def __init__(self, root: PeerId) -> None:
        self.root = root

    def verify(self, quote: bytes, now_ms: int) -> VerifiedQuote:
        del now_ms  # simulated quotes carry no collateral with validity periods
        try:
            parsed = SimulatedQuote.from_bytes(quote)
        except DecodeError as exc:
            raise QuoteError(f"not a simulated quote: {exc}") from exc
        if parsed.root != self.root.bytes:
            raise QuoteError("simulated quote signed by an untrusted root")
        if not self.root.verify(parsed.signature, parsed.body.signing_bytes()):
            raise QuoteError("bad simulated quote signature")
        return VerifiedQuote(
            parsed.body.measurements, parsed.body.report_data, simulated=True, status="SIMULATED"
        )

    def signature(self) -> UniqueId:
        return _VERIFIER_TAG.derive(self.root.bytes)

    def __repr__(self) -> str:
        return f"SimulatedTdx(root={self.root.short()})"


class SimulatedTdxProvider:
    """Issues SIMULATED TDX tickets claiming ``measurements``, signed by ``root``."""

    def __init__(self, measurements: Measurements, root: SecretKey | None = None) -> None:
        self.measurements = measurements
        self._root = root if root is not None else SecretKey.generate()

    @property
    def root(self) -> PeerId:
        """The key a `SimulatedTdx` verifier must trust."""
        return self._root.peer_id

    def verifier(self) -> SimulatedTdx:
        return SimulatedTdx(self.root)

    def quote(self, report_data: bytes) -> bytes:
        body = SimulatedQuoteBody(SIMULATED_MAGIC, self.measurements, bytes(report_data))
        sig = self._root.sign(body.signing_bytes())
        return encode(SimulatedQuote(body, self.root.bytes, sig))

    def ticket(
        self,
        peer_id: PeerId,
        network_id: UniqueId,
        now_ms: int,
        ttl_ms: int | None = None,
        *,
        started_at_ms: int | None = None,
    ) -> Ticket:
        """A SIMULATED TDX ticket (see `TdxTicketBuilder.ticket`)."""
        return TdxTicketBuilder(self).ticket(
            peer_id, network_id, now_ms, ttl_ms, started_at_ms=started_at_ms
        )
