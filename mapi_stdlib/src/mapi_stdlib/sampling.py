"""Sampling and gating filters: SAMPLE, HASHSAMP, STARTSTOP, SYNC and THRESHOLD.

Per-packet work is in ``native/sampling.c``; this module validates arguments, sets up the
native states at connect and turns result memory into typed values.  HASHSAMP (keep=1) and
THRESHOLD hand out one item per ``read()`` from a ring in their result memory: the device thread
appends, each reader keeps its own position, and items overwritten before they were read are
counted in the next item's ``lost`` field (never dropped silently).
"""

from __future__ import annotations

import calendar
import datetime
import ipaddress
import re
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from typing import Any

import attrs
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import (
    Argument,
    ArgumentError,
    FlowRef,
    FunctionRef,
    Int,
    ReferenceResolver,
    String,
    UInt64,
)
from mapi_core.plugins.results import ResultSpec
from mapi_core.references import U64_KINDS, bind, check_source, describe
from mapi_core.timestamps import ONE_SECOND, parse_time

from mapi_core import errors
from mapi_stdlib.native._sampling import ffi, lib

NATIVE = "mapi_stdlib.native._sampling"


def _owned(pointer: Any, free: Callable[[Any], None], what: str) -> Any:
    """A state from a *_new function, freed with ``free`` when released (or collected)."""
    if pointer == ffi.NULL:
        raise MapiError(ErrorCode.MAPID_MEM_ALLOCATION_ERROR, f"{what}: out of memory")
    return ffi.gc(pointer, free)


class _NativeState:
    """Holds a native state from ``init`` to ``cleanup``."""

    state: Any = None

    def cleanup(self) -> None:
        state, self.state = self.state, None
        if state is not None:
            ffi.release(state)


# ==== rings in result memory ==================================================================

_RING_HEADER = struct.Struct("=QII")      # written, capacity, stopped (THRESHOLD)


def _no_value(raw: bytes) -> None:
    """Ring results have no value without their reader (``read()`` goes through it)."""
    return


class _RingCursor:
    """One reader's position in a ring of fixed-size records after a 16-byte header."""

    def __init__(self, record: struct.Struct) -> None:
        self.record = record
        self.position = 0

    def next(self, reader: Any) -> tuple[tuple[Any, ...], int] | None:
        """(the next record's fields, items lost just before it), waiting for it; None when no
        more can come (the flow ended, or the ring is marked stopped and has been read)."""

        def ready(raw: bytes) -> bool:
            written, _, stopped = _RING_HEADER.unpack_from(raw)
            return written > self.position or bool(stopped)

        raw = reader.wait_for(ready)
        if raw is None:
            return None
        written, capacity, _ = _RING_HEADER.unpack_from(raw)
        if written <= self.position:
            return None
        lost = 0
        if written - self.position > capacity:
            lost = written - capacity - self.position
            self.position = written - capacity
        offset = _RING_HEADER.size + (self.position % capacity) * self.record.size
        self.position += 1
        return self.record.unpack_from(raw, offset), lost


# ==== SAMPLE ==================================================================================

PERIODIC = 2
PROBABILISTIC = 3
#: The seed of SAMPLE's generator when none is given ("MAPI" in ASCII).
DEFAULT_SEED = 0x4D415049


class Sample(_NativeState):
    """SAMPLE: every value-th packet, or each packet with probability value/100."""

    def instance(self, args: Any) -> None:
        if args.mode == PROBABILISTIC and args.value > 100:
            raise errors.invalid_argument("SAMPLE", 1, "value", f"{args.value} is not a percentage (1..100) in PROBABILISTIC mode")

    def init(self, args: Any) -> Any:
        self.state = _owned(lib.sample_new(args.mode, args.value, args.seed), lib.sample_free, "SAMPLE")
        return self.state


# ==== HASHSAMP ================================================================================

