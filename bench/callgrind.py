"""Instructions per packet of mapi flows, counted by valgrind's callgrind.

    .venv/bin/python bench/callgrind.py               # 20,000 packets
    .venv/bin/python bench/callgrind.py --json

Each flow runs twice under callgrind with the very same code path: over an N-packet trace and
over an empty trace (a pcap header and no packet).  Instructions per packet are

    (Ir of the N-packet run - Ir of the empty run) / N

so interpreter start-up, imports and flow set-up cancel out.  Two columns: "engine" counts only
inside the engine's trace loop (the inclusive cost of mapi_dev_run_trace: reading the file,
dispatching, the native functions) and "process" the whole process (Python included, e.g. a
thread waiting for the end of the trace).

Flows: no function; 1 and 4 NOOPs (a native function that returns 1; from the test-only library
in bench/noop_lib, built into bench/out/noop_site on first use); PKT_COUNTER alone; and the flow
of bench/run.py, [BPF_FILTER "tcp and port 80", PKT_COUNTER, BYTE_COUNTER].  A plain run writes
its JSON to bench/out/callgrind/result.json, where bench/run.py finds it.

Regression check against the committed bench/callgrind-baseline.json (engine instructions per
packet of a few flows on a 5,000-packet trace):

    .venv/bin/python bench/callgrind.py --check-baseline     # exit status 1 if a flow moved too far
    .venv/bin/python bench/callgrind.py --update-baseline    # measure again and rewrite the baseline
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mapi_flows
from benchlib import BENCH, OUT, empty_trace, log, require, table, trace

NOOP_SITE = OUT / "noop_site"
ENGINE_LOOP = "mapi_dev_run_trace"
BENCH_FILTER = "tcp and port 80"
# (name, functions as bench/mapi_flows.py chain takes them: NAME or NAME=ARG)
FLOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("no function", ()),
    ("1 NOOP", ("NOOP",)),
    ("4 NOOP", ("NOOP",) * 4),
    ("PKT_COUNTER", ("PKT_COUNTER",)),
    ("BPF_FILTER + 2 counters", (f"BPF_FILTER={BENCH_FILTER}", "PKT_COUNTER", "BYTE_COUNTER")),
)
RESULT = OUT / "callgrind" / "result.json"  # the last plain run, read by bench/run.py
BASELINE = BENCH / "callgrind-baseline.json"  # committed; checked by tests/test_bench_smoke.py
BASELINE_PACKETS = 5_000
BASELINE_FLOWS = ("no function", "PKT_COUNTER", "BPF_FILTER + 2 counters")
TOLERANCE_RELATIVE = 0.10  # a flow may move by 10 % of its baseline...
TOLERANCE_INSTRUCTIONS = 3.0  # ...or by 3 instructions per packet, whichever is larger


def build_noop() -> str | None:
    """Builds mapi-bench-noop into bench/out/noop_site (once); returns why it failed, or None."""
    if (NOOP_SITE / "mapi_bench_noop").is_dir():
        return None
    log("building bench/noop_lib into bench/out/noop_site...")
    source = OUT / "noop_src"  # a copy, so the build leaves no build/ or egg-info in bench/noop_lib
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(BENCH / "noop_lib", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    done = subprocess.run([*pip, "--target", str(NOOP_SITE), str(source)], capture_output=True, text=True, check=False)
    shutil.rmtree(source, ignore_errors=True)
    if done.returncode != 0:
        shutil.rmtree(NOOP_SITE, ignore_errors=True)
        return f"building bench/noop_lib failed: {done.stderr.strip()[-2000:]}"
    return None


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(NOOP_SITE), env.get("PYTHONPATH"))))
    env["PYTHONHASHSEED"] = "0"  # the same dict and set layouts in every run
    return env


def callgrind(out: Path, pcap: Path, functions: tuple[str, ...]) -> tuple[int, int]:
    """Runs one flow under callgrind; returns (Ir of the process, inclusive Ir of the engine loop)."""
    argv = [
        require("valgrind"), "--tool=callgrind", f"--callgrind-out-file={out}",
        sys.executable, str(Path(mapi_flows.__file__).resolve()), "chain", str(pcap), *functions,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=child_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"callgrind run failed: {' '.join(argv)}\n{done.stderr[-3000:]}")
    text = out.read_text(errors="replace")
    match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no summary line in {out}")
    total = int(match.group(1))
    annotate = subprocess.run(
        [require("callgrind_annotate"), "--inclusive=yes", "--threshold=100", str(out)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    engine = 0
    for line in annotate.splitlines():
        if re.search(rf"[:\s]{ENGINE_LOOP}(?:'\d+)?\s", line + " "):
            engine = max(engine, int(line.split()[0].replace(",", "")))
    return total, engine


def measure_flows(flows: list[tuple[str, tuple[str, ...]]], packets: int, seed: int, jobs: int) -> dict:
    """Runs each flow under callgrind over the N-packet and the empty trace; the result as JSON."""
    pcap = trace(packets, seed)
    empty = empty_trace()
    skipped: dict[str, str] = {}
    noop_problem = None
    if any("NOOP" in functions for _, functions in flows):
        noop_problem = build_noop()
        if noop_problem is None:
            # Ask in a child with the same environment as the measured runs.
            probe = subprocess.run(
                [sys.executable, "-c", (f"import sys; sys.path.insert(0, {str(BENCH)!r}); import mapi_flows; "
                 f"print(mapi_flows.missing_function({str(empty)!r}, 'NOOP') or '')")],
                capture_output=True, text=True, env=child_env(), check=False,
            )  # fmt: skip
            noop_problem = probe.stdout.strip() or (probe.stderr.strip()[-500:] if probe.returncode else None)
    measured_flows = []
    for name, functions in flows:
        if "NOOP" in functions and noop_problem:
            skipped[name] = noop_problem
        else:
            measured_flows.append((name, functions))

    folder = OUT / "callgrind"
    folder.mkdir(parents=True, exist_ok=True)
    jobs_ = [
        (name, functions, kind, path)
        for name, functions in measured_flows
        for kind, path in (("full", pcap), ("empty", empty))
    ]
    log(f"{len(jobs_)} callgrind runs ({jobs} at a time; each takes a while)...")

    def one(job: tuple) -> tuple:
        name, functions, kind, path = job
        slug = re.sub(r"\W+", "_", name)
        return job, callgrind(folder / f"{slug}-{kind}.out", path, functions)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        measured = {(job[0], job[2]): ir for job, ir in pool.map(one, jobs_)}

    rows = []
    for name, functions in measured_flows:
        full, base = measured[(name, "full")], measured[(name, "empty")]
        rows.append({
            "flow": name,
            "functions": list(functions),
            "engine_ir_per_packet": (full[1] - base[1]) / packets,
            "process_ir_per_packet": (full[0] - base[0]) / packets,
            "ir": {"full": {"process": full[0], "engine": full[1]}, "empty": {"process": base[0], "engine": base[1]}},
        })  # fmt: skip
    engine_seen = all(r["ir"]["full"]["engine"] > 0 for r in rows)
    by_name = {r["flow"]: r for r in rows}
    per_noop = None
    if "1 NOOP" in by_name and "4 NOOP" in by_name:
        # per extra function in a chain: from one to four (a flow without functions does no
        # per-packet dispatch at all, so it is not the base)
        per_noop = (by_name["4 NOOP"]["engine_ir_per_packet"] - by_name["1 NOOP"]["engine_ir_per_packet"]) / 3
    return {
        "packets": packets,
        "seed": seed,
        "trace": str(pcap),
        "rows": rows,
        "skipped": skipped,
        "engine_loop_found": engine_seen,
        "engine_ir_per_noop_per_packet": per_noop,
    }


def allowed_drift(baseline: float) -> float:
    """How far a flow's engine instructions per packet may move from its baseline, either way."""
    return max(TOLERANCE_RELATIVE * abs(baseline), TOLERANCE_INSTRUCTIONS)


