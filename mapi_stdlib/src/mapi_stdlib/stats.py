"""(to be written)"""

from __future__ import annotations

from collections.abc import Iterator

from mapi_core.plugins import FunctionDef


def definitions() -> Iterator[FunctionDef]:
    yield from ()
