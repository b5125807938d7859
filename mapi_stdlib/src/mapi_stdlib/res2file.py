"""RES2FILE: the results of other functions written to a file, per packet, per interval of
packet time, or once at close.

The lines are written by native code (``native/res2file.c``) on the device's thread, through
a buffered stream on a duplicate of the output file's descriptor; the file is flushed and closed
in ``cleanup``, after the flow has left its device (MAPI crashed writing its "-1" line there).
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import attrs
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.native import extension
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import FunctionRefList, Int, OutputFile, String, Time
from mapi_core.plugins.results import ResultSpec

from mapi_core import errors, references
from mapi_stdlib.records import STAT_RECORD_SIZE

log = logging.getLogger(__name__)

NATIVE = "mapi_stdlib.native._res2file"

#: MAPI's output types (res2file.h).
R2F_TYPES = {"R2F_RAW": 0, "R2F_ULLSTR": 1, "R2F_ULLSEC": 2, "R2F_STATS": 3}
R2F_RAW, R2F_ULLSTR, R2F_ULLSEC, R2F_STATS = range(4)

#: Result kinds that R2F_STATS reads: STAT's record (native/stat_record.h).
STAT_KINDS = ("stat",)

INTERVAL_AT_CLOSE = -1
INTERVAL_EVERY_PACKET = 0

_STATUS = struct.Struct("=3Q")


@attrs.frozen
class Res2FileStatus:
    """What RES2FILE has written so far: ``lines`` (the header not counted), ``write_errors``
    (lines that could not be written completely, e.g. on a full disk) and ``skipped_lines``
    (empty-interval lines left out beyond 1,000,000 for one gap between packets)."""

    lines: int
    write_errors: int
    skipped_lines: int

    @classmethod
    def decode(cls, raw: bytes) -> Res2FileStatus:
        return cls(*_STATUS.unpack_from(raw))


STATUS_RESULT = ResultSpec("res2file", _STATUS.size, Res2FileStatus.decode,
                           "lines written, write errors, skipped empty-interval lines")


def _native() -> ModuleType:
    return extension(NATIVE)


def parse_types(text: str) -> tuple[int, ...]:
    """``"1,R2F_ULLSEC, 3"`` -> (1, 2, 3); raises ValueError naming the bad item."""
    names = {value: name for name, value in R2F_TYPES.items()}
    types = []
    for item in text.split(","):
        item = item.strip()
        if item.upper() in R2F_TYPES:
            types.append(R2F_TYPES[item.upper()])
        elif item.isdigit() and int(item) in names:
            types.append(int(item))
        else:
            valid = ", ".join(f"{name}={value}" for name, value in R2F_TYPES.items())
            raise ValueError(f"{item!r} is not an output type ({valid})")
    return tuple(types)


class Res2File:
    """One RES2FILE: validated at apply, a native writer from connect to close."""

    def instance(self, args: Any, device: Any) -> None:
        try:
            self._check(args, device)
        except MapiError:
            args.file.close()        # opened (and truncated) by the argument; nobody else closes it
            raise

    def _check(self, args: Any, device: Any) -> None:
        try:
            self.types = parse_types(args.types)
        except ValueError as err:
            raise errors.invalid_argument("RES2FILE", 1, "types", str(err)) from None
        functions = args.functions
        if len(functions) != len(self.types):
            raise MapiError(errors.argument_code(2), (
                f"RES2FILE: argument 2 (functions) names {len(functions)} function(s) but argument 1 "
                f"(types) lists {len(self.types)} type(s): one type per function"))
        for number, (kind, source) in enumerate(zip(self.types, functions), start=1):
            accepted = {R2F_RAW: None, R2F_ULLSTR: references.U64_KINDS, R2F_ULLSEC: references.U64_KINDS,
                        R2F_STATS: STAT_KINDS}[kind]
            try:
                references.check_source("RES2FILE", source, 2, device=device, kinds=accepted)
                if args.reset:
                    references.check_source("RES2FILE", source, 6, device=device, kinds=None, reset=True)
            except MapiError as err:
                raise MapiError(err.code, f"{err.detail} (function {number} of argument 2)") from None
            if kind == R2F_STATS and source.result_size != STAT_RECORD_SIZE:
                raise errors.invalid_argument("RES2FILE", 2, "functions", (
                    f"function {number}, {references.describe(source)}, "
                    f"has a {source.result_size}-byte result, not a STAT record"))
        interval = args.interval.value
        if interval < INTERVAL_AT_CLOSE:
            raise errors.invalid_argument("RES2FILE", 5, "interval", (
                f"{interval} is neither -1 (at close), 0 (every packet) nor a time such as '1s'"))
        self.interval = interval

    def init(self, args: Any, device: Any, result: Any) -> Any:
        native = _native()
        ffi, lib = native.ffi, native.lib
        functions = args.functions
        output = args.file
        try:
            output.flush()
            fd = os.dup(output.fileno())
        except OSError as err:
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_INIT_FUNCT,
                            f"RES2FILE: cannot use the output file: {err.strerror}") from None
        finally:
            output.close()           # the native writer owns its duplicate from here on
        header = args.header.encode()
        types = ffi.new("int[]", list(self.types) or [0])
        sizes = ffi.new("uint32_t[]", [f.result_size for f in functions] or [0])
        status = ffi.cast("r2f_status_t *", result.address)
        writer = lib.r2f_new(fd, len(functions), types, sizes, self.interval, args.reset, header, len(header), status)
        if writer == ffi.NULL:
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_INIT_FUNCT,
                            f"RES2FILE: cannot write the output file: {os.strerror(ffi.errno)}")
        self.writer = writer
        self.bindings: list[references.ResultBinding] = []
        try:
            for i, source in enumerate(functions):
                self.bindings.append(references.bind(source, lib.r2f_ref(writer, i), device=device,
                                                     reset=bool(args.reset)))
        except Exception:
            self._close(write_due=False)     # not every reference is bound: nothing to write
            raise
        return writer

    def cleanup(self) -> None:
        self._close(write_due=True)

    def _close(self, write_due: bool) -> None:
        writer, self.writer = getattr(self, "writer", None), None
        if writer is not None:
            failures = _native().lib.r2f_close(writer, int(write_due))
            if failures:
                log.warning("RES2FILE: %d line(s) could not be written completely", failures)
        bindings, self.bindings = getattr(self, "bindings", []), []
        for binding in bindings:
            binding.release()


_DESCRIPTION = (
    "Writes the results of other functions to a file, one line at a time: after every packet "
    "that reaches it (interval \"0\"), once per interval of packet time (a time string such as "
    "\"1s\"), or once when the flow is closed (\"-1\"; MAPI crashed there, and its man page had "
    "\"-1\" and \"0\" swapped). Arguments: types, one per function, comma-separated numbers or "
    "names: R2F_RAW (0) the result's size as 4 bytes little-endian then its bytes as in memory "
    "(MAPI wrote a native unsigned long); R2F_ULLSTR (1) the u64 in decimal; R2F_ULLSEC (2) the "
    "u64 / 2^32 as seconds with 12 decimals, rounded to nearest; R2F_STATS (3) a STAT record as "
    "'count sum sum_of_squares min max', exact integers (min and max 0 while count is 0). "
    "functions: 'fid@fd,fid@fd' or a list of function handles, of any flows. header: written "
    "followed by a newline when the flow connects (an empty header writes nothing). file: the "
    "output, created or truncated; complete once the flow is closed (it is buffered). interval: "
    "as above. reset (0/1): reset the functions after each line (they must be resettable and on "
    "this device). A line is the fields separated by one space, then a newline. "
    "Interval mode: intervals are [t0 + k*T, t0 + (k+1)*T) of packet time, t0 the time of the "
    "first packet that reaches RES2FILE; a packet stamped before the interval in progress counts "
    "in it. A line holds the values as they were after the last packet of its interval: the "
    "packet that opens a new interval writes the line of the one it closes, then one line for "
    "every interval that no packet reached (repeating the line before, or zeros after a reset; "
    "at most 1,000,000 for one gap, the rest counted as skipped); at close the interval in "
    "progress gets its line. Values are read at RES2FILE's place in its flow (MAPI moved "
    "RES2FILE in front of its sources; not here): functions before it have already counted the "
    "packet that opens an interval when they are reset, so with reset=1 what that packet added "
    "is carried into the next line (the u64 difference; for R2F_STATS the one sample it added; "
    "nothing for R2F_RAW, which has no arithmetic), and the reset functions themselves show "
    "their count minus that packet. A counter's line is thus exactly its count in the interval, "
    "as tshark -z io,stat counts it. A function of another flow of the same device has seen the "
    "packet too (a flow that is read is connected, and so run, before its readers); one on "
    "another device is read as it is at that moment. read() returns Res2FileStatus(lines, "
    "write_errors, skipped_lines): a full disk is counted, never fatal. Errors: a bad type 7001; "
    "an unknown function, a function whose result the type cannot write, or a count of "
    "functions other than the count of types 7002; a bad interval 7005; reset not 0 or 1, or "
    "reset=1 with a function that cannot be reset or is on another device, 7011."
)


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="RES2FILE",
        description=_DESCRIPTION,
        implementation=Res2File,
        arguments=(
            String(name="types", description="output type per function: R2F_RAW=0, R2F_ULLSTR=1, "
                                             "R2F_ULLSEC=2, R2F_STATS=3, comma-separated"),
            FunctionRefList(name="functions", description="'fid@fd,fid@fd,...' or a list of function handles"),
            String(name="header", allow_empty=True, description="first line of the file ('' for none)"),
            OutputFile(name="file", description="the file to write"),
            Time(name="interval", description="'-1' at close, '0' every packet, or a time such as '1s' "
                                              "(packet time)"),
            Int(name="reset", minimum=0, maximum=1, description="1: reset the functions after each line"),
        ),
        result=STATUS_RESULT,
        process=f"{NATIVE}:r2f_process",
    )