def baseline_problems(baseline: dict, result: dict) -> list[str]:
    """What in ``result`` is outside the tolerance of ``baseline`` (an empty list when all is within)."""
    if not result["engine_loop_found"]:
        return [f"{ENGINE_LOOP} was not found in the profiles: no engine instruction counts to compare"]
    measured = {r["flow"]: r["engine_ir_per_packet"] for r in result["rows"]}
    problems = []
    for flow, expected in baseline["engine_ir_per_packet"].items():
        if flow not in measured:
            problems.append(f"{flow}: not measured ({result['skipped'].get(flow, 'unknown flow')})")
            continue
        drift = measured[flow] - expected
        if abs(drift) <= allowed_drift(expected):
            continue
        if drift > 0:
            problems.append(
                f"{flow}: {measured[flow]:,.1f} engine instructions per packet, baseline {expected:,.1f} "
                f"(+{drift:,.1f}, more than the +{allowed_drift(expected):,.1f} allowed): a regression"
            )
        else:
            problems.append(
                f"{flow}: {measured[flow]:,.1f} engine instructions per packet, baseline {expected:,.1f} "
                f"({drift:,.1f}, better than the tolerance): if this is intended, update the "
                "baseline with: .venv/bin/python bench/callgrind.py --update-baseline"
            )
    return problems