#: HASHSAMP's TCP flag bits (MAPI's hashsamp.h values, not TCP's own).
TCP_SYN, TCP_ACK, TCP_RST, TCP_FIN, TCP_PSH = 1, 2, 4, 8, 16
#: Samples HASHSAMP's ring holds (MAPI kept 40).
HASHSAMP_RING = 1024
_HASHSAMP_RECORD = struct.Struct("=Q16s16sIHHBBB5x")


@attrs.frozen
class HashSample:
    """A packet HASHSAMP passed (keep=1).  ``flags`` holds TCP_SYN/ACK/RST/FIN/PSH bits (0 for
    UDP), ``seq`` the TCP sequence number (0 for UDP), ``ts`` the 32.32 timestamp.  ``lost``
    counts samples overwritten in the ring before they were read, just before this one."""

    src: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address
    sport: int
    dport: int
    seq: int
    flags: int
    protocol: int
    ts: int
    lost: int = 0

    @classmethod
    def decode(cls, fields: tuple[Any, ...], lost: int) -> HashSample:
        ts, src, dst, seq, sport, dport, protocol, flags, version = fields
        size = 4 if version == 4 else 16
        return cls(ipaddress.ip_address(src[:size]), ipaddress.ip_address(dst[:size]), sport, dport, seq, flags,
                   protocol, ts, lost)


class HashSamp(_NativeState):
    """HASHSAMP: 5-tuple hash sampling, with an optional ring of samples."""

    def __init__(self) -> None:
        self.cursor = _RingCursor(_HASHSAMP_RECORD)

    def instance(self, args: Any) -> int:
        return _RING_HEADER.size + HASHSAMP_RING * _HASHSAMP_RECORD.size if args.keep else 0

    def init(self, args: Any, result: Any) -> Any:
        ring = ffi.cast("hashsamp_ring_t *", result.address) if args.keep else ffi.NULL
        capacity = HASHSAMP_RING if args.keep else 0
        self.state = _owned(lib.hashsamp_new(args.range, ring, capacity), lib.hashsamp_free, "HASHSAMP")
        return self.state

    def client_read_result(self, raw: bytes, reader: Any) -> HashSample | None:
        if not raw:
            raise MapiError(ErrorCode.MAPI_SHM_ERR, "HASHSAMP: keep=0 keeps no samples to read (apply it with keep=1)")
        item = self.cursor.next(reader)
        return None if item is None else HashSample.decode(*item)


# ==== STARTSTOP ===============================================================================

_STARTSTOP_RESULT = struct.Struct("=QQQII")
_DATE = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"\s*(?:(Z)|([+-])(\d{2}):?(\d{2}))?\s*")


@attrs.frozen
class StartStopTimes:
    """32.32 timestamps: the first packet that reached STARTSTOP, the first and the last it
    passed; None until there is such a packet."""

    first: int | None
    first_processed: int | None
    last: int | None

    @classmethod
    def decode(cls, raw: bytes) -> StartStopTimes:
        first, first_processed, last, flags, _ = _STARTSTOP_RESULT.unpack_from(raw)
        passed = bool(flags & 2)
        return cls(first if flags & 1 else None, first_processed if passed else None, last if passed else None)


def parse_moment(text: str) -> tuple[bool, int]:
    """(relative, 32.32 value) of a STARTSTOP bound.

    A time string (``"+10s"``, ``"1.5ms"``, ``"0"``) is relative.  A date
    ``"YYYY-MM-DD HH:MM:SS[.fraction]"`` (or ISO 8601 with ``T``) is absolute: UTC unless it
    ends in ``Z`` or an offset (``+02:00``).  Raises ValueError with the reason.
    """
    date = _DATE.fullmatch(text)
    if date is None:
        spec = parse_time(text)
        if spec.value < 0:
            raise ValueError(f"{text!r} is negative")
        return True, spec.value
    year, month, day, hour, minute, second = (int(date[i]) for i in range(1, 7))
    try:
        datetime.datetime(year, month, day, hour, minute, second)
    except ValueError as err:
        raise ValueError(f"{text!r} is not a valid date ({err})") from None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if date[9]:
        offset = (int(date[10]) * 60 + int(date[11])) * 60
        seconds -= offset if date[9] == "+" else -offset
    fraction = Fraction(int(date[7]), 10 ** len(date[7])) if date[7] else Fraction(0)
    if not 0 <= seconds < 2**32:
        raise ValueError(f"{text!r} is outside 1970-01-01 .. 2106-02-07 (32-bit seconds)")
    return False, (seconds << 32) + int(fraction * ONE_SECOND)


