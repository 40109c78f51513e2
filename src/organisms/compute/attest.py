"""A TDX grant's two measurement checks, as pure functions.

The provider's, before start (F3, M7): a grant with an ``expected_mrtd`` runs only in a guest
whose MRTD equals it; the guest then quotes a report that commits to this grant (request id and
image), and the quote travels in the sealed receipt. The requester's, on opening the receipt: the
quote verifies under a root it trusts, commits to its grant, and reports the expected MRTD. As in
the `Tdx` ticket validator (D5), a SIMULATED quote is refused unless the caller says
``allow_simulated`` — tests and machines without TDX only.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import blake3

from pymosaik.tee.measurements import Measurements
from pymosaik.tee.quote import QuoteError, QuoteVerifier, VerifiedQuote

from .items import ComputeGrant

__all__ = ["GuestQuoter", "Started", "check_receipt_quote", "guest_quote", "report_data"]

QUOTE_DOMAIN = b"compute.quote.v1|"
NO_GUEST = "the grant expects a TDX guest and this provider has none"
MISMATCH = "guest measurement does not match expected_mrtd"


class GuestQuoter(Protocol):
    """The guest the workload would run in: its measurements and a quote over report data
    (`pymosaik.tee.simulated.SimulatedTdxProvider` is the labelled stand-in)."""

    @property
    def measurements(self) -> Measurements: ...

    def quote(self, report_data: bytes) -> bytes: ...


def report_data(grant: ComputeGrant) -> bytes:
    """The 64 bytes a grant's quote commits to, so it cannot be replayed for another grant."""
    return blake3.blake3(QUOTE_DOMAIN + grant.request_id + grant.content_hash).digest(64)


@dataclass(frozen=True)
class Started:
    """May the workload start: ``refused`` is empty when it may; ``quote`` is empty for a
    grant that asks for no TDX."""

    quote: bytes = b""
    refused: str = ""


def guest_quote(grant: ComputeGrant, guest: GuestQuoter | None) -> Started:
    if not grant.expected_mrtd:
        return Started()
    if guest is None:
        return Started(refused=NO_GUEST)
    if not hmac.compare_digest(guest.measurements.mrtd, grant.expected_mrtd):
        return Started(refused=MISMATCH)
    return Started(guest.quote(report_data(grant)))


def check_receipt_quote(
    quote: bytes,
    grant: ComputeGrant,
    verifiers: Sequence[QuoteVerifier],
    *,
    now_ms: int,
    allow_simulated: bool = False,
) -> VerifiedQuote:
    """The requester's check of the quote in its receipt; `QuoteError` says what failed."""
    if not grant.expected_mrtd:
        raise QuoteError("the grant expects no TDX measurement")
    errors: list[str] = []
    verified: VerifiedQuote | None = None
    for verifier in verifiers:
        try:
            verified = verifier.verify(quote, now_ms)
            break
        except QuoteError as exc:
            errors.append(str(exc))
    if verified is None:
        raise QuoteError("quote not verified: " + ("; ".join(errors) or "no verifier"))
    if verified.simulated and not allow_simulated:
        raise QuoteError("SIMULATED TDX quote refused (allow_simulated not set)")
    if not hmac.compare_digest(verified.report_data, report_data(grant)):
        raise QuoteError("the quote does not commit to this grant")
    if not hmac.compare_digest(verified.measurements.mrtd, grant.expected_mrtd):
        raise QuoteError("the quoted MRTD is not the grant's expected_mrtd")
    return verified
