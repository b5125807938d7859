"""32.32 timestamps and time strings, checked against hand calculation (shown in each test)."""

from __future__ import annotations

import pytest

from mapi_core import timestamps


def test_microseconds_convert_exactly_and_round_down() -> None:
    # 500000 us = half a second = 2^31 exactly
    assert timestamps.from_timeval(7, 500_000) == (7 << 32) | (1 << 31)
    # 1 us = 2^32 / 10^6 = 4294.967296 units, rounded down to 4294
    assert timestamps.from_timeval(0, 1) == 4294
    # MAPI's tests used usec * 4295 (rounded up); 999999 us: 999999 * 2^32 // 10^6 = 4294963001
    assert timestamps.from_timeval(0, 999_999) == 4_294_963_001
    # a usec field >= 10^6 carries into the seconds
    assert timestamps.from_timeval(1, 1_500_000) == timestamps.from_timeval(2, 500_000)


def test_nanoseconds_convert_exactly() -> None:
    # 1 ns = 4.294967296 units -> 4
    assert timestamps.from_timespec(0, 1) == 4
    # 250 ms = 2^32 / 4 = 1073741824 exactly
    assert timestamps.from_timespec(3, 250_000_000) == (3 << 32) | 1_073_741_824


@pytest.mark.parametrize("usec", [0, 1, 2, 499_999, 500_000, 654_321, 999_999])
def test_round_trip_gives_back_the_captured_microseconds(usec: int) -> None:
    assert timestamps.to_timeval(timestamps.from_timeval(1_700_000_000, usec)) == (1_700_000_000, usec)


@pytest.mark.parametrize("nsec", [0, 1, 2, 3, 499_999_999, 500_000_000, 999_999_999])
def test_round_trip_gives_back_the_captured_nanoseconds(nsec: int) -> None:
    assert timestamps.to_timespec(timestamps.from_timespec(1_700_000_000, nsec)) == (1_700_000_000, nsec)


@pytest.mark.parametrize(("text", "value", "relative"), [
    ("10s", 10 << 32, False),
    ("+10s", 10 << 32, True),
    ("1m", 60 << 32, False),                # a minute: MAPI's parser made it 6 s
    ("2h", 7200 << 32, False),
    ("1.5ms", 6_442_450, False),            # 0.0015 * 2^32 = 6442450.944 -> 6442450
    ("100us", 429_496, False),              # 0.0001 * 2^32 = 429496.7296 -> 429496
    ("3ns", 12, False),                     # 3e-9 * 2^32 = 12.88 -> 12
    ("0.25s", 1 << 30, False),
    ("0", 0, False),                        # no unit: a raw 32.32 value, as in MAPI
    ("-1", -1, False),
    ("4294967296", 1 << 32, False),
])
def test_time_strings(text: str, value: int, relative: bool) -> None:
    assert timestamps.parse_time(text) == timestamps.TimeSpec(value, relative)


@pytest.mark.parametrize("text", ["", "ten seconds", "10 parsecs", "1.5", "-2s", "s", "1e3s"])
def test_bad_time_strings_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        timestamps.parse_time(text)
