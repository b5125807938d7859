"""Packets handed to the application: the :class:`Packet` record and reading them from a flow.

A function that hands out packets (TO_BUFFER in mapi-stdlib) gives its implementation object a
``next_packet`` method (see :class:`PacketSource`).  The calls here find that function the way
``mapi_get_next_pkt`` did, with MAPI's error codes, and read from it directly: a packet read
does not go through the result snapshots of ``mapi_read_results``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import attrs

from mapi_core.errors import ErrorCode, MapiError
from mapi_core.plugins.manager import call_hook

if TYPE_CHECKING:
    from mapi_core.flows import AppliedFunction, FlowRecord
    from mapi_core.runtime import Runtime

#: 32.32 fixed point: units per second.
_ONE_SECOND = 1 << 32


def _short(data: bytes) -> str:
    return repr(data) if len(data) <= 16 else f"<{len(data)} bytes {data[:16].hex()}...>"


@attrs.frozen(slots=True)
class Packet:
    """One captured packet, as MAPI's ``struct mapipkt``.

    ``ts`` is MAPI's 32.32 time (seconds since the Unix epoch << 32 | fraction in units of 2^-32 s),
    ``caplen`` the captured length (``len(data)``), ``wlen`` the length on the wire, ``ifindex``
    the capture interface (pcapng interface number, ERF port; 0 otherwise), ``linktype`` the
    LINKTYPE_ value of ``data``, which starts at the link-layer header.
    """

    ts: int
    caplen: int
    wlen: int
    ifindex: int
    linktype: int
    data: bytes = attrs.field(repr=_short)

    @property
    def seconds(self) -> float:
        """The timestamp in seconds since the epoch (a float: about 0.2 µs precision today)."""
        return self.ts / _ONE_SECOND


class PacketSource(Protocol):
    """What the implementation of a packet-delivering function offers readers."""

    def next_packet(self, timeout: float | None = None, block: bool | None = None) -> Packet | None:
        """The next packet; None when none will come (the trace ended, the flow closed) or, when
        not blocking, when none is there now.  ``block`` None: the function's own mode.
        Raises MapiError 6160 when ``timeout`` seconds pass without a packet."""
        ...


def connected_flow(runtime: Runtime, fd: int, fid: int) -> FlowRecord:
    """The first checks of ``mapi_get_next_pkt`` and ``mapi_loop``, in MAPI's order: fd or fid
    <= 0 6147, unknown flow 6145, flow not connected 6143."""
    for value, what in ((fd, "flow descriptor"), (fid, "function id")):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise MapiError(ErrorCode.MAPI_INVALID_FID_FUNCID, f"{value!r} is not a {what}")
    flow = runtime.flow(fd)
    if not flow.connected:
        raise MapiError(ErrorCode.MAPI_FLOW_NOT_CONNECTED, f"flow {fd} is not connected")
    return flow


def packet_function(runtime: Runtime, fd: int, fid: int) -> AppliedFunction:
    """The function ``fid`` of flow ``fd`` that hands out packets, checked in MAPI's order:
    fd or fid <= 0 6147, unknown flow 6145, flow not connected 6143, unknown fid 6147; and
    (MAPI returned NULL without an error there) a function that hands out no packets 6147."""
    flow = connected_flow(runtime, fd, fid)
    function = flow.function(fid)
    if not callable(getattr(function.implementation, "next_packet", None)):
        raise MapiError(ErrorCode.MAPI_INVALID_FID_FUNCID, (
            f"function {fid} of flow {fd} is {function.name}, which hands out no packets (apply TO_BUFFER)"))
    if not function.client_initialized:
        call_hook(function.implementation, "client_init", args=function.args)
        function.client_initialized = True
    return function


def next_packet(runtime: Runtime, fd: int, fid: int, timeout: float | None = None) -> Packet | None:
    """``mapi_get_next_pkt``: the next packet of the TO_BUFFER ``fid`` of flow ``fd``."""
    return packet_function(runtime, fd, fid).implementation.next_packet(timeout)


def iterate(function: AppliedFunction) -> Iterator[Packet]:
    """Every packet the function hands out, waiting for each (whatever its WAIT/NOWAIT mode),
    until the offline trace has been read or the flow is closed."""
    source: PacketSource = function.implementation
    while True:
        packet = source.next_packet(None, block=True)
        if packet is None:
            return
        yield packet
