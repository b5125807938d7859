"""The frozen definitions a library registers: functions and devices."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from mapi_core.plugins.arguments import Argument, argdescr, signature
from mapi_core.plugins.results import ResultSpec

FUNCTION_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
OID = re.compile(r"\d+(?:\.\d+)*")
SYMBOL = re.compile(r"[\w.]+:\w+")

#: MAPI's device-type tree: "1" matches any device; the most specific OID wins.
DEVICE_ANY = "1"
DEVICE_DAG = "1.1"
DEVICE_NIC = "1.3"


def _function_name(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not FUNCTION_NAME.fullmatch(value):
        raise ValueError(f"function name {value!r} is not UPPER_SNAKE_CASE (e.g. PKT_COUNTER)")


def _oid(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not OID.fullmatch(value):
        raise ValueError(f"device OID {value!r} is not dotted numbers (e.g. '1' or '1.1.1')")


def _symbol(instance: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None and not SYMBOL.fullmatch(value):
        raise ValueError(f"native process {value!r} is not 'package.module:symbol'")


def _arguments(instance: Any, attribute: attrs.Attribute, value: tuple[Argument, ...]) -> None:
    seen_optional = False
    for argument in value:
        if not isinstance(argument, Argument):
            raise TypeError(f"argument {argument!r} is not a mapi_core.plugins.arguments.Argument")
        if seen_optional and not argument.optional:
            raise ValueError(f"argument {argument.name!r} has no default but follows one that has")
        seen_optional = seen_optional or argument.optional


@attrs.frozen(kw_only=True)
class FunctionDef:
    """One function of a library.

    ``implementation`` is the class whose instances carry one applied function through its
    lifecycle (hooks of :class:`~mapi_core.plugins.hookspecs.LifecycleSpecs`).  ``process`` names
    the native per-packet entry point as ``"package.module:symbol"`` in the library's cffi
    extension (``module`` exposes ``ffi`` and ``lib``); None means the Python slow path.
    ``resettable`` says that zeroed result memory is the function's initial state, so functions
    that sample it (BUCKET, STAT, RES2FILE with reset) may reset it between packets.
    ``pure`` says that ``process``'s verdict depends only on the packet (bytes and header) and the
    arguments: no state kept between packets, no result written, the packet unchanged.  Flows of
    one device whose first function is the same pure function with equal arguments then evaluate
    it once per packet (BPF_FILTER, STR_SEARCH and REGEXP are pure).
    ``merge`` combines the values several workers read for this function (each saw a part of
    the packets) into the value one process would have read, e.g. ``sum`` for counters; a
    function with a result and no merge cannot run in a flow split across workers.
    ``library``, ``distribution`` and ``version`` are filled in by the plugin manager.
    """

    name: str = attrs.field(validator=_function_name)
    description: str
    implementation: type
    arguments: tuple[Argument, ...] = attrs.field(default=(), converter=tuple, validator=_arguments)
    result: ResultSpec | None = None
    device_oid: str = attrs.field(default=DEVICE_ANY, validator=_oid)
    filters: bool = False
    modifies: bool = False
    process: str | None = attrs.field(default=None, validator=_symbol)
    resettable: bool = False
    pure: bool = False
    merge: Callable[[list[Any]], Any] | None = attrs.field(default=None, eq=False)
    aliases: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    library: str = ""
    distribution: str = ""
    version: str = ""

    @property
    def argdescr(self) -> str:
        """MAPI's argument letters, derived from the typed arguments."""
        return argdescr(self.arguments)

    @property
    def signature(self) -> str:
        return signature(self.arguments)

    @property
    def native(self) -> bool:
        return self.process is not None

    @property
    def splittable(self) -> bool:
        """Can run in a flow split across workers: a pure filter, or a result that merges."""
        return (self.result is None and self.pure) or self.merge is not None

    @property
    def qualified_name(self) -> str:
        return f"{self.library}:{self.name}!{self.device_oid}"


@attrs.frozen(kw_only=True)
class DeviceDef:
    """A kind of device: a capture driver or an offline trace format.

    ``opener`` (``"package.module:callable"``) is imported only when such a device is opened.
    ``formats`` lists the MAPI file-format codes (``MFF_*``) it reads offline.
    """

    name: str
    description: str
    device_oid: str = attrs.field(validator=_oid)
    opener: str = attrs.field(validator=_symbol)
    formats: tuple[int, ...] = attrs.field(default=(), converter=tuple)
    live: bool = False
    library: str = ""
    distribution: str = ""
    version: str = ""


@attrs.frozen
class LoadError:
    """A library that could not be loaded (or a definition it could not register), and why."""

    library: str
    distribution: str
    version: str
    error: str


@attrs.frozen
class LibraryInfo:
    """A loaded library and what it registered."""

    name: str
    distribution: str
    version: str
    module: str
    functions: tuple[str, ...]
    devices: tuple[str, ...]
