"""Device statistics (``mapi_stats``) and the engine's drop counters.

Nothing is dropped without being counted.  Where a packet can be lost:

* before mapi sees it: by the interface or its driver (``ps_ifdrop``), or by the kernel when the
  capture buffer is full (``ps_drop``); the capture backend reports both;
* inside mapi: by a function that had to drop a packet it was meant to keep, e.g. TO_BUFFER
  when its reader is too slow on a live device (``function_drops``), or by the engine itself
  when it had no memory for a modifying flow's private copy (``engine_drops``).

A function counts its drops on the device's counter: in its ``init`` hook it takes
:func:`drop_counter_address` (the address of a ``uint64_t``, valid as long as the device) and
in ``process()`` adds with ``__atomic_fetch_add(counter, n, __ATOMIC_RELAXED)``.  Python code
calls :func:`count_drops`.
"""

from __future__ import annotations

import attrs

from mapi_core.devices.base import Device
from mapi_core.engine._engine import ffi, lib


@attrs.frozen
class DeviceStats:
    """What ``mapi_stats(dev)`` returns: MAPI's ``struct mapi_stat`` and mapi's own counters.

    Live devices count from their first connect; offline devices count the packets read.

    * ``ps_recv``: packets that reached the capture (libpcap's ``ps_recv``: those delivered,
      those the kernel dropped, those still in the buffer); for a trace file, the packets read.
    * ``ps_drop``: packets the kernel dropped because the capture buffer was full.
    * ``ps_ifdrop``: packets the interface or its driver dropped (``rx_missed_errors`` +
      ``rx_fifo_errors`` of the interface, as libpcap counts them).
    * ``processed``: packets the engine ran through the device's flows.
    * ``function_drops``: packets functions had to drop (TO_BUFFER full on a live device...).
    * ``engine_drops``: packets the engine could not give a flow (out of memory).
    * ``backend``: ``"afpacket"``, ``"pcap"`` or ``"offline"``.
    """

    dev: str
    ps_recv: int
    ps_drop: int
    ps_ifdrop: int
    processed: int
    function_drops: int
    engine_drops: int
    backend: str
    hostname: str = "localhost"

    @property
    def dropped(self) -> int:
        """Every packet lost, wherever it was lost."""
        return self.ps_drop + self.ps_ifdrop + self.function_drops + self.engine_drops


def drop_counter_address(device: Device) -> int:
    """Address of the device's ``uint64_t`` drop counter, for a function's native state."""
    return int(ffi.cast("uintptr_t", lib.mapi_dev_drop_counter(device.engine)))


def count_drops(device: Device, packets: int = 1) -> None:
    """Counts packets a (Python) function had to drop."""
    lib.mapi_dev_count_drop(device.engine, packets)


def device_stats(device: Device) -> DeviceStats:
    """The statistics of an open device; a device type with a capture reports its counters
    through a ``capture_stats()`` method returning (received, kernel drops, interface drops)."""
    processed = lib.mapi_dev_packets(device.engine)
    capture = getattr(device, "capture_stats", None)
    if capture is not None:
        received, kernel_drops, if_drops = capture()
        backend = getattr(device, "backend", "live")
    else:
        received, kernel_drops, if_drops = processed, 0, 0
        backend = "offline" if device.offline else device.driver
    return DeviceStats(device.name, received, kernel_drops, if_drops, processed,
                       lib.mapi_dev_function_drops(device.engine), lib.mapi_dev_engine_drops(device.engine),
                       backend)