class StartStop(_NativeState):
    """STARTSTOP: passes the packets whose timestamps fall inside a window."""

    def instance(self, args: Any) -> None:
        self.bounds(args)

    @staticmethod
    def bounds(args: Any) -> tuple[bool, int, bool, int]:
        """(start relative, start, stop relative, stop), checked."""
        try:
            start_relative, start = parse_moment(args.start)
        except ValueError as err:
            raise errors.invalid_argument("STARTSTOP", 1, "start", str(err)) from None
        try:
            stop_relative, stop = parse_moment(args.stop)
        except ValueError as err:
            raise errors.invalid_argument("STARTSTOP", 2, "stop", str(err)) from None
        if start_relative and not stop_relative:
            raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT, (
                f"STARTSTOP: a relative start ({args.start!r}) needs a relative stop (a duration), "
                f"not the date {args.stop!r}"))
        if not stop_relative and stop < start:
            raise errors.invalid_argument("STARTSTOP", 2, "stop", f"{args.stop!r} is before the start {args.start!r}")
        return start_relative, start, stop_relative, stop

    def init(self, args: Any, result: Any) -> Any:
        start_relative, start, stop_relative, stop = self.bounds(args)
        has_start = not start_relative or start > 0
        memory = ffi.cast("startstop_result_t *", result.address)
        self.state = _owned(lib.startstop_new(memory, int(start_relative), int(has_start), start, int(stop_relative),
                                              stop), lib.startstop_free, "STARTSTOP")
        return self.state


# ==== SYNC ====================================================================================

@attrs.frozen(kw_only=True)
class FlowList(Argument):
    """A list of flows (MAPI letter ``s``): ``"1,2,3"``, or a sequence of descriptors or Flow
    objects.  Converted to a tuple of distinct flows."""

    letter = "s"

    def convert(self, value: Any, resolver: ReferenceResolver) -> tuple[Any, ...]:
        if isinstance(value, str):
            items: list[Any] = []
            for item in value.split(","):
                item = item.strip()
                if not item.isdigit():
                    raise ArgumentError(f"{item!r} is not a flow descriptor (in {value!r}; expected e.g. '1,2')")
                items.append(int(item))
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ArgumentError(f"expected flow descriptors such as '1,2', got {type(value).__name__} {value!r}")
        if not items:
            raise ArgumentError("names no flow")
        flows: dict[int, Any] = {}
        for item in items:
            flow = resolver.flow(item)
            flows.setdefault(flow.fd, flow)
        return tuple(flows.values())

    def describe(self) -> str:
        return "flows"


