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
from typing import Any

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

    def _state(self) -> dict[str, Any]:
        if self._t is None:
            return self._closed
        t = self._t
        linktype = int(lib.mapi_trace_linktype(t))
        return {
            "format": _FORMATS[lib.mapi_trace_format(t)],
            "nanosecond": bool(lib.mapi_trace_nanosecond(t)),
            "swapped": bool(lib.mapi_trace_swapped(t)),
            "snaplen": int(lib.mapi_trace_snaplen(t)),
            "linktype": None if linktype == 0xFFFFFFFF else linktype,
            "interfaces": [int(lib.mapi_trace_interface_linktype(t, i)) for i in range(lib.mapi_trace_interfaces(t))],
            "status": _STATUSES[lib.mapi_trace_status(t)],
            "message": ffi.string(lib.mapi_trace_message(t)).decode(errors="replace"),
            "packets": int(lib.mapi_trace_packets(t)),
        }

    @property
    def format(self) -> str:
        """"pcap" or "pcapng"."""
        return self._state()["format"]

    @property
    def nanosecond(self) -> bool:
        """Timestamps finer than microseconds (ns pcap, or a fine pcapng interface)."""
        return self._state()["nanosecond"]

    @property
    def swapped(self) -> bool:
        """Written in the other byte order than this host's (first section for pcapng)."""
        return self._state()["swapped"]

    @property
    def snaplen(self) -> int:
        """Snapshot length of the pcap header or of the first pcapng interface."""
        return self._state()["snaplen"]

    @property
    def linktype(self) -> int | None:
        """LINKTYPE_ of the pcap header or of the first pcapng interface (None if none yet)."""
        return self._state()["linktype"]

    @property
    def interfaces(self) -> list[int]:
        """Link type of each interface seen so far (pcapng: numbered across all sections)."""
        return self._state()["interfaces"]

    @property
    def status(self) -> str:
        """"ok" while packets may follow, then "eof", "truncated" or "damaged"."""
        return self._state()["status"]

    @property
    def message(self) -> str:
        """Why reading stopped early ("" while ok or at a clean end)."""
        return self._state()["message"]

    @property
    def packets(self) -> int:
        """Packets delivered so far."""
        return self._state()["packets"]
