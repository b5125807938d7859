"""Live capture: mapi (AF_PACKET and libpcap backends) and tcpdump on the same replay.

    sudo .venv/bin/python bench/live.py                          # 200,000 packets, tcpreplay --topspeed
    sudo .venv/bin/python bench/live.py --packets 20000 --pps 100000
    sudo .venv/bin/python bench/live.py --json

A network namespace with a veth pair is made for the run (and removed at the end): the trace
(the generator's realistic mix, cached in bench/out/) is replayed with ``tcpreplay -K`` (preloaded
into memory) into veth0 while one capture tool listens on veth1.  Each tool gets its own replays
(``--repeat``, default 3, the run that captured most is shown): a tool never competes with
another for the two CPUs.  Same options for every tool: snapshot length 262144, kernel buffer
8 MiB (``--buffer``), no filter (``--filter``), the tool's default delivery (tcpdump's 1 s read
timeout, mapi's 10 ms blocks).

| tool | what captures |
| --- | --- |
| mapi afpacket | a flow [PKT_COUNTER, BYTE_COUNTER] on veth1, AF_PACKET TPACKET_V3 ring, zero copy |
| mapi pcap | the same flow through libpcap (packets copied into mapi's batches) |
| tcpdump | ``tcpdump -i veth1 -w /dev/null -s 262144 -B 8192 -n`` |

Columns: **sent** (tcpreplay's "Actual: N packets"), **captured** (mapi's PKT_COUNTER; tcpdump's
"packets captured"), **kernel drops** (mapi_stats ps_drop; tcpdump's "dropped by kernel"),
**lost** (sent - captured, whatever the cause), **replay s** (tcpreplay's time), **captured/s**
(captured / replay s), **CPU s** (user + system time of the capture: for mapi from connect to the
stop, measured inside the process; for tcpdump its whole process, whose start-up is small).
Needs root (namespaces, capture), tcpreplay and tcpdump.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ensure_mapi_core_path, log, require, table, trace

STEP_TIMEOUT = 300      # seconds, any one process
SETTLE = 1.5            # seconds after the replay: longer than any tool's delivery delay
TOOLS = ("afpacket", "pcap", "tcpdump")

# The mapi side, run inside the namespace: prints "ready" once connected, waits for a line on
# stdin, prints its counters as JSON.
CHILD = """
import json, resource, sys
from mapi_core.runtime import Runtime
backend, interface, snaplen, buffer_size, expression = sys.argv[1:6]
runtime = Runtime()
name = runtime.open_live_device(interface, backend=backend, snaplen=int(snaplen), buffer_size=int(buffer_size))
fd = runtime.create_flow(name)
if expression:
    runtime.apply_function(fd, "BPF_FILTER", [expression])
