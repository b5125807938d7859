"""Live devices: a network interface captured by the engine in its own thread.

MAPI semantics: the interface is opened on the first flow (so a missing interface or permission
is reported by ``create_flow``: error 1026 with the reason), capture starts at the first
connect, and the device never finishes: ``Flow.wait()`` on it is an error, results are read
while it runs, and it stops when its last flow closes.

Two capture backends, both in C (``engine/live.c``), both feeding the engine in batches:

* ``afpacket``: Linux AF_PACKET with a TPACKET_V3 ring, zero copy (the default on Linux);
* ``pcap``: libpcap, called directly from the engine (the portable path, and the one for
  libpcap's own pseudo-devices such as ``nflog``).  MAPI's design named pypcap for it; pypcap
  does not build on Python 3.12+, and calling libpcap from C also avoids Python per packet, so
  mapi never needs it.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import sys
import threading
import weakref

from mapi_core.config import LiveOptions
from mapi_core.constants import DEVICE_DELETED, DEVICE_ONLINE, DEVICE_READING
from mapi_core.devices.base import Device
from mapi_core.engine._engine import ffi, lib
from mapi_core.errors import ErrorCode, MapiError

log = logging.getLogger(__name__)

BACKENDS = {"afpacket": lib.MAPI_LIVE_AFPACKET, "pcap": lib.MAPI_LIVE_PCAP}
BACKEND_NAMES = {code: name for name, code in BACKENDS.items()}
#: How long close() waits for the capture thread (it is woken at once; this only bounds it).
STOP_TIMEOUT = 5.0
_ERRLEN = 512
_running: weakref.WeakSet[LiveDevice] = weakref.WeakSet()


@atexit.register
def _stop_captures() -> None:
    """At interpreter exit, no capture thread may still run flows (Python functions among them)."""
    for device in list(_running):
        device.stop()


def kernel_interface(name: str) -> bool:
    """Whether ``name`` is a network interface of this network namespace."""
    try:
        socket.if_nametoindex(name)
    except (OSError, ValueError):
        return False
    return True


def pcap_devices() -> list[dict[str, object]]:
    """The capture devices libpcap finds (``tcpdump -D``): name, description, flags, addresses."""
    size = 64
    while True:
        entries = ffi.new("mapi_live_if_t[]", size)
        errbuf = ffi.new("char[]", _ERRLEN)
        count = lib.mapi_live_interfaces(entries, size, errbuf, _ERRLEN)
        if count < 0:
            raise MapiError(ErrorCode.PCAP_OPEN_ERR, ffi.string(errbuf).decode(errors="replace"))
        if count <= size:
            break
        size = count
    return [{"name": ffi.string(e.name).decode(errors="replace"),
             "description": ffi.string(e.description).decode(errors="replace"),
             "flags": e.flags,
             "addresses": [ffi.string(e.addresses[i]).decode() for i in range(e.naddresses)]}
            for e in entries[0:count]]


def choose_backend(requested: str, interface: str) -> str:
    """``auto``: AF_PACKET on Linux for kernel interfaces and ``any``, libpcap otherwise (its
    pseudo-devices, other systems)."""
    if requested != "auto":
        if requested == "afpacket" and not sys.platform.startswith("linux"):
            raise MapiError(ErrorCode.PCAP_OPEN_ERR, f"{interface}: the afpacket backend exists on Linux only")
        return requested
    if not sys.platform.startswith("linux"):
        return "pcap"
    if interface == "any" or kernel_interface(interface):
        return "afpacket"
    if any(device["name"] == interface for device in pcap_devices()):
        return "pcap"
    return "afpacket"   # says "no such device" without needing any privilege


def _open(interface: str, options: LiveOptions, backend: str) -> object:
    c_options = ffi.new("mapi_live_options_t *", {
        "snaplen": options.snaplen, "buffer_size": options.buffer_size, "timeout_ms": options.timeout_ms,
        "promisc": int(options.promisc), "immediate": int(options.immediate), "backend": BACKENDS[backend],
        "fanout": options.fanout})
    errbuf = ffi.new("char[]", _ERRLEN)
    live = lib.mapi_live_open(os.fsencode(interface), c_options, errbuf, _ERRLEN)
    if live == ffi.NULL:
        raise MapiError(ErrorCode.PCAP_OPEN_ERR, ffi.string(errbuf).decode(errors="replace"))
    return live


class LiveDevice(Device):
    """A network interface as a device (MAPI's NIC device, OID 1.3).

    ``name`` is what flows use (the interface name, or a configured device name); ``interface``
    is captured with ``options``.  ``held``: opened explicitly (``Runtime.open_live_device``),
    so it stays open when its last flow closes.
    """

    driver = "nic"
    live = True

    def __init__(self, name: str, devid: int, oid: str, interface: str, description: str = "",
                 options: LiveOptions | None = None) -> None:
        super().__init__(name, devid, oid, description)
        self.interface = interface
        self.options = options or LiveOptions()
        backend = choose_backend(self.options.backend, interface)
        try:
            live = _open(interface, self.options, backend)
        except MapiError as err:
            # auto: a kernel without AF_PACKET (or a sandbox refusing it) still has libpcap
            if self.options.backend != "auto" or backend != "afpacket" or "not supported" not in err.detail:
                raise
            backend = "pcap"
            live = _open(interface, self.options, backend)
        self._live = live
        self.backend = BACKEND_NAMES[lib.mapi_live_backend(live)]
        self.linktype = lib.mapi_live_linktype(live)
        self.snaplen = lib.mapi_live_snaplen(live)
        self.buffer_size = lib.mapi_live_buffer_size(live)
        self.status = DEVICE_ONLINE
        self.held = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Starts capturing (at the first connect); a second call does nothing."""
        with self._lock:
            if self._thread is not None:
                return
            if self._live is None:
                raise MapiError(ErrorCode.MAPID_NO_DEVICE, f"{self.name} is closed")
            errbuf = ffi.new("char[]", _ERRLEN)
            if lib.mapi_live_start(self._live, errbuf, _ERRLEN) != 0:
                raise MapiError(ErrorCode.PCAP_OPEN_ERR, ffi.string(errbuf).decode(errors="replace"))
            self.status = DEVICE_READING
            self._thread = threading.Thread(target=self._capture, name=f"mapi-live {self.name}", daemon=True)
            self._thread.start()
            _running.add(self)

    def _capture(self) -> None:
        if lib.mapi_dev_run_live(self.engine, self._live) < 0:
            self.error = ffi.string(lib.mapi_live_message(self._live)).decode(errors="replace")
            log.error("capture on %s stopped: %s", self.name, self.error)

    @property
    def warning(self) -> str:
        """What the capture noticed (the interface is or went down...), or ""."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return self._warning
        with lock:
            if self._live is None:
                return self._warning
            return ffi.string(lib.mapi_live_warning(self._live)).decode(errors="replace") or self._warning

    @warning.setter
    def warning(self, value: str) -> None:
        self._warning = value

    def capture_stats(self) -> tuple[int, int, int]:
        """(received, dropped by the kernel, dropped by the interface) since the start."""
        with self._lock:
            if self._live is None:
                return 0, 0, 0
            stats = ffi.new("mapi_live_stats_t *")
            lib.mapi_live_stats(self._live, stats)
            return stats.received, stats.kernel_drops, stats.if_drops

    def stop(self) -> None:
        """Stops the capture thread (at once: it is woken up) and waits for it, boundedly."""
        lib.mapi_dev_stop(self.engine)
        with self._lock:
            thread, live = self._thread, self._live
            if live is not None:
                lib.mapi_live_wakeup(live)
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                log.error("the capture thread of %s did not stop within %s s", self.name, STOP_TIMEOUT)

    def close(self) -> None:
        self.stop()
        with self._lock:
            if self._live is not None:
                if self._thread is not None and self._thread.is_alive():
                    # Never free what a running thread uses: leak the capture instead.
                    log.error("%s: capture still running at close; its resources are kept", self.name)
                else:
                    lib.mapi_live_close(self._live)
                self._live = None
        self.status = DEVICE_DELETED

    def __repr__(self) -> str:
        return f"<LiveDevice {self.name} interface={self.interface} backend={self.backend}>"
