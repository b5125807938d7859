"""A flow split across worker processes, results merged on read: a trace file or a live interface.

::

    with Flow("trace.pcap", workers=2) as flow:       # or an interface: Flow("eth0", workers=2)
        flow.apply("BPF_FILTER", "tcp and port 80")
        packets = flow.apply("PKT_COUNTER")
        flow.run()
        print(packets.read())                          # the sum of the workers' counters

Reading a pcap file is a walk from record to record, each record's length giving the next one's
place, so it does not split by flow: a worker that had to look at every record to pick its flows
would read the whole file, and N of them would take as long as one.  So the file is split by
bytes instead: worker k reads the records that *start* in the k-th of N equal byte ranges.  It
finds its first record by shape (64 plausible records in a row, see mapi_trace_restrict), and the
previous worker, which reads on until the first record at or after its range's end, says where
that record really was.  When every boundary agrees, the workers read each record exactly once.
When one does not (a file carrying pcap records inside its packets can fool the shape test), the
flow is run again in this process, so the results are right either way.

A live interface is split by the kernel instead: every worker opens it with the AF_PACKET
backend in one PACKET_FANOUT group (``fanout``), and the kernel hands each flow's packets (a hash
of its addresses and ports, fragments reassembled first) to one of them.

Any order of the packets gives the same result only for some functions: a pure filter
(BPF_FILTER, STR_SEARCH, REGEXP) and a function whose results merge (``FunctionDef.merge``: the
counters add up).  Others are refused at apply time with MapiError 7009.  Each worker is a separate
process with its own mapi runtime (a new interpreter running :func:`main`, so the caller's
script is not imported again), so the split uses every core, and its results come back through a
socket when they are read.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

from mapi_core.constants import MFF_PCAP
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.info import FunctionInfo
from mapi_core.plugins.types import DEVICE_NIC, FunctionDef
from mapi_core.runtime import default_runtime

#: Seconds to wait for a worker to start (interpreter, imports, libraries) or to answer.
START_TIMEOUT = 120.0
#: A worker's command line (not ``-m``: this module is already imported by the package).
WORKER = "import sys; from mapi_core.api.workers import main; sys.exit(main(sys.argv[1:]))"


def _serve(connection: Connection, part: dict[str, Any]) -> None:
    """A worker: a flow on its part of the packets (``part``: a byte range of a file, or a live
    interface's fanout group), driven by the parent."""
    from mapi_core.api.flow import Flow

    runtime = default_runtime()
    try:
        if part["kind"] == "file":
            name = runtime.create_offline_device(part["path"])
            first = runtime.device(name).restrict(part["start"], part["end"])
            flow = Flow(name)
        else:
            flow = Flow(part["path"], fanout=part["fanout"], **part["options"])
            name, first = None, None
    except MapiError as err:
        connection.send(("error", int(err.code), err.detail or err.message))
        return
    except Exception:  # noqa: BLE001 - a bad option or a bug: tell the parent why, then end
        connection.send(("error", int(ErrorCode.MCOM_UNKNOWN_ERROR), traceback.format_exc()))
        return
    connection.send(("ok", first))
    handles: dict[int, Any] = {}
    while True:
        try:
            command, *args = connection.recv()
        except EOFError:                         # the parent has gone: close and leave
            command, args = "close", []
        try:
            if command == "apply":
                handle = flow.apply(args[0], *args[1])
                handles[handle.fid] = handle
                answer: Any = handle.fid
            elif command == "connect":
                flow.connect()
                if name is not None:
                    runtime.start_offline_device(name)
                answer = None
            elif command == "wait":
                flow.wait(args[0])                # a live flow says it does not end (7009)
                answer = runtime.device(name).offset()
            elif command == "read":
                answer = handles[args[0]].read()
            elif command == "info":
                answer = handles[args[0]].info()
            elif command == "close":
                flow.close()
                if name is not None:
                    runtime.delete_offline_device(name)
                with contextlib.suppress(OSError):    # the parent may be gone already
                    connection.send(("ok", None))
                return
            else:
                raise ValueError(f"unknown command {command!r}")
            connection.send(("ok", answer))
        except MapiError as err:
            connection.send(("error", int(err.code), err.detail or err.message))
        except Exception:  # noqa: BLE001 - a bug in a function: tell the parent rather than hang it
            connection.send(("error", int(ErrorCode.MCOM_UNKNOWN_ERROR), traceback.format_exc()))


class ParallelHandle:
    """A function applied to a :class:`ParallelFlow`: ``read()`` merges the workers' values."""

    def __init__(self, flow: ParallelFlow, fid: int, definition: FunctionDef) -> None:
        self.flow = flow
        self.fid = fid
        self.definition = definition

    @property
    def name(self) -> str:
        return self.definition.name

    def read(self) -> Any:
        """The result over the whole trace: the workers' values merged."""
        if self.flow.fallback is not None:
            return self.flow.fallback_handles[self.fid].read()
        values = self.flow._ask_all("read", self.fid)     # a filter's workers say it has no result
        return self.definition.merge(values)

    def parts(self) -> list[Any]:
        """Each worker's own value, in worker order (what ``read`` merges)."""
        return self.flow._ask_all("read", self.fid)

    def info(self) -> FunctionInfo:
        """Packets the function saw and passed, summed over the workers."""
        if self.flow.fallback is not None:
            return self.flow.fallback_handles[self.fid].info()
        parts = self.flow._ask_all("info", self.fid)
        return FunctionInfo(fid=self.fid, name=parts[0].name, libname=parts[0].libname, devtype=parts[0].devtype,
                            pkts=sum(p.pkts for p in parts), passed_pkts=sum(p.passed_pkts for p in parts),
                            result_size=parts[0].result_size)


class ParallelFlow:
    """A flow run by ``workers`` processes that each take a part of the packets: a byte range of a
    pcap file, or (for an interface) the flows the kernel's fanout gives them.  ``live_options``
    are those of :class:`~mapi_core.api.flow.Flow` for a live device (the backend is afpacket)."""

    def __init__(self, device: str | os.PathLike, *, workers: int, file_format: int = MFF_PCAP,
                 **live_options: Any) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
            raise ValueError(f"workers={workers!r}: give a number of processes from 1 to 256")
        self.path = os.fspath(device)
        self.live = not os.path.isfile(self.path)
        if self.live and (os.sep in self.path or self.path.endswith((".pcap", ".pcapng", ".cap"))):
            raise MapiError(ErrorCode.MAPI_ERROR_FILE, f"{self.path}: no such trace file")
        if self.live:
            if file_format != MFF_PCAP:
                raise MapiError(ErrorCode.MFUNCT_NOT_SUPPORTED, f"{self.path}: file_format is for trace files")
            if "fanout" in live_options:
                raise ValueError("fanout: workers choose their own fanout group")
            # one PACKET_FANOUT group per flow: the kernel shares the packets out by flow hash
            group = random.randrange(1, 65536)
            parts = [{"kind": "live", "path": self.path, "fanout": group, "options": live_options}] * workers
        else:
            if live_options:
                raise ValueError(f"{', '.join(live_options)}: capture options are for live devices")
            if file_format != MFF_PCAP:
                raise MapiError(ErrorCode.MFUNCT_NOT_SUPPORTED, f"{self.path}: workers split pcap files only")
            size = os.path.getsize(self.path)
            parts = [{"kind": "file", "path": self.path, "start": k * size // workers,
                      "end": (k + 1) * size // workers} for k in range(workers)]
        self.applied: list[tuple[str, tuple[Any, ...]]] = []
        self.handles: list[ParallelHandle] = []
        self.fallback: Any = None              # the Flow that re-ran the trace, if a boundary disagreed
        self.fallback_handles: dict[int, Any] = {}
        self.starts: list[int | None] = []
        self._connections: list[Connection] = []
        self._processes: list[subprocess.Popen] = []
        self._closed = False
        try:
            for part in parts:
                mine, theirs = socket.socketpair()
                process = subprocess.Popen([sys.executable, "-c", WORKER, str(theirs.fileno()), json.dumps(part)],
                                           pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
                theirs.close()
                self._connections.append(Connection(mine.detach()))
                self._processes.append(process)
            self.starts = [self._answer(connection, START_TIMEOUT) for connection in self._connections]
        except BaseException:
            self._stop()
            raise

    @property
    def workers(self) -> int:
        return len(self._processes)

    def apply(self, function: str, *args: Any) -> ParallelHandle:
        """Applies ``function`` in every worker; only functions whose results merge may be."""
        definition = self._splittable_definition(function)
        fids = self._ask_all("apply", function, args)
        self.applied.append((function, args))
        handle = ParallelHandle(self, fids[0], definition)
        self.handles.append(handle)
        return handle

    def connect(self) -> ParallelFlow:
        """Starts every worker on its part of the file."""
        self._ask_all("connect")
        return self

    def wait(self, timeout: float | None = None) -> ParallelFlow:
        """Blocks until every worker has read its part, then checks that the parts met exactly
        (else reads the trace again in this process)."""
        ends = self._ask_all("wait", timeout)
        if any(end != start for end, start in zip(ends, self.starts[1:])) or ends[-1] != os.path.getsize(self.path):
            self._run_here(timeout)
        return self

    def run(self, timeout: float | None = None) -> ParallelFlow:
        """connect() and wait(): reads the whole trace."""
        return self.connect().wait(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for connection in self._connections:
                connection.send(("close",))
            for connection in self._connections:
                self._answer(connection, START_TIMEOUT)
        except (OSError, EOFError, MapiError):
            pass
        finally:
            self._stop()
            if self.fallback is not None:
                self.fallback.close()

    def __enter__(self) -> ParallelFlow:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ParallelFlow {self.path} workers={self.workers}{' closed' if self._closed else ''}>"

    # -- internals

    def _splittable_definition(self, function: str) -> FunctionDef:
        # trace files and interfaces are both devices of type DEVICE_NIC
        definition = default_runtime().registry.resolve(function, DEVICE_NIC)
        if not definition.splittable:
            raise MapiError(ErrorCode.MFUNCT_NOT_SUPPORTED, (
                f"{definition.name} cannot run in a flow split across workers: its result depends on seeing every "
                "packet in order (only pure filters and functions whose results merge, like the counters, can)"))
        return definition

    def _ask_all(self, command: str, *args: Any) -> list[Any]:
        if self._closed:
            raise MapiError(ErrorCode.MAPI_INVALID_FLOW, f"{self!r} is closed")
        for connection in self._connections:
            connection.send((command, *args))
        answers, failure = [], None
        for connection in self._connections:   # every answer is read, so none is left for the next command
            try:
                answers.append(self._answer(connection, None))
            except MapiError as err:
                failure = failure or err
        if failure is not None:
            raise failure
        return answers

    def _answer(self, connection: Connection, timeout: float | None) -> Any:
        if timeout is not None and not connection.poll(timeout):
            raise MapiError(ErrorCode.MCOM_UNKNOWN_ERROR, f"a worker of {self.path} did not answer in {timeout} s")
        try:
            status, *rest = connection.recv()
        except EOFError:
            raise MapiError(ErrorCode.MCOM_UNKNOWN_ERROR, f"a worker of {self.path} ended unexpectedly") from None
        if status == "error":
            code, message = rest
            raise MapiError(code, message)
        return rest[0]

    def _run_here(self, timeout: float | None) -> None:
        from mapi_core.api.flow import Flow

        flow = Flow(self.path)
        try:
            handles = [flow.apply(function, *args) for function, args in self.applied]
            flow.run(timeout)
        except BaseException:
            flow.close()
            raise
        self.fallback = flow
        self.fallback_handles = {mine.fid: theirs for mine, theirs in zip(self.handles, handles)}

    def _stop(self) -> None:
        for connection in self._connections:
            connection.close()           # a worker still reading commands sees EOF and closes
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(argv: list[str]) -> int:
    """One worker (command line: FD PART, PART in JSON), answering on the socket FD."""
    fd, part = argv
    _serve(Connection(int(fd)), json.loads(part))
    return 0