packets = runtime.apply_function(fd, "PKT_COUNTER", [])
octets = runtime.apply_function(fd, "BYTE_COUNTER", [])
runtime.connect(fd)
before = resource.getrusage(resource.RUSAGE_SELF)
print("ready", flush=True)
sys.stdin.readline()
after = resource.getrusage(resource.RUSAGE_SELF)
stats = runtime.stats(name)
print(json.dumps({"captured": runtime.read_result(fd, packets).value, "bytes": runtime.read_result(fd, octets).value,
                  "kernel_drops": stats.ps_drop, "received": stats.ps_recv, "if_drops": stats.ps_ifdrop,
                  "function_drops": stats.function_drops, "backend": stats.backend,
                  "capture_cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}))
runtime.shutdown()
"""


def wait_line(proc: subprocess.Popen, stream, want: str) -> None:
    """Reads lines of a child until one contains ``want`` (bounded: 20 lines, STEP_TIMEOUT)."""
    deadline = time.monotonic() + STEP_TIMEOUT
    for _ in range(20):
        line = stream.readline()
        if want in line:
            return
        if not line or time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError(f"the capture did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")


def reap(proc: subprocess.Popen) -> float:
    """Waits for a child; returns its CPU seconds (user + system)."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.01)


def replay(ns: str, path: Path, pps: int) -> dict:
    speed = ["--topspeed"] if pps <= 0 else [f"--pps={pps}"]
    done = subprocess.run(["ip", "netns", "exec", ns, require("tcpreplay"), "-K", "-i", "veth0", *speed, str(path)],
                          check=False, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"tcpreplay failed: {done.stderr.strip()}")
    found = re.search(r"Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds", done.stdout)
    failed = re.search(r"Failed packets:\s+(\d+)", done.stdout)
    return {"sent": int(found[1]), "sent_bytes": int(found[2]), "seconds": float(found[3]),
            "failed": int(failed[1]) if failed else None}


def run_mapi(ns: str, backend: str, path: Path, args: argparse.Namespace) -> dict:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", CHILD, backend, "veth1",
                             str(args.snaplen), str(args.buffer), args.filter],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_line(proc, proc.stdout, "ready")
    sent = replay(ns, path, args.pps)
    time.sleep(SETTLE)
    proc.stdin.write("stop\n")
    proc.stdin.flush()
    out = proc.stdout.read()
    reap(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"mapi ({backend}) failed: {proc.stderr.read()}")
    report = json.loads(out)
    # the capture alone: from connect to the stop (interpreter start-up and imports left out)
    return {**sent, **report, "cpu_seconds": report.pop("capture_cpu_seconds")}


def run_tcpdump(ns: str, path: Path, args: argparse.Namespace) -> dict:
    argv = ["ip", "netns", "exec", ns, require("tcpdump"), "-i", "veth1", "-w", "/dev/null", "-s", str(args.snaplen),
            "-B", str(args.buffer // 1024), "-n"] + ([args.filter] if args.filter else [])
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    wait_line(proc, proc.stderr, "listening on")
    sent = replay(ns, path, args.pps)
    time.sleep(SETTLE)
    proc.send_signal(signal.SIGINT)
    cpu = reap(proc)
    report = proc.stderr.read()
    numbers = {key: int(m[1]) for key in ("captured", "received by filter", "dropped by kernel")
               if (m := re.search(rf"(\d+) packets? {key}", report))}
    return {**sent, "captured": numbers.get("captured"), "kernel_drops": numbers.get("dropped by kernel"),
            "received": numbers.get("received by filter"), "cpu_seconds": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=200_000, help="size of the generated trace (default 200,000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated trace")
    parser.add_argument("--trace", type=Path, help="replay this pcap instead of a generated one")
    parser.add_argument("--pps", type=int, default=0, help="replay rate in packets/s (default 0: --topspeed)")
    parser.add_argument("--repeat", type=int, default=3, help="replays per tool; the best is shown (default 3)")
    parser.add_argument("--buffer", type=int, default=8 * 1024 * 1024, help="kernel buffer, bytes (default 8 MiB)")
    parser.add_argument("--snaplen", type=int, default=262144, help="snapshot length (default 262144)")
    parser.add_argument("--filter", default="", help="BPF expression for every tool (default: none)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    if os.geteuid() != 0:
        sys.exit("bench/live.py: needs root (network namespace, capture)")
    require("tcpreplay")
    require("tcpdump")
    ensure_mapi_core_path()
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        sys.exit(f"bench/live.py: unknown tools {sorted(unknown)}")
    path = args.trace or trace(args.packets, args.seed)

    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    from mapi_core.testing import veth_namespace

    with veth_namespace("mapi-bench", STEP_TIMEOUT) as ns:
        for attempt in range(args.repeat):
            for tool in tools:
                log(f"{tool}: replay {attempt + 1}/{args.repeat}...")
                result = run_tcpdump(ns, path, args) if tool == "tcpdump" else run_mapi(ns, tool, path, args)
                runs[tool].append(result)
    rows = []
    for tool in tools:
        best = max(runs[tool], key=lambda r: (r["captured"] or 0, -r["seconds"]))
        rows.append({"tool": "tcpdump" if tool == "tcpdump" else f"mapi {tool}", **best,
                     "lost": best["sent"] - (best["captured"] or 0),
                     "captured_per_second": (best["captured"] or 0) / best["seconds"] if best["seconds"] else None})
    result = {"trace": str(path), "pps": args.pps or "topspeed", "repeat": args.repeat, "buffer": args.buffer,
              "snaplen": args.snaplen, "filter": args.filter, "rows": rows, "runs": runs}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"trace: {path}; replay: {'tcpreplay --topspeed' if args.pps <= 0 else f'tcpreplay --pps={args.pps}'} -K; "
          f"buffer {args.buffer:,} bytes, snaplen {args.snaplen}, filter {args.filter or '(none)'}; "
          f"best of {args.repeat} replays per tool")
    print(table(("tool", "sent", "captured", "kernel drops", "lost", "replay s", "captured/s", "CPU s"),
                [(r["tool"], f"{r['sent']:,}", f"{r['captured']:,}", f"{r['kernel_drops']:,}", f"{r['lost']:,}",
                  f"{r['seconds']:.3f}", f"{r['captured_per_second']:,.0f}", f"{r['cpu_seconds']:.2f}")
                 for r in rows],
                (False, True, True, True, True, True, True, True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
