"""Registration: the module the ``mapi`` entry point names.

mapi imports it when it lists or resolves functions, so it only yields definitions; the native
extension loads when a flow first uses one of the functions.
"""

from __future__ import annotations

from collections.abc import Iterator

from mapi_core.plugins import FunctionDef, hookimpl

from {{ cookiecutter.__package }} import functions


@hookimpl
def mapi_register_functions() -> Iterator[FunctionDef]:
    yield from functions.definitions()
