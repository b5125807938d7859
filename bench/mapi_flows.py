"""Everything the benchmarks do with the mapi API, in one place (adjust here when the API moves).

The contract used::

    with mapi_core.Flow(path) as flow:          # an offline flow on a trace file
        handle = flow.apply(NAME, *args)        # handle.read() -> int for the counters
        flow.connect()                          # starts reading the file in the engine
        flow.wait()                             # blocks until the end of the file

Also a command line, so that a whole command can be timed (interpreter start-up included) and
run under valgrind::

    python bench/mapi_flows.py count FILE "tcp and port 80"     # prints {"packets", "bytes", "seconds"}
    python bench/mapi_flows.py shared FILE "tcp and port 80" 32 # N flows on one device: {"packets": [...], "seconds"}
    python bench/mapi_flows.py workers FILE "tcp and port 80" 2 # the count flow split across 2 processes
    python bench/mapi_flows.py memory FILE ["tcp and port 80"]  # a flow and this process's memory (from /proc)
    python bench/mapi_flows.py chain FILE [FUNCTION ...]        # prints {"seconds"}; FUNCTION is NAME or NAME=ARG

Several flows on one device use the runtime's offline devices, as a MAPI program does
(``mapi_create_offline_device``, one ``mapi_create_flow`` per flow, ``mapi_start_offline_device``)::

    runtime = mapi_core.default_runtime()
    device = runtime.create_offline_device(path)
    flows = [mapi_core.Flow(device) for _ in range(n)]  # apply, connect each
    runtime.start_offline_device(device)                # then wait() on each
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ensure_mapi_core_path

COUNTERS = ("PKT_COUNTER", "BYTE_COUNTER")  # the functions of the benchmarks that have a result


@dataclass(frozen=True)
class FlowRun:
    """Results of one flow over a whole trace; ``seconds`` from connect() to the end of wait()."""

    packets: int
    bytes: int
    seconds: float


def unavailable() -> str | None:
    """Why the mapi rows cannot run, or None when they can."""
    ensure_mapi_core_path()
    try:
        import mapi_core
    except Exception as err:  # noqa: BLE001 - any failure to import is a reason to skip
        return f"import mapi_core failed: {err}"
    if not hasattr(mapi_core, "Flow"):
        return "mapi_core has no Flow yet (the Python API is being written)"
    return None


def count(path: str | Path, expression: str) -> FlowRun:
    """[BPF_FILTER expression, PKT_COUNTER, BYTE_COUNTER] over the trace."""
    return filter_count(path, [("BPF_FILTER", expression)])


def filter_count(path: str | Path, functions: Sequence[tuple]) -> FlowRun:
    """[each (NAME, *args) of ``functions``..., PKT_COUNTER, BYTE_COUNTER] over the trace."""
    import mapi_core

    with mapi_core.Flow(str(path)) as flow:
        for name, *args in functions:
            flow.apply(name, *args)
        packets = flow.apply("PKT_COUNTER")
        octets = flow.apply("BYTE_COUNTER")
        started = time.perf_counter()
        flow.connect()
        flow.wait()
        elapsed = time.perf_counter() - started
        return FlowRun(int(packets.read()), int(octets.read()), elapsed)


@dataclass(frozen=True)
class SharedRun:
    """N flows [BPF_FILTER, PKT_COUNTER] on one device: each flow's count; ``seconds`` from the
    first connect() to the end of the last wait()."""

    packets: list[int]
    seconds: float


def shared(path: str | Path, expression: str, flows: int) -> SharedRun:
    """``flows`` flows on one offline device, each [BPF_FILTER expression, PKT_COUNTER]."""
    import mapi_core

    runtime = mapi_core.default_runtime()
    device = runtime.create_offline_device(str(path))
    opened = [mapi_core.Flow(device) for _ in range(flows)]
    try:
        counters = []
        for flow in opened:
            flow.apply("BPF_FILTER", expression)
            counters.append(flow.apply("PKT_COUNTER"))
        started = time.perf_counter()
        for flow in opened:
            flow.connect()
        runtime.start_offline_device(device)
        for flow in opened:
            flow.wait()
        elapsed = time.perf_counter() - started
        return SharedRun([int(counter.read()) for counter in counters], elapsed)
    finally:
        for flow in opened:
            flow.close()
        runtime.delete_offline_device(device)


def workers(path: str | Path, expression: str, count: int) -> FlowRun:
    """[BPF_FILTER expression, PKT_COUNTER, BYTE_COUNTER] split across ``count`` worker processes;
    ``seconds`` from connect() to the end of wait() (the workers' start-up is not in it)."""
    import mapi_core

    with mapi_core.Flow(str(path), workers=count) as flow:
        flow.apply("BPF_FILTER", expression)
        packets = flow.apply("PKT_COUNTER")
        octets = flow.apply("BYTE_COUNTER")
        started = time.perf_counter()
        flow.run()
        elapsed = time.perf_counter() - started
        return FlowRun(int(packets.read()), int(octets.read()), elapsed)


def process_memory() -> dict[str, int]:
    """This process's resident memory now (VmRSS) and at its peak so far (VmHWM), in KiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])  # "  1234 kB"
    return {"vm_rss_kib": fields["VmRSS"], "vm_hwm_kib": fields["VmHWM"]}


def memory(path: str | Path, expression: str | None) -> dict:
    """[BPF_FILTER expression, PKT_COUNTER, BYTE_COUNTER] (or [PKT_COUNTER] without an expression)
    over the trace, with this process's memory before connect() and after the end of the trace."""
    import mapi_core

    with mapi_core.Flow(str(path)) as flow:
        if expression is not None:
            flow.apply("BPF_FILTER", expression)
        packets = flow.apply("PKT_COUNTER")
        octets = flow.apply("BYTE_COUNTER") if expression is not None else None
        before = process_memory()
        started = time.perf_counter()
        flow.connect()
        flow.wait()
        elapsed = time.perf_counter() - started
        after = process_memory()  # the flow still open: what it holds at the end
        return {
            "packets": int(packets.read()),
            "bytes": int(octets.read()) if octets is not None else None,
            "seconds": elapsed,
            "before_connect": before,
            "at_end": after,
        }


def parse_function(spec: str) -> tuple[str, ...]:
    """``NAME`` or ``NAME=ARG`` (split at the first "=") as (NAME, *args)."""
    name, sep, arg = spec.partition("=")
    return (name, arg) if sep else (name,)


def chain(path: str | Path, functions: Sequence[str]) -> float:
    """A flow applying each of ``functions`` (``NAME`` or ``NAME=ARG``) over the trace;
    connect-to-end seconds."""
    import mapi_core

    with mapi_core.Flow(str(path)) as flow:
        handles = [flow.apply(*parse_function(spec)) for spec in functions]
        started = time.perf_counter()
        flow.connect()
        flow.wait()
        elapsed = time.perf_counter() - started
        for handle in handles:  # reading is part of the same code path for every trace
            if handle.name in COUNTERS:
                handle.read()
        return elapsed


def missing_function(path: str | Path, name: str) -> str | None:
    """Why ``name`` cannot be applied (e.g. its library is not installed), or None."""
    import mapi_core

    try:
        with mapi_core.Flow(str(path)) as flow:
            flow.apply(name)
    except Exception as err:  # noqa: BLE001 - report whatever the API says
        return f"{name}: {err}"
    return None


def main(argv: list[str]) -> int:
    reason = unavailable()
    if reason:
        print(f"mapi_flows: {reason}", file=sys.stderr)
        return 2
    if len(argv) == 3 and argv[0] == "count":
        run = count(argv[1], argv[2])
        print(json.dumps({"packets": run.packets, "bytes": run.bytes, "seconds": run.seconds}))
        return 0
    if len(argv) == 4 and argv[0] == "workers":
        run = workers(argv[1], argv[2], int(argv[3]))
        print(json.dumps({"packets": run.packets, "bytes": run.bytes, "seconds": run.seconds}))
        return 0
    if len(argv) == 4 and argv[0] == "shared":
        run = shared(argv[1], argv[2], int(argv[3]))
        print(json.dumps({"packets": run.packets, "seconds": run.seconds}))
        return 0
    if len(argv) in (2, 3) and argv[0] == "memory":
        print(json.dumps(memory(argv[1], argv[2] if len(argv) == 3 else None)))
        return 0
    if len(argv) >= 2 and argv[0] == "chain":
        print(json.dumps({"seconds": chain(argv[1], argv[2:])}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
