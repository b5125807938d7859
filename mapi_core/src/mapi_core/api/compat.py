"""MAPI's own calls, so MAPI programs port line by line.

Each call returns what the C call returned (a descriptor, 0, or -1 / None on failure) and
records the error for :func:`mapi_read_error`, which returns ``(code, message)`` and clears it.
Out parameters become return values (``mapi_get_flow_info(fd)`` returns the record or None).

Fixed on purpose (MAPI-REFERENCE §7): the error is kept per thread, not per process; extra or
missing arguments are errors (7000, 700N) instead of silent garbage; one descriptor namespace;
``mapi_read_results`` returns an immutable snapshot; an unknown flow is always 6145 (MAPI gave
6141 in ``mapi_get_function_info``); ``mapi_close_flow`` of a bad descriptor sets an error.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mapi_core import errors, packets
from mapi_core.constants import MFF_PCAP
from mapi_core.devices.stats import DeviceStats
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.info import DeviceInfo, FlowInfo, FunctionInfo, LibFunctInfo, LibInfo, Result
from mapi_core.packets import Packet
from mapi_core.runtime import default_runtime

_state = threading.local()
T = TypeVar("T")


def _set_error(code: int, text: str) -> None:
    _state.code, _state.text = code, text


def _mapi_call(failure: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turns MapiError into MAPI's failure value plus the recorded error."""

    def decorate(call: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(call)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            try:
                return call(*args, **kwargs)
            except MapiError as err:
                _set_error(err.code, err.detail or err.message)
                return failure

        return wrapper

    return decorate


def mapi_read_error() -> tuple[int, str]:
    """``(code, message)`` of this thread's last error, then clears it (``(0, "")`` if none)."""
    code, text = getattr(_state, "code", 0), getattr(_state, "text", "")
    _state.code, _state.text = 0, ""
    if code and text and errors.message(code) and errors.message(code) not in text:
        text = f"{errors.message(code)}: {text}"
    return code, text or errors.message(code)


@_mapi_call(-1)
def mapi_create_flow(dev: str) -> int:
    return default_runtime().create_flow(dev)


@_mapi_call(None)
def mapi_create_offline_device(path: str | os.PathLike, format: int = MFF_PCAP) -> str | None:
    return default_runtime().create_offline_device(path, format)


@_mapi_call(-1)
def mapi_start_offline_device(dev: str) -> int:
    default_runtime().start_offline_device(dev)
    return 0


@_mapi_call(-1)
def mapi_delete_offline_device(dev: str) -> int:
    default_runtime().delete_offline_device(dev)
    return 0


@_mapi_call(-1)
def mapi_create_offline_flow(path: str | os.PathLike, format: int = MFF_PCAP) -> int:
    """MAPI 1.x's convenience: a flow on a trace file; reading starts at connect."""
    return default_runtime().create_offline_flow(path, format)


@_mapi_call(-1)
def mapi_apply_function(fd: int, funct: str, *args: Any) -> int:
    return default_runtime().apply_function(fd, funct, args)


_FROM_STRING: dict[str, Callable[[str], Any]] = {
    "i": int, "l": int, "r": int, "f": int, "c": lambda s: s[:1], "s": str, "S": str, "w": str,
}


@_mapi_call(-1)
def mapi_apply_function_array(fd: int, funct: str, args: Sequence[str], n: int | None = None) -> int:
    """Like mapi_apply_function with every argument given as a string, converted by its letter."""
    runtime = default_runtime()
    flow = runtime.flow(fd)
    definition = runtime.registry.resolve(funct, flow.device.oid)
    given = list(args if n is None else args[:n])
    converted = []
    for position, (letter, text) in enumerate(zip(definition.argdescr, given), start=1):
        try:
            converted.append(_FROM_STRING[letter](text))
        except (ValueError, TypeError):
            raise MapiError(errors.argument_code(position),
                            f"{definition.name}: argument {position}: {text!r} is not a valid '{letter}' value") from None
    converted.extend(given[len(definition.argdescr):])
    return runtime.apply_function(fd, funct, converted)


@_mapi_call(-1)
def mapi_connect(fd: int) -> int:
    default_runtime().connect(fd)
    return 0


@_mapi_call(None)
def mapi_read_results(fd: int, fid: int, timeout: float | None = None) -> Result | None:
    """The function's result: ``.value`` (typed), ``.ts`` (µs, time of the read), ``.size``.

    Blocking functions (BUCKET...) wait for their next item, at most ``timeout`` seconds."""
    return default_runtime().read_result(fd, fid, timeout)


@_mapi_call(None)
def mapi_get_next_pkt(fd: int, fid: int, timeout: float | None = None) -> Packet | None:
    """The next packet of the TO_BUFFER ``fid``, or None: TO_BUFFER(WAIT) waits for one (at most
    ``timeout`` seconds, then None with error 6160), NOWAIT returns None when none is buffered,
    and both return None without an error once an offline trace has been read or the flow is
    closed.  Unlike MAPI's pointer into the ring, the Packet is the caller's to keep."""
    return packets.next_packet(default_runtime(), fd, fid, timeout)


@_mapi_call(-1)
def mapi_loop(fd: int, fid: int, cnt: int, callback: Callable[[Packet], Any]) -> int:
    """Calls ``callback(packet)`` for the packets of the TO_BUFFER ``fid``: ``cnt`` of them
    (``cnt`` <= 0: until there are no more).  Returns 0 after ``cnt`` packets or when
    mapi_get_next_pkt gives None (end of an offline trace, closed flow, NOWAIT with an empty
    buffer); the error code if a read fails on the way; -1 if the call is wrong (6147, 6145,
    6143, 7004 without a callback, as MAPI).  An exception of the callback propagates."""
    runtime = default_runtime()
    packets.connected_flow(runtime, fd, fid)
    if not callable(callback):
        raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT_4, f"mapi_loop: argument 4 (callback) {callback!r} is not callable")
    if isinstance(cnt, bool) or not isinstance(cnt, int):
        raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT_3, f"mapi_loop: argument 3 (cnt) {cnt!r} is not an integer")
    source = packets.packet_function(runtime, fd, fid).implementation
    delivered = 0
    while cnt <= 0 or delivered < cnt:
        try:
            packet = source.next_packet()
        except MapiError as err:
            _set_error(err.code, err.detail or err.message)
            return err.code
        if packet is None:
            return 0
        callback(packet)
        delivered += 1
    return 0


