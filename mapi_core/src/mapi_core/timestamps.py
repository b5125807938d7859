"""MAPI time: 64-bit fixed point 32.32 timestamps, and time strings.

A timestamp holds seconds since the Unix epoch in its upper 32 bits and the fraction of a second,
in units of 2^-32 s (about 0.233 ns), in its lower 32 bits, as ERF does.  Conversions into this
form are exact and round down: ``(usec << 32) // 10**6``.  Conversions back to micro- or
nanoseconds round to the nearest unit, which gives back exactly the value a µs or ns capture
held (the rounding-down error is below one 2^-32 unit, far less than half a µs or ns).
"""

from __future__ import annotations

import re
from fractions import Fraction

import attrs

ONE_SECOND = 1 << 32
FRACTION_MASK = ONE_SECOND - 1

#: Seconds in each unit a time string may carry.  ``m`` is a minute (MAPI's parser made it 6 s).
UNITS: dict[str, Fraction] = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "ms": Fraction(1, 10**3),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}

_TIME_STRING = re.compile(r"\s*(?P<sign>[+-]?)(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ns|us|ms|s|m|h)?\s*")


def from_timeval(sec: int, usec: int) -> int:
    """A 32.32 timestamp from seconds and microseconds (fraction rounded down)."""
    sec, usec = sec + usec // 10**6, usec % 10**6
    return (sec << 32) | ((usec << 32) // 10**6)


def from_timespec(sec: int, nsec: int) -> int:
    """A 32.32 timestamp from seconds and nanoseconds (fraction rounded down)."""
    sec, nsec = sec + nsec // 10**9, nsec % 10**9
    return (sec << 32) | ((nsec << 32) // 10**9)


def to_timeval(ts: int) -> tuple[int, int]:
    """(seconds, microseconds), rounded to the nearest microsecond."""
    sec, frac = ts >> 32, ts & FRACTION_MASK
    usec = (frac * 10**6 + (1 << 31)) >> 32
    if usec == 10**6:
        return sec + 1, 0
    return sec, usec


def to_timespec(ts: int) -> tuple[int, int]:
    """(seconds, nanoseconds), rounded to the nearest nanosecond."""
    sec, frac = ts >> 32, ts & FRACTION_MASK
    nsec = (frac * 10**9 + (1 << 31)) >> 32
    if nsec == 10**9:
        return sec + 1, 0
    return sec, nsec


def to_seconds(ts: int) -> float:
    """Seconds as a float (for display; not exact)."""
    return ts / ONE_SECOND


def to_fraction(ts: int) -> Fraction:
    """Seconds as an exact fraction."""
    return Fraction(ts, ONE_SECOND)


@attrs.frozen
class TimeSpec:
    """A parsed time string: a 32.32 ``value`` and whether it was ``relative`` (``+``)."""

    value: int
    relative: bool


def parse_time(text: str) -> TimeSpec:
    """Parses a MAPI time string.

    ``"10s"``, ``"1.5ms"``, ``"+2m"`` (relative), ``"250us"``, ``"3h"``, ``"100ns"``.  A number
    without a unit is a raw 32.32 value, as in MAPI (so ``"0"`` is zero and ``"4294967296"`` one
    second).  Decimals are exact (no float), and the result is rounded down to the next 2^-32 s.
    A leading ``-`` is accepted only for ``"-1"``-style raw values that MAPI functions give a
    meaning of their own; it raises ``ValueError`` with a unit.
    """
    match = _TIME_STRING.fullmatch(text)
    if match is None:
        raise ValueError(f"not a time: {text!r} (expected a number with ns, us, ms, s, m or h, e.g. '+10s')")
    sign, number, unit = match["sign"], match["number"], match["unit"]
    if unit is None:
        if "." in number:
            raise ValueError(f"not a time: {text!r} (a raw 32.32 value has no decimals; add a unit)")
        value = int(number)
        return TimeSpec(-value if sign == "-" else value, sign == "+")
    if sign == "-":
        raise ValueError(f"not a time: {text!r} (negative durations have no meaning)")
    value = int(Fraction(number) * UNITS[unit] * ONE_SECOND)
    return TimeSpec(value, sign == "+")


def format_ts(ts: int) -> str:
    """A timestamp as seconds with nine decimals, e.g. ``1700000000.123456789``."""
    sec, nsec = to_timespec(ts)
    return f"{sec}.{nsec:09d}"
