"""Resident memory of a process running one mapi flow, as the trace grows from 100,000 to 10,000,000 packets.

    .venv/bin/python bench/memory.py                        # 100,000, 1,000,000 and 10,000,000 packets
    .venv/bin/python bench/memory.py --max-packets 1000000  # leave out the 10,000,000-packet trace
    .venv/bin/python bench/memory.py --json

Each measurement is a fresh process (``python bench/mapi_flows.py memory FILE [EXPR]``) that
creates the flow, connects it, waits for the end of the trace and then reads its own
``/proc/self/status``: VmHWM (the peak resident set so far) and VmRSS (resident now, the flow
still open).  The same two values are read just before connect(), so the growth caused by the run
itself is visible.  The peak RSS of the process seen from outside (``ru_maxrss``, as bench/run.py
reports it) is given too.

Traces up to 1,000,000 packets come from the generator (cached in bench/out/).  The larger ones
are that 1,000,000-packet trace repeated, each copy shifted in time to follow the previous one:
about 9.6 GB for 10,000,000 packets, written once in a few minutes and cached.  Every trace is
read once before its runs, so that it is in the page cache (the machine needs the RAM for it).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mapi_flows
from benchlib import OUT, REPO, log, measure, table, trace, warm

SIZES = (100_000, 1_000_000, 10_000_000)
GENERATED_MAX = 1_000_000  # larger traces repeat the generated 1,000,000-packet one
FLOWS: tuple[tuple[str, str | None], ...] = (
    ("BPF_FILTER, PKT_COUNTER, BYTE_COUNTER", "tcp and port 80"),
    ("PKT_COUNTER", None),
)
MAPI_SCRIPT = Path(mapi_flows.__file__).resolve()


def repeated_trace(packets: int, seed: int) -> Path:
    """A trace of ``packets`` packets made of copies of the generated GENERATED_MAX-packet trace,
    each shifted in time past the end of the previous one; cached in bench/out/."""
    copies, rest = divmod(packets, GENERATED_MAX)
    if rest:
        raise SystemExit(f"memory: {packets:,} packets is not a multiple of {GENERATED_MAX:,}")
    source = trace(GENERATED_MAX, seed)
    path = OUT / f"mix-{GENERATED_MAX}-seed{seed}-x{copies}.pcap"
    if path.is_file():
        return path
    log(f"writing {path.relative_to(REPO)} ({copies} copies of {source.name}; a few minutes)...")
    started = time.perf_counter()
    partial = path.with_suffix(".pcap.partial")
    record = struct.Struct("<IIII")
    with open(source, "rb", buffering=1 << 22) as src, open(partial, "wb", buffering=1 << 22) as dst:
        header = src.read(24)
        if header[:4] != b"\xd4\xc3\xb2\xa1":
            raise SystemExit(f"memory: {source} is not a little-endian microsecond pcap")
        dst.write(header)
        first = last = shift = 0
        for copy in range(copies):
            src.seek(len(header))
            while len(head := src.read(16)) == 16:
                seconds, micros, caplen, length = record.unpack(head)
                if copy == 0:
                    first, last = first or seconds, seconds
                dst.write(record.pack(seconds + shift, micros, caplen, length))
                dst.write(src.read(caplen))
            shift += last - first + 1  # the next copy starts a second after this one ends
    partial.replace(path)
    log(f"  {time.perf_counter() - started:.0f} s")
    return path


def trace_of(packets: int, seed: int) -> Path:
    return trace(packets, seed) if packets <= GENERATED_MAX else repeated_trace(packets, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-packets", type=int, default=SIZES[-1],
                        help=f"leave out the traces larger than this (default {SIZES[-1]:,})")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    reason = mapi_flows.unavailable()
    if reason:
        print(f"memory: skipped, {reason}")
        return 0

    rows = []
    for packets in (n for n in SIZES if n <= args.max_packets):
        path = trace_of(packets, args.seed)
        log(f"reading {path.name} once (page cache)...")
        warm(path)
        for name, expression in FLOWS:
            log(f"{name} over {packets:,} packets...")
            command = [sys.executable, str(MAPI_SCRIPT), "memory", str(path)]
            run = measure(command + ([expression] if expression else []))
            printed = json.loads(run.stdout)
            rows.append({
                "flow": name,
                "trace": str(path),
                "packets": packets,
                "counted_packets": printed["packets"],
                "seconds": printed["seconds"],
                "before_connect": printed["before_connect"],
                "at_end": printed["at_end"],
                "max_rss_kib": run.max_rss_kib,
            })  # fmt: skip
    for row in rows:
        first = next(r for r in rows if r["flow"] == row["flow"])  # the smallest trace's run
        row["peak_ratio_to_smallest"] = row["at_end"]["vm_hwm_kib"] / first["at_end"]["vm_hwm_kib"]
        row["end_ratio_to_smallest"] = row["at_end"]["vm_rss_kib"] / first["at_end"]["vm_rss_kib"]
        row["complete"] = row["counted_packets"] == row["packets"] if row["flow"] == "PKT_COUNTER" else None
    if args.json:
        print(json.dumps({"rows": rows}, indent=2))
    else:
        print_table(rows)
    incomplete = [r for r in rows if r["complete"] is False]
    for r in incomplete:
        print(
            f"memory: PKT_COUNTER counted {r['counted_packets']:,} of the {r['packets']:,} packets of {r['trace']}",
            file=sys.stderr,
        )
    return 1 if incomplete else 0


def print_table(rows: list[dict]) -> None:
    def mib(kib: int) -> str:
        return f"{kib / 1024:,.1f}"

    print("resident memory of one process running the flow (MiB); ratios to the smallest trace")
    print(
        table(
            (
                "flow",
                "packets",
                "RSS before connect",
                "peak RSS (VmHWM)",
                "RSS at end (VmRSS)",
                "ru_maxrss",
                "peak vs smallest",
                "end vs smallest",
                "seconds",
            ),
            [
                (
                    r["flow"],
                    f"{r['packets']:,}",
                    mib(r["before_connect"]["vm_rss_kib"]),
                    mib(r["at_end"]["vm_hwm_kib"]),
                    mib(r["at_end"]["vm_rss_kib"]),
                    mib(r["max_rss_kib"]),
                    f"{r['peak_ratio_to_smallest']:.2f}x",
                    f"{r['end_ratio_to_smallest']:.2f}x",
                    f"{r['seconds']:.2f}",
                )
                for r in rows
            ],
            (False, True, True, True, True, True, True, True, True),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
