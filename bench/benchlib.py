"""Shared helpers of the benchmark scripts: cached traces, timing, tcpdump's count, tables.

Nothing here knows the mapi API (that is :mod:`mapi_flows`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
OUT = BENCH / "out"  # git-ignored
CORE_SRC = REPO / "mapi_core" / "src"


def ensure_mapi_core_path() -> None:
    """Makes ``mapi_core`` importable from a source checkout when it is not installed (here and
    in the child processes the benchmarks start)."""
    try:
        import mapi_core  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(CORE_SRC))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(CORE_SRC), os.environ.get("PYTHONPATH"))))


def require(tool: str) -> str:
    """Path of a program, or exit with a message."""
    found = shutil.which(tool)
    if found is None:
        sys.exit(f"bench: {tool} is not installed (scripts/setup installs it)")
    return found


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def trace(packets: int, seed: int = 1, worm_fraction: float = 0.0) -> Path:
    """The realistic-mix trace of ``packets`` packets, generated once and cached in bench/out/."""
    ensure_mapi_core_path()
    from mapi_core.tracegen import generate

    OUT.mkdir(parents=True, exist_ok=True)
    name = f"mix-{packets}-seed{seed}" + (f"-worm{worm_fraction:g}" if worm_fraction else "")
    path = OUT / f"{name}.pcap"
    done = OUT / f"{name}.json"
    if path.is_file() and done.is_file():
        return path
    log(f"generating {path.relative_to(REPO)} ({packets:,} packets, seed {seed})...")
    partial = OUT / f"{name}.pcap.partial"
    started = time.perf_counter()
    summary = generate(partial, packets, seed=seed, worm_fraction=worm_fraction)
    elapsed = time.perf_counter() - started
    partial.replace(path)
    record = {**asdict(summary), "path": str(path), "generation_seconds": round(elapsed, 3)}
    done.write_text(json.dumps(record, indent=1) + "\n")
    log(f"  {elapsed:.1f} s ({packets / elapsed:,.0f} packets/s)")
    return path


def empty_trace() -> Path:
    """A pcap file with its header and no packet (the baseline of per-packet measurements)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "empty.pcap"
    if not path.is_file():
        path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    return path


def warm(path: Path) -> None:
    """Reads a file once so that every timed run finds it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 22):
            pass


def add_trace_options(parser: argparse.ArgumentParser) -> None:
    """--packets, --seed and --trace: which pcap a benchmark reads."""
    parser.add_argument(
        "--packets", type=int, default=1_000_000, help="size of the generated trace (default 1,000,000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated trace")
    parser.add_argument("--trace", type=Path, help="use this pcap instead of a generated one")


def prepared_trace(args: argparse.Namespace) -> tuple[Path, int, int]:
    """The benchmark's trace (given or generated), read once into the page cache; with its
    packets and wire bytes."""
    path = args.trace or trace(args.packets, args.seed)
    log(f"reading {path} once (page cache)...")
    warm(path)
    with open(path, "rb") as f:
        packets, wire_bytes = pcap_stream_totals(f)
    return path, packets, wire_bytes


def best_of(repeat: int, run: Callable[[], float]) -> float:
    """The smallest of ``repeat`` measurements (each ``run()`` returns seconds)."""
    return min(run() for _ in range(repeat))


def wall(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of one command (output discarded); fails loudly if it fails."""
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}"
        )
    return elapsed


@dataclass(frozen=True)
class Measured:
    """One run of a command: wall-clock seconds, the peak resident memory of the process, its output."""

    seconds: float
    max_rss_kib: int
    stdout: str


PEAK_RSS_SOURCE = BENCH / "peak_rss.c"


def compiled(source: Path, libraries: Sequence[str] = ()) -> Path:
    """A C program of bench/, compiled with ``cc -O2`` into bench/out/ on first use (and again
    when the source is newer).  Raises RuntimeError with the compiler's message if it fails."""
    binary = OUT / source.stem
    if binary.is_file() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc)")
    OUT.mkdir(parents=True, exist_ok=True)
    log(f"compiling {source.relative_to(REPO)} into {binary.relative_to(REPO)}...")
    partial = binary.with_suffix(".partial")
    done = subprocess.run([compiler, "-O2", "-o", str(partial), str(source), *libraries],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"compiling {source.name} failed: {done.stderr.strip()[-500:]}")
    partial.replace(binary)
    return binary


def measure(argv: Sequence[str], env: dict[str, str] | None = None) -> Measured:
    """Runs a command; its wall-clock time and its peak RSS (``ru_maxrss``).

    The command is started through bench/peak_rss.c, which reports the ``ru_maxrss`` of its
    child (see there why the child of this Python process cannot be asked directly).  That is
    the peak of the largest single process among the command and the children it waited for,
    not their sum.  Fails loudly if the command fails.
    """
    launcher = compiled(PEAK_RSS_SOURCE)
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak:
        started = time.perf_counter()
        # stderr into a file, so that a chatty command never blocks; stdout is one JSON line.
        done = subprocess.run([str(launcher), peak.name, *argv], stdout=subprocess.PIPE, stderr=err, env=env,
                              check=False)  # fmt: skip
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace").strip()
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {message}")
        max_rss_kib = int(peak.read())
        out = done.stdout
    return Measured(elapsed, max_rss_kib, out.decode())


def pcap_stream_totals(stream) -> tuple[int, int]:
    """Packets and wire bytes of a pcap read from a binary stream (e.g. ``tcpdump -w -``)."""
    header = stream.read(24)
    if len(header) < 24:
        return 0, 0
    endian = "<" if header[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    record = struct.Struct(endian + "IIII")
    packets = wire = 0
    read = stream.read
    while True:
        head = read(16)
        if len(head) < 16:
            return packets, wire
        _, _, caplen, length = record.unpack(head)
        read(caplen)
        packets += 1
        wire += length


def tcpdump_matches(path: Path, expression: str) -> tuple[int, int]:
    """Packets (and their wire bytes) of ``path`` matching ``expression``, as tcpdump selects them."""
    proc = subprocess.Popen(
        [require("tcpdump"), "-r", str(path), "-w", "-", expression], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    totals = pcap_stream_totals(proc.stdout)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"tcpdump failed: {err.decode(errors='replace').strip()}")
    return totals


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[bool]) -> str:
    """A plain-text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(c.rjust(w) if right[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)