class Sync(_NativeState):
    """SYNC: drops packets until every listed flow has been connected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[Any] = []

    def init(self, args: Any) -> Any:
        pending = [flow for flow in args.flows if not flow.connected]
        self.state = _owned(lib.sync_new(len(pending)), lib.sync_free, "SYNC")
        for flow in pending:
            flow.connect_listeners.append(self._connected)
            self._waiting.append(flow)
        return self.state

    def _connected(self, flow: Any) -> None:
        with self._lock:
            if self.state is not None and flow in self._waiting:
                self._waiting.remove(flow)
                lib.sync_flow_connected(self.state)

    def cleanup(self) -> None:
        with self._lock:
            for flow in self._waiting:
                if self._connected in flow.connect_listeners:
                    flow.connect_listeners.remove(self._connected)
            self._waiting.clear()
            super().cleanup()


# ==== THRESHOLD ===============================================================================

TYPE_CHAR, TYPE_INT, TYPE_UNSIGNED_LONG_LONG = 0, 1, 2
TR_POLL, TR_MW = 64, 128
VALUE_TYPES = {"TYPE_CHAR": TYPE_CHAR, "TYPE_INT": TYPE_INT, "TYPE_UNSIGNED_LONG_LONG": TYPE_UNSIGNED_LONG_LONG}
TYPE_FLAGS = {"TR_POLL": TR_POLL, "TR_MW": TR_MW}
BOUNDARIES = {"EQUAL": 0, "GT": 1, "LT": 2, "EQUAL_D": 4, "GT_D": 8, "LT_D": 16}
#: Events THRESHOLD's ring holds.
THRESHOLD_RING = 1024
#: Most slices a moving window may have.
MAX_SLICES = 65536
_THRESHOLD_EVENT = struct.Struct("=QQII")


@attrs.frozen(kw_only=True)
class TypeFlags(Int):
    """THRESHOLD's ``type`` (``i``): a value type, optionally OR-ed with TR_POLL or TR_MW; an
    integer, or names such as ``"TYPE_INT|TR_POLL"``."""

    minimum: int = 0
    maximum: int = 255

    def convert(self, value: Any, resolver: ReferenceResolver) -> int:
        if isinstance(value, str):
            names: Mapping[str, int] = {**VALUE_TYPES, **TYPE_FLAGS}
            number = 0
            for part in value.split("|"):
                part = part.strip()
                if part not in names:
                    raise ArgumentError(f"{part!r} is not one of {', '.join(names)}")
                number |= names[part]
            value = number
        number = super().convert(value, resolver)
        if number & ~(TR_POLL | TR_MW) not in VALUE_TYPES.values():
            raise ArgumentError(f"{number}: the value type (the low bits) must be TYPE_CHAR=0, TYPE_INT=1 or "
                                "TYPE_UNSIGNED_LONG_LONG=2, optionally OR TR_POLL=64 or TR_MW=128")
        return number

    def describe(self) -> str:
        return "int{" + ",".join(VALUE_TYPES) + "}|TR_POLL|TR_MW"


@attrs.frozen
class ThresholdEvent:
    """One crossing: ``ts`` (32.32; the packet's, or the poll instant with TR_POLL/TR_MW) and the
    compared ``value`` (the source's value, its difference, or a TR_MW window's increase).
    ``lost`` counts events overwritten in the ring before they were read, just before this one."""

    ts: int
    value: int
    lost: int = 0


class Threshold(_NativeState):
    """THRESHOLD: events when another function's value crosses a bound."""

    def __init__(self) -> None:
        self.cursor = _RingCursor(_THRESHOLD_EVENT)
        self.binding: Any = None

    def instance(self, args: Any, device: Any) -> int:
        value_type = args.type & ~(TR_POLL | TR_MW)
        polling = bool(args.type & (TR_POLL | TR_MW))
        source = args.function
        if value_type == TYPE_UNSIGNED_LONG_LONG:
            check_source("THRESHOLD", source, 3, device=device, kinds=U64_KINDS)
        elif value_type == TYPE_INT:
            check_source("THRESHOLD", source, 3, device=device, kinds=("int", "u32"))
        else:
            check_source("THRESHOLD", source, 3, device=device, kinds=None)
            if source.result_size < 1:
                raise errors.invalid_argument("THRESHOLD", 3, "function", f"{describe(source)} has an empty result")
        if polling and args.timeout == 0:
            raise errors.invalid_argument("THRESHOLD", 6, "timeout", "TR_POLL and TR_MW need a period > 0 ms")
        if not polling and args.timeout != 0:
            raise errors.invalid_argument("THRESHOLD", 6, "timeout", (
                f"{args.timeout} ms: the timeout is the poll period of TR_POLL/TR_MW; without them THRESHOLD "
                "compares after every packet, so pass 0"))
        if args.type & TR_MW:
            if not 1 <= args.divider <= MAX_SLICES:
                raise errors.invalid_argument("THRESHOLD", 7, "divider", f"{args.divider}: TR_MW needs 1..{MAX_SLICES} slices")
            if self.period(args) == 0:
                raise errors.invalid_argument("THRESHOLD", 7, "divider", f"{args.divider} slices of {args.timeout} ms are too short")
        elif args.divider != 0:
            raise errors.invalid_argument("THRESHOLD", 7, "divider", (
                f"{args.divider}: the divider is the number of slices of a TR_MW moving window; "
                "without TR_MW pass 0"))
        return _RING_HEADER.size + THRESHOLD_RING * _THRESHOLD_EVENT.size

    @staticmethod
    def period(args: Any) -> int:
        """32.32 units between comparisons (0: after every packet), rounded down."""
        if args.type & TR_MW:
            return (args.timeout << 32) // (1000 * args.divider)
        if args.type & TR_POLL:
            return (args.timeout << 32) // 1000
        return 0

    def init(self, args: Any, device: Any, result: Any) -> Any:
        value_type = args.type & ~(TR_POLL | TR_MW)
        source = args.function
        kind = source.definition.result.kind if source.definition.result is not None else ""
        size = {TYPE_CHAR: 1, TYPE_INT: 4, TYPE_UNSIGNED_LONG_LONG: 8}[value_type]
        slices = args.divider if args.type & TR_MW else 0
        ring = ffi.cast("threshold_ring_t *", result.address)
        state = _owned(lib.threshold_new(ring, THRESHOLD_RING, size, int(kind == "int"), args.threshold,
                                         args.boundary, self.period(args), slices, args.count),
                       lib.threshold_free, "THRESHOLD")
        source_ref = int(ffi.cast("uintptr_t", lib.threshold_source(state)))
        try:
            self.binding = bind(source, source_ref, device=device)
        except BaseException:
            ffi.release(state)
            raise
        lib.threshold_prime(state)
        self.state = state
        return state

    def client_read_result(self, raw: bytes, reader: Any) -> ThresholdEvent | None:
        item = self.cursor.next(reader)
        if item is None:
            return None
        (ts, magnitude, negative, _), lost = item
        return ThresholdEvent(ts, -magnitude if negative else magnitude, lost)

    def cleanup(self) -> None:
        binding, self.binding = self.binding, None
        if binding is not None:
            binding.release()
        super().cleanup()


def _check_layouts() -> None:
    """The decoders above must match the C structs (sampling.h)."""
    for ctype, layout in (("hashsamp_record_t", _HASHSAMP_RECORD), ("threshold_event_t", _THRESHOLD_EVENT),
                          ("startstop_result_t", _STARTSTOP_RESULT), ("hashsamp_ring_t", _RING_HEADER),
                          ("threshold_ring_t", _RING_HEADER)):
        if ffi.sizeof(ctype) != layout.size:
            raise RuntimeError(f"{ctype} is {ffi.sizeof(ctype)} bytes in C, {layout.size} in Python")


_check_layouts()


# ==== definitions =============================================================================

def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="SAMPLE",
        description=(
            "Passes a sample of the packets that reach it. PERIODIC (2; also called DETERMINISTIC, as in MAPI's "
            "man page): the value-th, 2*value-th, ... packet. PROBABILISTIC (3): each packet independently with "
            "probability exactly value/100, drawn from a xoshiro256** generator (seeded through splitmix64) "
            "private to this instance, so a run repeats for the same seed. Fixes: MAPI passed "
            "random()%100 <= value, so 1 % of the packets at 0 and value+1 % in general; here it is exactly "
            "value %, without modulo bias. MAPI clamped value <= 0 to 1 and percentages to 0..100, and took "
            "unknown modes as PERIODIC; here they are errors 7001 and 7002. The optional seed (u64) is new."),
        implementation=Sample,
        arguments=(
            Int(name="value", minimum=1, description="the period (packets), or the percentage 1..100"),
            Int(name="mode", choices={"PERIODIC": PERIODIC, "DETERMINISTIC": PERIODIC,
                                      "PROBABILISTIC": PROBABILISTIC},
                description="PERIODIC (= DETERMINISTIC) or PROBABILISTIC"),
            UInt64(name="seed", default=DEFAULT_SEED,
                   description="seed of the PROBABILISTIC generator (default 0x4D415049, \"MAPI\")"),
        ),
        filters=True,
        process=f"{NATIVE}:sample_process",
    )
    yield FunctionDef(
        name="HASHSAMP",
        description=(
            "Hash-based sampling of TCP and UDP packets by 5-tuple: h = jhash_3words(src, dst ^ protocol, "
            "sport | dport << 16, 6564987) % 1024 with Linux 2.6's jhash (lookup2); the packet passes when "
            "h < range. Words as MAPI computed them on i386: an IPv4 address is its 4 bytes read as a "
            "little-endian word, ports are numbers (host order). New: IPv6 (each address folded into one word, "
            "the XOR of its four little-endian words; the protocol is the one after the extension headers), and "
            "every link type mapi parses (Ethernet with VLAN/MPLS, SLL, NULL, raw IP, PPP, C-HDLC; MAPI read "
            "only Ethernet and C-HDLC). Dropped: non-IP packets, other protocols, IP fragments after the first, "
            "and packets cut before the ports (or, for TCP, before the flags). keep=1 stores each passed packet "
            f"in a ring of {HASHSAMP_RING} samples: read() waits for the next one and returns a HashSample "
            "(src, dst as ipaddress objects, sport, dport, seq, flags with SYN=1 ACK=2 RST=4 FIN=8 PSH=16, "
            "protocol, ts in 32.32, lost), or None once the flow has ended and every sample was read. Fix: MAPI's "
            "40-sample ring overwrote unread samples silently; here each sample says how many were lost before "
            "it, and read() takes a timeout. keep=0 has no result (read() is error 6146)."),
        implementation=HashSamp,
        arguments=(
            Int(name="range", minimum=1, maximum=1024, description="hash values kept, 1..1024 (of 1024)"),
            Int(name="keep", minimum=0, maximum=1, description="1: keep a ring of samples to read"),
        ),
        result=ResultSpec("samples", 0, _no_value,
                          "keep=1: one HashSample per read() (blocking, with timeout); keep=0: none"),
        filters=True,
        process=f"{NATIVE}:hashsamp_process",
    )
    yield FunctionDef(
        name="STARTSTOP",
        description=(
            "Passes the packets whose timestamps lie in a window, both ends included. Relative (time strings such "
            "as '+10s'): the window is [first + start, first + start + stop], where first is the first packet "
            "that reaches STARTSTOP and stop is a duration (as MAPI's code did; its man page said otherwise); a "
            "start of 0 sets no lower bound. Absolute start ('YYYY-MM-DD HH:MM:SS[.fraction]', or ISO 8601 "
            "with T): UTC unless it ends in Z or an offset such as +02:00; the stop is then a date or a duration "
            "after the start. A relative start with an absolute stop is error 7000, as in MAPI. Fix: MAPI "
            "compared absolute times with the wall clock (in local time), so offline results depended on when "
            "and where they ran; here every comparison uses packet time. read() returns StartStopTimes(first, "
            "first_processed, last) in 32.32 (first processed and last: the first and last packets passed; "
            "None until there is one), in both modes (MAPI filled it only in relative mode)."),
        implementation=StartStop,
        arguments=(
            String(name="start", description="time string (relative) or date (absolute, UTC by default)"),
            String(name="stop", description="a duration after the start, or a date"),
        ),
        result=ResultSpec("startstop", _STARTSTOP_RESULT.size, StartStopTimes.decode,
                          "StartStopTimes(first, first_processed, last), 32.32 timestamps"),
        filters=True,
        process=f"{NATIVE}:startstop_process",
    )
    yield FunctionDef(
        name="SYNC",
        description=(
            "Drops every packet until each listed flow has been connected; from then on passes everything. "
            "The list is comma-separated flow descriptors ('2,3'), or a list of descriptors or Flow objects; the "
            "flow SYNC is applied to may be among them. Unknown or malformed descriptors are error 7001 (MAPI "
            "parsed the list through an uninitialised pointer). A listed flow that is closed before it "
            "connects keeps SYNC closed."),
        implementation=Sync,
        arguments=(FlowList(name="flows", description="the flows to wait for: '2,3'"),),
        filters=True,
        process=f"{NATIVE}:sync_process",
    )
    yield FunctionDef(
        name="THRESHOLD",
        description=(
            "Watches another function's result and records an event each time a condition starts to hold "
            "(edge-triggered: once per crossing, not on every packet while it holds). The value is read as "
            "type says: TYPE_CHAR (its first byte, 0..255, of any result), TYPE_INT (an int or u32 result) or "
            "TYPE_UNSIGNED_LONG_LONG (a u64 result). boundary EQUAL/GT/LT compares the value with threshold; "
            "EQUAL_D/GT_D/LT_D compare its difference from the value at the previous comparison (the first "
            "difference is from the value when the flow connected). Comparisons happen after every packet "
            "that reaches THRESHOLD (it passes every packet), or, with TR_POLL, once per timeout ms of packet "
            "time (the first packet starts the clock; an instant is compared with the value as of the last "
            "packet before it, when the next packet arrives). TR_MW: a moving window of timeout ms in divider "
            "slices; at the end of each slice the value's increase over the last timeout ms (since the "
            "connect while the window is filling) is compared. Each event is {ts, value} (value = the compared "
            "quantity) in a ring of 1024 in result memory; read(timeout=...) waits for the next one and returns "
            "a ThresholdEvent, or None once count events have fired and been read or the flow has ended. "
            "count stops THRESHOLD after that many events (0: never). Fixes: MAPI's argdescr had 9 letters for "
            "these 8 arguments and its instance and init read them differently; the poll thread ran on the "
            "wall clock with a us/ms mix-up (here: packet time, so offline runs repeat); the moving-window "
            "GT/LT comparisons were inverted; reads could hang forever (here: timeout, and None at the end). "
            "timeout must be 0 without TR_POLL/TR_MW and divider 0 without TR_MW (7011, 7000)."),
        implementation=Threshold,
        arguments=(
            TypeFlags(name="type", description="TYPE_CHAR=0, TYPE_INT=1 or TYPE_UNSIGNED_LONG_LONG=2, "
                                               "optionally | TR_POLL=64 or | TR_MW=128"),
            FlowRef(name="flow", description="the flow of the watched function"),
            FunctionRef(name="function", description="the watched function"),
            UInt64(name="threshold", description="the bound"),
            Int(name="boundary", choices=BOUNDARIES, description="EQUAL, GT, LT, or EQUAL_D, GT_D, LT_D (differences)"),
            Int(name="timeout", minimum=0, description="poll period / window length in ms of packet time"),
            Int(name="divider", minimum=0, description="TR_MW: slices of the window (0 otherwise)"),
            Int(name="count", minimum=0, description="events before stopping, 0 = unlimited"),
        ),
        result=ResultSpec("events", 0, _no_value, "one ThresholdEvent(ts, value, lost) per read() (blocking)"),
        process=f"{NATIVE}:threshold_process",
    )
