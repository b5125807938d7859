"""Statistics over other functions' results and over packets: STAT, DIST, BUCKET, BURST, TOP.

STAT, DIST and BUCKET read another function's u64 result (a counter, PKT_INFO, GAP...) through
:mod:`mapi_core.references`; BURST and TOP look at the packets themselves.  The per-packet work is
in ``native/stats.c``; this module validates arguments, lays out the result memory and turns its
bytes into typed values on ``read()``.

A source on the same flow (it must have been applied before) is read after it has processed the
packet.  A source on another flow of the same device has seen the packet too (it is connected
first, and the device then runs packet by packet across flows; see mapi_core.references); one on
another device is read as it is at that moment.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import attrs
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.native import extension
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import Argument, ArgumentError, FlowRef, FunctionRef, Int
from mapi_core.plugins.results import ResultSpec

from mapi_core import errors, references, timestamps
from mapi_stdlib.records import STAT_RECORD_SIZE, StatRecord

NATIVE = "mapi_stdlib.native._stats"
_U64 = struct.Struct("=Q")


def _native() -> Any:
    """The cffi extension (``ffi``, ``lib``), loaded and ABI-checked on first use."""
    return extension(NATIVE)


# ---- argument types -------------------------------------------------------------------------


class Mode(enum.Enum):
    """How STAT and BUCKET sample their source."""

    NEVER = "never"          # BUCKET "-1": one interval spanning the whole flow
    EVERY = "every"          # "0": every packet
    SKIP_FIRST = "skip"      # STAT "1": every packet but the first
    PERIODIC = "periodic"    # a time string: once per interval of packet time


@attrs.frozen
class Sampling:
    """A converted ticks/interval argument: the mode and, when periodic, the 32.32 interval."""

    mode: Mode
    interval: int = 0


def _time_value(value: Any) -> int:
    """A MAPI time/number string (``fhlp_str2ull``, exact here) or an int, as a u64."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ArgumentError(f"expected a number or a time string such as '10s', got {type(value).__name__} {value!r}")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = timestamps.parse_time(value).value
        except ValueError as err:
            raise ArgumentError(str(err)) from None
    if number < 0:
        raise ArgumentError(f"{value!r} is negative")
    if number >= 1 << 64:
        raise ArgumentError(f"{value!r} does not fit in 64 bits")
    return number


@attrs.frozen(kw_only=True)
class Amount(Argument):
    """A non-negative quantity (``s``): a number (``"1500"``: raw units, as MAPI's str2ull) or a
    time string (``"10ms"``: 32.32 units); Python ints are accepted too."""

    letter: ClassVar[str] = "s"

    def convert(self, value: Any, resolver: Any) -> int:
        return _time_value(value)

    def describe(self) -> str:
        return "number|time"


@attrs.frozen(kw_only=True)
class Ticks(Argument):
    """STAT's sampling (``s``): ``"0"`` every packet, ``"1"`` every packet but the first, or a
    time string (one sample per interval of packet time)."""

    letter: ClassVar[str] = "s"

    def convert(self, value: Any, resolver: Any) -> Sampling:
        if not isinstance(value, str):
            raise ArgumentError(f"expected '0', '1' or a time string such as '1s', "
                                f"got {type(value).__name__} {value!r}")
        if value.strip() == "0":
            return Sampling(Mode.EVERY)
        if value.strip() == "1":
            return Sampling(Mode.SKIP_FIRST)
        interval = _time_value(value)
        return Sampling(Mode.EVERY) if interval == 0 else Sampling(Mode.PERIODIC, interval)

    def describe(self) -> str:
        return "'0'|'1'|time"


@attrs.frozen(kw_only=True)
class BucketInterval(Argument):
    """BUCKET's interval (``s``): ``"-1"`` never, ``"0"`` every packet, or a time string."""

    letter: ClassVar[str] = "s"

    def convert(self, value: Any, resolver: Any) -> Sampling:
        if not isinstance(value, str):
            raise ArgumentError(f"expected '-1', '0' or a time string such as '1s', "
                                f"got {type(value).__name__} {value!r}")
        if value.strip() == "-1":
            return Sampling(Mode.NEVER)
        interval = _time_value(value)
        return Sampling(Mode.EVERY) if interval == 0 else Sampling(Mode.PERIODIC, interval)

    def describe(self) -> str:
        return "'-1'|'0'|time"


