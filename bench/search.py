"""Payload searches side by side: mapi's STR_SEARCH and REGEXP, tcpdump's BPF, tshark's display filters.

    .venv/bin/python bench/search.py                                   # 1,000,000 packets
    .venv/bin/python bench/search.py --packets 20000 --tshark-packets 5000   # a smoke run
    .venv/bin/python bench/search.py --json                            # machine-readable

See bench/README.md ("search.py") for what each row and number means.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mapi_flows
from benchlib import (
    OUT,
    add_trace_options,
    best_of,
    empty_trace,
    log,
    pcap_stream_totals,
    prepared_trace,
    require,
    table,
    tcpdump_matches,
    wall,
    warm,
)

#: The one pattern: the status line of successful HTTP/1.1 responses.
ONE = "HTTP/1.1 200"
#: 99 more alternatives, printable and 8 to 14 bytes long, with first bytes as varied as the
#: alphabet allows (a hard case for the automaton's candidate scan); seeded, so every run
#: searches for the same ones.  None of them holds a pipe or a backslash (no escaping needed).
_ALPHABET = string.ascii_letters + string.digits + "/.-_=?&%:"
_rng = random.Random(100)
HUNDRED = [ONE] + ["".join(_rng.choice(_ALPHABET) for _ in range(_rng.randint(8, 14))) for _ in range(99)]
REGEX = r"HTTP/1\.1 [0-9]{3} "
HEADER_BPF = "tcp and port 80"


def payload_starts_with(prefix: bytes) -> str:
    """A BPF expression true when the TCP payload (IPv4) starts with ``prefix``."""
    start = "((tcp[12:1] & 0xf0) >> 2)"
    tests = []
    for at in range(0, len(prefix), 4):
        chunk = prefix[at:at + 4]
        tests.append(f"tcp[{start} + {at}:{len(chunk)}] = 0x{chunk.hex()}")
    return "tcp and " + " and ".join(tests)


PAYLOAD_BPF = payload_starts_with(ONE.encode())


def contains_any(patterns: list[str]) -> str:
    """tshark's display filter for "the frame contains one of the patterns" (hex: no quoting)."""
    return " || ".join(f"frame contains {p.encode().hex(':')}" for p in patterns)


def prefix_trace(path: Path, packets: int) -> Path:
    """The first ``packets`` packets of ``path`` (tcpdump -c), cached beside the generated traces."""
    if packets <= 0:
        return path
    prefix = OUT / f"{path.stem}-first{packets}.pcap"
    if not prefix.is_file():
        partial = prefix.with_suffix(".pcap.partial")
        subprocess.run([require("tcpdump"), "-r", str(path), "-c", str(packets), "-w", str(partial)],
                       check=True, capture_output=True)
        partial.replace(prefix)
    return prefix


