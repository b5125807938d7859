"""tcpdump and mapi side by side on the same trace: counting the packets of a BPF filter.

    .venv/bin/python bench/run.py                     # 1,000,000 packets (generated once, cached)
    .venv/bin/python bench/run.py --packets 20000     # a smoke run
    .venv/bin/python bench/run.py --json              # machine-readable

See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mapi_flows
from benchlib import add_trace_options, best_of, log, prepared_trace, require, table, tcpdump_matches, wall

MAPI_SCRIPT = Path(mapi_flows.__file__).resolve()


def command_json(argv: list[str]) -> tuple[float, dict]:
    """Wall-clock seconds of a command that prints one JSON object, and that object."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_trace_options(parser)
    parser.add_argument("--filter", default="tcp and port 80", help='BPF expression (default "tcp and port 80")')
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row, the best is kept (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    tcpdump = require("tcpdump")
    path, total_packets, total_bytes = prepared_trace(args)

    rows: list[dict] = []

    def row(tool: str, timed: str, seconds: float, packets: int | None, octets: int | None) -> dict:
        entry = {
            "tool": tool,
            "timed": timed,
            "seconds": seconds,
            "packets_per_second": total_packets / seconds,
            "matching_packets": packets,
            "matching_bytes": octets,
        }
        rows.append(entry)
        return entry

    log(f"tcpdump: {args.repeat} timed runs...")
    seconds = best_of(args.repeat, lambda: wall([tcpdump, "-r", str(path), "-w", "/dev/null", args.filter]))
    matched, matched_bytes = tcpdump_matches(path, args.filter)
    reference = row("tcpdump", f"tcpdump -r FILE -w /dev/null '{args.filter}'", seconds, matched, matched_bytes)

    skipped = mapi_flows.unavailable()
    mismatch = False
    if skipped is None:
        log(f"mapi in-process: {args.repeat} timed runs...")
        runs = [mapi_flows.count(path, args.filter) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r.seconds)
        row("mapi", "in one process: connect() to end of wait()", best.seconds, best.packets, best.bytes)
        counts = {(r.packets, r.bytes) for r in runs}
        log(f"mapi whole command: {args.repeat} timed runs...")
        command = [sys.executable, str(MAPI_SCRIPT), "count", str(path), args.filter]
        timed = [command_json(command) for _ in range(args.repeat)]
        seconds, printed = min(timed, key=lambda r: r[0])
        row(
            "mapi",
            "whole command: python bench/mapi_flows.py count FILE ...",
            seconds,
            printed["packets"],
            printed["bytes"],
        )
        counts |= {(p["packets"], p["bytes"]) for _, p in timed}
        startup = best_of(args.repeat, lambda: wall([sys.executable, "-c", "import mapi_core"]))
        mismatch = counts != {(matched, matched_bytes)}
    else:
        startup = None
        log(f"mapi rows skipped: {skipped}")

    for entry in rows:
        entry["ratio_to_tcpdump"] = entry["packets_per_second"] / reference["packets_per_second"]
        entry["matches_tcpdump"] = (entry["matching_packets"], entry["matching_bytes"]) == (matched, matched_bytes)
    result = {
        "trace": {"path": str(path), "packets": total_packets, "bytes": total_bytes},
        "filter": args.filter,
        "repeat": args.repeat,
        "rows": rows,
        "python_startup_import_mapi_core_seconds": startup,
        "mapi_skipped": skipped,
        "mismatch": mismatch,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"trace: {path} ({total_packets:,} packets, {total_bytes:,} bytes)")
        print(f"filter: {args.filter!r}; best of {args.repeat} runs")
        print(
            table(
                ("tool", "timed", "seconds", "packets/s", "vs tcpdump", "matching packets", "matching bytes", ""),
                [
                    (
                        r["tool"],
                        r["timed"],
                        f"{r['seconds']:.3f}",
                        f"{r['packets_per_second']:,.0f}",
                        f"{r['ratio_to_tcpdump']:.2f}x",
                        f"{r['matching_packets']:,}",
                        f"{r['matching_bytes']:,}",
                        "" if r["matches_tcpdump"] else "MISMATCH",
                    )
                    for r in rows
                ],
                (False, False, True, True, True, True, True, False),
            )
        )
        if startup is not None:
            print(f"python start-up + import mapi_core alone: {startup:.3f} s")
        if skipped:
            print(f"mapi rows skipped: {skipped}")
        if mismatch:
            found = ", ".join(f"{p:,} packets ({b:,} bytes)" for p, b in sorted(counts))
            print(f"MISMATCH: mapi counted {found}; tcpdump {matched:,} packets ({matched_bytes:,} bytes)")
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
