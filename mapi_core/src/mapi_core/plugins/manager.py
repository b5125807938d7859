"""Finding, checking and registering function libraries.

Libraries are modules named by entry points in the group ``mapi``.  Each is loaded on its own:
one that fails to import, whose hooks raise, or whose definitions break the contract is
recorded as a :class:`~mapi_core.plugins.types.LoadError` and skipped, never fatal.  Every
definition is stamped with the library (entry-point name), distribution and version that
provided it.  Two definitions of one (name, device OID) are an error naming both libraries;
the first one registered stays.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import logging
from types import ModuleType
from typing import Any

import attrs
import pluggy

from mapi_core.errors import ErrorCode, MapiError
from mapi_core.plugins import hookspecs
from mapi_core.plugins.resolve import FunctionName, resolve
from mapi_core.plugins.types import DeviceDef, FunctionDef, LibraryInfo, LoadError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mapi"


class _LifecycleChecker(pluggy.PluginManager):
    """A plugin manager for one implementation class: every method named like a lifecycle hook
    is an implementation, so pluggy checks its argument names against the spec."""

    def __init__(self) -> None:
        super().__init__(hookspecs.LIFECYCLE_PROJECT)
        self.add_hookspecs(hookspecs.LifecycleSpecs)

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if name in hookspecs.LIFECYCLE_HOOKS and inspect.isroutine(getattr(plugin, name, None)):
            return {}
        return None


@functools.cache
def lifecycle_arguments(implementation: type) -> dict[str, tuple[str, ...]]:
    """The lifecycle hooks an implementation class defines, with the arguments each accepts.

    Raises ``pluggy.PluginValidationError`` when a hook declares an argument its spec lacks.
    """
    checker = _LifecycleChecker()
    checker.register(implementation, name=f"{implementation.__module__}.{implementation.__qualname__}")
    found = {}
    for hook in hookspecs.LIFECYCLE_HOOKS:
        impls = getattr(checker.hook, hook).get_hookimpls()
        if impls:
            found[hook] = tuple(impls[0].argnames)
    return found


def call_hook(implementation: Any, hook: str, **available: Any) -> Any:
    """Calls a lifecycle hook with the subset of arguments its implementation accepts.

    Returns None when the implementation does not define the hook.
    """
    accepted = lifecycle_arguments(type(implementation)).get(hook)
    if accepted is None:
        return None
    return getattr(implementation, hook)(**{name: available[name] for name in accepted})


def defines_hook(implementation: type, hook: str) -> bool:
    return hook in lifecycle_arguments(implementation)


@attrs.frozen
class _Provenance:
    library: str
    distribution: str
    version: str
    module: str


class Registry:
    """Everything the loaded libraries registered, and the errors of those that failed."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs.RegistrationSpecs)
        self.functions: list[FunctionDef] = []
        self.devices: list[DeviceDef] = []
        self.libraries: list[LibraryInfo] = []
        self.errors: list[LoadError] = []

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def discover(cls) -> Registry:
        """A registry of every library installed in this environment (entry-point group ``mapi``).

        The core's own library comes first, the others in entry-point name order.
        """
        registry = cls()
        entry_points = sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (ep.name != "core", ep.name),
        )
        seen: set[str] = set()
        for entry_point in entry_points:
            if entry_point.name in seen:
                continue  # the same distribution visible twice on sys.path
            seen.add(entry_point.name)
            dist = entry_point.dist
            provenance = _Provenance(
                entry_point.name,
                dist.name if dist else "?",
                dist.version if dist else "?",
                entry_point.value,
            )
            try:
                module = entry_point.load()
            except Exception as err:  # a broken library must not break the others
                registry._fail(provenance, f"cannot import {entry_point.value}: {type(err).__name__}: {err}")
                continue
            registry._register(module, provenance)
        return registry

    def register_library(
        self, module: ModuleType | Any, name: str, distribution: str = "", version: str = ""
    ) -> LibraryInfo | None:
        """Registers a library object directly (tests, notebooks, prototypes without packaging)."""
        return self._register(module, _Provenance(name, distribution or name, version or "0", str(module)))

    def _fail(self, provenance: _Provenance, error: str) -> None:
        log.warning("mapi library %s (%s %s) skipped: %s", provenance.library, provenance.distribution,
                    provenance.version, error)
        self.errors.append(LoadError(provenance.library, provenance.distribution, provenance.version, error))

    def _register(self, module: Any, provenance: _Provenance) -> LibraryInfo | None:
        try:
            self._pm.register(module, name=provenance.library)
        except Exception as err:
            self._fail(provenance, f"invalid hooks: {err}")
            return None
        try:
            functions = self._collect(module, "mapi_register_functions", FunctionDef, provenance)
            devices = self._collect(module, "mapi_register_devices", DeviceDef, provenance)
        except Exception as err:
            self._pm.unregister(module)
            self._fail(provenance, str(err))
            return None
        added_functions = [f.name for f in functions if self._add_function(f, provenance)]
        added_devices = [d.name for d in devices if self._add_device(d, provenance)]
        info = LibraryInfo(provenance.library, provenance.distribution, provenance.version,
                           provenance.module, tuple(added_functions), tuple(added_devices))
        self.libraries.append(info)
        return info

    def _collect(self, module: Any, hook: str, kind: type, provenance: _Provenance) -> list[Any]:
        caller = self._pm.subset_hook_caller(hook, remove_plugins=[p for p in self._pm.get_plugins() if p is not module])
        definitions = []
        try:
            for result in caller():
                definitions.extend(result or ())
        except Exception as err:
            raise RuntimeError(f"{hook} raised {type(err).__name__}: {err}") from err
        stamped = []
        for definition in definitions:
            if not isinstance(definition, kind):
                raise TypeError(f"{hook} yielded {definition!r}, not a {kind.__name__}")
            stamped.append(attrs.evolve(definition, library=provenance.library,
                                        distribution=provenance.distribution, version=provenance.version))
        return stamped

    def _add_function(self, definition: FunctionDef, provenance: _Provenance) -> bool:
        try:
            hooks = lifecycle_arguments(definition.implementation)
        except Exception as err:
            self._fail(provenance, f"function {definition.name}: {err}")
            return False
        if definition.process is None and "process" not in hooks:
            self._fail(provenance, f"function {definition.name}: neither a native process symbol nor a "
                                   "Python process method")
            return False
        for existing in self.functions:
            names = {existing.name, *existing.aliases}
            if (names & {definition.name, *definition.aliases}) and existing.device_oid == definition.device_oid:
                self._fail(provenance, (
                    f"duplicate function {definition.name} for device {definition.device_oid}: "
                    f"defined by {existing.library} ({existing.distribution} {existing.version}) and by "
                    f"{definition.library} ({definition.distribution} {definition.version})"))
                return False
        self.functions.append(definition)
        return True

    def _add_device(self, definition: DeviceDef, provenance: _Provenance) -> bool:
        for existing in self.devices:
            if existing.name == definition.name:
                self._fail(provenance, (
                    f"duplicate device kind {definition.name}: defined by {existing.library} "
                    f"({existing.distribution}) and by {definition.library} ({definition.distribution})"))
                return False
        self.devices.append(definition)
        return True

    # -- lookups -------------------------------------------------------------------------

    def resolve(self, spec: str, device_oid: str) -> FunctionDef:
        """The definition ``"[lib:]NAME[!oid]"`` names for a device of ``device_oid``.

        Raises MapiError 6144 (function not found) with the reason.
        """
        try:
            name = FunctionName.parse(spec)
        except ValueError as err:
            raise MapiError(ErrorCode.MAPI_FUNCTION_NOT_FOUND, str(err)) from None
        found = resolve(self.functions, name, device_oid)
        if found is None:
            known = [f for f in self.functions if name.name in (f.name, *f.aliases)]
            if not known:
                detail = f"no library provides a function {name.name}"
                loaded = ", ".join(lib.name for lib in self.libraries) or "none"
                detail += f" (loaded libraries: {loaded})"
            else:
                where = ", ".join(f"{f.library}:{f.name}!{f.device_oid}" for f in known)
                detail = f"{spec} has no implementation for device type {device_oid} (there is {where})"
            raise MapiError(ErrorCode.MAPI_FUNCTION_NOT_FOUND, detail)
        return found

    def function(self, name: str) -> list[FunctionDef]:
        """Every definition registered under ``name`` (or an alias), in registration order."""
        name = name.upper()
        return [f for f in self.functions if name in (f.name, *f.aliases)]

    def library(self, name: str) -> LibraryInfo | None:
        return next((lib for lib in self.libraries if lib.name == name), None)

