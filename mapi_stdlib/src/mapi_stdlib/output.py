"""TO_FILE: the packets that reach it written to a capture file (pcap µs, pcap ns or pcapng).

The records are written by native code (``native/output.c``) on the device's thread, through a
256 KiB buffer of whole records on a duplicate of the output file's descriptor; the buffer is
written out and the file closed in ``cleanup``, after the flow has left its device.  The buffer
is the writer's own (not stdio's) so that a failed write tells exactly which packets it lost.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from types import ModuleType
from typing import Any, ClassVar

import attrs
from mapi_core.constants import MFF_PCAP, MFF_PCAP_NS, MFF_PCAPNG, MFF_RAW
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.native import extension
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import ArgumentError, Int, OutputFile, UInt64
from mapi_core.plugins.results import ResultSpec

log = logging.getLogger(__name__)

NATIVE = "mapi_stdlib.native._output"

#: TO_FILE's formats by MAPI name: MFF_RAW writes µs pcap, as MAPI's TO_FILE did.
FORMATS: dict[str, int] = {"MFF_PCAP": MFF_PCAP, "MFF_RAW": MFF_RAW, "MFF_PCAP_NS": MFF_PCAP_NS,
                           "MFF_PCAPNG": MFF_PCAPNG}

#: Short names (``mapi dump --format``) of the formats.
FORMAT_NAMES: dict[str, int] = {"pcap": MFF_PCAP, "pcap-ns": MFF_PCAP_NS, "pcapng": MFF_PCAPNG}

#: MAPI's result values: 11 while writing, 0 once the packet limit is reached.
WRITING, LIMIT_REACHED = 11, 0

_STATUS = struct.Struct("=iI4Q")


@attrs.frozen
class ToFileStatus:
    """What TO_FILE has done so far.

    ``state`` is MAPI's result (11 while writing, 0 once the packet limit is reached);
    ``packets`` and ``bytes`` (captured bytes, no file headers) were written (or wait in the
    writer's buffer, to be written by the close); ``write_errors`` counts the packets a failed write
    lost (a full disk...): they leave ``packets``, nothing more is written, and every later packet
    counts here too (a failed close adds one); ``skipped`` packets could not be held by the format
    (a pcap file has one link type: packets of another are left out).
    """

    state: int
    packets: int
    bytes: int
    write_errors: int
    skipped: int

    @property
    def limit_reached(self) -> bool:
        return self.state == LIMIT_REACHED

    @classmethod
    def decode(cls, raw: bytes) -> ToFileStatus:
        state, _, packets, volume, write_errors, skipped = _STATUS.unpack_from(raw)
        return cls(state, packets, volume, write_errors, skipped)


STATUS_RESULT = ResultSpec("to_file", _STATUS.size, ToFileStatus.decode,
                           "state (11 writing, 0 limit reached), packets, bytes, write errors, skipped")


@attrs.frozen(kw_only=True)
class FileFormat(Int):
    """An ``i`` argument: a format code, or its MAPI name (``"MFF_PCAPNG"``).  Unknown codes and
    names pass through, for TO_FILE to refuse with MAPI's code 7006."""

    letter: ClassVar[str] = "i"

    def convert(self, value: Any, resolver: Any) -> int | str:
        if isinstance(value, str):
            return FORMATS.get(value.upper(), value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArgumentError(f"expected a format code or name, got {type(value).__name__} {value!r}")
        return value

    def describe(self) -> str:
        return "int{" + ",".join(FORMATS) + "}"


def _native() -> ModuleType:
    return extension(NATIVE)


def _writer_format(code: int) -> int:
    lib = _native().lib
    return {MFF_PCAP: lib.TOFILE_PCAP_USEC, MFF_RAW: lib.TOFILE_PCAP_USEC, MFF_PCAP_NS: lib.TOFILE_PCAP_NSEC,
            MFF_PCAPNG: lib.TOFILE_PCAPNG}[code]


class ToFile:
    """One TO_FILE: validated at apply, a native writer from connect to close."""

    def instance(self, args: Any, device: Any) -> None:
        if args.format not in FORMATS.values():
            args.file.close()        # opened (and truncated) by the argument; nobody else closes it
            valid = ", ".join(f"{name}={code}" for name, code in FORMATS.items())
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_APPLY_FUNCT,
                            f"TO_FILE: argument 1 (format): {args.format!r} is not a file format ({valid})")

    def init(self, args: Any, device: Any, result: Any) -> Any:
        native = _native()
        ffi, lib = native.ffi, native.lib
        output = args.file
        try:
            output.flush()
            fd = os.dup(output.fileno())
        except OSError as err:
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_INIT_FUNCT,
                            f"TO_FILE: cannot use the output file: {err.strerror}") from None
        finally:
            output.close()           # the native writer owns its duplicate from here on
        status = ffi.cast("tofile_status_t *", result.address)
        snaplen = device.snaplen or 262144
        writer = lib.tofile_new(fd, _writer_format(args.format), device.linktype, snaplen,
                                int(bool(getattr(device, "swapped", False))), args.max_packets, status)
        if writer == ffi.NULL:
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_INIT_FUNCT,
                            f"TO_FILE: cannot write the output file: {os.strerror(ffi.errno)}")
        self.writer = writer
        return writer

    def cleanup(self) -> None:
        writer, self.writer = getattr(self, "writer", None), None
        if writer is not None:
            failures = _native().lib.tofile_close(writer)
            if failures:
                log.warning("TO_FILE: %d write(s) failed; the file is incomplete", failures)


