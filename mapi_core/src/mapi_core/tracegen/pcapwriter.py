"""Classic libpcap file writing (microsecond or nanosecond timestamps, LINKTYPE_ETHERNET)."""

from __future__ import annotations

import struct
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["LINKTYPE_ETHERNET", "MAGIC_NSEC", "MAGIC_USEC", "PcapWriter"]

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535

_RECORD = struct.Struct("<IIII").pack


class PcapWriter:
    """Writes a pcap file: global header on open, one record per :meth:`write`.

    Timestamps are given in the file's unit (µs or ns since the Unix epoch).  Frames are written
    whole (caplen == wire length), so they must not exceed the snap length.
    """

    def __init__(self, path: str, nanosecond: bool = False, buffer_size: int = 1 << 20) -> None:
        self.nanosecond = nanosecond
        self._unit = 1_000_000_000 if nanosecond else 1_000_000
        self._file: BinaryIO = open(path, "wb", buffering=buffer_size)  # noqa: SIM115 - closed in close()
        self._write = self._file.write
        self._write(
            struct.pack("<IHHiIII", MAGIC_NSEC if nanosecond else MAGIC_USEC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
        )
        self.packets = 0
        self.bytes = 0

    def write(self, timestamp: int, frame: bytes) -> None:
        """Appends one packet stamped ``timestamp`` (in the file's unit)."""
        seconds, fraction = divmod(timestamp, self._unit)
        length = len(frame)
        self._write(_RECORD(seconds, fraction, length, length) + frame)
        self.packets += 1
        self.bytes += length

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
