"""`QuoteVerifier`: turns raw quote bytes into verified measurements and report data.

The TDX ticket validator does not parse quotes itself; a verifier checks the
quote's signature chain and returns what the quote attests. Two kinds exist:
`DcapVerifier` (real Intel DCAP chain via ``dcap-qvl``) and `SimulatedTdx`
(a local software root, for machines without TDX; flagged ``simulated``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from pymosaik.primitives import UniqueId

from .measurements import Measurements

__all__ = ["REPORT_DATA_LEN", "QuoteError", "QuoteVerifier", "VerifiedQuote"]

REPORT_DATA_LEN: Final = 64


class QuoteError(ValueError):
    """The quote is malformed or its signature chain does not verify."""


@dataclass(frozen=True, slots=True)
class VerifiedQuote:
    """What a verified quote attests.

    ``simulated`` is True when no hardware root stands behind the quote; the
    `Tdx` validator refuses such quotes unless configured with
    ``allow_simulated()``.
    """

    measurements: Measurements
    report_data: bytes
    simulated: bool
    status: str = "OK"


@runtime_checkable
class QuoteVerifier(Protocol):
    def verify(self, quote: bytes, now_ms: int) -> VerifiedQuote:
        """Check ``quote`` at ``now_ms``; raise `QuoteError` if it does not verify."""
        ...

    def signature(self) -> UniqueId:
        """Names the verifier and its trust roots (folded into `Tdx.signature`)."""
        ...
