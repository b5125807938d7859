"""Smoke test of the benchmarks: a small bench/run.py whose every row must count what tcpdump
selects, and the callgrind instruction counts against the committed baseline.

No timing is asserted: times vary with the machine and its load.  Instruction counts do not,
so they are compared with bench/callgrind-baseline.json within its tolerance (bench/callgrind.py
holds the comparison; ``--update-baseline`` rewrites the file after an intended change).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mapi_core.testing import tool

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PEER_TOOLS = ("dpkt", "nfstream")  # may be skipped: their environment is created only by a full run


def bench(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_every_row_of_the_small_benchmark_counts_what_tcpdump_selects():
    tool("tcpdump")             # skips without it, fails under CI
    done = bench("run.py", "--packets", "20000", "--repeat", "1", "--json", "--no-peers")
    assert done.returncode == 0, f"bench/run.py exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    result = json.loads(done.stdout)
    rows = result["rows"]
    assert result["trace"]["packets"] == 20000
    assert [r["tool"] for r in rows] == ["tcpdump", "libpcap C loop", "dpkt", "nfstream"] + ["mapi"] * 5
    selected = result["tcpdump_selection"]
    assert selected["packets"] > 0
    for row in rows:
        if row["skipped"]:
            assert row["tool"] in PEER_TOOLS, f"{row['tool']} ({row['timed']}) was skipped: {row['skipped']}"
            continue
        for packets, octets in row["counts_of_every_run"]:
            assert packets == selected["packets"], row
            assert octets in (None, selected["bytes"]), row
        assert row["seconds"] > 0 and row["peak_rss_kib"] > 0
    shared = [r for r in rows if "on one device" in r["timed"]]
    assert [r["timed"].split()[0] for r in shared] == ["1", "32"]
    assert result["shared_flows_time_ratio"] > 0 and result["workers_scaling"] > 0
    assert not result["mismatch"]


def test_instructions_per_packet_stay_within_the_baseline():
    tool("valgrind"), tool("callgrind_annotate")
    done = bench("callgrind.py", "--check-baseline")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-3000:]}"


def test_the_baseline_check_fails_both_ways_beyond_the_tolerance():
    sys.path.insert(0, str(BENCH))
    try:
        import callgrind
    finally:
        sys.path.remove(str(BENCH))
    baseline = {"engine_ir_per_packet": {"big": 300.0, "small": 20.0}}

    def problems(big: float, small: float) -> list[str]:
        rows = [{"flow": "big", "engine_ir_per_packet": big}, {"flow": "small", "engine_ir_per_packet": small}]
        return callgrind.baseline_problems(baseline, {"engine_loop_found": True, "rows": rows, "skipped": {}})

    assert problems(330.0, 23.0) == []  # +10 % of 300; +3 instructions is more than 10 % of 20
    assert problems(270.0, 17.0) == []
    (worse,) = problems(330.5, 20.0)
    assert worse.startswith("big:") and "regression" in worse
    (better,) = problems(300.0, 16.9)
    assert better.startswith("small:") and "--update-baseline" in better
