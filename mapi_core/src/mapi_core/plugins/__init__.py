"""The plugin contract: what a function library declares and how mapi finds it.

A library needs only this package::

    from mapi_core.plugins import FunctionDef, hookimpl, arguments, results
"""

from mapi_core.plugins import arguments, results
from mapi_core.plugins.hookspecs import hookimpl
from mapi_core.plugins.types import DEVICE_ANY, DeviceDef, FunctionDef, LibraryInfo, LoadError

__all__ = [
    "DEVICE_ANY",
    "DeviceDef",
    "FunctionDef",
    "LibraryInfo",
    "LoadError",
    "arguments",
    "hookimpl",
    "results",
]
