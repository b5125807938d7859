"""mapi beside tcpdump, a plain C libpcap loop, dpkt and nfstream: counting the packets of a BPF filter.

    .venv/bin/python bench/run.py                     # 1,000,000 packets (generated once, cached)
    .venv/bin/python bench/run.py --packets 20000     # a smoke run
    .venv/bin/python bench/run.py --json              # machine-readable
    .venv/bin/python bench/run.py --no-peers          # never create bench/out/peers-venv
    .venv/bin/python bench/run.py --callgrind         # run bench/callgrind.py first for the Ir column

See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mapi_flows
import peerlib
from benchlib import (
    OUT,
    add_trace_options,
    best_of,
    log,
    measure,
    prepared_trace,
    require,
    table,
    tcpdump_matches,
    wall,
)

MAPI_SCRIPT = Path(mapi_flows.__file__).resolve()
CALLGRIND_SCRIPT = Path(__file__).resolve().parent / "callgrind.py"
CALLGRIND_RESULT = OUT / "callgrind" / "result.json"
SHARED_FLOWS = 32
WORKERS = 2   # worker processes of the split row (the machine has 2 cores)


def callgrind_flow(expression: str) -> list[str]:
    """How bench/callgrind.py names the flow of the mapi rows in its JSON."""
    return [f"BPF_FILTER={expression}", "PKT_COUNTER", "BYTE_COUNTER"]


def callgrind_figures(expression: str) -> dict | None:
    """Instructions per packet of the mapi rows' flow from bench/callgrind.py's last run, if any."""
    if not CALLGRIND_RESULT.is_file():
        return None
    result = json.loads(CALLGRIND_RESULT.read_text())
    for row in result.get("rows", []):
        if row["functions"] == callgrind_flow(expression):
            return {
                "packets": result["packets"],
                "trace": result["trace"],
                "flow": row["flow"],
                "engine_ir_per_packet": row["engine_ir_per_packet"] if result.get("engine_loop_found") else None,
                "process_ir_per_packet": row["process_ir_per_packet"],
            }
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_trace_options(parser)
    parser.add_argument("--filter", default="tcp and port 80", help='BPF expression (default "tcp and port 80")')
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row, the best is kept (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help=f"do not create {peerlib.PEERS_VENV.name} for dpkt and nfstream (use it if it exists)",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="run bench/callgrind.py first (about a minute) for the Ir/packet column",
    )
    args = parser.parse_args(argv)

    tcpdump = require("tcpdump")
    path, total_packets, total_bytes = prepared_trace(args)
    matched, matched_bytes = tcpdump_matches(path, args.filter)
    expected = (matched, matched_bytes)

    rows: list[dict] = []

    def skipped_row(tool: str, timed: str, why: str) -> None:
        log(f"{tool}: skipped, {why}")
        rows.append({"tool": tool, "timed": timed, "skipped": why, "seconds": None, "check": f"skipped: {why}"})

    def timed_row(
        tool: str,
        timed: str,
        seconds: float,
        peak_rss_kib: int,
        counts: list[tuple[int, int | None]],
        ir_per_packet: float | None = None,
    ) -> dict:
        """A row; ``counts`` are (packets, bytes) of every run (bytes None when not counted)."""
        ok = all(p == matched and b in (None, matched_bytes) for p, b in counts)
        entry = {
            "tool": tool,
            "timed": timed,
            "skipped": None,
            "seconds": seconds,
            "packets_per_second": total_packets / seconds,
            "peak_rss_kib": peak_rss_kib,
            "ir_per_packet": ir_per_packet,
            "matching_packets": counts[0][0],
            "matching_bytes": counts[0][1],
            "counts_of_every_run": sorted(set(counts), key=str),
            "matches_tcpdump": ok,
            "check": "" if ok else "MISMATCH",
        }
        rows.append(entry)
        return entry

    def command_row(tool: str, timed: str, command: Callable[[], list[str]]) -> None:
        """A peer timed as a whole command that prints {"packets", "bytes"}; best of --repeat."""
        try:
            argv_ = command()
        except peerlib.PeerUnavailable as why:
            skipped_row(tool, timed, str(why))
            return
        log(f"{tool}: {args.repeat} timed runs...")
        try:
            runs = [measure(argv_) for _ in range(args.repeat)]
        except RuntimeError as err:
            skipped_row(tool, timed, f"failed: {err}")
            return
        printed = [json.loads(r.stdout) for r in runs]
        timed_row(
            tool,
            timed,
            min(r.seconds for r in runs),
            max(r.max_rss_kib for r in runs),
            [(p["packets"], p["bytes"]) for p in printed],
        )

    log(f"tcpdump: {args.repeat} timed runs...")
    tcpdump_argv = [tcpdump, "-r", str(path), "-w", "/dev/null", args.filter]
    tcpdump_runs = [measure(tcpdump_argv) for _ in range(args.repeat)]
    reference = timed_row(
        "tcpdump",
        f"tcpdump -r FILE -w /dev/null '{args.filter}'",
        min(r.seconds for r in tcpdump_runs),
        max(r.max_rss_kib for r in tcpdump_runs),
        [expected],  # the reference selection (tcpdump -w - read back)
    )

    command_row(
        "libpcap C loop",
        "bench/out/pcap_loop FILE EXPR (pcap_next_ex)",
        lambda: peerlib.pcap_loop_command(path, args.filter),
    )
    pypi_problems = peerlib.pypi_peer_problems(install=not args.no_peers)

    def pypi_peer(name: str, command: Callable[[], list[str]]) -> Callable[[], list[str]]:
        def ready() -> list[str]:
            if pypi_problems[name]:
                raise peerlib.PeerUnavailable(pypi_problems[name])
            return command()

        return ready

    command_row(
        "dpkt",
        "python bench/peers/dpkt_count.py FILE (peers-venv)",
        pypi_peer("dpkt", lambda: peerlib.dpkt_command(path, args.filter)),
    )
    command_row(
        "nfstream",
        "python bench/peers/nfstream_count.py FILE EXPR (peers-venv)",
        pypi_peer("nfstream", lambda: peerlib.nfstream_command(path, args.filter)),
    )

    if args.callgrind:
        log("bench/callgrind.py (for the Ir/packet column)...")
        subprocess.run([sys.executable, str(CALLGRIND_SCRIPT)], stdout=sys.stderr, check=True)
    callgrind = callgrind_figures(args.filter)

    skipped = mapi_flows.unavailable()
    startup = None
    shared_ratio = None
    workers_scaling = None
    if skipped is None:
        log(f"mapi: {args.repeat} runs of bench/mapi_flows.py count...")
        runs = [measure([sys.executable, str(MAPI_SCRIPT), "count", str(path), args.filter])
                for _ in range(args.repeat)]  # fmt: skip
        printed = [json.loads(r.stdout) for r in runs]
        counts = [(p["packets"], p["bytes"]) for p in printed]
        peak = max(r.max_rss_kib for r in runs)
        timed_row("mapi", "in one process: connect() to end of wait()", min(p["seconds"] for p in printed),
                  peak, counts, callgrind and callgrind["engine_ir_per_packet"])  # fmt: skip
        timed_row(
            "mapi",
            "whole command: python bench/mapi_flows.py count FILE EXPR",
            min(r.seconds for r in runs),
            peak,
            counts,
            callgrind and callgrind["process_ir_per_packet"],
        )
        shared_seconds = {}
        for flows in (1, SHARED_FLOWS):
            log(f"mapi: {args.repeat} runs of {flows} flow(s) on one device...")
            runs = [measure([sys.executable, str(MAPI_SCRIPT), "shared", str(path), args.filter, str(flows)])
                    for _ in range(args.repeat)]  # fmt: skip
            printed = [json.loads(r.stdout) for r in runs]
            shared_seconds[flows] = min(p["seconds"] for p in printed)
            timed_row(
                "mapi",
                f"{flows} flow{'s' if flows > 1 else ''} [BPF_FILTER, PKT_COUNTER] on one device, in one process",
                shared_seconds[flows],
                max(r.max_rss_kib for r in runs),
                [(n, None) for p in printed for n in p["packets"]],
            )
        shared_ratio = shared_seconds[SHARED_FLOWS] / shared_seconds[1]
        log(f"mapi: {args.repeat} runs of the count flow split across {WORKERS} worker processes...")
        runs = [measure([sys.executable, str(MAPI_SCRIPT), "workers", str(path), args.filter, str(WORKERS)])
                for _ in range(args.repeat)]  # fmt: skip
        printed = [json.loads(r.stdout) for r in runs]
        workers_seconds = min(p["seconds"] for p in printed)
        timed_row("mapi", f"Flow(FILE, workers={WORKERS}): connect() to end of wait()", workers_seconds,
                  max(r.max_rss_kib for r in runs), [(p["packets"], p["bytes"]) for p in printed])
        in_process = min(r["seconds"] for r in rows if r["timed"].startswith("in one process"))
        workers_scaling = in_process / workers_seconds
        startup = best_of(args.repeat, lambda: wall([sys.executable, "-c", "import mapi_core"]))
    else:
        skipped_row("mapi", "all mapi rows", skipped)

    for entry in rows:
        if entry["seconds"] is not None:
            entry["ratio_to_tcpdump"] = entry["packets_per_second"] / reference["packets_per_second"]
    mismatch = any(entry["check"] == "MISMATCH" for entry in rows)
    result = {
        "trace": {"path": str(path), "packets": total_packets, "bytes": total_bytes},
        "filter": args.filter,
        "repeat": args.repeat,
        "tcpdump_selection": {"packets": matched, "bytes": matched_bytes},
        "rows": rows,
        "shared_flows": SHARED_FLOWS,
        "shared_flows_time_ratio": shared_ratio,
        "workers": WORKERS,
        "workers_scaling": workers_scaling,
        "callgrind": callgrind,
        "python_startup_import_mapi_core_seconds": startup,
        "pypi_peer_versions": peerlib.pypi_peer_versions(),
        "mapi_skipped": skipped,
        "mismatch": mismatch,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 1 if mismatch else 0


def print_table(result: dict) -> None:
    trace, rows = result["trace"], result["rows"]
    print(f"trace: {trace['path']} ({trace['packets']:,} packets, {trace['bytes']:,} bytes)")
    print(
        f"filter: {result['filter']!r}; best of {result['repeat']} runs; tcpdump selects "
        f"{result['tcpdump_selection']['packets']:,} packets ({result['tcpdump_selection']['bytes']:,} bytes)"
    )

    def cells(r: dict) -> tuple:
        if r["seconds"] is None:
            return (r["tool"], r["timed"], "", "", "", "", "", "", "", r["check"])
        return (
            r["tool"],
            r["timed"],
            f"{r['seconds']:.3f}",
            f"{r['packets_per_second']:,.0f}",
            f"{r['ratio_to_tcpdump']:.2f}x",
            f"{r['peak_rss_kib'] / 1024:,.1f}",
            "" if r["ir_per_packet"] is None else f"{r['ir_per_packet']:,.1f}",
            f"{r['matching_packets']:,}",
            "" if r["matching_bytes"] is None else f"{r['matching_bytes']:,}",
            r["check"],
        )

    print(
        table(
            (
                "tool",
                "timed",
                "seconds",
                "packets/s",
                "vs tcpdump",
                "peak RSS MiB",
                "Ir/packet",
                "matching packets",
                "matching bytes",
                "check",
            ),
            [cells(r) for r in rows],
            (False, False, True, True, True, True, True, True, True, False),
        )
    )
    if result["shared_flows_time_ratio"] is not None:
        print(f"{result['shared_flows']} flows / 1 flow (in-process time): {result['shared_flows_time_ratio']:.2f}x")
    if result["workers_scaling"] is not None:
        print(f"workers={result['workers']} / one process (in-process time): {result['workers_scaling']:.2f}x faster")
    callgrind = result["callgrind"]
    if callgrind:
        print(
            f"Ir/packet: callgrind on {Path(callgrind['trace']).name} ({callgrind['packets']:,} packets), "
            "engine loop for the in-process row, whole process for the whole command"
        )
    elif not result["mapi_skipped"]:
        print("Ir/packet: no bench/callgrind.py result for this flow yet (run it, or add --callgrind)")
    if result["python_startup_import_mapi_core_seconds"] is not None:
        print(f"python start-up + import mapi_core alone: {result['python_startup_import_mapi_core_seconds']:.3f} s")
    if result["mismatch"]:
        print("MISMATCH: a row's counts differ from tcpdump's selection (see counts_of_every_run in --json)")


if __name__ == "__main__":
    sys.exit(main())
