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
in bench/noop_lib, built into bench/out/noop_site on first use); PKT_COUNTER alone.
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
FLOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("no function", ()),
    ("1 NOOP", ("NOOP",)),
    ("4 NOOP", ("NOOP",) * 4),
    ("PKT_COUNTER", ("PKT_COUNTER",)),
)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=20_000, help="packets of the measured trace (default 20,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="callgrind runs at once")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    require("valgrind")

    reason = mapi_flows.unavailable()
    if reason:
        print(f"callgrind: skipped, {reason}")
        return 0
    pcap = trace(args.packets, args.seed)
    empty = empty_trace()
    skipped: dict[str, str] = {}
    noop_problem = build_noop()
    if noop_problem is None:
        # Ask in a child with the same environment as the measured runs.
        probe = subprocess.run(
            [sys.executable, "-c", (f"import sys; sys.path.insert(0, {str(BENCH)!r}); import mapi_flows; "
             f"print(mapi_flows.missing_function({str(empty)!r}, 'NOOP') or '')")],
            capture_output=True, text=True, env=child_env(), check=False,
        )  # fmt: skip
        noop_problem = probe.stdout.strip() or (probe.stderr.strip()[-500:] if probe.returncode else None)
    flows = []
    for name, functions in FLOWS:
        if "NOOP" in functions and noop_problem:
            skipped[name] = noop_problem
        else:
            flows.append((name, functions))

    folder = OUT / "callgrind"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [
        (name, functions, kind, path) for name, functions in flows for kind, path in (("full", pcap), ("empty", empty))
    ]
    log(f"{len(jobs)} callgrind runs ({args.jobs} at a time; each takes a while)...")

    def one(job: tuple) -> tuple:
        name, functions, kind, path = job
        slug = re.sub(r"\W+", "_", name)
        return job, callgrind(folder / f"{slug}-{kind}.out", path, functions)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        measured = {(job[0], job[2]): ir for job, ir in pool.map(one, jobs)}

    rows = []
    for name, functions in flows:
        full, base = measured[(name, "full")], measured[(name, "empty")]
        rows.append({
            "flow": name,
            "functions": list(functions),
            "engine_ir_per_packet": (full[1] - base[1]) / args.packets,
            "process_ir_per_packet": (full[0] - base[0]) / args.packets,
            "ir": {"full": {"process": full[0], "engine": full[1]}, "empty": {"process": base[0], "engine": base[1]}},
        })  # fmt: skip
    engine_seen = all(r["ir"]["full"]["engine"] > 0 for r in rows)
    by_name = {r["flow"]: r for r in rows}
    per_noop = None
    if "no function" in by_name and "4 NOOP" in by_name:
        per_noop = (by_name["4 NOOP"]["engine_ir_per_packet"] - by_name["no function"]["engine_ir_per_packet"]) / 4
    result = {
        "packets": args.packets,
        "trace": str(pcap),
        "rows": rows,
        "skipped": skipped,
        "engine_loop_found": engine_seen,
        "engine_ir_per_noop_per_packet": per_noop,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"callgrind, {args.packets:,} packets of {pcap.name}")
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
                for r in rows
            ],
            (False, True, True),
        )
    )
    if per_noop is not None:
        print(f"each NOOP adds {per_noop:,.1f} engine instructions per packet")
    if not engine_seen:
        print(f"note: {ENGINE_LOOP} was not found in the profiles (renamed?): only whole-process numbers")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
