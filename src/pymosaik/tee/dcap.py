"""`DcapVerifier`: real Intel TDX quotes, verified through the full DCAP chain.

Adapter over the PyPI package ``dcap-qvl`` (Phala): it checks the quote's
signature, the QE report, the PCK certificate chain up to Intel's root CA, the
CRLs and the TCB info in the supplied collateral, all at a given time. The
collateral (PCS/PCCS documents) must be supplied by the caller; fetching it is
I/O and stays outside the validator. ``dcap-qvl`` is imported lazily, so the
rest of `pymosaik.tee` works without it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, Final

import blake3

from pymosaik.primitives import UniqueId, unique_id

from .measurements import Measurements
from .quote import REPORT_DATA_LEN, QuoteError, VerifiedQuote

__all__ = ["DEFAULT_ACCEPTED_STATUSES", "CollateralSource", "DcapVerifier"]

#: TCB statuses accepted by default: only a fully patched platform.
DEFAULT_ACCEPTED_STATUSES: Final = frozenset({"UpToDate"})
_VERIFIER_TAG: Final = unique_id("pymosaik.tee.dcap-verifier.v1")
_MAX_QUOTE_SIZE: Final = 64 * 1024

#: Collateral JSON (dcap-qvl's ``QuoteCollateralV3.to_json`` shape) for a raw quote.
CollateralSource = Callable[[bytes], str]


def _dcap() -> Any:
    try:
        return importlib.import_module("dcap_qvl")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise QuoteError("dcap-qvl is not installed") from exc


class DcapVerifier:
    """`QuoteVerifier` for hardware TDX quotes (never ``simulated``).

    ``collateral`` is the collateral JSON or a function from quote to JSON
    (e.g. a cache filled from a PCCS). ``root_ca_der`` overrides Intel's root
    CA (tests, private PKI). A quote whose TCB status is not in
    ``accepted_statuses`` is refused.
    """

    def __init__(
        self,
        collateral: str | CollateralSource,
        *,
        root_ca_der: bytes | None = None,
        accepted_statuses: Iterable[str] = DEFAULT_ACCEPTED_STATUSES,
    ) -> None:
        self._collateral = collateral
        self.root_ca_der = root_ca_der
        self.accepted_statuses = frozenset(accepted_statuses)

    def _collateral_json(self, quote: bytes) -> str:
        if isinstance(self._collateral, str):
            return self._collateral
        return self._collateral(quote)

    def verify(self, quote: bytes, now_ms: int) -> VerifiedQuote:
        if len(quote) > _MAX_QUOTE_SIZE:
            raise QuoteError("quote too large")
        lib = _dcap()
        try:
            parsed = lib.parse_quote(quote)
            if not parsed.is_tdx():
                raise QuoteError("not a TDX quote")
            collateral = lib.QuoteCollateralV3.from_json(self._collateral_json(quote))
            now_s = now_ms // 1000
            if self.root_ca_der is None:
                report = lib.verify(quote, collateral, now_s)
            else:
                report = lib.verify_with_root_ca(quote, collateral, self.root_ca_der, now_s)
            status = str(report.status)
            body = parsed.report
            measurements = Measurements(
                bytes(body.mr_td),
                bytes(body.rt_mr0),
                bytes(body.rt_mr1),
                bytes(body.rt_mr2),
                bytes(body.rt_mr3),
            )
            report_data = bytes(body.report_data)
        except QuoteError:
            raise
        except Exception as exc:  # dcap-qvl raises ValueError/RuntimeError variants
            raise QuoteError(f"DCAP verification failed: {exc}") from exc
        if status not in self.accepted_statuses:
            raise QuoteError(f"TCB status {status} not accepted")
        if len(report_data) != REPORT_DATA_LEN:
            raise QuoteError("unexpected report data length")
        return VerifiedQuote(measurements, report_data, simulated=False, status=status)

    def signature(self) -> UniqueId:
        """Folds the trust root and the accepted statuses (not the collateral)."""
        root = b"intel" if self.root_ca_der is None else blake3.blake3(self.root_ca_der).digest()
        acc = _VERIFIER_TAG.derive(root)
        for status in sorted(self.accepted_statuses):
            acc = acc.derive(status)
        return acc

    def __repr__(self) -> str:
        return f"DcapVerifier(statuses={sorted(self.accepted_statuses)})"
