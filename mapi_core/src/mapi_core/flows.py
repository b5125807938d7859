"""The runtime's model of a flow and of the functions applied to it.

A :class:`FlowRecord` is created on a device, collects :class:`AppliedFunction` objects while
it is in FLOW_INIT, and at connect becomes an engine flow: one block of result memory, a chain
of native process pointers, per-function counters.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from mapi_core.constants import FLOW_ACTIVE, FLOW_CLOSED, FLOW_FINISHED, FLOW_INIT
from mapi_core.devices.base import Device
from mapi_core.engine._engine import ffi, lib
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.native import address_of, process_address
from mapi_core.plugins.manager import call_hook, defines_hook
from mapi_core.plugins.types import FunctionDef

log = logging.getLogger(__name__)

RESULT_ALIGNMENT = 8

_share_ids: dict[tuple[Any, ...], int] = {}
_share_ids_lock = threading.Lock()


def share_id(function: AppliedFunction) -> int:
    """The engine's id for a pure function and its arguments (0: not shareable).

    Flows of one device whose chains start with the same id evaluate that function once per
    packet (the engine's global optimisation, see mapi_flow_set_share).
    """
    definition = function.definition
    if not definition.pure or definition.modifies or definition.process is None:
        return 0
    key = (definition.qualified_name, function.args.key())      # the qualified name is unique
    try:
        hash(key)
    except TypeError:
        return 0
    with _share_ids_lock:
        return _share_ids.setdefault(key, len(_share_ids) + 1)


def close_files(values: Any) -> None:
    """Closes the files among argument values (``w`` arguments are opened when converted)."""
    for value in values:
        if isinstance(value, io.IOBase) and not value.closed:
            try:
                value.close()
            except OSError:
                log.exception("closing an output file failed")


class Args(Mapping[str, Any]):
    """Converted arguments of an applied function, by name (``args.pattern``) or position."""

    def __init__(self, names: tuple[str, ...], values: tuple[Any, ...]) -> None:
        self._values = dict(zip(names, values))
        self._positional = values

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._positional[key]
        return self._values[key]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Args({self._values!r})"

    def key(self) -> tuple[Any, ...]:
        """The values in order: equal keys mean equal arguments."""
        return self._positional


@attrs.frozen
class ResultMemory:
    """A function's slice of its flow's result memory (zeroed at connect)."""

    address: int
    size: int

    def view(self) -> memoryview:
        """A writable view, for the Python slow path; native code casts ``address``."""
        return memoryview(ffi.buffer(ffi.cast("char *", self.address), self.size))


class AppliedFunction:
    """One function applied to one flow: definition, arguments, implementation object, state."""

    def __init__(self, fid: int, definition: FunctionDef, args: Args, implementation: Any, result_size: int,
                 flow: FlowRecord | None = None) -> None:
        self.fid = fid
        self.flow = flow
        self.definition = definition
        self.args = args
        self.implementation = implementation
        self.result_size = result_size
        self.result_offset = 0
        self.state: Any = None
        self.initialized = False
        self.client_initialized = False
        self.python_errors = 0
        self._handle: Any = None

    @property
    def name(self) -> str:
        return self.definition.name

    def process_pointer(self) -> tuple[int, int] | None:
        """(process address, state address) for the engine chain, None without a process."""
        if self.definition.process is not None:
            return process_address(self.definition.process), address_of(self.state)
        if defines_hook(type(self.implementation), "process"):
            self._handle = ffi.new_handle(self)
            return int(ffi.cast("uintptr_t", ffi.addressof(lib, "mapi_python_process"))), address_of(self._handle)
        return None

    def run_python(self, packet: Any, header: Any) -> int:
        """The slow path, called by the engine's trampoline for every packet."""
        try:
            verdict = call_hook(self.implementation, "process", packet=packet, header=header)
        except Exception:
            self.python_errors += 1
            if self.python_errors == 1:
                log.exception("%s (fid %d) raised in process(); the packet is dropped", self.name, self.fid)
            return 0
        return 1 if verdict is None else int(bool(verdict))


@ffi.def_extern()
def mapi_python_process(state: Any, pkt: Any, hdr: Any) -> int:
    function: AppliedFunction = ffi.from_handle(state)
    return function.run_python(ffi.buffer(pkt, hdr.caplen), hdr)


class FlowRecord:
    """A flow: its device, status, applied functions and, once connected, its engine flow."""

    def __init__(self, fd: int, device: Device, owns_device: bool = False) -> None:
        self.fd = fd
        self.device = device
        self.owns_device = owns_device
        self.uid = os.getuid()
        self.status = FLOW_INIT
        self.functions: list[AppliedFunction] = []
        self.engine: Any = None
        self._engine_lock = threading.Lock()   # readers' snapshots vs. freeing at close
        self._chain: list[AppliedFunction] = []
        self.start = 0.0
        self.end = 0.0
        #: Called with this flow once it is connected (SYNC waits for flows this way).
        self.connect_listeners: list[Callable[[FlowRecord], None]] = []

    @property
    def connected(self) -> bool:
        return self.status in (FLOW_ACTIVE, FLOW_FINISHED)

    def function(self, fid: int) -> AppliedFunction:
        for function in self.functions:
            if function.fid == fid:
                return function
        raise MapiError(ErrorCode.MAPI_INVALID_FID_FUNCID, f"flow {self.fd} has no function {fid}")

    def next_fid(self) -> int:
        return len(self.functions) + 1

    def connect(self) -> None:
        """Allocates result memory, runs every ``init`` in order and attaches to the device."""
        offset = 0
        for function in self.functions:
            function.result_offset = offset
            offset += -(-function.result_size // RESULT_ALIGNMENT) * RESULT_ALIGNMENT
        modifies = any(f.definition.modifies for f in self.functions)
        engine = lib.mapi_flow_new(len(self.functions), offset, int(modifies))
        if engine == ffi.NULL:
            raise MapiError(ErrorCode.MAPID_MEM_ALLOCATION_ERROR, f"no memory for flow {self.fd}")
        base = int(ffi.cast("uintptr_t", lib.mapi_flow_results(engine)))
        chain: list[AppliedFunction] = []
        self.engine = engine    # functions may bind to results of this flow during their init
        try:
            for function in self.functions:
                memory = ResultMemory(base + function.result_offset, function.result_size)
                function.state = call_hook(function.implementation, "init", args=function.args,
                                           device=self.device, result=memory)
                function.initialized = True
                pointers = function.process_pointer()
                if pointers is not None:
                    lib.mapi_flow_set_function(engine, len(chain), *pointers)
                    chain.append(function)
        except Exception as err:
            self._cleanup_functions()
            self.engine = None
            lib.mapi_flow_free(engine)
            if isinstance(err, MapiError):
                raise
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_INIT_FUNCT, f"{function.name}: init failed: {err}") from err
        # Functions without a process step take no place in the engine's chain.
        lib.mapi_flow_set_chain_length(engine, len(chain))
        if chain:
            lib.mapi_flow_set_share(engine, share_id(chain[0]))
        self._chain = chain
        if lib.mapi_dev_attach(self.device.engine, engine) != 0:
            self.close()
            raise MapiError(ErrorCode.MAPID_MEM_ALLOCATION_ERROR, f"cannot attach flow {self.fd}")
        self.start = time.time()
        self.status = FLOW_FINISHED if self.device.finished.is_set() else FLOW_ACTIVE
        listeners, self.connect_listeners = self.connect_listeners, []
        for listener in listeners:
            try:
                listener(self)
            except Exception:
                log.exception("a listener of flow %d's connect failed", self.fd)

    def finish(self) -> None:
        if self.status == FLOW_ACTIVE:
            self.status = FLOW_FINISHED

    def result_address(self, function: AppliedFunction) -> int:
        """Where a function's result memory is (the flow must be connected)."""
        return int(ffi.cast("uintptr_t", lib.mapi_flow_results(self.engine))) + function.result_offset

    def snapshot(self, function: AppliedFunction) -> bytes:
        """A consistent copy of a function's result bytes."""
        buffer = ffi.new("char[]", max(function.result_size, 1))
        with self._engine_lock:
            if self.engine is None:
                raise MapiError(ErrorCode.MAPI_FLOW_NOT_CONNECTED, f"flow {self.fd} is closed")
            lib.mapi_flow_snapshot(self.engine, function.result_offset, buffer, function.result_size)
        return bytes(ffi.buffer(buffer, function.result_size))

    def counters(self) -> dict[int, tuple[int, int]]:
        """{fid: (packets that reached it, packets it passed)} for every applied function."""
        if self.engine is None:
            return {f.fid: (0, 0) for f in self.functions}
        pkts_in = ffi.new("uint64_t *")
        dropped = ffi.new("uint64_t[]", max(len(self._chain), 1))
        lib.mapi_flow_counters(self.engine, pkts_in, dropped)
        drops = {function.fid: dropped[i] for i, function in enumerate(self._chain)}
        reaching = pkts_in[0]
        result = {}
        for function in self.functions:
            passed = reaching - drops.get(function.fid, 0)
            result[function.fid] = (reaching, passed)
            reaching = passed
        return result

    @staticmethod
    def _run_hook(function: AppliedFunction, hook: str) -> None:
        try:
            call_hook(function.implementation, hook)
        except Exception:
            log.exception("%s (fid %d): %s failed", function.name, function.fid, hook)

    def _cleanup_functions(self) -> None:
        """Runs ``cleanup`` and ``client_cleanup`` where their ``init`` ran; a failing hook is
        logged and does not stop the others."""
        for function in self.functions:
            for hook, flag in (("cleanup", "initialized"), ("client_cleanup", "client_initialized")):
                if getattr(function, flag):
                    self._run_hook(function, hook)
                    setattr(function, flag, False)
            close_files(function.args.values())

    def _close_readers(self) -> None:
        """The reader side of close, run while the flow is still on its device, as MAPI ran
        ``client_cleanup`` in the client before the daemon's cleanup: ``client_cleanup`` of every
        function whose ``init`` or ``client_init`` ran (embedded, the reader side of a connected
        function exists from connect on), once.  Blocked readers return, and a device thread that
        waits for a reader (TO_BUFFER's offline back-pressure) is released, so that detaching
        never waits for a reader that will not come."""
        for function in self.functions:
            if function.client_initialized or function.initialized:
                function.client_initialized = False
                self._run_hook(function, "client_cleanup")

    def close(self) -> None:
        """Closes the reader side (``client_cleanup``), detaches from the device (no process()
        runs after this), then cleans up (``cleanup``)."""
        self.status = FLOW_CLOSED
        self._close_readers()
        if self.engine is not None:
            lib.mapi_dev_detach(self.device.engine, self.engine)
        self._cleanup_functions()
        with self._engine_lock:
            engine, self.engine = self.engine, None
        if engine is not None:
            lib.mapi_flow_free(engine)
        self.end = time.time()

