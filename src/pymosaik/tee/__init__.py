"""Trusted execution: TDX tickets (decision D5; docs/spec/tee.md).

* `Measurements` / `MeasurementsCriteria` — MRTD and RTMR0-3, and what to require;
* `TdxTicket` / `TdxTicketBuilder` — a quote bound to a peer, network and times;
* `QuoteVerifier` with `DcapVerifier` (real DCAP chain via ``dcap-qvl``) and
  `SimulatedTdx` (SIMULATED software root; refused unless allowed);
* `SimulatedTdxProvider` — issues SIMULATED tickets;
* `Tdx` — the TicketValidator.
"""

from .dcap import DEFAULT_ACCEPTED_STATUSES, DcapVerifier
from .measurements import MEASUREMENT_LEN, Measurements, MeasurementsCriteria, measurement
from .quote import REPORT_DATA_LEN, QuoteError, QuoteVerifier, VerifiedQuote
from .simulated import SIMULATED_MAGIC, SimulatedQuote, SimulatedTdx, SimulatedTdxProvider
from .ticket import (
    TDX_CLASS,
    ExtraData,
    QuoteSource,
    TdxTicket,
    TdxTicketBuilder,
    report_data_for,
)
from .validator import Tdx

__all__ = [
    "DEFAULT_ACCEPTED_STATUSES",
    "MEASUREMENT_LEN",
    "REPORT_DATA_LEN",
    "SIMULATED_MAGIC",
    "TDX_CLASS",
    "DcapVerifier",
    "ExtraData",
    "Measurements",
    "MeasurementsCriteria",
    "QuoteError",
    "QuoteSource",
    "QuoteVerifier",
    "SimulatedQuote",
    "SimulatedTdx",
    "SimulatedTdxProvider",
    "Tdx",
    "TdxTicket",
    "TdxTicketBuilder",
    "VerifiedQuote",
    "measurement",
    "report_data_for",
]
