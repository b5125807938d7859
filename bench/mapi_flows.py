"""Everything the benchmarks do with the mapi API, in one place (adjust here when the API moves).

The contract used::

    with mapi_core.Flow(path) as flow:          # an offline flow on a trace file
        handle = flow.apply(NAME, *args)        # handle.read() -> int for the counters
        flow.connect()                          # starts reading the file in the engine
        flow.wait()                             # blocks until the end of the file

Also a command line, so that a whole command can be timed (interpreter start-up included) and
run under valgrind::

    python bench/mapi_flows.py count FILE "tcp and port 80"   # prints {"packets", "bytes", "seconds"}
    python bench/mapi_flows.py chain FILE [FUNCTION ...]      # prints {"seconds"}
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


def chain(path: str | Path, functions: Sequence[str]) -> float:
    """A flow applying each of ``functions`` (no arguments) over the trace; connect-to-end seconds."""
    import mapi_core

    with mapi_core.Flow(str(path)) as flow:
        handles = [flow.apply(name) for name in functions]
        started = time.perf_counter()
        flow.connect()
        flow.wait()
        elapsed = time.perf_counter() - started
        for handle in handles:  # reading is part of the same code path for every trace
            if handle.name != "NOOP":
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
    if len(argv) >= 2 and argv[0] == "chain":
        print(json.dumps({"seconds": chain(argv[1], argv[2:])}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
