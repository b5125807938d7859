"""Registration of NOOP (library name ``bench_noop``): a result-less native function with no
arguments and no state (``init`` is absent, so the engine passes a NULL state)."""

from __future__ import annotations

from collections.abc import Iterator

from mapi_core.plugins import FunctionDef, hookimpl

NATIVE = "mapi_bench_noop._noop"


class Noop:
    """No state, no result: the engine calls ``noop_process(NULL, pkt, hdr)``, which returns 1."""


@hookimpl
def mapi_register_functions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="NOOP",
        description="Does nothing and passes every packet (benchmarks of the engine's per-function cost).",
        implementation=Noop,
        process=f"{NATIVE}:noop_process",
    )
