"""The plugin contract, declared as pluggy hook specifications.

Two projects of hooks:

* ``mapi`` (:class:`RegistrationSpecs`): what a library registers.  A library is a module named by
  an entry point in the group ``mapi``; its hooks yield frozen definitions and do nothing else
  (registration only: importing a library must stay cheap, its native code loads when a flow
  first uses one of its functions).
* ``mapi.lifecycle`` (:class:`LifecycleSpecs`): the life of one applied function.  Every
  function's implementation class is checked against these specs when its library loads, so a
  misspelt argument is a load-time error naming the library.  An implementation may accept any
  subset of a hook's arguments and may leave hooks out.  These hooks run at apply, connect, read
  and close time, never per packet: per-packet work is the native ``process`` symbol (or, as an
  explicit slow path, a Python ``process`` method called through the engine's trampoline).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from mapi_core.plugins.types import DeviceDef, FunctionDef

PROJECT = "mapi"
LIFECYCLE_PROJECT = "mapi.lifecycle"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
lifecycle_spec = pluggy.HookspecMarker(LIFECYCLE_PROJECT)


class RegistrationSpecs:
    """Hooks a function library implements to make itself known."""

    @hookspec
    def mapi_register_functions(self) -> Iterable[FunctionDef]:
        """Yield a :class:`~mapi_core.plugins.types.FunctionDef` for each function of the library.

        The manager fills in the library name (the entry point's name) and the distribution and
        version that provided it.  Two definitions with the same name and device OID are an error
        naming both libraries.
        """

    @hookspec
    def mapi_register_devices(self) -> Iterable[DeviceDef]:
        """Yield a :class:`~mapi_core.plugins.types.DeviceDef` for each kind of device (capture
        driver or trace format) the library brings."""


class LifecycleSpecs:
    """The hooks of a function implementation, in the order MAPI calls them."""

    @lifecycle_spec
    def instance(self, args: Any, device: Any) -> int | None:
        """Apply time.  Check ``args`` (already converted by the declared argument types) beyond
        what their types can express, and raise ``MapiError`` with MAPI's code when they are
        wrong.  Return the result size in bytes when it depends on the arguments, else None.
        Must not take lasting resources: the flow may never be connected."""

    @lifecycle_spec
    def init(self, args: Any, device: Any, result: Any) -> Any:
        """Connect time.  ``result`` is the function's slice of the flow's result memory
        (``result.address``, ``result.size``; zeroed).  Return the state handed to the native
        ``process(state, pkt, hdr)``: a cffi pointer (or an integer address) that stays valid
        until ``cleanup``; keep a reference to whatever owns it."""

    @lifecycle_spec
    def process(self, packet: Any, header: Any) -> int:
        """The pure-Python per-packet path, used only when the definition names no native
        ``process`` symbol.  ``packet`` is a buffer of ``header.caplen`` bytes valid during the
        call.  Return 0 to drop the packet for this flow.  Slow: for prototypes."""

    @lifecycle_spec
    def get_result(self, raw: bytes) -> bytes:
        """Engine side of a read: turn the consistent snapshot of the result memory into the
        bytes the reader receives (the default returns it unchanged)."""

    @lifecycle_spec
    def reset(self, result: Any) -> None:
        """Bring the result back to its initial value (used by functions that sample others)."""

    @lifecycle_spec
    def cleanup(self) -> None:
        """Close time: release what ``init`` took."""

    @lifecycle_spec
    def client_init(self, args: Any) -> None:
        """Reader side, before the first read."""

    @lifecycle_spec
    def client_read_result(self, raw: bytes, reader: Any) -> Any:
        """Reader side: the typed Python value of a result (the default decodes with the
        definition's ResultSpec).  ``reader`` (a :class:`~mapi_core.reading.ResultReader`) takes
        fresh snapshots and waits for a condition on them, for functions whose reads block until
        a new item arrives (BUCKET, THRESHOLD...)."""

    @lifecycle_spec
    def client_cleanup(self) -> None:
        """Reader side, at close, first: it runs while the flow is still attached to its device
        (as in MAPI, where the client cleaned up before the daemon), once for every function
        whose ``init`` or ``client_init`` ran, so a function whose ``process`` may wait for its
        reader (TO_BUFFER on an offline device) can wake it.  Then the flow is detached, then
        ``cleanup`` runs."""


LIFECYCLE_HOOKS: tuple[str, ...] = tuple(
    name for name in vars(LifecycleSpecs) if not name.startswith("_")
)
