"""``mapi tcpanalyze`` on shared traces, every number recomputed from what tshark extracts.

Oracle: ``tshark -r F -Y tcp -T fields -e frame.time_epoch -e frame.len -e tcp.window_size_value
-e tcp.ack_raw``, grouped into intervals of packet time by hand in the test (interval k holds
the packets with t0 + k*T <= ts < t0 + (k+1)*T, t0 the first TCP packet; times in exact 32.32
units, as MAPI stamps packets), then counted, summed and described with Python's ``statistics``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner
from mapi_core.cli import cli
from mapi_core.testing import epoch_to_ts32, run, tool, trace

ONE_SECOND = 1 << 32


ts32 = epoch_to_ts32


def tshark_tcp(path: Path) -> list[tuple[int, int, int, int]]:
    """(ts, wire length, window, ack) of every TCP packet, from tshark."""
    text = run(tool("tshark"), "-r", str(path), "-Y", "tcp", "-T", "fields", "-e", "frame.time_epoch",
               "-e", "frame.len", "-e", "tcp.window_size_value", "-e", "tcp.ack_raw")
    return [(ts32(t), int(n), int(w), int(a)) for t, n, w, a in (line.split("\t") for line in text.splitlines())]


def expected_intervals(packets: list[tuple[int, int, int, int]], length: int) -> list[dict]:
    first, last = packets[0][0], packets[-1][0]
    rows = [{"packets": 0, "bytes": 0, "gaps": [], "windows": [], "edges": []}
            for _ in range((last - first) // length + 1)]
    previous = None
    for ts, size, window, ack in packets:
        row = rows[(ts - first) // length]
        row["packets"] += 1
        row["bytes"] += size
        if previous is not None:
            row["gaps"].append(ts - previous)
        previous = ts
        row["windows"].append(window)
        row["edges"].append(ack + window)
    return rows


@pytest.mark.parametrize(("name", "interval", "length"), [
    ("deb-python3-dpkt--http.pcap", "1s", ONE_SECOND),
    ("tcpdump-4.99.3-src--dns_tcp.pcap", "100ms", ONE_SECOND // 10),
    ("wireshark-4.0.17-src--http-ooo.pcap", "5us", (5 * 1000 << 32) // 10**9),
])
def test_each_interval_matches_tshark(name: str, interval: str, length: int, tmp_path: Path) -> None:
    path = trace(name)
    output = tmp_path / "lines.txt"
    result = CliRunner().invoke(cli, ["tcpanalyze", str(path), "-i", interval, "-o", str(output), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    expected = expected_intervals(tshark_tcp(path), length)
    assert len(report["intervals"]) == len(expected)
    for got, want in zip(report["intervals"], expected):
        assert (got["packets"], got["bytes"]) == (want["packets"], want["bytes"])
        gaps = got["gaps"]
        assert gaps["count"] == len(want["gaps"])
        if want["gaps"]:
            assert (gaps["minimum"], gaps["maximum"]) == (min(want["gaps"]), max(want["gaps"]))
            assert gaps["mean"] == pytest.approx(statistics.fmean(want["gaps"]), rel=1e-9)
            assert gaps["deviation"] == pytest.approx(statistics.pstdev(want["gaps"]), rel=1e-6, abs=1e-3)
        for key, values in (("window", want["windows"]), ("edge", want["edges"])):
            if values:
                spread = got[key]
                assert (spread["count"], spread["minimum"], spread["maximum"]) == (len(values), min(values),
                                                                                   max(values))
                assert spread["mean"] == pytest.approx(statistics.fmean(values), rel=1e-9)
    # RES2FILE's file: the header line, then one line per interval.
    lines = output.read_text().splitlines()
    assert lines[0].startswith("#") and len(lines) == len(expected) + 1


def test_the_table_names_the_trace_and_its_totals() -> None:
    path = trace("deb-python3-dpkt--http.pcap")
    packets = tshark_tcp(path)
    result = CliRunner().invoke(cli, ["tcpanalyze", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{len(packets):,} TCP packets, {sum(p[1] for p in packets):,} bytes" in result.output
    assert "jitter ms" in result.output


def test_bad_options_are_reported() -> None:
    result = CliRunner().invoke(cli, ["tcpanalyze", str(trace("deb-python3-dpkt--http.pcap")), "-i", "soon"])
    assert result.exit_code != 0 and "--interval 'soon'" in result.output
    result = CliRunner().invoke(cli, ["tcpanalyze", str(trace("deb-python3-dpkt--http.pcap")), "-f", "port eighty"])
    assert result.exit_code == 1 and "port eighty" in result.output
