"""PKT_COUNTER and BYTE_COUNTER: the result memory is the counter, and the native state."""

from __future__ import annotations

from typing import Any

from mapi_stdlib.native._stdlib import ffi


class Counter:
    """Lifecycle of a u64 counter whose native process adds to its result in place."""

    def init(self, result: Any) -> Any:
        self.counter = ffi.cast("uint64_t *", result.address)
        return self.counter
