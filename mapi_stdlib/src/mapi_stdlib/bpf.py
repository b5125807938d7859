"""BPF_FILTER: tcpdump expressions compiled by libpcap, run by libpcap's BPF interpreter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mapi_core.errors import ErrorCode, MapiError
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import String

from mapi_stdlib.native._stdlib import ffi, lib

_ERRBUF = 512


class BpfFilter:
    """Compiled as ``tcpdump -r`` compiles (savefile rules, the trace's byte order) for the
    device's link type at apply time (a bad expression is error 1025 with
    libpcap's message); packets of other link types (pcapng files may mix them) get their own
    program, compiled on first sight, and are dropped if the expression means nothing there."""

    def instance(self, args: Any, device: Any) -> None:
        errbuf = ffi.new("char[]", _ERRBUF)
        if lib.stdlib_bpf_check(args.expression.encode(), device.linktype, device.swapped, errbuf, _ERRBUF) != 0:
            reason = ffi.string(errbuf).decode(errors="replace")
            raise MapiError(ErrorCode.PCAP_BPF_ERR, f"BPF_FILTER {args.expression!r}: {reason}")

    def init(self, args: Any, device: Any) -> Any:
        errbuf = ffi.new("char[]", _ERRBUF)
        state = lib.stdlib_bpf_new(args.expression.encode(), device.linktype, device.swapped, errbuf, _ERRBUF)
        if state == ffi.NULL:
            reason = ffi.string(errbuf).decode(errors="replace")
            raise MapiError(ErrorCode.PCAP_BPF_ERR, f"BPF_FILTER {args.expression!r}: {reason}")
        self.state = ffi.gc(state, lib.stdlib_bpf_free)
        return self.state

    def cleanup(self) -> None:
        state, self.state = self.state, None
        if state is not None:
            ffi.release(state)


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="BPF_FILTER",
        description=(
            "Passes the packets that match a tcpdump (BPF) expression, compiled by libpcap for the "
            "packet's link type; a bad expression is error 1025 with libpcap's message."
        ),
        implementation=BpfFilter,
        arguments=(String(name="expression", description="a tcpdump filter expression"),),
        filters=True,
        pure=True,
        process="mapi_stdlib.native._stdlib:stdlib_bpf_filter",
    )
