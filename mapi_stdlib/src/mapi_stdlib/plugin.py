"""Registration of mapi-stdlib's functions (library name ``stdflib``, as in MAPI).

Each family of functions lives in its own module (Python lifecycle) and its own cffi extension
(``native/<family>.c``); every module's ``definitions()`` yields its FunctionDefs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from mapi_core.plugins import FunctionDef, hookimpl

FAMILIES = ("counters", "bpf", "search", "sampling", "values", "stats", "res2file", "cooking", "output", "buffer")


@hookimpl
def mapi_register_functions() -> Iterator[FunctionDef]:
    for family in FAMILIES:
        yield from importlib.import_module(f"mapi_stdlib.{family}").definitions()
