"""Typed values of the standard library's structured results."""

from __future__ import annotations

import struct
from fractions import Fraction

import attrs

_STAT = struct.Struct("=8Q")

#: Bytes of a STAT result (native/stat_record.h).
STAT_RECORD_SIZE = _STAT.size


@attrs.frozen
class StatRecord:
    """Running statistics of sampled values, exact: ``total`` and ``total_of_squares`` are
    integers, ``mean`` and the variances are computed from them without rounding until the
    final float.  ``minimum``/``maximum`` are None while ``count`` is 0."""

    count: int
    total: int
    total_of_squares: int
    minimum: int | None
    maximum: int | None

    @property
    def mean(self) -> float | None:
        return float(Fraction(self.total, self.count)) if self.count else None

    @property
    def variance(self) -> float | None:
        """Population variance (``statistics.pvariance``): sum2/n - mean^2."""
        if not self.count:
            return None
        return float(Fraction(self.total_of_squares, self.count) - Fraction(self.total, self.count) ** 2)

    @property
    def sample_variance(self) -> float | None:
        """Sample variance (``statistics.variance``), None below two values."""
        if self.count < 2:
            return None
        n = self.count
        return float((Fraction(self.total_of_squares) - Fraction(self.total) ** 2 / n) / (n - 1))

    @classmethod
    def decode(cls, raw: bytes) -> StatRecord:
        count, low, high, _, sum_lo, sum_hi, sum2_lo, sum2_hi = _STAT.unpack_from(raw)
        return cls(count, sum_hi << 64 | sum_lo, sum2_hi << 64 | sum2_lo,
                   low if count else None, high if count else None)
