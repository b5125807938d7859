"""Loading native function code: cffi extensions of libraries, their ABI, their symbols."""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
from pathlib import Path
from types import ModuleType

from mapi_core.engine._engine import ffi as engine_ffi
from mapi_core.engine._engine import lib as engine_lib
from mapi_core.errors import ErrorCode, MapiError

ABI_VERSION: int = engine_lib.MAPI_ABI_VERSION


def get_include() -> str:
    """The directory holding ``mapi/abi.h``, for building a library's cffi extension."""
    return str(Path(__file__).resolve().parent / "include")


@functools.cache
def extension(module_name: str) -> ModuleType:
    """Imports a library's cffi extension and checks that it was built for this engine's ABI."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise MapiError(ErrorCode.MAPI_LIBRARY_LOAD_ERR, f"cannot load native module {module_name}: {err}") from None
    lib = getattr(module, "lib", None)
    if lib is None or not hasattr(module, "ffi"):
        raise MapiError(ErrorCode.MAPI_LIBRARY_LOAD_ERR, f"{module_name} is not a cffi extension (no ffi/lib)")
    try:
        version = lib.mapi_abi_version()
    except AttributeError:
        raise MapiError(ErrorCode.MAPI_LIBRARY_LOAD_ERR,
                        f"{module_name} does not export mapi_abi_version() (use MAPI_DEFINE_ABI_VERSION)") from None
    if version != ABI_VERSION:
        raise MapiError(ErrorCode.MAPI_LIBRARY_LOAD_ERR,
                        f"{module_name} was built for mapi ABI {version}, this engine has ABI {ABI_VERSION}: "
                        "rebuild the library against this mapi-core")
    return module


def process_address(symbol: str) -> int:
    """The address of a native process function named ``"package.module:symbol"``."""
    module_name, _, name = symbol.partition(":")
    module = extension(module_name)
    try:
        pointer = module.ffi.addressof(module.lib, name)
    except (AttributeError, KeyError, TypeError) as err:
        raise MapiError(ErrorCode.MAPI_LIBRARY_LOAD_ERR,
                        f"{module_name} has no native function {name} (declare it in the cdef): {err}") from None
    # cffi's address is a small wrapper that calls the function; the engine calls the function
    # itself when the extension exports it (a few instructions less per packet and function).
    return _exported_address(module, name) or int(engine_ffi.cast("uintptr_t", pointer))


def _exported_address(module: ModuleType, name: str) -> int | None:
    """The address of ``name`` as the extension's shared object exports it, or None."""
    shared_object = _loaded_shared_object(getattr(module, "__file__", None) or "")
    try:
        return ctypes.cast(getattr(shared_object, name), ctypes.c_void_p).value if shared_object else None
    except AttributeError:
        return None


@functools.cache
def _loaded_shared_object(path: str) -> ctypes.CDLL | None:
    """The already loaded shared object at ``path`` (RTLD_NOLOAD: never a second copy), or None."""
    try:
        return ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_NOW) if path else None
    except OSError:
        return None


def address_of(state: object) -> int:
    """An integer address from what an ``init`` hook returned (cffi pointer, int or None)."""
    if state is None:
        return 0
    if isinstance(state, int):
        return state
    return int(engine_ffi.cast("uintptr_t", state))
