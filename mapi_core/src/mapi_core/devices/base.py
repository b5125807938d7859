"""What every device has: a name, an id, a device-type OID and the engine dispatcher."""

from __future__ import annotations

import threading

from mapi_core.constants import DEVICE_ONLINE
from mapi_core.engine._engine import ffi, lib


class Device:
    """A source of packets and the engine dispatcher that runs its flows.

    ``linktype`` and ``snaplen`` describe the packets (the first interface's, for files that mix
    link types); functions read them at apply time, e.g. to compile a BPF filter.
    """

    driver = "device"

    def __init__(self, name: str, devid: int, oid: str, description: str = "") -> None:
        self.name = name
        self.devid = devid
        self.oid = oid
        self.description = description
        self.alias = ""
        self.linktype = 1
        self.snaplen = 65535
        self.swapped = False      # packets' multi-byte link-layer fields are in the other byte order
        self.status = DEVICE_ONLINE
        self.error: str = ""
        self.warning: str = ""
        self.finished = threading.Event()
        self.engine = ffi.gc(lib.mapi_dev_new(), lib.mapi_dev_free)
        if self.engine == ffi.NULL:
            raise MemoryError("cannot allocate a device dispatcher")

    @property
    def packets(self) -> int:
        """Packets the engine has dispatched on this device."""
        return lib.mapi_dev_packets(self.engine)

    @property
    def offline(self) -> bool:
        return False

    def start(self) -> None:
        """Starts delivering packets."""

    def stop(self) -> None:
        """Stops delivering packets and waits until the engine is idle."""

    def close(self) -> None:
        self.stop()