def tshark_count(tshark: str, path: Path, display_filter: str) -> int:
    done = subprocess.run([tshark, "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                          check=True, capture_output=True, text=True)
    return len(done.stdout.split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_trace_options(parser)
    parser.add_argument("--tshark-packets", type=int, default=200_000,
                        help="tshark reads only the first N packets (default 200,000; 0 = all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row, the best is kept (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    tcpdump, tshark = require("tcpdump"), require("tshark")
    path, total_packets, _ = prepared_trace(args)
    first = prefix_trace(path, args.tshark_packets if args.tshark_packets < total_packets else 0)
    with open(first, "rb") as f:
        first_packets, _ = pcap_stream_totals(f)
    warm(first)

    searches = {   # what -> (mapi chain, tshark display filter)
        "1 pattern": ([("STR_SEARCH", ONE)], f'frame contains "{ONE}"'),
        "100 patterns": ([("STR_SEARCH", "||".join(HUNDRED))], contains_any(HUNDRED)),
        "regex": ([("REGEXP", REGEX)], 'frame matches "(?-i)' + REGEX.replace("\\", "\\\\") + '"'),
    }
    mapi_names = {"1 pattern": "STR_SEARCH, 1 pattern", "100 patterns": "STR_SEARCH, 100 patterns", "regex": "REGEXP"}
    tshark_names = {"1 pattern": "contains, 1 pattern", "100 patterns": "contains, 100 patterns (||)",
                    "regex": "matches (?-i)regex"}
    rows: list[dict] = []

    def row(tool: str, what: str, packets: int, seconds: float, matching: int, check: str = "") -> None:
        rows.append({"tool": tool, "what": what, "packets": packets, "seconds": seconds,
                     "packets_per_second": packets / seconds, "matching_packets": matching, "check": check})

    for what, expression in ((f"BPF '{HEADER_BPF}' (headers only)", HEADER_BPF),
                             (f"BPF: TCP payload starts with {ONE!r}", PAYLOAD_BPF)):
        log(f"tcpdump {expression!r}: {args.repeat} timed runs...")
        seconds = best_of(args.repeat, lambda e=expression: wall([tcpdump, "-r", str(path), "-w", "/dev/null", e]))
        row("tcpdump", what, total_packets, seconds, tcpdump_matches(path, expression)[0])

    skipped = mapi_flows.unavailable()
    if skipped is None:
        log(f"mapi, no filter: {args.repeat} timed runs...")
        best = min((mapi_flows.filter_count(path, []) for _ in range(args.repeat)), key=lambda r: r.seconds)
        row("mapi", "no filter (reading, dispatch, counters)", total_packets, best.seconds, best.packets)
        for name, (chain, display_filter) in searches.items():
            log(f"mapi {mapi_names[name]}: {args.repeat} timed runs...")
            best = min((mapi_flows.filter_count(path, chain) for _ in range(args.repeat)), key=lambda r: r.seconds)
            on_first = mapi_flows.filter_count(first, chain).packets
            agreed = tshark_count(tshark, first, display_filter)
            check = "= tshark" if on_first == agreed else f"MISMATCH: {on_first} vs tshark {agreed}"
            row("mapi", mapi_names[name], total_packets, best.seconds, best.packets, check)
    else:
        log(f"mapi rows skipped: {skipped}")

    for name, (_, display_filter) in searches.items():
        log(f"tshark, {tshark_names[name]}: {args.repeat} timed runs...")
        seconds = best_of(args.repeat, lambda f=display_filter: wall([tshark, "-r", str(first), "-Y", f]))
        row("tshark", tshark_names[name], first_packets, seconds, tshark_count(tshark, first, display_filter))
    startup = best_of(args.repeat, lambda: wall([tshark, "-r", str(empty_trace())]))

    reference = rows[1]["packets_per_second"]   # tcpdump with the payload test
    for entry in rows:
        entry["ratio_to_tcpdump_payload_bpf"] = entry["packets_per_second"] / reference
    mapi_seconds = {r["what"]: r["seconds"] for r in rows if r["tool"] == "mapi"}
    one = mapi_seconds.get(mapi_names["1 pattern"])
    hundred = mapi_seconds.get(mapi_names["100 patterns"])
    mismatch = any(r["check"].startswith("MISMATCH") for r in rows)
    result = {
        "trace": {"path": str(path), "packets": total_packets},
        "tshark_trace": {"path": str(first), "packets": first_packets},
        "patterns": {"one": ONE, "hundred": HUNDRED, "regex": REGEX, "payload_bpf": PAYLOAD_BPF},
        "repeat": args.repeat,
        "rows": rows,
        "hundred_over_one": hundred / one if one and hundred else None,
        "tshark_startup_seconds": startup,
        "mapi_skipped": skipped,
        "mismatch": mismatch,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 1 if mismatch else 0
    print(f"trace: {path} ({total_packets:,} packets); tshark reads {first.name} ({first_packets:,} packets)")
    print(f"best of {args.repeat} runs; 1 pattern: {ONE!r}; 100 patterns: it || 99 random printable strings "
          f"of 8-14 bytes; regex: {REGEX!r}")
    print(f"tcpdump: tcpdump -r FILE -w /dev/null EXPR; the payload BPF: {PAYLOAD_BPF}")
    print("mapi: a flow [FILTER, PKT_COUNTER, BYTE_COUNTER] in one process, connect() to the end of wait()")
    print("tshark: tshark -r FIRST -Y FILTER (output to /dev/null)")
    print(table(
        ("tool", "what", "packets read", "seconds", "packets/s", "vs tcpdump payload BPF", "matching", "check"),
        [(r["tool"], r["what"], f"{r['packets']:,}", f"{r['seconds']:.3f}", f"{r['packets_per_second']:,.0f}",
          f"{r['ratio_to_tcpdump_payload_bpf']:.2f}x", f"{r['matching_packets']:,}", r["check"]) for r in rows],
        (False, False, True, True, True, True, True, False)))
    if result["hundred_over_one"] is not None:
        print(f"mapi STR_SEARCH time, 100 patterns / 1 pattern: {result['hundred_over_one']:.2f}x")
    print(f"tshark start-up alone (an empty pcap): {startup:.3f} s, included in its rows")
    print("check: mapi's count on tshark's packets equals tshark's count there (tshark as the oracle)")
    if skipped:
        print(f"mapi rows skipped: {skipped}")
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
