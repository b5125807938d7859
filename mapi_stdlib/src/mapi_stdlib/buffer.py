"""TO_BUFFER: packets handed to the application (``mapi_get_next_pkt``, ``mapi_loop``, iteration).

The device thread copies every packet that reaches TO_BUFFER into a ring in native memory
(``native/buffer.c``); the reader takes records straight out of the ring through cffi, many per
call, and turns them into :class:`~mapi_core.packets.Packet` records.  On an offline device a full
ring makes the device thread wait for the reader (MAPI's back-pressure: no packet is lost); on a
live device the packet is dropped and counted.  A waiting reader wakes up when a packet comes,
when the trace has been read (then None) or when the flow is closed (then None).
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
from mapi_core.constants import DEVICE_DELETED, DEVICE_FINISHED, NOWAIT, WAIT
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.packets import Packet
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import Int
from mapi_core.plugins.results import ResultSpec

from mapi_core import errors
from mapi_stdlib.native._buffer import ffi, lib

NATIVE = "mapi_stdlib.native._buffer"

#: The ring's size when none is given, in bytes (MAPI's held 50 packets of the device's snaplen).
DEFAULT_SIZE = 4 << 20
MIN_SIZE = lib.TOBUF_MIN_SIZE
MAX_SIZE = 1 << 30
#: Largest block of records the reader copies out of the ring in one call.
_CHUNK = 1 << 20
#: A waiting reader returns to Python this often, so that Ctrl-C (KeyboardInterrupt) gets through.
_SLICE_NS = 200_000_000

_RECORD = struct.Struct("=QIIIHH")     # mapi_pkthdr_t
_RESULT = struct.Struct("=5Q")         # tobuf_result_t
assert _RECORD.size == lib.TOBUF_HEADER == ffi.sizeof("mapi_pkthdr_t")
assert _RESULT.size == ffi.sizeof("tobuf_result_t")


def record_size(caplen: int) -> int:
    """Bytes a packet of ``caplen`` bytes takes in the ring."""
    return lib.TOBUF_HEADER + (caplen + 7) // 8 * 8


@attrs.frozen
class BufferStats:
    """What ``read()`` of TO_BUFFER returns.

    ``buffered``: packets put into the ring; ``read``: packets handed to the reader so far;
    ``dropped``: packets a live device dropped because the ring was full (never on an offline
    device); ``truncated``: packets longer than the whole ring, stored cut to its size;
    ``waits``: times an offline device waited for the reader (back-pressure); ``bytes``: the
    captured bytes buffered.  ``pending``: packets buffered and not yet read.
    """

    buffered: int
    read: int
    dropped: int
    truncated: int
    waits: int
    bytes: int

    @property
    def pending(self) -> int:
        return self.buffered - self.read

    @classmethod
    def decode(cls, raw: bytes, read: int = 0) -> BufferStats:
        packets, captured, dropped, truncated, waits = _RESULT.unpack_from(raw)
        return cls(packets, read, dropped, truncated, waits, captured)


def _engine_blocking() -> int:
    """Address of the engine's mapi_dev_blocking (0 if this engine has none)."""
    from mapi_core.engine._engine import ffi as engine_ffi
    from mapi_core.engine._engine import lib as engine_lib

    try:
        return int(engine_ffi.cast("uintptr_t", engine_ffi.addressof(engine_lib, "mapi_dev_blocking")))
    except AttributeError:
        return 0


def _device_drop_counter(device: Any) -> int:
    """Address of the device's drop counter, which mapi_stats reports (0 if there is none)."""
    try:
        from mapi_core.devices.stats import drop_counter_address
    except ImportError:
        return 0
    return drop_counter_address(device)


