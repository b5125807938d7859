"""Functions that read other functions' results: checking the reference, binding it at connect.

BINOP, STAT, DIST, BUCKET, RES2FILE and THRESHOLD read the result of another function, in the
same flow or in another one (MAPI's ``r``/``f`` arguments).  A reference is resolved by the
runtime to an :class:`~mapi_core.flows.AppliedFunction` at apply time (by flow descriptor and
fid, so it never depends on numbering elsewhere).  The reading function then

1. calls :func:`check_source` in its ``instance`` hook, so a reference to a function without a
   suitable result, or a reset across devices, fails at apply time with the argument's code;
2. calls :func:`bind` in its ``init`` hook, which fills the ``mapi_result_ref_t`` (see
   ``mapi/abi.h``) inside its native state, and keeps the referenced result memory alive;
3. calls :meth:`ResultBinding.release` in its ``cleanup`` hook.

The native side reads through ``mapi_ref_u64`` / ``mapi_ref_read`` and resets through
``mapi_ref_reset``.  A reference to a function of the same flow must name a lower fid (it exists
at apply time, so this always holds); a reference to another flow needs that flow connected
first.  A device runs its flows in the order they were connected, and while a function reads
another flow of its own device, the device runs its batches packet by packet across flows (as
MAPI did) instead of flow by flow: the value read is that flow's after the same packet.  A flow
on another device runs in its own thread: its values are read as they are at that moment
(consistent, but not tied to the reader's packets).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mapi_core import errors
from mapi_core.constants import FLOW_INIT
from mapi_core.engine._engine import ffi, lib
from mapi_core.errors import ErrorCode, MapiError

if TYPE_CHECKING:
    from mapi_core.devices.base import Device
    from mapi_core.flows import AppliedFunction

#: Result kinds holding one unsigned 64-bit value, which most readers accept.
U64_KINDS = ("u64", "ts")

_SNAPSHOT = int(ffi.cast("uintptr_t", ffi.addressof(lib, "mapi_flow_snapshot")))


def describe(source: AppliedFunction) -> str:
    """``"PKT_COUNTER (fid 2 of flow 1)"``, for messages."""
    fd = source.flow.fd if source.flow is not None else "?"
    return f"{source.name} (fid {source.fid} of flow {fd})"


def check_source(function: str, source: AppliedFunction, position: int, *, device: Device,
                 kinds: Iterable[str] | None = U64_KINDS, reset: bool = False) -> None:
    """Apply-time checks of a reference at argument ``position`` (1-based) of ``function``.

    ``kinds`` lists the acceptable result kinds (None: any function with a result).  With
    ``reset`` the referenced function must be resettable and on the same device (resetting
    memory that another device's thread writes would race with it).  Raises MapiError with
    MAPI's code for that argument position.
    """
    code = errors.argument_code(position)
    result = source.definition.result
    if result is None and source.result_size == 0:
        raise MapiError(code, f"{function}: argument {position} refers to {describe(source)}, which has no result")
    if kinds is not None:
        kinds = tuple(kinds)
        if result is None or result.kind not in kinds:
            found = result.kind if result is not None else "raw bytes"
            raise MapiError(code, (f"{function}: argument {position} refers to {describe(source)}, whose result "
                                   f"is {found}; {function} reads {' or '.join(kinds)}"))
    if reset:
        if not source.definition.resettable:
            raise MapiError(code, f"{function}: {describe(source)} cannot be reset, so reset must be 0")
        if source.flow is None or source.flow.device is not device:
            raise MapiError(code, (f"{function}: {describe(source)} is on another device; resetting it from "
                                   "this one would race with its own thread, so reset must be 0"))


class ResultBinding:
    """A filled ``mapi_result_ref_t`` and the reference it holds on the source flow's memory."""

    def __init__(self, source: AppliedFunction, engine: Any, interleaved_device: Any = None) -> None:
        self.source = source
        self._engine = engine
        self._interleaved_device = interleaved_device

    def release(self) -> None:
        """Lets the referenced memory go (call from ``cleanup``; safe to call twice)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            lib.mapi_flow_free(engine)
        device, self._interleaved_device = self._interleaved_device, None
        if device is not None:
            lib.mapi_dev_cross_reference(device, -1)


def bind(source: AppliedFunction, ref: Any, *, device: Device, reset: bool = False) -> ResultBinding:
    """Fills the ``mapi_result_ref_t`` at ``ref`` (a cffi pointer of any library's ffi, or an
    address) so native code can read ``source``'s result; call from ``init``.

    Raises MapiError when the source's flow is not connected (connect the flow that is read
    before the flow that reads it) or has been closed.
    """
    flow = source.flow
    if flow is None or flow.engine is None:
        fd = flow.fd if flow is not None else "?"
        raise MapiError(ErrorCode.MFUNCT_COULD_NOT_INIT_FUNCT, (
            f"{describe(source)} has no results yet: connect flow {fd} before the flow that reads it"))
    address = ref if isinstance(ref, int) else int(ffi.cast("uintptr_t", ref))
    target = ffi.cast("mapi_result_ref_t *", address)
    same_device = flow.device is device
    target.data = ffi.cast("unsigned char *", flow.result_address(source))
    target.size = source.result_size
    target.flags = (lib.MAPI_REF_SAME_DEVICE if same_device else 0) | (lib.MAPI_REF_RESET if reset else 0)
    target.snapshot = ffi.cast("void (*)(void *, size_t, void *, size_t)", _SNAPSHOT)
    target.flow = flow.engine
    target.offset = source.result_offset
    lib.mapi_flow_retain(flow.engine)
    interleaved = None
    if same_device and flow.status != FLOW_INIT:     # another flow (the reader's own is connecting)
        interleaved = device.engine
        lib.mapi_dev_cross_reference(interleaved, 1)
    return ResultBinding(source, flow.engine, interleaved)