_DESCRIPTION = (
    "Writes the packets that reach it to a capture file. Arguments: format: MFF_PCAP (0) pcap with "
    "microsecond timestamps (magic 0xa1b2c3d4, version 2.4); MFF_RAW (1) the same, as MAPI wrote "
    "pcap for it too; MFF_PCAP_NS (5) pcap with nanosecond timestamps (magic 0xa1b23c4d); "
    "MFF_PCAPNG (6) pcapng: one section, one interface description per interface and link type "
    "met (if_tsresol 9: nanoseconds), one enhanced packet block per packet; any other value is "
    "refused with 7006 as in MAPI. file: the output, created or truncated (mode 0600); complete "
    "once the flow is closed, or once the limit is reached (it is buffered). max_packets: write "
    "at most this many packets (0: no limit); packets after it still pass on. The snaplen and "
    "link type are the device's; a longer packet (a modifying function, a later pcapng "
    "interface) raises the snaplen field at close when the file is seekable. A pcap file holds "
    "one link type: packets of another one (mixed pcapng input) are skipped and counted. "
    "Timestamps: the 32.32 fraction rounded to the nearest microsecond or nanosecond (MAPI: "
    "rounded to µs), so a trace read and written back keeps its exact times. Header fields are in "
    "the byte order of the source trace (the host's for live devices). read() returns "
    "ToFileStatus(state, packets, bytes, write_errors, skipped): state is MAPI's int result, 11 "
    "while writing and 0 once the limit is reached (limit_reached); packets and bytes (captured "
    "bytes) written, those still buffered included; a full disk is counted, never fatal: the "
    "packets a failed write lost move from packets to write_errors, a regular file is cut back to "
    "its last whole record, nothing more is written after it (a record after a torn one would "
    "spoil the rest of the file) and every later packet counts in write_errors too; packets + write_errors + skipped is every packet that reached TO_FILE "
    "before its limit. Errors: a bad format 7006; a format neither integer nor string 7001; a file that "
    "cannot be created 7002; a bad max_packets 7003."
)


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="TO_FILE",
        description=_DESCRIPTION,
        implementation=ToFile,
        arguments=(
            FileFormat(name="format", description="MFF_PCAP (0, µs), MFF_RAW (1, = MFF_PCAP), MFF_PCAP_NS (5), "
                                                  "MFF_PCAPNG (6)"),
            OutputFile(name="file", description="the capture file to write"),
            UInt64(name="max_packets", default=0, description="packets to write at most (0: no limit)"),
        ),
        result=STATUS_RESULT,
        process=f"{NATIVE}:tofile_process",
    )