def baseline_record(result: dict) -> dict:
    """The committed form of a baseline: the engine instructions per packet of each flow."""
    return {
        "about": "engine instructions per packet (callgrind) checked by tests/test_bench_smoke.py; "
                 "rewrite with: .venv/bin/python bench/callgrind.py --update-baseline",
        "packets": result["packets"],
        "seed": result["seed"],
        "tolerance": f"+/- max({TOLERANCE_RELATIVE:.0%} of the baseline, {TOLERANCE_INSTRUCTIONS:g} instructions)",
        "engine_ir_per_packet": {r["flow"]: round(r["engine_ir_per_packet"], 2) for r in result["rows"]},
    }  # fmt: skip


def print_result(result: dict) -> None:
    engine_seen = result["engine_loop_found"]
    print(f"callgrind, {result['packets']:,} packets of {Path(result['trace']).name}")
    print("instructions (Ir) per packet = (Ir(N packets) - Ir(empty trace)) / N")
    print(
        table(
            ("flow", "engine Ir/packet", "process Ir/packet"),
            [
                (
                    r["flow"],
                    f"{r['engine_ir_per_packet']:,.1f}" if engine_seen else "n/a",
                    f"{r['process_ir_per_packet']:,.1f}",
                )
                for r in result["rows"]
            ],
            (False, True, True),
        )
    )
    if result["engine_ir_per_noop_per_packet"] is not None:
        print(f"each NOOP adds {result['engine_ir_per_noop_per_packet']:,.1f} engine instructions per packet")
    if not engine_seen:
        print(f"note: {ENGINE_LOOP} was not found in the profiles (renamed?): only whole-process numbers")
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int,
                        help="packets of the measured trace (default 20,000; with the baseline options, "
                             "the baseline's)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="callgrind runs at once")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    baseline_mode = parser.add_mutually_exclusive_group()
    baseline_mode.add_argument("--check-baseline", action="store_true",
                               help=f"measure the flows of {BASELINE.name} and compare (exit status 1 if outside "
                                    "the tolerance)")  # fmt: skip
    baseline_mode.add_argument(
        "--update-baseline", action="store_true", help=f"measure the baseline's flows and rewrite {BASELINE.name}"
    )
    args = parser.parse_args(argv)
    require("valgrind")

    reason = mapi_flows.unavailable()
    if reason:
        print(f"callgrind: skipped, {reason}")
        return 0
    baseline = json.loads(BASELINE.read_text()) if BASELINE.is_file() else None
    if args.check_baseline and baseline is None:
        print(f"callgrind: no {BASELINE}; create it with --update-baseline")
        return 1
    if args.check_baseline or args.update_baseline:
        names = list(baseline["engine_ir_per_packet"]) if args.check_baseline else list(BASELINE_FLOWS)
        packets = args.packets or (baseline["packets"] if args.check_baseline else BASELINE_PACKETS)
        seed = baseline["seed"] if args.check_baseline else args.seed
        unknown = set(names) - {name for name, _ in FLOWS}
        if unknown:
            print(f"callgrind: the baseline names flows that do not exist here: {', '.join(sorted(unknown))}")
            return 1
        flows = [flow for flow in FLOWS if flow[0] in names]
    else:
        flows, packets, seed = list(FLOWS), args.packets or 20_000, args.seed
    result = measure_flows(flows, packets, seed, args.jobs)

    status = 0
    if args.update_baseline:
        BASELINE.write_text(json.dumps(baseline_record(result), indent=2) + "\n")
        log(f"wrote {BASELINE}")
    elif args.check_baseline:
        if packets != baseline["packets"]:
            print(f"note: measured on {packets:,} packets, the baseline on {baseline['packets']:,}")
        result["baseline"] = baseline
        result["baseline_problems"] = baseline_problems(baseline, result)
        status = 1 if result["baseline_problems"] else 0
    else:
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(json.dumps(result, indent=2) + "\n")

    if args.json:
        print(json.dumps(result, indent=2))
        return status
    print_result(result)
    if args.check_baseline:
        print(f"baseline {BASELINE.name} ({baseline['packets']:,} packets), tolerance {baseline['tolerance']}:")
        for problem in result["baseline_problems"]:
            print(f"  {problem}")
        if not result["baseline_problems"]:
            print("  every flow within the tolerance")
    return status


if __name__ == "__main__":
    sys.exit(main())
