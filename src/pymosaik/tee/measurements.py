"""TDX measurements (MRTD, RTMR0-3) and the criteria a validator matches them against.

Port of mosaik ``src/tee/tdx/measure.rs``. A measurement is 48 bytes (SHA-384
sized); MRTD names the initial TD image, RTMR0-3 the runtime-extended registers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from pymosaik.primitives import UniqueId, Wire, unique_id

__all__ = ["MEASUREMENT_LEN", "Measurements", "MeasurementsCriteria", "measurement"]

MEASUREMENT_LEN: Final = 48

#: Placeholders mosaik hashes for an unset criterion (MRTD, RTMR0..3).
_UNSET_FILL: Final = (9, 1, 2, 3, 4)
_CRITERIA_TAG: Final = unique_id("mosaik.tee.tdx.measurements-criteria.v1")


def measurement(value: str | bytes) -> bytes:
    """48 measurement bytes from raw bytes or hex (``0x`` prefix allowed)."""
    if isinstance(value, str):
        text = value.removeprefix("0x")
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise ValueError(f"measurement is not hex: {value!r}") from exc
    else:
        raw = bytes(value)
    if len(raw) != MEASUREMENT_LEN:
        raise ValueError(f"a measurement is {MEASUREMENT_LEN} bytes, got {len(raw)}")
    return raw


class Measurements(Wire, frozen=True):
    """The five measurement registers a TDX quote reports."""

    mrtd: bytes
    rtmr0: bytes
    rtmr1: bytes
    rtmr2: bytes
    rtmr3: bytes

    def __post_init__(self) -> None:
        for reg in (self.mrtd, *self.rtmrs):
            if len(reg) != MEASUREMENT_LEN:
                raise ValueError(f"a measurement is {MEASUREMENT_LEN} bytes, got {len(reg)}")

    @classmethod
    def of(
        cls,
        mrtd: str | bytes,
        rtmr0: str | bytes,
        rtmr1: str | bytes,
        rtmr2: str | bytes,
        rtmr3: str | bytes,
    ) -> Measurements:
        """Build from hex strings or raw bytes."""
        return cls(
            measurement(mrtd),
            measurement(rtmr0),
            measurement(rtmr1),
            measurement(rtmr2),
            measurement(rtmr3),
        )

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)

    def rtmr(self, index: int) -> bytes:
        return self.rtmrs[_rtmr_index(index)]

    def __repr__(self) -> str:
        return f"Measurements(mrtd={self.mrtd.hex()[:16]}…)"


def _rtmr_index(index: int) -> int:
    if not 0 <= index <= 3:
        raise ValueError(f"RTMR index must be 0..3, got {index}")
    return index


@dataclass(frozen=True, slots=True)
class MeasurementsCriteria:
    """Registers that must hold exact values; None means "any value"."""

    mrtd: bytes | None = None
    rtmr: tuple[bytes | None, bytes | None, bytes | None, bytes | None] = (None, None, None, None)

    @classmethod
    def exactly(cls, m: Measurements) -> MeasurementsCriteria:
        """Require every register to equal ``m`` (mosaik ``From<Measurements>``)."""
        return cls(m.mrtd, m.rtmrs)

    def require_mrtd(self, value: str | bytes) -> MeasurementsCriteria:
        return replace(self, mrtd=measurement(value))

    def require_rtmr(self, index: int, value: str | bytes) -> MeasurementsCriteria:
        regs = list(self.rtmr)
        regs[_rtmr_index(index)] = measurement(value)
        return replace(self, rtmr=(regs[0], regs[1], regs[2], regs[3]))

    def matches(self, m: Measurements) -> bool:
        expected: Sequence[bytes | None] = (self.mrtd, *self.rtmr)
        actual = (m.mrtd, *m.rtmrs)
        return all(e is None or e == a for e, a in zip(expected, actual, strict=True))

    def signature(self) -> UniqueId:
        """mosaik's ``MeasurementsCriteria::signature``: unset registers hash a fill pattern."""
        acc = _CRITERIA_TAG
        for value, fill in zip((self.mrtd, *self.rtmr), _UNSET_FILL, strict=True):
            acc = acc.derive(value if value is not None else bytes([fill]) * MEASUREMENT_LEN)
        return acc