@attrs.frozen(kw_only=True)
class Named(Int):
    """An int given by number or by name; names are case-insensitive and may carry ``prefix``
    (MAPI's headers spell them ``TOPX_IP_DSTIP``; ``IP_DSTIP`` is accepted too)."""

    prefix: str = ""

    def convert(self, value: Any, resolver: Any) -> int:
        if isinstance(value, str) and self.choices is not None:
            name = value.strip().upper()
            if self.prefix and name.startswith(self.prefix) and name not in self.choices:
                name = name[len(self.prefix):]
            if name in self.choices:
                return self.choices[name]
        return super().convert(value, resolver)

    def describe(self) -> str:
        return "int|name"


# ---- reading the source -----------------------------------------------------------------------


class _Reader:
    """The part shared by STAT, DIST and BUCKET: checking, binding and releasing the source."""

    FUNCTION: ClassVar[str] = ""
    binding: references.ResultBinding | None = None

    def check(self, args: Any, device: Any, reset: str = "") -> None:
        """Checks that the source has a u64 result and, when ``reset`` says why the source would
        be reset, that it may be: resettable, and written by this device's thread."""
        source = args.function
        references.check_source(self.FUNCTION, source, 2, device=device)
        if reset:
            code = errors.argument_code(2)
            if not source.definition.resettable:
                raise MapiError(code, f"{self.FUNCTION}: {references.describe(source)} cannot be reset, and {reset}")
            if source.flow is None or source.flow.device is not device:
                raise MapiError(code, (f"{self.FUNCTION}: {references.describe(source)} is on another device, "
                                       f"whose thread writes it, so it cannot be reset from here, and {reset}"))
            references.check_source(self.FUNCTION, source, 2, device=device, reset=True)

    def bind(self, args: Any, device: Any, state: Any, reset: bool) -> None:
        ffi = _native().ffi
        self.binding = references.bind(args.function, ffi.addressof(state, "source"), device=device, reset=reset)

    def cleanup(self) -> None:
        binding, self.binding = self.binding, None
        if binding is not None:
            binding.release()


def _source_arguments(what: str) -> tuple[Argument, Argument]:
    return (FlowRef(name="flow", description=f"the flow of the function {what}"),
            FunctionRef(name="function", description=f"the function {what} (a u64 result: a counter, "
                                                      "PKT_INFO, GAP...); a function handle stands for both"))


def _clock(state: Any, sampling: Sampling, reset: bool) -> None:
    state.clock.interval = sampling.interval
    state.clock.reset = int(reset)


# ---- STAT -------------------------------------------------------------------------------------

_STAT_MODES = {Mode.EVERY: "STATS_EVERY", Mode.SKIP_FIRST: "STATS_SKIP_FIRST", Mode.PERIODIC: "STATS_PERIODIC"}


class Stat(_Reader):
    """STAT: running count, sum, sum of squares, min and max of the samples of a u64 source."""

    FUNCTION = "STAT"

    def instance(self, args: Any, device: Any) -> None:
        if args.ticks.mode is Mode.PERIODIC:
            self.check(args, device, reset=("argument 3 (ticks) is periodic, which resets the source at every "
                                            "interval; '0' or '1' sample it without resetting"))
        else:
            self.check(args, device)

    def init(self, args: Any, device: Any, result: Any) -> Any:
        ffi, lib = _native().ffi, _native().lib
        periodic = args.ticks.mode is Mode.PERIODIC
        self.state = ffi.new("stats_stat_t *")
        self.state.result = ffi.cast("unsigned char *", result.address)
        self.state.mode = getattr(lib, _STAT_MODES[args.ticks.mode])
        _clock(self.state, args.ticks, periodic)
        self.bind(args, device, self.state, reset=periodic)
        return self.state


STAT_RESULT = ResultSpec("stat", STAT_RECORD_SIZE, StatRecord.decode,
                         "StatRecord: count, total, total_of_squares, minimum, maximum (None while count is 0), "
                         "mean, variance, sample_variance")


# ---- DIST -------------------------------------------------------------------------------------

#: At most this many regular bins (8 MB of counts).
MAX_DIST_BINS = 1_000_000


@attrs.frozen
class HistogramBin:
    """Values in [low, high) and how many samples had them."""

    low: int
    high: int
    count: int


@attrs.frozen
class Histogram:
    """DIST's result: samples below ``minimum`` (``underflow``), in each bin, above ``maximum``
    (``overflow``).  Bins are [minimum + i*width, minimum + (i+1)*width), the last one ending at
    maximum inclusive (its ``high`` is maximum + 1)."""

    minimum: int
    maximum: int
    width: int
    underflow: int
    bins: tuple[HistogramBin, ...]
    overflow: int

    @property
    def total(self) -> int:
        return self.underflow + sum(b.count for b in self.bins) + self.overflow

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(b.count for b in self.bins)