@_mapi_call(-1)
def mapi_close_flow(fd: int) -> int:
    default_runtime().close_flow(fd)
    return 0


@_mapi_call(None)
def mapi_get_flow_info(fd: int) -> FlowInfo | None:
    return default_runtime().flow_info(fd)


@_mapi_call(None)
def mapi_get_next_flow_info(fd: int) -> FlowInfo | None:
    return default_runtime().next_flow_info(fd)


@_mapi_call(None)
def mapi_get_function_info(fd: int, fid: int) -> FunctionInfo | None:
    return default_runtime().function_info(fd, fid)


@_mapi_call(None)
def mapi_get_next_function_info(fd: int, fid: int) -> FunctionInfo | None:
    return default_runtime().next_function_info(fd, fid)


@_mapi_call(None)
def mapi_get_device_info(devid: int) -> DeviceInfo | None:
    return default_runtime().device_info(devid)


@_mapi_call(None)
def mapi_get_next_device_info(devid: int) -> DeviceInfo | None:
    return default_runtime().next_device_info(devid)


@_mapi_call(None)
def mapi_get_library_info(libnum: int) -> LibInfo | None:
    return default_runtime().library_info(libnum)


@_mapi_call(None)
def mapi_get_next_library_info(libnum: int) -> LibInfo | None:
    return default_runtime().library_info(max(libnum, -1) + 1)


@_mapi_call(None)
def mapi_get_libfunct_info(libnum: int, fnum: int) -> LibFunctInfo | None:
    return default_runtime().libfunct_info(libnum, fnum)


@_mapi_call(None)
def mapi_get_next_libfunct_info(libnum: int, fnum: int) -> LibFunctInfo | None:
    return default_runtime().libfunct_info(libnum, max(fnum, -1) + 1)


@_mapi_call(None)
def mapi_stats(dev: str) -> DeviceStats | None:
    """The statistics of an open device (MAPI's ``struct mapi_stat`` and mapi's own drop
    counters, see :class:`mapi_core.devices.stats.DeviceStats`), or None: 6157 without a device
    name, 8004 for a device that is not open (MAPI's code for unknown devices too).  A trace
    file's device reports the packets read as received.  MAPI filled an array and returned how
    many entries; this returns the one record of a local device."""
    return default_runtime().stats(dev)


@_mapi_call(-1)
def mapi_get_scope_size(fd: int) -> int:
    default_runtime().flow(fd)
    return 1


@_mapi_call(-1)
def mapi_is_remote(fd: int) -> int:
    default_runtime().flow(fd)
    return 0


__all__ = [name for name in dir() if name.startswith("mapi_")]

