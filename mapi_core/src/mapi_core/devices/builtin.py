"""The core's own library: the device kinds that ship with mapi-core.

The core registers through the same hook as any library, so ``mapi libraries list`` shows it
and a library can add device kinds the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

from mapi_core.constants import MFF_PCAP, MFF_PCAP_NS, MFF_PCAPNG
from mapi_core.plugins import DeviceDef, hookimpl
from mapi_core.plugins.types import DEVICE_NIC


@hookimpl
def mapi_register_devices() -> Iterator[DeviceDef]:
    yield DeviceDef(
        name="pcapfile",
        description="offline trace files: pcap (µs/ns, either byte order) and pcapng, read as fast as possible",
        device_oid=DEVICE_NIC,
        opener="mapi_core.devices.offline:OfflineDevice",
        formats=(MFF_PCAP, MFF_PCAP_NS, MFF_PCAPNG),   # the reader tells them apart by their magic
    )
    yield DeviceDef(
        name="nic",
        description=("network interfaces, captured live through Linux AF_PACKET (TPACKET_V3 ring, zero copy) "
                     "or libpcap; options snaplen, promisc, buffer_size, backend, timeout_ms, immediate"),
        device_oid=DEVICE_NIC,
        opener="mapi_core.devices.live:LiveDevice",
        live=True,
    )
