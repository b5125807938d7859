"""PKT_COUNTER and BYTE_COUNTER: the result memory is the counter, and the native state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mapi_core.plugins import FunctionDef
from mapi_core.plugins.results import U64

from mapi_stdlib.native._stdlib import ffi

NATIVE = "mapi_stdlib.native._stdlib"


class Counter:
    """Lifecycle of a u64 counter whose native process adds to its result in place."""

    def init(self, result: Any) -> Any:
        self.counter = ffi.cast("uint64_t *", result.address)
        return self.counter


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="PKT_COUNTER",
        description="Counts the packets that reach it. Resettable.",
        implementation=Counter,
        result=U64,
        resettable=True,
        merge=sum,
        process=f"{NATIVE}:stdlib_pkt_counter",
    )
    yield FunctionDef(
        name="BYTE_COUNTER",
        description="Adds up the wire length (not the captured length) of the packets that reach it. Resettable.",
        implementation=Counter,
        result=U64,
        resettable=True,
        merge=sum,
        process=f"{NATIVE}:stdlib_byte_counter",
    )
