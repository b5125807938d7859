"""The Python face of a flow.

::

    with Flow("trace.pcap") as flow:
        flow.apply("BPF_FILTER", "tcp and dst port 80")
        packets = flow.apply("PKT_COUNTER")
        flow.connect().wait()
        print(packets.read())
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import Any

from mapi_core import packets as _packets
from mapi_core.constants import FLOW_STATUS_NAMES, MFF_PCAP
from mapi_core.errors import ErrorCode, MapiError, TraceWarning
from mapi_core.info import FlowInfo, FunctionInfo, Result
from mapi_core.packets import Packet
from mapi_core.runtime import Runtime, default_runtime


class FunctionHandle:
    """A function applied to a flow; ``read()`` gives its current result as a Python value."""

    def __init__(self, flow: Flow, fid: int, name: str) -> None:
        self.flow = flow
        self.fid = fid
        self.name = name

    @property
    def fd(self) -> int:
        return self.flow.fd

    def read(self, timeout: float | None = None) -> Any:
        """The result now: a consistent snapshot, typed (int for counters...).

        Functions that hand out one item per read (BUCKET, THRESHOLD, HASHSAMP's ring) wait for
        the next one: at most ``timeout`` seconds (MapiError 6160 after it), and None once the
        flow has ended without one.
        """
        return self.read_result(timeout).value

    def read_result(self, timeout: float | None = None) -> Result:
        """The result with MAPI's read timestamp (µs since the epoch) and size."""
        return self.flow.runtime.read_result(self.flow.fd, self.fid, timeout)

    def info(self) -> FunctionInfo:
        """Name, library, and the packets the function saw and passed."""
        return self.flow.runtime.function_info(self.flow.fd, self.fid)

    def next_packet(self, timeout: float | None = None) -> Packet | None:
        """The next packet of a TO_BUFFER (``mapi_get_next_pkt``): WAIT waits for one (MapiError
        6160 after ``timeout`` seconds), NOWAIT returns None when none is buffered; None once an
        offline trace has been read or the flow closed."""
        return _packets.next_packet(self.flow.runtime, self.flow.fd, self.fid, timeout)

    def __iter__(self) -> Iterator[Packet]:
        """``for packet in handle``: every packet of a TO_BUFFER, waiting for each (in either
        mode), until the offline trace has been read or the flow is closed."""
        return _packets.iterate(_packets.packet_function(self.flow.runtime, self.flow.fd, self.fid))

    def __repr__(self) -> str:
        return f"<FunctionHandle {self.name} fid={self.fid} flow={self.flow.fd}>"


class Flow:
    """A flow of packets from a device, with functions applied in order.

    ``device`` is a trace file path (a flow on its own offline device, read from connect on), a
    network interface or configured device name (live capture from connect on), or the name of
    an existing device (e.g. one made by ``mapi_create_offline_device``).  ``live_options``
    (``snaplen``, ``promisc``, ``buffer_size``, ``backend``, ``timeout_ms``, ``immediate``, ``fanout``) open
    the interface with these settings instead of the configuration file's; the flow then owns
    that device and closes it with itself.  ``workers=N`` (N > 1) splits a pcap file or an
    interface across N processes and returns a :class:`~mapi_core.api.workers.ParallelFlow`,
    whose results are merged on read.
    """

    def __new__(cls, device: str | os.PathLike, *, workers: int = 1, **options: Any) -> Any:
        if workers != 1:                 # a trace split across processes: see mapi_core.api.workers
            from mapi_core.api.workers import ParallelFlow

            return ParallelFlow(device, workers=workers, **options)
        return super().__new__(cls)

    def __init__(self, device: str | os.PathLike, *, file_format: int = MFF_PCAP,
                 runtime: Runtime | None = None, workers: int = 1, **live_options: Any) -> None:
        self.runtime = runtime or default_runtime()
        name = os.fspath(device)
        self._live_device: str | None = None
        if live_options:
            self._live_device = self.runtime.open_live_device(name, **live_options)
            try:
                self.fd = self.runtime.create_flow(self._live_device)
            except BaseException:
                self.runtime.close_live_device(self._live_device)
                raise
        elif name not in {d.name for d in self.runtime.devices()} and os.path.exists(name):
            self.fd = self.runtime.create_offline_flow(name, file_format)
        else:
            self.fd = self.runtime.create_flow(name)
        self._closed = False

    def apply(self, function: str, *args: Any) -> FunctionHandle:
        """Applies ``function`` (``"[lib:]NAME[!oid]"``) with its arguments; see
        ``mapi functions show NAME`` for what each function takes."""
        fid = self.runtime.apply_function(self.fd, function, args)
        record = self.runtime.flow(self.fd).function(fid)
        return FunctionHandle(self, fid, record.definition.name)

    def connect(self) -> Flow:
        """Starts the flow (an offline flow starts reading its trace)."""
        self.runtime.connect(self.fd)
        return self

    def wait(self, timeout: float | None = None) -> Flow:
        """Blocks until an offline flow's trace has been read.

        Raises MapiError 6158 if the trace is damaged (results cover the packets before the
        damage) and warns with TraceWarning if it was truncated.
        """
        self.runtime.wait(self.fd, timeout)
        warning = self.runtime.flow(self.fd).device.warning
        if warning:
            warnings.warn(warning, TraceWarning, stacklevel=2)
        return self

    def run(self, timeout: float | None = None) -> Flow:
        """connect() and wait(): reads a whole trace."""
        return self.connect().wait(timeout)

    def packets(self, function: FunctionHandle | int | None = None) -> Iterator[Packet]:
        """Iterates the packets of the flow's TO_BUFFER (``function``, a handle or fid, names
        one when the flow has several); see :meth:`FunctionHandle.__iter__`."""
        if function is None:
            sources = [f.fid for f in self.runtime.flow(self.fd).functions
                       if callable(getattr(f.implementation, "next_packet", None))]
            if len(sources) != 1:
                found = "no TO_BUFFER" if not sources else f"{len(sources)} (fids {sources}): name one"
                raise MapiError(ErrorCode.MAPI_INVALID_FID_FUNCID, f"flow {self.fd} has {found}")
            function = sources[0]
        fid = function.fid if isinstance(function, FunctionHandle) else function
        return _packets.iterate(_packets.packet_function(self.runtime, self.fd, fid))

    def info(self) -> FlowInfo:
        return self.runtime.flow_info(self.fd)

    @property
    def status(self) -> str:
        return FLOW_STATUS_NAMES[self.info().status]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.runtime.close_flow(self.fd)
            finally:
                if self._live_device is not None:
                    self.runtime.close_live_device(self._live_device)

    def __enter__(self) -> Flow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Flow {self.fd}{' closed' if self._closed else ''}>"
