"""``mapi tcpanalyze``: the seed's TCP analysis of a trace, one line per interval of packet time.

One flow does all the work, with standard functions only::

    BPF_FILTER  "tcp [and (EXPR)]"
    PKT_COUNTER, BYTE_COUNTER                    packets/s and bits/s
    GAP, STAT(GAP, "1")                          inter-arrival times: their mean and deviation (jitter)
    PROTINFO "tcp.window_size_value", STAT       the advertised window (unscaled)
    PROTINFO "tcp.ack_raw", BINOP ADD, STAT      the window's right edge, ack + window
    RES2FILE (counters, then the three STATs), one line per interval, resetting them all

The command reads the lines RES2FILE wrote back and prints them; ``--output`` keeps the file.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mapi_core.api.flow import Flow
from mapi_core.cli._common import CliError, echo_json, err, out
from mapi_core.cli.cmd_worm import DEMO_TRACE
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.timestamps import parse_time

#: RES2FILE's types: two counters (R2F_ULLSTR), then three STAT records (R2F_STATS).
RES2FILE_TYPES = "1,1,3,3,3"
HEADER = ("# packets bytes | gap: count sum sum2 min max | window: count sum sum2 min max | "
          "edge: count sum sum2 min max  (gaps in 2^-32 s)")
POLL_SECONDS = 0.02
TS_UNITS = 2.0**32


@attrs.frozen
class Spread:
    """Summary of one interval's samples of a value (from a STAT record as RES2FILE wrote it)."""

    count: int
    mean: float | None
    deviation: float | None      # population standard deviation
    minimum: int | None
    maximum: int | None

    @classmethod
    def parse(cls, fields: list[str]) -> Spread:
        count, total, squares, low, high = (int(field) for field in fields)
        if not count:
            return cls(0, None, None, None, None)
        mean = total / count
        variance = max(squares / count - mean * mean, 0.0)
        return cls(count, mean, math.sqrt(variance), low, high)


@attrs.frozen
class Interval:
    """One line of the analysis: interval ``index`` covers [start + index*T, start + (index+1)*T)."""

    index: int
    packets: int
    bytes: int
    gaps: Spread          # in 2^-32 s
    window: Spread        # bytes, unscaled
    edge: Spread          # ack + window, sequence space

    def rates(self, seconds: float) -> tuple[float, float]:
        """(packets/s, bits/s) over an interval of ``seconds``."""
        return self.packets / seconds, self.bytes * 8 / seconds


def parse_line(index: int, line: str) -> Interval:
    fields = line.split()
    if len(fields) != 17:
        raise MapiError(ErrorCode.MCOM_UNKNOWN_ERROR, f"RES2FILE line {index + 1} has {len(fields)} fields, "
                                                      f"17 expected: {line!r}")
    return Interval(index, int(fields[0]), int(fields[1]), Spread.parse(fields[2:7]), Spread.parse(fields[7:12]),
                    Spread.parse(fields[12:17]))


