"""`Tdx`: the TicketValidator for TDX tickets.

Port of mosaik ``src/tee/tdx/validator.rs`` with the project's D5 changes: the
quote goes through a `QuoteVerifier` (full DCAP chain, or the SIMULATED
root), and simulated quotes are refused unless ``allow_simulated()``.

A ticket passes when, in order: it decodes; some configured verifier accepts
the quote; the quote is not simulated (or simulation is allowed); its report
data commits to the ticket's extra data; the measurements match the baseline
and, if variants are configured, at least one variant; the extra data names
this peer and network; the quote is not older than ``max_age`` nor before
``not_before``; the lifetime is within ``max_lifetime``; and it has not expired.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import ClassVar, Final

from pymosaik.primitives import DecodeError, UniqueId, unique_id
from pymosaik.tickets import Expiration, InvalidTicketError, PeerIdentity

from .measurements import Measurements, MeasurementsCriteria
from .quote import QuoteError, QuoteVerifier, VerifiedQuote
from .ticket import TDX_CLASS, TdxTicket, report_data_for

__all__ = ["Tdx"]

_SIMULATED_TAG: Final = unique_id("pymosaik.tee.tdx.allow-simulated")


def _u64le(n: int | None) -> bytes:
    return (n or 0).to_bytes(8, "little")


@dataclass(frozen=True, slots=True)
class Tdx:
    """Validates TDX tickets against measurement criteria; builder methods return copies."""

    verifiers: tuple[QuoteVerifier, ...] = ()
    baseline: MeasurementsCriteria = field(default_factory=MeasurementsCriteria)
    variants: tuple[MeasurementsCriteria, ...] = ()
    max_age: int | None = None
    not_before: int | None = None
    max_lifetime: int | None = None
    simulated_allowed: bool = False

    CLASS: ClassVar[UniqueId] = TDX_CLASS

    @classmethod
    def with_verifiers(cls, *verifiers: QuoteVerifier) -> Tdx:
        """A validator trusting quotes any of ``verifiers`` accepts (none: refuse all)."""
        return cls(verifiers=tuple(verifiers))

    def add_verifier(self, verifier: QuoteVerifier) -> Tdx:
        return replace(self, verifiers=(*self.verifiers, verifier))

    def require_mrtd(self, value: str | bytes) -> Tdx:
        return replace(self, baseline=self.baseline.require_mrtd(value))

    def require_rtmr(self, index: int, value: str | bytes) -> Tdx:
        return replace(self, baseline=self.baseline.require_rtmr(index, value))

    def require_measurements(self, m: Measurements) -> Tdx:
        """Every register must equal ``m`` (mosaik ``Tdx::from_local`` with given values)."""
        return replace(self, baseline=MeasurementsCriteria.exactly(m))

    def allow_variant(self, criteria: MeasurementsCriteria) -> Tdx:
        """Once any variant is added, at least one variant must match too."""
        return replace(self, variants=(*self.variants, criteria))

    def allow_variants(self, criteria: Iterable[MeasurementsCriteria]) -> Tdx:
        return replace(self, variants=(*self.variants, *criteria))

    def max_age_ms(self, ms: int) -> Tdx:
        """Refuse quotes with ``now - quoted_at > ms`` (peer's clock: allow skew)."""
        return replace(self, max_age=_non_negative(ms))

    def not_before_ms(self, ms: int) -> Tdx:
        """Refuse quotes taken before ``ms`` (e.g. a firmware fix)."""
        return replace(self, not_before=_non_negative(ms))

    def max_lifetime_ms(self, ms: int) -> Tdx:
        """Refuse tickets living longer than ``ms`` past their quote; refuses Never."""
        return replace(self, max_lifetime=_non_negative(ms))

    def allow_simulated(self) -> Tdx:
        """Accept SIMULATED quotes (tests, machines without TDX). Off by default."""
        return replace(self, simulated_allowed=True)

    # TicketValidator

    def ticket_class(self) -> UniqueId:
        return TDX_CLASS

    def signature(self) -> UniqueId:
        """mosaik's fold (durations in ms), then the port's verifiers and simulation flag."""
        acc = TDX_CLASS.derive(self.baseline.signature().bytes)
        for variant in self.variants:
            acc = acc.derive(variant.signature().bytes)
        acc = acc.derive(_u64le(self.max_age)).derive(_u64le(self.not_before))
        acc = acc.derive(_u64le(self.max_lifetime))
        for verifier in self.verifiers:
            acc = acc.derive(verifier.signature().bytes)
        return acc.derive(_SIMULATED_TAG.derive(bytes([self.simulated_allowed])).bytes)

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        try:
            ticket = TdxTicket.from_bytes(data)
        except DecodeError as exc:
            raise InvalidTicketError(f"malformed TDX ticket: {exc}") from exc
        verified = self._verify_quote(ticket.quote, now_ms)
        if verified.simulated and not self.simulated_allowed:
            raise InvalidTicketError("simulated TDX quote refused (allow_simulated not set)")
        extra = ticket.extra
        if not hmac.compare_digest(verified.report_data, report_data_for(extra)):
            raise InvalidTicketError("quote report data does not commit to the ticket")
        m = verified.measurements
        if not self.baseline.matches(m):
            raise InvalidTicketError("measurements do not match the baseline")
        if self.variants and not any(v.matches(m) for v in self.variants):
            raise InvalidTicketError("measurements match no allowed variant")
        if extra.peer_id != peer.peer_id.bytes:
            raise InvalidTicketError("ticket issued to another peer")
        if extra.network_id != peer.network_id:
            raise InvalidTicketError("ticket issued for another network")
        if self.max_age is not None:
            age = now_ms - extra.quoted_at_ms
            # mosaik: a quote from the future has age Duration::MAX, so it is refused
            if age < 0 or age > self.max_age:
                raise InvalidTicketError("quote too old (or from the future)")
        if self.not_before is not None and extra.quoted_at_ms < self.not_before:
            raise InvalidTicketError("quote taken before not_before")
        if self.max_lifetime is not None:
            at = extra.expiration.at_ms
            if at is None or at - extra.quoted_at_ms > self.max_lifetime:
                raise InvalidTicketError("ticket lifetime exceeds max_lifetime")
        if extra.expiration.is_expired(now_ms):
            raise InvalidTicketError("ticket expired")
        return extra.expiration

    def _verify_quote(self, quote: bytes, now_ms: int) -> VerifiedQuote:
        errors: list[str] = []
        for verifier in self.verifiers:
            try:
                return verifier.verify(quote, now_ms)
            except QuoteError as exc:
                errors.append(str(exc))
        raise InvalidTicketError("quote not verified: " + ("; ".join(errors) or "no verifier"))


def _non_negative(ms: int) -> int:
    if ms < 0:
        raise ValueError("duration must not be negative")
    return ms