class ToBuffer:
    """TO_BUFFER's lifecycle, and the reader (:class:`~mapi_core.packets.PacketSource`)."""

    def __init__(self) -> None:
        self.mode = WAIT
        self._ring: Any = None               # tobuf_t *, from init to cleanup
        self._device: Any = None
        self._ring_lock = threading.Lock()   # the ring pointer vs. the end-of-trace callback
        self._read_lock = threading.Lock()   # one reader at a time
        self._out: Any = None                # where records are copied to
        self._view = memoryview(b"")
        self._filled = 0                     # bytes of _out holding records not yet handed out
        self._offset = 0
        self._read = 0                       # packets handed to the reader

    # -- lifecycle -------------------------------------------------------------------------------

    def instance(self, args: Any, device: Any) -> None:
        snaplen = int(getattr(device, "snaplen", 0) or 65535)
        if args.size < record_size(snaplen):
            raise MapiError(errors.argument_code(2), (
                f"TO_BUFFER: argument 2 (size) {args.size} bytes cannot hold one packet of this device "
                f"(snaplen {snaplen}): give at least {record_size(snaplen)}"))

    def init(self, args: Any, device: Any, result: Any) -> Any:
        self.mode = args.mode
        result_memory = ffi.cast("tobuf_result_t *", result.address)
        ring = lib.tobuf_new(args.size, int(bool(device.offline)), result_memory, _engine_blocking(),
                             _device_drop_counter(device))
        if ring == ffi.NULL:
            raise MapiError(ErrorCode.MAPID_MEM_ALLOCATION_ERROR, f"TO_BUFFER: no memory for a ring of {args.size} bytes")
        self._ring = ffi.gc(ring, lib.tobuf_free)
        self._out = ffi.new("unsigned char[]", min(lib.tobuf_capacity(ring), _CHUNK))
        self._view = memoryview(ffi.buffer(self._out))
        # The end of an offline trace wakes the reader; a flow connected after it ends at once.
        self._device = device
        listeners = getattr(device, "on_finish", None)
        if listeners is not None:
            listeners.append(self._trace_ended)
        finished = getattr(device, "finished", None)
        if device.offline and ((finished is not None and finished.is_set())
                               or getattr(device, "status", None) in (DEVICE_FINISHED, DEVICE_DELETED)):
            self._trace_ended(device)
        return self._ring

    def _trace_ended(self, device: Any) -> None:
        with self._ring_lock:
            if self._ring is not None:
                lib.tobuf_end(self._ring)

    def client_read_result(self, raw: bytes) -> BufferStats:
        return BufferStats.decode(raw, self._read)

    def client_cleanup(self) -> None:
        """The flow closes: a waiting reader returns None, a waiting device thread goes on."""
        with self._ring_lock:
            if self._ring is not None:
                lib.tobuf_close(self._ring)

    def cleanup(self) -> None:
        self.client_cleanup()
        listeners = getattr(self._device, "on_finish", None)
        if listeners is not None:
            try:
                listeners.remove(self._trace_ended)
            except ValueError:
                pass
        with self._read_lock, self._ring_lock:
            ring, self._ring = self._ring, None
            self._filled = self._offset = 0
        if ring is not None:
            ffi.release(ring)

    # -- reading ---------------------------------------------------------------------------------

    def drops(self) -> int:
        """Packets dropped so far because the ring was full (live devices), read without a
        snapshot: for device statistics (mapi_stats)."""
        with self._ring_lock:
            return 0 if self._ring is None else lib.tobuf_dropped(self._ring)

    def next_packet(self, timeout: float | None = None, block: bool | None = None) -> Packet | None:
        """The next packet, or None: at once when not blocking and the ring is empty (NOWAIT),
        else when the trace has been read or the flow closed.  ``block`` None follows the mode
        (WAIT blocks).  A blocking read raises MapiError 6160 after ``timeout`` seconds."""
        if timeout is not None and timeout < 0:
            raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT, f"TO_BUFFER: a timeout cannot be negative ({timeout})")
        if block is None:
            block = self.mode == WAIT
        with self._read_lock:
            if self._offset >= self._filled and not self._fill(block, timeout):
                return None
            return self._take()

    def _fill(self, block: bool, timeout: float | None) -> bool:
        """Copies the next records out of the ring; False when there are none (see next_packet)."""
        ring = self._ring
        if ring is None:
            return False
        deadline = None if timeout is None else time.monotonic_ns() + int(timeout * 1e9)
        copied = ffi.new("uint64_t *")
        while True:
            if not block:
                wait = 0
            elif deadline is None:
                wait = _SLICE_NS
            else:
                wait = max(0, min(_SLICE_NS, deadline - time.monotonic_ns()))
            status = lib.tobuf_read(ring, wait, self._out, len(self._view), copied)
            if status == lib.TOBUF_RECORDS:
                self._filled, self._offset = copied[0], 0
                return True
            if status == lib.TOBUF_END:
                return False
            if status == lib.TOBUF_TOO_SMALL:     # a packet larger than the output buffer
                self._out = ffi.new("unsigned char[]", copied[0])
                self._view = memoryview(ffi.buffer(self._out))
                continue
            if not block:
                return False
            if deadline is not None and time.monotonic_ns() >= deadline:
                raise MapiError(ErrorCode.MAPI_TIMEOUT, f"TO_BUFFER: no packet within {timeout} s")

    def _take(self) -> Packet:
        offset = self._offset
        ts, caplen, wlen, ifindex, linktype, _ = _RECORD.unpack_from(self._view, offset)
        start = offset + _RECORD.size
        self._offset = start + (caplen + 7) // 8 * 8
        self._read += 1
        return Packet(ts, caplen, wlen, ifindex, linktype, bytes(self._view[start:start + caplen]))


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="TO_BUFFER",
        description=(
            "Hands the packets that reach it to the application: mapi_get_next_pkt, mapi_loop, "
            "handle.next_packet(timeout) and `for packet in handle` / flow.packets() give "
            "Packet records (ts 32.32, caplen, wlen, ifindex, linktype, data) in order. "
            "Arguments: mode WAIT (0: a read waits for a packet) or NOWAIT (1: a read returns None "
            "when none is buffered); size, the ring's size in bytes (default 4 MiB; at least one "
            "packet of the device's snaplen). Offline devices wait for the reader when the ring is "
            "full, so no packet is lost; live devices drop the packet and count it. A waiting read "
            "returns None once an offline trace has been read or when the flow is closed, and "
            "raises 6160 after its timeout. read() returns BufferStats: buffered, read, pending, "
            "dropped, truncated, waits, bytes. On an offline device the trace is read only as fast "
            "as the reader reads: read the packets before (or while) waiting for the end, and while "
            "the device waits for this reader, connecting or closing another flow of that device "
            "waits too. Fixed from MAPI: drops are counted (also in mapi_stats); blocking reads "
            "have a timeout and wake up at close; the ring is sized in bytes."),
        implementation=ToBuffer,
        arguments=(
            Int(name="mode", description="WAIT (0) or NOWAIT (1)", choices={"WAIT": WAIT, "NOWAIT": NOWAIT}),
            Int(name="size", description="ring size in bytes", minimum=MIN_SIZE, maximum=MAX_SIZE,
                default=DEFAULT_SIZE),
        ),
        result=ResultSpec("buffer stats", _RESULT.size, BufferStats.decode,
                          "BufferStats(buffered, read, dropped, truncated, waits, bytes)"),
        process=f"{NATIVE}:tobuf_process",
    )