def dist_bins(minimum: int, maximum: int, width: int) -> int:
    """Number of regular bins: ceil((maximum - minimum) / width), at least 1."""
    return max(1, -(-(maximum - minimum) // width))


class Dist(_Reader):
    """DIST: histogram of a u64 source sampled on every packet."""

    FUNCTION = "DIST"

    def instance(self, args: Any, device: Any) -> int:
        self.check(args, device)
        if args.maximum <= args.minimum:
            raise MapiError(errors.argument_code(4), (f"DIST: argument 4 (maximum) {args.maximum} must be greater "
                                                      f"than argument 3 (minimum) {args.minimum}"))
        if args.width == 0:
            raise MapiError(errors.argument_code(5), "DIST: argument 5 (width) must be greater than 0")
        bins = dist_bins(args.minimum, args.maximum, args.width)
        if bins > MAX_DIST_BINS:
            raise MapiError(errors.argument_code(5), (
                f"DIST: argument 5 (width) {args.width} splits [{args.minimum}, {args.maximum}] into {bins} bins; "
                f"at most {MAX_DIST_BINS} are allowed"))
        return (bins + 2) * 8

    def init(self, args: Any, device: Any, result: Any) -> Any:
        ffi = _native().ffi
        self.state = ffi.new("stats_dist_t *")
        self.state.result = ffi.cast("unsigned char *", result.address)
        self.state.minimum = args.minimum
        self.state.maximum = args.maximum
        self.state.width = args.width
        self.state.nbins = dist_bins(args.minimum, args.maximum, args.width)
        self.bind(args, device, self.state, reset=False)
        return self.state

    def client_init(self, args: Any) -> None:
        self.shape = (args.minimum, args.maximum, args.width)

    def client_read_result(self, raw: bytes) -> Histogram:
        minimum, maximum, width = self.shape
        counts = struct.unpack_from(f"={len(raw) // 8}Q", raw)
        regular = counts[1:-1]
        bins = tuple(HistogramBin(minimum + i * width,
                                  maximum + 1 if i == len(regular) - 1 else minimum + (i + 1) * width, count)
                     for i, count in enumerate(regular))
        return Histogram(minimum, maximum, width, counts[0], bins, counts[-1])


# ---- BUCKET -----------------------------------------------------------------------------------

_BUCKET_HEADER = struct.Struct("=4Q")      # written, started, open_start, open_value
_BUCKET_ENTRY = struct.Struct("=2Q")       # start, value
_BUCKET_MODES = {Mode.NEVER: "BUCKET_NEVER", Mode.EVERY: "BUCKET_EVERY", Mode.PERIODIC: "BUCKET_PERIODIC"}
DEFAULT_RING = 1000
MAX_RING = 1_000_000


@attrs.frozen
class BucketEntry:
    """One BUCKET sample: the ``value`` of the source at the end of the interval starting at
    ``ts`` (32.32; per-packet mode: the packet's ts and the value after it).  ``lost`` counts
    the entries before this one that the ring overwrote before they were read.  ``partial`` marks
    the interval that was still open when the flow ended (its value up to the last packet)."""

    ts: int
    value: int
    lost: int = 0
    partial: bool = False

    @property
    def seconds(self) -> float:
        return timestamps.to_seconds(self.ts)


class Bucket(_Reader):
    """BUCKET: a ring of periodic samples of a u64 source, read one entry at a time."""

    FUNCTION = "BUCKET"

    def instance(self, args: Any, device: Any) -> int:
        if args.reset not in (0, 1):
            # MAPI's code for this argument (the reference lists 7000, not 7004)
            raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT,
                            f"BUCKET: argument 4 (reset) must be 0 or 1, not {args.reset}")
        self.check(args, device, reset="argument 4 (reset) is 1: use 0" if args.reset else "")
        return _BUCKET_HEADER.size + args.ring_size * _BUCKET_ENTRY.size

    def init(self, args: Any, device: Any, result: Any) -> Any:
        ffi, lib = _native().ffi, _native().lib
        self.state = ffi.new("stats_bucket_t *")
        self.state.result = ffi.cast("unsigned char *", result.address)
        self.state.ring_size = args.ring_size
        self.state.mode = getattr(lib, _BUCKET_MODES[args.interval.mode])
        self.state.reset = args.reset
        _clock(self.state, args.interval, bool(args.reset))
        self.bind(args, device, self.state, reset=bool(args.reset))
        return self.state

    def client_init(self, args: Any) -> None:
        self.ring_size = args.ring_size
        self.mode = args.interval.mode
        self.next = 0                 # entries read (or lost) so far
        self.partial_given = False

    def client_read_result(self, raw: bytes, reader: Any) -> BucketEntry | None:
        fresh = reader.wait_for(lambda snapshot: _BUCKET_HEADER.unpack_from(snapshot)[0] > self.next)
        if fresh is None:
            return self._partial(reader)
        written = _BUCKET_HEADER.unpack_from(fresh)[0]
        lost = 0
        if written - self.next > self.ring_size:
            lost = written - self.ring_size - self.next
            self.next = written - self.ring_size
        start, value = _BUCKET_ENTRY.unpack_from(fresh, _BUCKET_HEADER.size + (self.next % self.ring_size) * 16)
        self.next += 1
        return BucketEntry(start, value, lost)

    def _partial(self, reader: Any) -> BucketEntry | None:
        """Once the flow has ended and every entry has been read: the interval still open."""
        if self.partial_given or self.mode is Mode.EVERY:
            return None
        self.partial_given = True
        try:
            raw = reader.snapshot()
        except MapiError:
            return None               # the flow was closed
        _, started, open_start, open_value = _BUCKET_HEADER.unpack_from(raw)
        return BucketEntry(open_start, open_value, 0, True) if started else None


# ---- BURST ------------------------------------------------------------------------------------

_BURST_CATEGORY = struct.Struct("=5Q")
_BURST_OPEN = struct.Struct("=2Q")
MAX_BURST_CATEGORIES = 1_000_000


@attrs.frozen
class BurstCategory:
    """Bursts whose size in bytes is in [low, high) (``high`` None: no upper bound): their
    ``bytes``, ``packets`` and number (``bursts``), and the ``gaps`` that followed them with their
    total length in byte times (``gap_bytes``)."""

    low: int
    high: int | None
    bytes: int
    packets: int
    bursts: int
    gap_bytes: int
    gaps: int


def burst_categories(minimum: int, maximum: int, step: int) -> int:
    """MAPI's count: (maximum - minimum) / step + 2."""
    return (maximum - minimum) // step + 2


def burst_category_ranges(minimum: int, maximum: int, step: int) -> list[tuple[int, int | None]]:
    """[low, high) of each category: below minimum, one per step, then the rest."""
    regular = burst_categories(minimum, maximum, step) - 2
    ranges: list[tuple[int, int | None]] = [(0, minimum)]
    ranges += [(minimum + i * step, minimum + (i + 1) * step) for i in range(regular)]
    ranges.append((minimum + regular * step, None))
    return ranges


def _ns_to_ts(ns: int) -> int:
    return (ns << 32) // 10**9


class Burst:
    """BURST: sizes of back-to-back packet bursts at a given link speed, by size category."""

    def instance(self, args: Any) -> int:
        checks = [
            (1, "minimum", args.minimum >= 0, "must not be negative"),
            (2, "maximum", args.maximum > args.minimum, f"must be greater than argument 1 (minimum) {args.minimum}"),
            (3, "step", args.step > 0, "must be greater than 0"),
            (4, "frame_gap", args.frame_gap >= 0, "must not be negative"),
            (5, "late", args.late >= 0, "must not be negative"),
            (6, "early", args.early >= 0, "must not be negative"),
            (7, "speed", args.speed > 0, "must be greater than 0 (Mbit/s)"),
        ]
        for position, name, ok, reason in checks:
            if not ok:
                value = args[name]
                raise MapiError(errors.argument_code(position), f"BURST: argument {position} ({name}) {value} {reason}")
        count = burst_categories(args.minimum, args.maximum, args.step)
        if count > MAX_BURST_CATEGORIES:
            raise MapiError(errors.argument_code(3), (
                f"BURST: argument 3 (step) {args.step} makes {count} categories of [{args.minimum}, {args.maximum}]; "
                f"at most {MAX_BURST_CATEGORIES} are allowed"))
        return count * _BURST_CATEGORY.size + _BURST_OPEN.size

    def init(self, args: Any, result: Any) -> Any:
        ffi = _native().ffi
        s = self.state = ffi.new("stats_burst_t *")
        s.result = ffi.cast("unsigned char *", result.address)
        s.minimum = args.minimum
        s.step = args.step
        s.ncategories = burst_categories(args.minimum, args.maximum, args.step)
        s.frame_gap = _ns_to_ts(args.frame_gap)
        s.late = _ns_to_ts(args.late)
        s.early = _ns_to_ts(args.early)
        s.speed = args.speed
        return s

    def client_init(self, args: Any) -> None:
        self.ranges = burst_category_ranges(args.minimum, args.maximum, args.step)
        self.minimum, self.step = args.minimum, args.step

    def client_read_result(self, raw: bytes, reader: Any) -> list[BurstCategory]:
        if reader.ended:
            try:
                raw = reader.snapshot()      # taken after the end: the last burst is final
            except MapiError:
                pass
        counts = [list(_BURST_CATEGORY.unpack_from(raw, i * _BURST_CATEGORY.size)) for i in range(len(self.ranges))]
        if reader.ended:
            open_bytes, open_packets = _BURST_OPEN.unpack_from(raw, len(self.ranges) * _BURST_CATEGORY.size)
            if open_packets:
                index = 0 if open_bytes < self.minimum else min(1 + (open_bytes - self.minimum) // self.step,
                                                                len(self.ranges) - 1)
                counts[index][0] += open_bytes
                counts[index][1] += open_packets
                counts[index][2] += 1
        return [BurstCategory(low, high, *values) for (low, high), values in zip(self.ranges, counts)]


# ---- TOP --------------------------------------------------------------------------------------

TOPX_PROTOCOLS = {"TOPX_IP": 1, "TOPX_TCP": 2, "TOPX_UDP": 3, "TOPX_ICMP": 4}

#: MAPI's field numbers (topx.h), then ours for ICMP.
TOPX_FIELDS = {
    "IP_TOS": 1, "IP_LENGTH": 2, "IP_ID": 3, "IP_OFFSET": 4, "IP_TTL": 5, "IP_PROTOCOL": 6,
    "IP_CHECKSUM": 7, "IP_SRCIP": 8, "IP_DSTIP": 9,
    "TCP_SRCPORT": 10, "TCP_DSTPORT": 11, "TCP_SEQ": 12, "TCP_ACK": 13, "TCP_FLAGS": 14, "TCP_WIN": 15,
    "TCP_CRC": 16, "TCP_URGENT": 17,
    "UDP_SRCPORT": 18, "UDP_DSTPORT": 19, "UDP_LENGTH": 20, "UDP_CHECKSUM": 21,
    "ICMP_TYPE": 22, "ICMP_CODE": 23, "ICMP_CHECKSUM": 24,
}
_FIELDS_OF = {1: range(1, 10), 2: range(10, 18), 3: range(18, 22), 4: range(22, 25)}
SORT_BY = {"SORT_BY_PACKETS": 1, "SORT_BY_BYTES": 2}

MAX_TOP = 1000
#: Hash-table slots at most: 2^20 (40 MB), so 524288 distinct values per period are tracked exactly.
TOP_MAX_SLOTS = 1 << 20
_TOP_HEADER = struct.Struct("=6Q")     # count, since, distinct, untracked packets/bytes, reserved
_TOP_ENTRY = struct.Struct("=16sII2Q")  # key, kind, reserved, packets, bytes
_KIND_NUMBER, _KIND_IPV4, _KIND_IPV6 = 1, 4, 6


@attrs.frozen
class TopEntry:
    """A value of the field (int, or an ipaddress address) with its packets and bytes
    (wire length minus the link-layer header)."""

    value: int | ipaddress.IPv4Address | ipaddress.IPv6Address
    packets: int
    bytes: int


class TopList(list):  # type: ignore[type-arg]
    """TOP's result: :class:`TopEntry` items in rank order, plus what describes the period:
    ``since`` (32.32 start of the counting period), ``distinct`` (values seen in it), and
    ``untracked_packets``/``untracked_bytes`` (packets of new values the full table could not
    count; 0 unless more than 524288 distinct values came in one period)."""

    def __init__(self, entries: Iterable[TopEntry], since: int, distinct: int, untracked_packets: int,
                 untracked_bytes: int) -> None:
        super().__init__(entries)
        self.since = since
        self.distinct = distinct
        self.untracked_packets = untracked_packets
        self.untracked_bytes = untracked_bytes


def _top_value(key: bytes, kind: int) -> int | ipaddress.IPv4Address | ipaddress.IPv6Address:
    if kind == _KIND_IPV4:
        return ipaddress.IPv4Address(key[:4])
    if kind == _KIND_IPV6:
        return ipaddress.IPv6Address(key)
    return _U64.unpack_from(key)[0]


class Top:
    """TOP: the x most frequent values of a header field, by packets or bytes."""

    def instance(self, args: Any) -> int:
        if args.field not in _FIELDS_OF[args.protocol]:
            names = ", ".join(name for name, number in TOPX_FIELDS.items() if number in _FIELDS_OF[args.protocol])
            protocol = next(name for name, number in TOPX_PROTOCOLS.items() if number == args.protocol)
            raise MapiError(errors.argument_code(3), (
                f"TOP: argument 3 (field) {args.field} is not a field of {protocol}; its fields are {names}"))
        return _TOP_HEADER.size + args.x * _TOP_ENTRY.size

    def init(self, args: Any, result: Any) -> Any:
        ffi, lib = _native().ffi, _native().lib
        state = lib.stats_top_new(ffi.cast("void *", result.address), args.x, args.protocol, args.field,
                                  int(args.sortby == SORT_BY["SORT_BY_BYTES"]), args.reset << 32, TOP_MAX_SLOTS,
                                  int.from_bytes(os.urandom(8), "little"))
        if state == ffi.NULL:
            raise MapiError(ErrorCode.MAPID_MEM_ALLOCATION_ERROR, f"TOP: no memory for a table of {args.x} values")
        self.state = ffi.gc(state, lib.stats_top_free)
        return self.state

    def cleanup(self) -> None:
        state, self.state = getattr(self, "state", None), None
        if state is not None:
            _native().ffi.release(state)

    def client_read_result(self, raw: bytes) -> TopList:
        count, since, distinct, untracked_packets, untracked_bytes, _ = _TOP_HEADER.unpack_from(raw)
        entries = []
        for i in range(count):
            key, kind, _, packets, nbytes = _TOP_ENTRY.unpack_from(raw, _TOP_HEADER.size + i * _TOP_ENTRY.size)
            entries.append(TopEntry(_top_value(key, kind), packets, nbytes))
        return TopList(entries, since, distinct, untracked_packets, untracked_bytes)


# ---- definitions ------------------------------------------------------------------------------

_SOURCE_NOTE = (
    " Source: a function with a u64 result, applied earlier on this flow (read after it has seen "
    "the packet), on another flow of the device (connected earlier, so it has seen the packet too), "
    "or on another device (read as it is at that moment)."
)

_PERIODIC_NOTE = (
    "Intervals are [t0 + k*T, t0 + (k+1)*T) of packet time, t0 being the first packet's time; "
    "the packet that opens an interval belongs to it; a packet stamped before the interval in "
    "progress counts in it. The value of an interval is the source's value after its last packet. "
)

_RESET_NOTE = (
    "The source is reset at every boundary; since it has already counted the packet that crosses "
    "the boundary when it is read, what that packet added (value now minus value before) is "
    "carried into the new interval, so a counter's interval value is exactly its count in the "
    "interval (the source itself shows that count minus the first packet). "
)


def _names(choices: Mapping[str, int]) -> str:
    return ", ".join(f"{name}={number}" for name, number in choices.items())


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="STAT",
        aliases=("STATS",),
        description=(
            "Running count, sum, sum of squares, minimum and maximum of another function's u64 "
            "value, sampled by ticks: '0' on every packet, '1' on every packet but the first (for "
            "GAP-like sources), or a time string (e.g. '1s'): one sample per interval of packet time. "
            + _PERIODIC_NOTE + _RESET_NOTE + "Fully empty intervals are samples of 0. The interval "
            "in progress is not sampled until it closes, so the "
            "last, partial one never is. Periodic mode resets the source, which must be resettable "
            "and on the same device (else 7002)." + _SOURCE_NOTE + " read() gives a StatRecord "
            "(count, total, total_of_squares, minimum, maximum, mean, variance, sample_variance), "
            "exact: sums are 128-bit integers. Resettable. Fixed from MAPI: a true 0 is a valid "
            "minimum (MAPI used 0 as 'unset'); sums are exact integers, not long doubles; empty "
            "intervals are samples of 0 whatever their number (O(1)); an unknown function is "
            "7002 (the position of the fid argument; MAPI said 7001)."
        ),
        implementation=Stat,
        arguments=(*_source_arguments("sampled"),
                   Ticks(name="ticks", description="'0' every packet, '1' every packet but the first, or a time "
                                                   "string: one sample per interval of packet time")),
        result=STAT_RESULT,
        resettable=True,
        process=f"{NATIVE}:stats_stat_process",
    )
    yield FunctionDef(
        name="DIST",
        description=(
            "Histogram of another function's u64 value, sampled on every packet. Bins: values below "
            "minimum go to the underflow bin, values above maximum to the overflow bin, and the values "
            "from minimum to maximum inclusive are split into bins [minimum + i*width, "
            "minimum + (i+1)*width), the last one closed at maximum (ceil((maximum - minimum) / "
            "width) bins, at most 1000000). minimum, maximum and width are numbers or time strings "
            "(MAPI's str2ull: '1500' is 1500, '10ms' is in 32.32 units, for time sources); "
            "minimum < maximum and width > 0 (else 7004, "
            "7005)." + _SOURCE_NOTE + " read() gives a Histogram (minimum, maximum, width, "
            "underflow, bins of HistogramBin(low, high, count) with high exclusive, overflow, "
            "total). Resettable. Fixed from MAPI: a value equal to minimum is in the first bin "
            "(MAPI put it in the last), arguments are validated (MAPI checked an uninitialized "
            "variable), an unknown function is 7002 (MAPI said 7001)."
        ),
        implementation=Dist,
        arguments=(*_source_arguments("sampled"),
                   Amount(name="minimum", description="lowest value of the first bin"),
                   Amount(name="maximum", description="highest value of the last bin (inclusive)"),
                   Amount(name="width", description="width of each bin (> 0)")),
        result=ResultSpec("histogram", 0, bytes, "Histogram of u64 counts: underflow, bins..., overflow"),
        resettable=True,
        process=f"{NATIVE}:stats_dist_process",
    )
    yield FunctionDef(
        name="BUCKET",
        description=(
            "Periodic samples of another function's u64 value on packet time, kept in a ring that "
            "read() consumes one entry at a time, blocking until the next one (read(timeout=...) "
            "raises 6160 after the timeout). interval: a time string gives an entry (start of the "
            "interval, value at its end) per interval, in order, the first packet starting the "
            "clock. " + _PERIODIC_NOTE + "With reset=1 (a resettable source on the same device): "
            + _RESET_NOTE[0].lower() + _RESET_NOTE[1:] + "Fully empty intervals give (start, 0) entries with "
            "reset=1 and repeat the unchanged "
            "value with reset=0. '0' gives an entry per packet (its ts, the value after it; with "
            "reset=1, what the source counted for that packet). '-1' is one interval spanning the "
            "whole flow: nothing until the flow ends. Once the flow has ended and every entry has "
            "been read, read() gives the interval still in progress once, marked partial=True (its "
            "value up to the last packet), then None. A ring of ring_size entries (default 1000): "
            "when the reader falls behind, the oldest entries are overwritten and the next entry "
            "read says how many were lost (lost=N), never silently. Entries are BucketEntry(ts "
            "(32.32), seconds (float), value, lost, partial). reset must be 0 or 1 (else 7000, as "
            "MAPI); reset=1 needs a resettable source on the same device (else 7002)."
            + _SOURCE_NOTE + " Fixed from MAPI: the reader no longer starts one slot behind (MAPI's "
            "first read was an empty slot); entries are labelled with the start of the interval "
            "they cover and empty intervals come in order; the packet that crosses a boundary "
            "counts in the new interval; ring overflow is reported; reads have a timeout and end "
            "with None."
        ),
        implementation=Bucket,
        arguments=(*_source_arguments("sampled"),
                   BucketInterval(name="interval", description="'-1' never (one interval for the whole flow), "
                                                               "'0' every packet, or a time string"),
                   Int(name="reset", description="1: reset the source after each sample, 0: do not"),
                   Int(name="ring_size", minimum=1, maximum=MAX_RING, default=DEFAULT_RING,
                       description="entries the ring holds (ours; MAPI had 1000)")),
        result=ResultSpec("bucket", 0, bytes, "a ring of (interval start, value) entries"),
        process=f"{NATIVE}:stats_bucket_process",
    )
    yield FunctionDef(
        name="BURST",
        description=(
            "Bursts of back-to-back packets, by size. A packet continues the burst in progress when "
            "it starts no earlier than expected - early and no later than expected + late, where "
            "expected = the previous packet's ts + its wire length * 8 / speed + frame_gap (32.32 "
            "units, each term rounded down). Otherwise the burst ends: its bytes (wire lengths) "
            "select a category, which gets its bytes, packets and one burst, and the gap that "
            "follows it (ts - expected, 0 "
            "if the packet came early, in byte times at the link speed, rounded down) is added to "
            "that category's gap_bytes, and gaps counts it. Categories: (maximum - minimum) / step "
            "+ 2 of them: below minimum, one per step from minimum, and the last from minimum + "
            "((maximum - minimum) / step) * step up. The burst in progress counts only when the "
            "next packet ends it, or in read() once the flow has ended (with no gap). read() gives "
            "a list of BurstCategory(low, high (exclusive, None for the last), bytes, packets, "
            "bursts, gap_bytes, gaps). Arguments: minimum >= 0, maximum > minimum, step > 0, "
            "times >= 0, speed > 0 (else the argument's code; speed is the 7th: 7000). Resettable. "
            "Fixed from MAPI: gaps is counted (MAPI never incremented it); arguments are checked."
        ),
        implementation=Burst,
        arguments=(Int(name="minimum", description="burst size (bytes) where the regular categories start"),
                   Int(name="maximum", description="burst size (bytes) where they end"),
                   Int(name="step", description="bytes per category"),
                   Int(name="frame_gap", description="inter-frame time in ns (Ethernet: 160000 / speed: "
                                                     "preamble and inter-frame gap)"),
                   Int(name="late", description="late tolerance in ns"),
                   Int(name="early", description="early tolerance in ns"),
                   Int(name="speed", description="link speed in Mbit/s")),
        result=ResultSpec("burst", 0, bytes, "burst categories {bytes, packets, bursts, gap_bytes, gaps}"),
        resettable=True,
        process=f"{NATIVE}:stats_burst_process",
    )
    yield FunctionDef(
        name="TOP",
        description=(
            "The x most frequent values of a header field, counting packets and bytes (wire length "
            "minus the link-layer header, which includes VLAN tags and MPLS labels) per value, exactly. "
            "Protocols: " + _names(TOPX_PROTOCOLS) + " (TOPX_ICMP is ours: ICMP and ICMPv6). "
            "Fields (names with or without TOPX_): " + _names(TOPX_FIELDS) + " (ICMP_* are ours). "
            "Only packets that have the field count: IPv4 and IPv6 for IP fields (IPv6: IP_TOS is "
            "the traffic class, IP_LENGTH the payload length, IP_TTL the hop limit, IP_PROTOCOL the "
            "protocol after extension headers; IP_ID, IP_OFFSET and IP_CHECKSUM are IPv4 only), "
            "first fragments for TCP/UDP/ICMP fields. IP_OFFSET is the 13-bit offset field (8-byte "
            "units), TCP_FLAGS the 12 bits after the data offset. sortby: " + _names(SORT_BY) + ". "
            "reset: every so many seconds of packet time (from the first packet) the counts start "
            "again; 0 never. read() gives a TopList of TopEntry(value: int or ipaddress address, "
            "packets, bytes) in rank order; equal counts rank in the order they reached that count "
            "(first reached, first ranked); the list also carries since (32.32 start of the "
            "period), distinct, untracked_packets and untracked_bytes (values beyond the table's "
            "524288 per period are counted there, never silently dropped). Errors: x outside "
            "1..1000 is 7001 (MAPI clamped x < 1 to 1: refused here), protocol 7002, a field not "
            "of the protocol 7003, sortby 7004, reset 7005. Fixed from MAPI: sortby and reset are "
            "optional (default packets, never); resets follow packet time, not the wall clock; "
            "counts are exact, IPv6 addresses included."
        ),
        implementation=Top,
        arguments=(Int(name="x", minimum=1, maximum=MAX_TOP, description="how many values to keep (1..1000)"),
                   Named(name="protocol", choices=TOPX_PROTOCOLS, description="TOPX_IP, TOPX_TCP, TOPX_UDP, "
                                                                              "TOPX_ICMP (or 1..4)"),
                   Named(name="field", choices=TOPX_FIELDS, prefix="TOPX_", description="a field of the protocol, "
                                                                                        "by name or number"),
                   Named(name="sortby", choices=SORT_BY, default=1, description="SORT_BY_PACKETS=1 or "
                                                                                "SORT_BY_BYTES=2"),
                   Int(name="reset", minimum=0, default=0, description="seconds of packet time between resets, "
                                                                       "0: never")),
        result=ResultSpec("top", 0, bytes, "the top-x list"),
        process=f"{NATIVE}:stats_top_process",
    )
