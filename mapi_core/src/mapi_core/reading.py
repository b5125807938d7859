"""Blocking reads of results: what MAPI did with semaphores, done by polling snapshots.

Some functions (BUCKET, HASHSAMP with its ring, THRESHOLD) hand out one new item per read and
make the reader wait for it.  Their ``client_read_result`` hook accepts a ``reader`` argument, a
:class:`ResultReader`, and calls :meth:`ResultReader.wait_for` with a test of the result bytes.
Unlike MAPI's semaphores this never hangs: the wait ends when the item is there, when no more
packets can come (the flow was closed, or its offline trace has ended), or at the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mapi_core.constants import FLOW_ACTIVE
from mapi_core.errors import ErrorCode, MapiError

if TYPE_CHECKING:
    from mapi_core.flows import AppliedFunction, FlowRecord

_FIRST_PAUSE = 0.0002
_LONGEST_PAUSE = 0.01


class ResultReader:
    """Fresh snapshots of one function's result, and waiting for a condition on them."""

    def __init__(self, flow: FlowRecord, function: AppliedFunction, timeout: float | None) -> None:
        if timeout is not None and timeout < 0:
            raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT, f"a timeout cannot be negative ({timeout})")
        self.flow = flow
        self.function = function
        self.timeout = timeout
        #: Set when wait_for gave up because the flow ended: the read's value is then None.
        self.exhausted = False

    def snapshot(self) -> bytes:
        """A consistent copy of the result memory now."""
        return self.flow.snapshot(self.function)

    @property
    def ended(self) -> bool:
        """True when no further packet can change the result: the flow was closed, or its
        offline device has read its whole trace."""
        return self.flow.status != FLOW_ACTIVE or self.flow.engine is None or self.flow.device.finished.is_set()

    def wait_for(self, ready: Callable[[bytes], bool]) -> bytes | None:
        """The first snapshot for which ``ready`` holds.

        Returns None when it cannot hold any more (the flow ended without it); raises
        MapiError 6160 (timeout) after ``timeout`` seconds (None: wait as long as packets come).
        """
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        pause = _FIRST_PAUSE
        while True:
            ended = self.ended        # read before the snapshot: a last packet is not missed
            if self.flow.engine is None:
                self.exhausted = True
                return None
            raw = self.snapshot()
            if ready(raw):
                return raw
            if ended:
                self.exhausted = True
                return None
            if deadline is not None and time.monotonic() >= deadline:
                raise MapiError(ErrorCode.MAPI_TIMEOUT, (
                    f"{self.function.name} (fid {self.function.fid} of flow {self.flow.fd}): nothing new "
                    f"after {self.timeout} s"))
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
