"""``mapi worm``: the seed's worm-detection example, counting Code Red probes in a trace.

Two flows share one reading of the trace on one offline device (MAPI's own calls, as a MAPI
program would make them): flow 1 counts all web traffic, flow 2 the web packets that contain
Code Red's request ``GET /default.ida?`` (found by STR_SEARCH).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mapi_core.api.compat import (
    mapi_apply_function,
    mapi_close_flow,
    mapi_connect,
    mapi_create_flow,
    mapi_create_offline_device,
    mapi_delete_offline_device,
    mapi_get_device_info,
    mapi_get_flow_info,
    mapi_read_error,
    mapi_read_results,
    mapi_start_offline_device,
)
from mapi_core.cli._common import echo_json, err, out
from mapi_core.constants import FLOW_FINISHED, MFF_PCAP
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.runtime import default_runtime

T = TypeVar("T")

CODE_RED_REQUEST = b"GET /default.ida?"
WEB_FILTER = "tcp dst port 80"
#: Flow 2's STR_SEARCH pattern: the request itself (no pipe or backslash, so every character
#: stands for itself), searched anywhere in the captured frame.
WORM_SEARCH = CODE_RED_REQUEST.decode()
POLL_SECONDS = 0.02
#: The bundled sample: tracegen.generate(path, 1500, seed=2004, worm_fraction=0.5)
DEMO_TRACE = Path(__file__).resolve().parent.parent / "data" / "demo.pcap"


@attrs.frozen
class Counts:
    packets: int
    bytes: int


@attrs.frozen
class WormReport:
    trace: str
    packets: int
    web: Counts
    worm: Counts
    warning: str = ""


def _checked(value: T) -> T:
    """A MAPI call's return value; its failure value (None or -1) becomes the recorded MapiError."""
    if value is None or (isinstance(value, int) and value == -1):
        code, text = mapi_read_error()
        raise MapiError(code or ErrorCode.MCOM_UNKNOWN_ERROR, text)
    return value


def _apply_counters(fd: int, expression: str, pattern: str | None = None) -> tuple[int, int]:
    """Applies [BPF_FILTER expression, (STR_SEARCH pattern,) PKT_COUNTER, BYTE_COUNTER]; returns
    the counters' fids."""
    _checked(mapi_apply_function(fd, "BPF_FILTER", expression))
    if pattern is not None:
        _checked(mapi_apply_function(fd, "STR_SEARCH", pattern))
    return _checked(mapi_apply_function(fd, "PKT_COUNTER")), _checked(mapi_apply_function(fd, "BYTE_COUNTER"))


def _wait_finished(dev: str, fds: list[int], timeout: float, on_progress: Callable[[int], None]) -> None:
    deadline = time.monotonic() + timeout
    device = default_runtime().device(dev)
    while not all(_checked(mapi_get_flow_info(fd)).status == FLOW_FINISHED for fd in fds):
        on_progress(device.packets)
        if time.monotonic() > deadline:
            raise MapiError(ErrorCode.MAPI_TIMEOUT, f"{dev} was still being read after {timeout:g} s")
        time.sleep(POLL_SECONDS)
    on_progress(device.packets)


def _read(fd: int, fids: tuple[int, int]) -> Counts:
    packets, octets = (_checked(mapi_read_results(fd, fid)).value for fid in fids)
    return Counts(packets, octets)


def _cleanup(dev: str | None, fds: list[int]) -> None:
    for fd in fds:
        mapi_close_flow(fd)
    if dev is not None:
        mapi_delete_offline_device(dev)
    mapi_read_error()  # a failure while cleaning up must not hide the first one


def count_worms(path: Path, timeout: float, on_progress: Callable[[int], None] = lambda n: None) -> WormReport:
    """Reads ``path`` once through two flows on one offline device and returns their counters."""
    dev: str | None = None
    fds: list[int] = []
    try:
        dev = _checked(mapi_create_offline_device(str(path), MFF_PCAP))
        fds = [_checked(mapi_create_flow(dev)) for _ in range(2)]
        web_fids = _apply_counters(fds[0], WEB_FILTER)
        worm_fids = _apply_counters(fds[1], WEB_FILTER, WORM_SEARCH)
        for fd in fds:
            _checked(mapi_connect(fd))
        _checked(mapi_start_offline_device(dev))
        _wait_finished(dev, fds, timeout, on_progress)
        info = _checked(mapi_get_flow_info(fds[0]))
        if info.error:
            raise MapiError(ErrorCode.MAPI_TRACE_DAMAGED, info.error)
        device = _checked(mapi_get_device_info(info.devid))
        return WormReport(str(path), device.packets, _read(fds[0], web_fids), _read(fds[1], worm_fids),
                          device.warning)
    finally:
        _cleanup(dev, fds)


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f} %" if whole else "-"


def report_table(report: WormReport) -> Table:
    table = Table(title="Code Red probes", title_justify="left")
    table.add_column("Traffic", style="bold")
    table.add_column("Packets", justify="right")
    table.add_column("Bytes", justify="right")
    table.add_row(f"web ({WEB_FILTER})", f"{report.web.packets:,}", f"{report.web.bytes:,}")
    table.add_row("worm (Code Red)", f"{report.worm.packets:,}", f"{report.worm.bytes:,}", style="red")
    table.add_row("worm share of web", share(report.worm.packets, report.web.packets),
                  share(report.worm.bytes, report.web.bytes))
    return table


def print_report(report: WormReport) -> None:
    console = out()
    console.print(f"[bold]{report.trace}[/]: {report.packets:,} packets read by one offline device, two flows")
    console.print(report_table(report))
    console.print(f"[dim]worm: web packets that contain {WORM_SEARCH!r} (STR_SEARCH)[/]")


def report_record(report: WormReport) -> dict[str, Any]:
    record = attrs.asdict(report)
    record["filters"] = {"web": {"BPF_FILTER": WEB_FILTER},
                         "worm": {"BPF_FILTER": WEB_FILTER, "STR_SEARCH": WORM_SEARCH}}
    return record


def _read_with_progress(trace: Path, timeout: float) -> WormReport:
    """Reads the trace, with a spinner and the packet count on a terminal (nothing otherwise)."""
    console = err()
    if not console.is_terminal:
        return count_worms(trace, timeout)
    columns = (SpinnerColumn(), TextColumn("reading {task.fields[trace]}"),
               TextColumn("{task.completed:,} packets"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("read", total=None, trace=trace.name)
        return count_worms(trace, timeout, lambda n: progress.update(task, completed=n))


@click.command()
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="Seconds to wait for the whole trace to be read.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def worm(trace: Path | None, timeout: float, as_json: bool) -> None:
    """Counts Code Red probes (GET /default.ida?) among the web packets of TRACE.

    Without TRACE it reads the sample trace bundled with mapi-core (made by mapi's own
    generator: python -m mapi_core.tracegen).

    Two flows on one offline device read the trace once: flow 1 = [BPF_FILTER "tcp dst port 80",
    PKT_COUNTER, BYTE_COUNTER]; flow 2 = [BPF_FILTER "tcp dst port 80", STR_SEARCH
    "GET /default.ida?", PKT_COUNTER, BYTE_COUNTER]: the web packets that contain the request.
    """
    report = _read_with_progress(trace or DEMO_TRACE, timeout)
    if report.warning:
        err().print(f"[yellow]warning:[/] {report.warning}", soft_wrap=True)
    if as_json:
        echo_json(report_record(report))
    else:
        print_report(report)
