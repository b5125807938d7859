"""Registration of mapi-stdlib's functions (library name ``stdflib``, as in MAPI)."""

from __future__ import annotations

from collections.abc import Iterator

from mapi_core.plugins import FunctionDef, hookimpl
from mapi_core.plugins.arguments import String
from mapi_core.plugins.results import U64

NATIVE = "mapi_stdlib.native._stdlib"


@hookimpl
def mapi_register_functions() -> Iterator[FunctionDef]:
    from mapi_stdlib.bpf import BpfFilter
    from mapi_stdlib.counters import Counter

    yield FunctionDef(
        name="PKT_COUNTER",
        description="Counts the packets that reach it.",
        implementation=Counter,
        result=U64,
        process=f"{NATIVE}:stdlib_pkt_counter",
    )
    yield FunctionDef(
        name="BYTE_COUNTER",
        description="Adds up the wire length (not the captured length) of the packets that reach it.",
        implementation=Counter,
        result=U64,
        process=f"{NATIVE}:stdlib_byte_counter",
    )
    yield FunctionDef(
        name="BPF_FILTER",
        description=(
            "Passes the packets that match a tcpdump (BPF) expression, compiled by libpcap for the "
            "packet's link type; a bad expression is error 1025 with libpcap's message."
        ),
        implementation=BpfFilter,
        arguments=(String(name="expression", description="a tcpdump filter expression"),),
        filters=True,
        process=f"{NATIVE}:stdlib_bpf_filter",
    )
