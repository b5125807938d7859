"""The embedded execution mode: devices, flows and functions inside the calling process.

No daemon and no root are needed for trace files.  One :class:`Runtime` per process (see
:func:`default_runtime`) owns the library registry, the devices and the flows; the ``Flow`` API
and the ``mapi_*`` calls are both thin faces over it.  Flow descriptors are one namespace for
every call (MAPI mixed client and daemon numbers); function ids are numbered per flow, from 1,
so a reference is always (flow, fid).
"""

from __future__ import annotations

import importlib
import os
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from mapi_core import errors
from mapi_core.config import Config, ConfigCache
from mapi_core.constants import FLOW_INIT, MFF_PCAP
from mapi_core.devices.base import Device
from mapi_core.devices.stats import DeviceStats, device_stats
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.flows import AppliedFunction, Args, FlowRecord, close_files
from mapi_core.info import DeviceInfo, FlowInfo, FunctionInfo, LibFunctInfo, LibInfo, Result
from mapi_core.plugins.arguments import ArgumentError, FlowRef, FunctionRef, ReferenceResolver
from mapi_core.plugins.manager import Registry, call_hook
from mapi_core.plugins.types import DeviceDef, FunctionDef
from mapi_core.reading import ResultReader


class _Resolver(ReferenceResolver):
    """Resolves ``r``/``f`` arguments of one apply: a function is looked up in the flow that the
    flow reference just before it named."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._flow: FlowRecord | None = None

    def flow(self, value: Any) -> FlowRecord:
        fd = getattr(value, "fd", value)
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise ArgumentError(f"expected a flow descriptor, got {value!r}")
        try:
            self._flow = self._runtime.flow(fd)
        except MapiError:
            raise ArgumentError(f"there is no flow {fd}") from None
        return self._flow

    def function(self, value: Any) -> AppliedFunction:
        fid = getattr(value, "fid", value)
        if isinstance(fid, bool) or not isinstance(fid, int):
            raise ArgumentError(f"expected a function id, got {value!r}")
        if self._flow is None:
            raise ArgumentError("a function reference must follow a flow reference")
        try:
            return self._flow.function(fid)
        except MapiError:
            raise ArgumentError(f"flow {self._flow.fd} has no function {fid}") from None


class Runtime:
    """Devices, flows and the function registry of the embedded mode."""

    def __init__(self, registry: Registry | None = None) -> None:
        self._registry = registry
        self._lock = threading.RLock()
        self._devices: dict[str, Device] = {}
        self._flows: dict[int, FlowRecord] = {}
        self._next_fd = 1
        self._device_counter = 0
        self._config = ConfigCache()

    # -- registry ------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """The libraries, discovered on first use (importing mapi_core loads none)."""
        with self._lock:
            if self._registry is None:
                self._registry = Registry.discover()
            return self._registry

    # -- devices -------------------------------------------------------------------------

    def _device_kind(self, file_format: int) -> DeviceDef:
        for kind in self.registry.devices:
            if file_format in kind.formats:
                return kind
        raise MapiError(ErrorCode.MAPID_NO_DRIVER, f"no installed library reads file format {file_format}")

    def create_offline_device(self, path: str | os.PathLike, file_format: int = MFF_PCAP) -> str:
        """Opens a trace file as a device and returns its name ``"<path>@<n>"``."""
        if path is None:
            raise MapiError(ErrorCode.MAPI_ERROR_FILE, "no trace file given")
        kind = self._device_kind(file_format)
        module, _, attribute = kind.opener.partition(":")
        opener = getattr(importlib.import_module(module), attribute)
        with self._lock:
            self._device_counter += 1
            number = self._device_counter
            name = f"{os.fspath(path)}@{number}"
            device = opener(name, -number, kind.device_oid, path, kind.description)
            device.on_finish.append(self._device_finished)
            self._devices[name] = device
        return name

    def _device_finished(self, device: Device) -> None:
        with self._lock:
            for flow in self._flows.values():
                if flow.device is device:
                    flow.finish()

    def device(self, name: str) -> Device:
        try:
            return self._devices[name]
        except (KeyError, TypeError):
            hint = ""
            if isinstance(name, str) and os.path.isfile(name):
                hint = " (a trace file becomes a device through create_offline_device)"
            raise MapiError(ErrorCode.MAPID_NO_DEVICE, f"no device named {name!r}{hint}") from None

    def start_offline_device(self, name: str) -> None:
        device = self.device(name)
        if not device.offline:
            raise MapiError(ErrorCode.MAPID_NO_DEVICE, f"{name} is not an offline device")
        device.start()

    def delete_offline_device(self, name: str) -> None:
        device = self.device(name)
        if not device.offline:
            raise MapiError(ErrorCode.MAPID_NO_DEVICE, f"{name} is not an offline device")
        with self._lock:
            # flows first: closing releases a device thread that waits for a reader (TO_BUFFER)
            for flow in [f for f in self._flows.values() if f.device is device]:
                flow.close()
                del self._flows[flow.fd]
            del self._devices[name]
        device.stop()
        device.close()

    def devices(self) -> list[Device]:
        with self._lock:
            return list(self._devices.values())

    # -- live devices ----------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The configuration file's devices and options (mapi_core.config), re-read when it changes."""
        with self._lock:
            return self._config.get()

    def _open_device(self, request: str) -> Device | None:
        """The open device ``request`` designates: its name, a configured alias, its interface."""
        if request in self._devices:
            return self._devices[request]
        entry = self.config.find(request)
        name = entry.name if entry is not None else request
        if name in self._devices:
            return self._devices[name]
        interface = entry.interface if entry is not None else request
        return next((d for d in self._devices.values() if getattr(d, "interface", None) == interface), None)

    def _live_device(self, request: str, options: dict[str, Any] | None = None) -> Device:
        """The live device ``request`` designates, opened now if it is not open yet: a configured
        device (name or alias) or a network interface.  Open failures are error 1026."""
        with self._lock:
            device = self._open_device(request)
            if device is not None:
                if options:
                    raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT,
                                    f"{device.name} is already open: its options cannot change now")
                return device
            config = self.config
            entry = config.find(request)
            if entry is None and (re.search(r"[/:@\s]", request) or not request):
                raise MapiError(ErrorCode.MAPID_NO_DRIVER, (
                    f"no driver for device {request!r}: not an open device, a configured device or alias, "
                    "nor a network interface (trace files become devices through mapi_create_offline_device, "
                    "or Flow('file.pcap'))"))
            driver = entry.driver if entry is not None else "nic"
            kinds = [k for k in self.registry.devices if k.live and k.name == driver]
            if not kinds:
                raise MapiError(ErrorCode.MAPID_NO_DRIVER,
                                f"no installed library provides live devices of kind {driver!r}")
            module, _, attribute = kinds[0].opener.partition(":")
            opener = getattr(importlib.import_module(module), attribute)
            self._device_counter += 1
            name = entry.name if entry is not None else request
            device = opener(name, self._device_counter, kinds[0].device_oid,
                            entry.interface if entry is not None else request,
                            entry.description if entry is not None else "",
                            options=config.options(entry, **(options or {})))
            device.alias = ", ".join(entry.aliases) if entry is not None else ""
            self._devices[name] = device
            return device

    def open_live_device(self, interface: str, *, snaplen: int | None = None, promisc: bool | None = None,
                         buffer_size: int | str | None = None, backend: str | None = None,
                         timeout_ms: int | None = None, immediate: bool | None = None,
                         fanout: int | None = None) -> str:
        """Opens a network interface (or a configured device) with these options, overriding the
        configuration file's; returns the device name for ``create_flow`` / ``Flow(name)``.

        The device stays open until :meth:`close_live_device` (a device opened by ``create_flow``
        closes with its last flow).  Capture starts at the first connect.
        """
        options = {"snaplen": snaplen, "promisc": promisc, "buffer_size": buffer_size, "backend": backend,
                   "timeout_ms": timeout_ms, "immediate": immediate, "fanout": fanout}
        if not isinstance(interface, str):
            raise MapiError(ErrorCode.MAPI_DEVICE_INFO_ERR, f"an interface name is a string, not {interface!r}")
        device = self._live_device(interface, {k: v for k, v in options.items() if v is not None})
        device.held = True
        return device.name

    def close_live_device(self, name: str) -> None:
        """Closes a live device and every flow on it."""
        with self._lock:
            device = self._open_device(name) if isinstance(name, str) else None
            if device is None or not getattr(device, "live", False):
                raise MapiError(ErrorCode.MAPID_NO_DEVICE, f"{name!r} is not an open live device")
            for flow in [f for f in self._flows.values() if f.device is device]:
                flow.close()
                del self._flows[flow.fd]
            del self._devices[device.name]
        device.close()

    def stats(self, name: str) -> DeviceStats:
        """``mapi_stats``: the counters of an open device (received, dropped by the kernel and by
        the interface, processed, dropped by functions and by the engine)."""
        if name is None or not isinstance(name, str):
            raise MapiError(ErrorCode.MAPI_DEVICE_INFO_ERR, f"mapi_stats needs a device name, not {name!r}")
        with self._lock:
            device = self._open_device(name)
        if device is None:
            raise MapiError(ErrorCode.MAPI_STATS_ERROR,
                            f"{name!r} is not open: statistics exist while a flow uses the device")
        return device_stats(device)

    # -- flows ---------------------------------------------------------------------------

    def create_flow(self, device_name: str) -> int:
        if device_name is None:
            raise MapiError(ErrorCode.MAPI_DEVICE_INFO_ERR, "no device given")
        if not isinstance(device_name, str):
            raise MapiError(ErrorCode.MAPI_DEVICE_INFO_ERR, f"a device name is a string, not {device_name!r}")
        if device_name not in self._devices:
            if ":" in device_name:
                raise MapiError(ErrorCode.MAPID_NO_DRIVER,
                                f"{device_name!r} names remote probes (DiMAPI), which this version cannot reach")
            # a network interface or configured device: opened on its first flow (MAPI)
            with self._lock:
                return self._add_flow(self._live_device(device_name), owns_device=False)
        return self._add_flow(self._devices[device_name], owns_device=False)

    def create_offline_flow(self, path: str | os.PathLike, file_format: int = MFF_PCAP) -> int:
        """A flow on its own offline device: reading starts at connect; close deletes the device."""
        name = self.create_offline_device(path, file_format)
        return self._add_flow(self._devices[name], owns_device=True)

    def _add_flow(self, device: Device, owns_device: bool) -> int:
        with self._lock:
            fd = self._next_fd
            self._next_fd += 1
            self._flows[fd] = FlowRecord(fd, device, owns_device)
            return fd

    def flow(self, fd: int) -> FlowRecord:
        if isinstance(fd, bool) or not isinstance(fd, int) or fd <= 0:
            raise MapiError(ErrorCode.MAPI_INVALID_FLOW, f"{fd!r} is not a flow descriptor")
        try:
            return self._flows[fd]
        except KeyError:
            raise MapiError(ErrorCode.MAPI_INVALID_FLOW, f"there is no flow {fd}") from None

    def flows(self) -> list[FlowRecord]:
        with self._lock:
            return list(self._flows.values())

    def apply_function(self, fd: int, spec: str, args: Sequence[Any]) -> int:
        """Resolves, validates and applies a function; returns its fid (per flow, from 1)."""
        flow = self.flow(fd)
        if spec is None:
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_APPLY_FUNCT, "no function name given")
        if flow.status != FLOW_INIT:
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_APPLY_FUNCT,
                            f"flow {fd} is already connected: functions are applied before mapi_connect")
        definition = self.registry.resolve(spec, flow.device.oid)
        converted = self._convert_arguments(definition, args)
        try:
            implementation = definition.implementation()
            size = call_hook(implementation, "instance", args=converted, device=flow.device)
        except BaseException as err:
            close_files(converted.values())
            if isinstance(err, MapiError) or not isinstance(err, Exception):
                raise
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_APPLY_FUNCT, f"{definition.name}: {err}") from err
        if size is None:
            size = definition.result.size if definition.result is not None else 0
        with self._lock:
            fid = flow.next_fid()
            flow.functions.append(AppliedFunction(fid, definition, converted, implementation, size, flow))
        return fid

    def _convert_arguments(self, definition: FunctionDef, given: Sequence[Any]) -> Args:
        declared = definition.arguments
        given = list(given)
        # A function handle passed where a flow reference is expected stands for both the flow
        # and the function that follows it ("rf" in MAPI's letters).
        for i, argument in enumerate(declared):
            if (isinstance(argument, FlowRef) and i + 1 < len(declared) and isinstance(declared[i + 1], FunctionRef)
                    and i < len(given) and hasattr(given[i], "fid") and hasattr(given[i], "flow")):
                handle = given[i]
                given[i:i + 1] = [handle.flow, handle]
        if len(given) > len(declared):
            raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT, (
                f"{definition.name} takes {len(declared)} argument(s) ({definition.signature or 'none'}), "
                f"{len(given)} were given"))
        resolver = _Resolver(self)
        values = []
        for position, argument in enumerate(declared, start=1):
            if position > len(given):
                if not argument.optional:
                    close_files(values)
                    raise MapiError(errors.argument_code(position), (
                        f"{definition.name}: argument {position} ({argument.name}) is missing; "
                        f"the arguments are ({definition.signature})"))
                values.append(argument.default)
                continue
            try:
                values.append(argument.convert(given[position - 1], resolver))
            except ArgumentError as err:
                close_files(values)
                raise errors.invalid_argument(definition.name, position, argument.name, str(err)) from None
        return Args(tuple(a.name for a in declared), tuple(values))

    def connect(self, fd: int) -> None:
        flow = self.flow(fd)
        if flow.status != FLOW_INIT:
            raise MapiError(ErrorCode.MDLIB_FLOW_ALREADY_ACTIVE, f"flow {fd} is already connected")
        if getattr(flow.device, "live", False):
            flow.device.start()   # a live device captures from its first connect on (MAPI)
        flow.connect()
        if flow.owns_device:
            flow.device.start()

    def read_result(self, fd: int, fid: int, timeout: float | None = None) -> Result:
        """A function's result now; functions that hand out one item per read (BUCKET...) wait
        for the next one, at most ``timeout`` seconds (None: as long as packets may come)."""
        if isinstance(fid, bool) or not isinstance(fid, int) or fid <= 0:
            raise MapiError(ErrorCode.MAPI_INVALID_FLOW, f"{fid!r} is not a function id")
        flow = self.flow(fd)
        if not flow.connected:
            raise MapiError(ErrorCode.MAPI_FLOW_NOT_CONNECTED, f"flow {fd} is not connected")
        function = flow.function(fid)
        definition = function.definition
        if function.result_size == 0 and definition.result is None:
            raise MapiError(ErrorCode.MAPI_SHM_ERR, f"{definition.name} returns no results")
        implementation = function.implementation
        if not function.client_initialized:
            call_hook(implementation, "client_init", args=function.args)
            function.client_initialized = True
        raw = flow.snapshot(function)
        shipped = call_hook(implementation, "get_result", raw=raw)
        if shipped is not None:
            raw = shipped
        reader = ResultReader(flow, function, timeout)
        value = call_hook(implementation, "client_read_result", raw=raw, reader=reader)
        if value is None and definition.result is not None and not reader.exhausted:
            value = definition.result.decode(raw)
        return Result(value, time.time_ns() // 1000, len(raw))

    def close_flow(self, fd: int) -> None:
        flow = self.flow(fd)
        with self._lock:
            del self._flows[fd]
        flow.close()
        device = flow.device
        if flow.owns_device:
            with self._lock:
                self._devices.pop(device.name, None)
            device.close()   # stops its reader first
        elif getattr(device, "live", False) and not device.held:
            # a live device opened by create_flow closes with its last flow
            with self._lock:
                last = not any(f.device is device for f in self._flows.values())
                if last:
                    self._devices.pop(device.name, None)
            if last:
                device.close()

    def wait(self, fd: int, timeout: float | None = None) -> None:
        """Blocks until an offline flow's device has read its whole trace."""
        flow = self.flow(fd)
        device = flow.device
        if not device.offline:
            raise MapiError(ErrorCode.MFUNCT_NOT_SUPPORTED, f"flow {fd} is on a live device: it does not end")
        if not flow.connected:
            raise MapiError(ErrorCode.MAPI_FLOW_NOT_CONNECTED, f"flow {fd} is not connected")
        if not device.started and not flow.owns_device:
            raise MapiError(ErrorCode.MAPI_FLOW_NOT_CONNECTED,
                            f"device {device.name} has not been started (mapi_start_offline_device)")
        if not device.finished.wait(timeout):
            raise MapiError(ErrorCode.MAPI_TIMEOUT, f"{device.name} still reading after {timeout} s")
        if device.error:
            raise MapiError(ErrorCode.MAPI_TRACE_DAMAGED, device.error)

    # -- information ---------------------------------------------------------------------

    def flow_info(self, fd: int) -> FlowInfo:
        flow = self.flow(fd)
        return FlowInfo(flow.uid, flow.fd, flow.device.devid, flow.device.name, len(flow.functions),
                        flow.start, flow.end, flow.status, flow.device.error, flow.device.warning)

    def next_flow_info(self, fd: int) -> FlowInfo:
        after = max(fd, 0)
        with self._lock:
            candidates = [f for f in self._flows if f > after]
        if not candidates:
            raise MapiError(ErrorCode.MAPI_FLOW_INFO_ERR, f"no flow after {fd}")
        return self.flow_info(min(candidates))

    def function_info(self, fd: int, fid: int) -> FunctionInfo:
        if isinstance(fid, bool) or not isinstance(fid, int) or fid <= 0:
            raise MapiError(ErrorCode.MAPI_INVALID_FID_FUNCID, f"{fid!r} is not a function id")
        flow = self.flow(fd)
        function = flow.function(fid)
        seen, passed = flow.counters()[fid]
        definition = function.definition
        return FunctionInfo(fid, definition.name, definition.library, definition.device_oid, seen, passed,
                            function.result_size)

    def next_function_info(self, fd: int, fid: int) -> FunctionInfo:
        flow = self.flow(fd)
        later = [f.fid for f in flow.functions if f.fid > max(fid, 0)]
        if not later:
            raise MapiError(ErrorCode.MAPI_FUNCTION_INFO_ERR, f"flow {fd} has no function after {fid}")
        return self.function_info(fd, min(later))

    def device_info(self, devid: int) -> DeviceInfo:
        for device in self.devices():
            if device.devid == devid:
                return DeviceInfo(device.devid, device.name, device.driver, device.alias or "No alias",
                                  device.description or "No description", status=device.status,
                                  linktype=device.linktype, packets=device.packets, error=device.error,
                                  warning=device.warning)
        raise MapiError(ErrorCode.MAPI_DEVICE_INFO_ERR, f"there is no device with id {devid}")

    def next_device_info(self, devid: int) -> DeviceInfo:
        """The device with the smallest id greater than ``devid`` (offline devices have negative ids)."""
        later = [d.devid for d in self.devices() if d.devid > devid]
        if not later:
            raise MapiError(ErrorCode.MAPI_DEVICE_INFO_ERR, f"no device with an id above {devid}")
        return self.device_info(min(later))

    def library_info(self, number: int) -> LibInfo:
        libraries = self.registry.libraries
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < len(libraries):
            raise MapiError(ErrorCode.MAPI_LIBRARY_INFO_ERR, f"there is no library {number!r} "
                                                             f"({len(libraries)} are loaded)")
        library = libraries[number]
        return LibInfo(number, library.name, len(library.functions), library.distribution, library.version)

    def libfunct_info(self, number: int, function_number: int) -> LibFunctInfo:
        library = self.library_info(number)
        definitions = [f for f in self.registry.functions if f.library == library.libname]
        if not 0 <= function_number < len(definitions):
            raise MapiError(ErrorCode.MAPI_LIBRARY_INFO_ERR,
                            f"library {library.libname} has no function {function_number}")
        definition = definitions[function_number]
        return LibFunctInfo(definition.name, definition.description, definition.argdescr, definition.device_oid)

    def shutdown(self) -> None:
        """Closes every flow and device (at interpreter exit, or between tests)."""
        for fd in [f.fd for f in self.flows()]:
            try:
                self.close_flow(fd)
            except MapiError:
                pass
        for device in self.devices():
            device.close()
        self._devices.clear()


_default: Runtime | None = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The process's runtime, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Runtime()
        return _default