def analyze(trace: Path, output: Path, expression: str, interval: str, timeout: float,
            on_progress: Callable[[int], None] = lambda n: None) -> list[Interval]:
    """Runs the analysis flow over ``trace``, RES2FILE writing ``output``; returns its lines."""
    selection = f"tcp and ({expression})" if expression else "tcp"
    with Flow(trace) as flow:
        flow.apply("BPF_FILTER", selection)
        packets = flow.apply("PKT_COUNTER")
        octets = flow.apply("BYTE_COUNTER")
        gaps = flow.apply("STAT", flow.apply("GAP"), "1")        # the first packet has no gap
        window = flow.apply("PROTINFO", "tcp.window_size_value")
        windows = flow.apply("STAT", window, "0")
        edge = flow.apply("BINOP", "BINOP_ADD", flow.apply("PROTINFO", "tcp.ack_raw"), window)
        edges = flow.apply("STAT", edge, "0")
        flow.apply("RES2FILE", RES2FILE_TYPES, [packets, octets, gaps, windows, edges], HEADER, str(output),
                   interval, 1)
        flow.connect()
        device = flow.runtime.flow(flow.fd).device
        deadline = time.monotonic() + timeout
        while not device.finished.wait(POLL_SECONDS):
            on_progress(device.packets)
            if time.monotonic() > deadline:
                raise MapiError(ErrorCode.MAPI_TIMEOUT, f"{trace} was still being read after {timeout:g} s")
        flow.wait()
        on_progress(device.packets)
    # Closing the flow wrote RES2FILE's last line (the interval in progress) and closed the file.
    lines = [line for line in output.read_text().splitlines() if line and not line.startswith("#")]
    return [parse_line(index, line) for index, line in enumerate(lines)]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value / TS_UNITS * 1000:.3f}"


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def report_table(intervals: list[Interval], seconds: float) -> Table:
    table = Table(title=f"TCP, per {seconds:g} s of packet time", title_justify="left")
    for column in ("from s", "packets/s", "Mbit/s", "gap ms", "jitter ms", "window min", "window mean",
                   "window max", "max ack+window"):
        table.add_column(column, justify="right")
    for row in intervals:
        pps, bps = row.rates(seconds)
        table.add_row(f"{row.index * seconds:g}", _number(pps, 1), f"{bps / 1e6:.3f}", _ms(row.gaps.mean),
                      _ms(row.gaps.deviation), _number(row.window.minimum), _number(row.window.mean, 1),
                      _number(row.window.maximum), _number(row.edge.maximum))
    return table


def _with_progress(run: Callable[[Callable[[int], None]], list[Interval]], name: str) -> list[Interval]:
    console = err()
    if not console.is_terminal:
        return run(lambda n: None)
    columns = (SpinnerColumn(), TextColumn("reading {task.fields[trace]}"),
               TextColumn("{task.completed:,} packets"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("read", total=None, trace=name)
        return run(lambda n: progress.update(task, completed=n))


def _record(row: Interval, seconds: float) -> dict[str, Any]:
    record = attrs.asdict(row)
    record["packets_per_second"], record["bits_per_second"] = row.rates(seconds)
    return record


@click.command()
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("-f", "--filter", "expression", default="", help="A tcpdump expression, ANDed with 'tcp'.")
@click.option("-i", "--interval", default="1s", show_default=True,
              help="Length of each line, in packet time ('1s', '100ms', '1m').")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep RES2FILE's file here (otherwise it is read and removed).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="Seconds to wait for the whole trace to be read.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tcpanalyze(trace: Path | None, expression: str, interval: str, output: Path | None, timeout: float,
               as_json: bool) -> None:
    """Per interval of TRACE's TCP traffic: packets/s, bits/s, the mean gap between packets and
    its standard deviation (jitter), the advertised window, and the window's right edge
    (ack + window).

    Without TRACE it reads the sample trace bundled with mapi-core. One flow computes
    everything with standard functions (GAP, STAT, PROTINFO, BINOP) and RES2FILE writes one line
    per interval, which this command reads back. The first interval starts at the first TCP
    packet; the last one is cut short by the end of the trace.
    """
    try:
        length = parse_time(interval).value
    except ValueError as error:
        raise CliError(f"--interval {interval!r}: {error}") from None
    if length <= 0:
        raise CliError(f"--interval {interval!r}: must be longer than 0")
    seconds = length / TS_UNITS
    trace = trace or DEMO_TRACE
    keep = output is not None
    if output is None:
        handle, name = tempfile.mkstemp(prefix="mapi-tcpanalyze-", suffix=".txt")
        os.close(handle)
        output = Path(name)
    try:
        intervals = _with_progress(lambda progress: analyze(trace, output, expression, interval, timeout, progress),
                                   trace.name)
    finally:
        if not keep:
            output.unlink(missing_ok=True)
    if as_json:
        echo_json({"trace": str(trace), "filter": expression, "interval_seconds": seconds,
                   "intervals": [_record(row, seconds) for row in intervals]})
        return
    console = out()
    console.print(f"[bold]{trace}[/]: {sum(r.packets for r in intervals):,} TCP packets, "
                  f"{sum(r.bytes for r in intervals):,} bytes, {len(intervals)} intervals")
    console.print(report_table(intervals, seconds))
    if keep:
        console.print(f"[dim]RES2FILE wrote {output}[/]")
