"""Offline devices: a trace file read as fast as possible by the engine, in its own thread.

MAPI semantics: the device is created (the file is opened and its header read, so errors show
at once), flows are created on it and connected, then ``start`` reads every packet; at the end
of the file every flow becomes FLOW_FINISHED.  A truncated file ends cleanly with a warning; a
damaged one ends with an error (code 6158) naming the packet and offset.  Either way every
packet before the problem was processed and counted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from mapi_core.constants import DEVICE_DELETED, DEVICE_FINISHED, DEVICE_READING, DEVICE_SETUP
from mapi_core.devices.base import Device
from mapi_core.engine._engine import ffi, lib
from mapi_core.errors import ErrorCode, MapiError

log = logging.getLogger(__name__)

_TRUNCATED, _DAMAGED = lib.MAPI_TRACE_TRUNCATED, lib.MAPI_TRACE_DAMAGED


class OfflineDevice(Device):
    """A trace file as a device; its name is ``"<path>@<n>"`` as in MAPI."""

    driver = "pcapfile"

    def __init__(self, name: str, devid: int, oid: str, path: str | os.PathLike, description: str = "") -> None:
        super().__init__(name, devid, oid, description)
        self.path = os.fspath(path)
        errbuf = ffi.new("char[]", 512)
        trace = lib.mapi_trace_open(os.fsencode(self.path), errbuf, 512)
        if trace == ffi.NULL:
            raise MapiError(ErrorCode.MAPI_ERROR_FILE, ffi.string(errbuf).decode(errors="replace"))
        self._trace = trace
        self.format = "pcapng" if lib.mapi_trace_format(trace) == lib.MAPI_TRACE_PCAPNG else "pcap"
        linktype = lib.mapi_trace_linktype(trace)
        self.linktype = 1 if linktype == 0xFFFFFFFF else linktype
        self.snaplen = lib.mapi_trace_snaplen(trace) or 65535
        self.swapped = bool(lib.mapi_trace_swapped(trace))
        self.status = DEVICE_SETUP
        self.on_finish: list[Callable[[OfflineDevice], None]] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def offline(self) -> bool:
        return True

    def restrict(self, start: int, end: int) -> int:
        """Reads only the records that start in the byte range [start, end) of the file (a part of
        it for one of several workers); returns the offset of the first record, found by shape.
        Before start, and for a pcap file only (MapiError 7009 otherwise)."""
        with self._lock:
            if self._thread is not None or self._trace is None:
                raise MapiError(ErrorCode.MFUNCT_NOT_SUPPORTED, f"{self.name}: a started device cannot be split")
            found = lib.mapi_trace_restrict(self._trace, start, end)
        if found < 0:
            reason = ffi.string(lib.mapi_trace_message(self._trace)).decode(errors="replace")
            raise MapiError(ErrorCode.MFUNCT_NOT_SUPPORTED, f"{self.path}: {reason}")
        return int(found)

    def offset(self) -> int:
        """The file offset of the next record to read (after the end: where reading stopped)."""
        return int(lib.mapi_trace_offset(self._trace)) if self._trace is not None else 0

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            if self._trace is None:
                raise MapiError(ErrorCode.MAPID_NO_DEVICE, f"{self.name} was deleted")
            self.status = DEVICE_READING
            self._thread = threading.Thread(target=self._read, name=f"mapi-offline {self.name}", daemon=True)
            self._thread.start()

    def _read(self) -> None:
        status = lib.mapi_dev_run_trace(self.engine, self._trace)
        message = ffi.string(lib.mapi_trace_message(self._trace)).decode(errors="replace")
        if status == _TRUNCATED:
            self.warning = f"{self.path}: {message}"
            log.warning("%s", self.warning)
        elif status == _DAMAGED:
            self.error = f"{self.path}: {message}"
            log.error("%s", self.error)
        self.status = DEVICE_FINISHED
        for callback in self.on_finish:
            callback(self)
        self.finished.set()

    def stop(self) -> None:
        lib.mapi_dev_stop(self.engine)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def close(self) -> None:
        self.stop()
        with self._lock:
            if self._trace is not None:
                lib.mapi_trace_close(self._trace)
                self._trace = None
        self.status = DEVICE_DELETED
        self.finished.set()
