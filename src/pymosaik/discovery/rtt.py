"""Round-trip time estimation with RFC 6298 smoothing (SRTT, RTTVAR, RTO)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RttEstimator"]


@dataclass
class RttEstimator:
    """RFC 6298 §2 with alpha = 1/8, beta = 1/4, K = 4, clock granularity ``g_ms``."""

    min_rto_ms: float = 1000.0
    max_rto_ms: float = 60_000.0
    g_ms: float = 1.0
    srtt: float | None = None
    rttvar: float | None = None
    rto: float = 1000.0

    def sample(self, rtt_ms: float) -> None:
        if rtt_ms < 0:
            raise ValueError("an RTT sample cannot be negative")
        if self.srtt is None or self.rttvar is None:
            self.srtt = rtt_ms  # (2.2)
            self.rttvar = rtt_ms / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt_ms)  # (2.3)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt_ms
        rto = self.srtt + max(self.g_ms, 4 * self.rttvar)
        self.rto = min(self.max_rto_ms, max(self.min_rto_ms, rto))  # (2.4), (2.5)

    def backoff(self) -> None:
        """(5.5): double the RTO after a timeout."""
        self.rto = min(self.max_rto_ms, self.rto * 2)
