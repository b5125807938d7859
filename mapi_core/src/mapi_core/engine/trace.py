"""Python face of the engine's offline trace reader (reader.c): pcap and pcapng files.

Meant for tests and tools; the engine reads traces in C without going through Python.

    with TraceFile("capture.pcap") as trace:
        for packet in trace:
            ...
        if trace.status != "eof":
            print(trace.message)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from mapi_core.engine._engine import ffi, lib

_FORMATS = {lib.MAPI_TRACE_PCAP: "pcap", lib.MAPI_TRACE_PCAPNG: "pcapng"}
_STATUSES = {
    lib.MAPI_TRACE_OK: "ok",
    lib.MAPI_TRACE_EOF: "eof",
    lib.MAPI_TRACE_TRUNCATED: "truncated",
    lib.MAPI_TRACE_DAMAGED: "damaged",
}


class TraceOpenError(OSError, ValueError):
    """The trace could not be opened: missing, unreadable, or not a pcap/pcapng file.

    It is both an OSError (the file could not be used) and a ValueError (its content is wrong),
    so callers may catch whichever fits; the message is the reader's one-line reason.
    """


@dataclass(frozen=True, slots=True)
class Packet:
    """One captured packet: ts is MAPI's 32.32 fixed-point time (seconds in the upper 32 bits)."""

    ts: int
    caplen: int
    wlen: int
    ifindex: int
    linktype: int
    data: bytes


@dataclass(frozen=True, slots=True)
class TraceState:
    """What the reader knows of a trace so far (kept as it was when the trace is closed)."""

    format: str                 # "pcap" or "pcapng"
    nanosecond: bool            # timestamps finer than µs (ns pcap, or a fine pcapng interface)
    swapped: bool               # written in the other byte order (first section for pcapng)
    snaplen: int                # of the pcap header or the first pcapng interface
    linktype: int | None        # LINKTYPE_ of the pcap header or first interface; None if none yet
    interfaces: list[int]       # link type of each interface seen (pcapng: across all sections)
    status: str                 # "ok" while packets may follow, then "eof", "truncated" or "damaged"
    message: str                # why reading stopped early ("" while ok or at a clean end)
    packets: int                # packets delivered so far


def _state_field(name: str) -> property:
    return property(lambda self: getattr(self._state(), name), doc=f"The trace's {name} (see TraceState).")


class TraceFile:
    """An open pcap or pcapng file; iterate over it to read its packets once, in order."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        err = ffi.new("char[512]")
        handle = lib.mapi_trace_open(os.fsencode(path), err, len(err))
        if handle == ffi.NULL:
            raise TraceOpenError(ffi.string(err).decode(errors="replace"))
        self._t = ffi.gc(handle, lib.mapi_trace_close)
        self._batch = ffi.new("mapi_batch_t *")

    def __enter__(self) -> TraceFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Unmaps and closes the file.  Its properties keep their last values."""
        if self._t is not None:
            self._closed = self._state()
            ffi.release(self._t)
            self._t = None

    def __iter__(self) -> Iterator[Packet]:
        batch = self._batch
        while self._t is not None and lib.mapi_trace_next(self._t, batch):
            for i in range(batch.count):
                if self._t is None:  # closed while iterating: the data pointers are gone
                    return
                h = batch.hdr[i]
                data = bytes(ffi.buffer(batch.data[i], h.caplen))
                yield Packet(h.ts, h.caplen, h.wlen, h.ifindex, h.linktype, data)

    def _state(self) -> TraceState:
        if self._t is None:
            return self._closed
        t = self._t
        linktype = int(lib.mapi_trace_linktype(t))
        return TraceState(
            format=_FORMATS[lib.mapi_trace_format(t)],
            nanosecond=bool(lib.mapi_trace_nanosecond(t)),
            swapped=bool(lib.mapi_trace_swapped(t)),
            snaplen=int(lib.mapi_trace_snaplen(t)),
            linktype=None if linktype == 0xFFFFFFFF else linktype,
            interfaces=[int(lib.mapi_trace_interface_linktype(t, i)) for i in range(lib.mapi_trace_interfaces(t))],
            status=_STATUSES[lib.mapi_trace_status(t)],
            message=ffi.string(lib.mapi_trace_message(t)).decode(errors="replace"),
            packets=int(lib.mapi_trace_packets(t)),
        )

    format = _state_field("format")
    nanosecond = _state_field("nanosecond")
    swapped = _state_field("swapped")
    snaplen = _state_field("snaplen")
    linktype = _state_field("linktype")
    interfaces = _state_field("interfaces")
    status = _state_field("status")
    message = _state_field("message")
    packets = _state_field("packets")
