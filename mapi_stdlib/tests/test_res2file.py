"""RES2FILE on real traces: every line checked against tshark, or against a hand calculation on
what tshark prints.

* Per-interval counts: ``tshark -q -z io,stat,N`` (frames and bytes per interval of N seconds,
  the first packet starting the clock, as RES2FILE's).
* Per-packet values: ``tshark -T fields -e frame.time_epoch -e frame.len``.
* 32.32 times: floor(t * 2^32) of tshark's seconds.nanoseconds, written out in :func:`ts32`.
* STAT records: count, sum, sum of squares, min and max of tshark's frame lengths, by Python.
"""

from __future__ import annotations

import gc
import ipaddress
import math
import re
import struct
import sys
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import pytest
from mapi_core.testing import epoch_to_ts32, run, run_device, shared_device_flows, tool, trace, tshark_fields

from mapi_core import Flow, MapiError

ONE_SECOND = 1 << 32
ENDIAN = "<" if sys.byteorder == "little" else ">"


# ---- oracles -----------------------------------------------------------------------------------

def tshark_rows(path: Path, fields: Sequence[str], display_filter: str | None = None) -> list[list[str]]:
    return tshark_fields(path, *fields, display_filter=display_filter)

ts32 = epoch_to_ts32

def nanoseconds(epoch: str) -> int:
    seconds, _, fraction = epoch.partition(".")
    return int(seconds) * 10**9 + int(fraction.ljust(9, "0")[:9])


_IO_ROW = re.compile(r"\|\s*(\d+)\s*<>\s*(?:\d+|Dur)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")


def io_stat(path: Path, seconds: int) -> list[tuple[int, int]]:
    """(frames, bytes) of every interval, from ``tshark -q -z io,stat,SECONDS``."""
    text = run(tool("tshark"), "-r", str(path), "-q", "-z", f"io,stat,{seconds}")
    rows = [(int(m[1]), int(m[2]), int(m[3])) for m in _IO_ROW.finditer(text)]
    assert [start for start, _, _ in rows] == [i * seconds for i in range(len(rows))], text
    return [(frames, volume) for _, frames, volume in rows]


def frames(path: Path) -> list[tuple[str, int]]:
    """(time_epoch, frame.len) of every frame."""
    return [(epoch, int(length)) for epoch, length in tshark_rows(path, ["frame.time_epoch", "frame.len"])]


def twelve_decimals(ts: int) -> str:
    """A 32.32 value as seconds with 12 decimals, rounded to nearest (half up), by Fraction."""
    scaled = Fraction(ts, ONE_SECOND) * 10**12
    rounded = math.floor(scaled + Fraction(1, 2))
    return f"{rounded // 10**12}.{rounded % 10**12:012d}"


def stat_fields(values: Sequence[int]) -> str:
    """R2F_STATS's text for a STAT record of these samples."""
    if not values:
        return "0 0 0 0 0"
    return f"{len(values)} {sum(values)} {sum(v * v for v in values)} {min(values)} {max(values)}"


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


# ---- flows -------------------------------------------------------------------------------------

def write_counters(path: Path, out: Path, interval: str, reset: int, header: str = "") -> object:
    """PKT_COUNTER and BYTE_COUNTER written by RES2FILE; returns its final status."""
    with Flow(path) as flow:
        packets = flow.apply("PKT_COUNTER")
        volume = flow.apply("BYTE_COUNTER")
        writer = flow.apply("RES2FILE", "R2F_ULLSTR,R2F_ULLSTR", [packets, volume], header, out, interval, reset)
        flow.run(timeout=60)
        return writer.read()


# ---- intervals ---------------------------------------------------------------------------------

IO_STAT_TRACES = [
    ("mapi-www.pcap", 1),                              # 7 empty seconds in the middle
    ("deb-python3-dpkt--dns_icmp.pcap", 1),
    ("ndpi-4.2-src--exe_download.pcap", 1),
    ("ndpi-4.2-src--http_ipv6.pcap", 1),
    ("wireshark-4.0.17-src--logistics_multicast.pcapng", 10),
    ("ndpi-4.2-src--rtsp.pcap", 10),                   # Linux SLL
]


@pytest.mark.parametrize(("name", "seconds"), IO_STAT_TRACES)
def test_counters_per_interval_with_reset_are_tsharks_io_stat(name: str, seconds: int, tmp_path: Path) -> None:
    path = trace(name)
    assert all(not delta.startswith("-") for (delta,) in tshark_rows(path, ["frame.time_delta"]))  # in order
    expected = io_stat(path, seconds)
    out = tmp_path / "io.txt"
    status = write_counters(path, out, f"{seconds}s", 1, header="frames bytes")
    assert lines_of(out) == ["frames bytes", *(f"{f} {b}" for f, b in expected)]
    # Read before the close, which writes the line of the last interval.
    assert (status.lines, status.write_errors, status.skipped_lines) == (len(expected) - 1, 0, 0)
    # Time-driven: a second run writes the same file.
    again = tmp_path / "again.txt"
    write_counters(path, again, f"{seconds}s", 1, header="frames bytes")
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(("name", "seconds"), IO_STAT_TRACES[:3])
def test_counters_per_interval_without_reset_are_running_totals(name: str, seconds: int, tmp_path: Path) -> None:
    path = trace(name)
    expected, frames_so_far, bytes_so_far = [], 0, 0
    for f, b in io_stat(path, seconds):
        frames_so_far, bytes_so_far = frames_so_far + f, bytes_so_far + b
        expected.append(f"{frames_so_far} {bytes_so_far}")
    out = tmp_path / "totals.txt"
    write_counters(path, out, f"{seconds}s", 0)
    assert lines_of(out) == expected


def test_a_sub_second_interval_by_hand(tmp_path: Path) -> None:
    # 250 ms intervals: each packet's interval is (its time - the first packet's time) // 250 ms,
    # computed on tshark's nanoseconds; a line per interval from the first to the last.
    path = trace("ndpi-4.2-src--exe_download.pcap")
    rows = frames(path)
    first = nanoseconds(rows[0][0])
    per_interval: dict[int, list[int]] = {}
    for epoch, length in rows:
        per_interval.setdefault((nanoseconds(epoch) - first) // 250_000_000, []).append(length)
    expected = [f"{len(per_interval.get(k, []))} {sum(per_interval.get(k, []))}" for k in range(max(per_interval) + 1)]
    out = tmp_path / "quarter.txt"
    write_counters(path, out, "250ms", 1)
    assert lines_of(out) == expected


def test_packets_stamped_before_the_interval_in_progress_count_in_it(tmp_path: Path) -> None:
    # mapi-tracefile.pcap goes back in time 35 times (tshark ... -e frame.time_delta | grep -c ^-).
    # Hand calculation of the documented rule: a packet opens interval k = (t - t0) // 1 s when
    # k is beyond the interval in progress; any other packet counts in the interval in progress.
    path = trace("mapi-tracefile.pcap")
    rows = frames(path)
    first = nanoseconds(rows[0][0])
    current, per_interval = 0, {0: [0, 0]}
    for epoch, length in rows:
        current = max(current, (nanoseconds(epoch) - first) // 10**9)
        count, volume = per_interval.setdefault(current, [0, 0])
        per_interval[current] = [count + 1, volume + length]
    expected = [" ".join(map(str, per_interval.get(k, [0, 0]))) for k in range(current + 1)]
    out = tmp_path / "ooo.txt"
    write_counters(path, out, "1s", 1)
    assert lines_of(out) == expected
    assert sum(int(line.split()[0]) for line in lines_of(out)) == len(rows)


def test_empty_lines_of_one_gap_are_capped(tmp_path: Path) -> None:
    # "1us" is floor(2^32 / 10^6) = 4294 units of 2^-32 s.  Packet i falls in interval
    # k_i = (ts_i - ts_0) // 4294; a gap writes k_(i+1) - k_i - 1 empty lines, at most 1,000,000.
    path = trace("mapi-www.pcap")
    stamps = [ts32(epoch) for epoch, _ in frames(path)]
    indexes = [(ts - stamps[0]) // 4294 for ts in stamps]
    skipped = sum(max(0, b - a - 1 - 1_000_000) for a, b in zip(indexes, indexes[1:]))
    assert skipped > 0                       # the 7-second gap: about 7.4 million microseconds
    out = tmp_path / "capped.txt"
    status = write_counters(path, out, "1us", 1)
    assert status.skipped_lines == skipped
    with out.open() as lines:
        assert sum(1 for _ in lines) == indexes[-1] + 1 - skipped


def test_stat_records_per_interval(tmp_path: Path) -> None:
    # STAT samples every frame's wire length; RES2FILE writes and resets it every second: each
    # line is count, sum, sum of squares, min and max of the lengths of that second's frames.
    path = trace("deb-python3-dpkt--dns_icmp.pcap")
    rows = frames(path)
    first = nanoseconds(rows[0][0])
    per_second: dict[int, list[int]] = {}
    for epoch, length in rows:
        per_second.setdefault((nanoseconds(epoch) - first) // 10**9, []).append(length)
    expected = [stat_fields(per_second.get(k, [])) for k in range(max(per_second) + 1)]
    out = tmp_path / "stats.txt"
    with Flow(path) as flow:
        size = flow.apply("PKT_INFO", "PKT_SIZE")
        stat = flow.apply("STAT", size, "0")
        flow.apply("RES2FILE", "R2F_STATS", [stat], "", out, "1s", 1)
        flow.run(timeout=60)
    assert lines_of(out) == expected


def test_stat_record_at_close(tmp_path: Path) -> None:
    path = trace("mapi-http.pcap")
    lengths = [length for _, length in frames(path)]
    out = tmp_path / "stats.txt"
    with Flow(path) as flow:
        size = flow.apply("PKT_INFO", "PKT_SIZE")
        stat = flow.apply("STATS", size, "0")
        flow.apply("RES2FILE", "3", [stat], "n sum sum2 min max", out, "-1", 0)
        flow.run(timeout=60)
    assert lines_of(out) == ["n sum sum2 min max", stat_fields(lengths)]


def test_an_empty_stat_record_and_no_packets(tmp_path: Path) -> None:
    path = trace("wireshark-4.0.17-src--empty.pcap")
    at_close, per_second = tmp_path / "close.txt", tmp_path / "second.txt"
    with Flow(path) as flow:
        size = flow.apply("PKT_INFO", "PKT_SIZE")
        stat = flow.apply("STAT", size, "0")
        flow.apply("RES2FILE", "3,1", [stat, size], "h", at_close, "-1", 0)
        flow.apply("RES2FILE", "3,1", [stat, size], "h", per_second, "1s", 0)
        flow.run(timeout=60)
    assert lines_of(at_close) == ["h", "0 0 0 0 0 0"]
    assert lines_of(per_second) == ["h"]      # no packet started the clock


# ---- every packet, at close ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mapi-www.pcap", "tcpflow-1.6.1-src--local.pcap",
                                  "wireshark-4.0.17-src--dhcp-nanosecond.pcapng"])
def test_every_packet(name: str, tmp_path: Path) -> None:
    path = trace(name)
    lengths = [length for _, length in frames(path)]
    totals = [f"{i} {sum(lengths[:i])}" for i in range(1, len(lengths) + 1)]
    running, each = tmp_path / "running.txt", tmp_path / "each.txt"
    write_counters(path, running, "0", 0)
    write_counters(path, each, "0", 1)
    assert lines_of(running) == totals
    assert lines_of(each) == [f"1 {length}" for length in lengths]


def test_every_packet_that_passes_a_filter(tmp_path: Path) -> None:
    path = trace("deb-python3-dpkt--dns_icmp.pcap")
    rows = tshark_rows(path, ["frame.time_epoch", "frame.len"], "icmp")
    expected = [f"{ts32(epoch)} {length}" for epoch, length in rows]
    out = tmp_path / "icmp.txt"
    with Flow(path) as flow:
        flow.apply("BPF_FILTER", "icmp")
        stamp = flow.apply("PKT_INFO", "PKT_TS")
        size = flow.apply("PKT_INFO", "PKT_SIZE")
        flow.apply("RES2FILE", "1,1", f"{stamp.fid}@{flow.fd}, {size.fid}@{flow.fd}", "", out, "0", 0)
        flow.run(timeout=60)
    assert lines_of(out) == expected


@pytest.mark.parametrize("name", ["mapi-www.pcap", "wireshark-4.0.17-src--dhcp-nanosecond.pcap"])
def test_seconds_have_twelve_exact_decimals(name: str, tmp_path: Path) -> None:
    path = trace(name)
    rows = frames(path)
    out = tmp_path / "seconds.txt"
    with Flow(path) as flow:
        stamp = flow.apply("PKT_INFO", "PKT_TS")
        flow.apply("RES2FILE", "R2F_ULLSEC,R2F_ULLSTR", [stamp, stamp], "", out, "0", 0)
        flow.run(timeout=60)
    written = lines_of(out)
    assert written == [f"{twelve_decimals(ts32(epoch))} {ts32(epoch)}" for epoch, _ in rows]
    for line, (epoch, _) in zip(written, rows):
        assert abs(Fraction(line.split()[0]) - Fraction(epoch)) < Fraction(1, 10**9)   # tshark's 9 decimals


@pytest.mark.parametrize("name", ["mapi-tracefile.pcap", "ndpi-4.2-src--synscan.pcap"])
def test_one_line_at_close(name: str, tmp_path: Path) -> None:
    path = trace(name)
    lengths = [length for _, length in frames(path)]
    out = tmp_path / "close.txt"
    status = write_counters(path, out, "-1", 0, header="# packets bytes")
    assert status.lines == 0                   # read before the close: nothing written yet
    assert lines_of(out) == ["# packets bytes", f"{len(lengths)} {sum(lengths)}"]
    bare = tmp_path / "bare.txt"
    write_counters(path, bare, "-1", 0)
    assert bare.read_text() == f"{len(lengths)} {sum(lengths)}\n"    # an empty header writes nothing


def test_raw_fields(tmp_path: Path) -> None:
    # R2F_RAW: a 4-byte little-endian size, then the result's bytes (host order); ' ' between
    # fields and '\n' at the end.  PKT_COUNTER is one u64; PROTINFO is the u64, 16 address bytes
    # and a u64 count of packets.
    path = trace("ndpi-4.2-src--http_ipv6.pcap")
    packets = len(frames(path))
    sources = tshark_rows(path, ["ipv6.src"], "ipv6")
    out = tmp_path / "raw.bin"
    with Flow(path) as flow:
        counter = flow.apply("PKT_COUNTER")
        source = flow.apply("PROTINFO", "ipv6.src")
        flow.apply("RES2FILE", "R2F_RAW,0", [counter, source], "raw", out, "-1", 0)
        flow.run(timeout=60)
    data = out.read_bytes()
    assert data.startswith(b"raw\n")
    offset = 4
    (size,) = struct.unpack_from("<I", data, offset)
    assert size == 8
    (count,) = struct.unpack_from(ENDIAN + "Q", data, offset + 4)
    offset += 4 + size
    assert data[offset:offset + 1] == b" "
    (size,) = struct.unpack_from("<I", data, offset + 1)
    assert size == 32
    value, address, seen = struct.unpack_from(ENDIAN + "Q16sQ", data, offset + 5)
    assert data[offset + 5 + size:] == b"\n"
    last = ipaddress.IPv6Address(sources[-1][0])
    assert count == packets
    assert (address, value, seen) == (last.packed, int(last) >> 64, len(sources))


def test_functions_of_another_flow(tmp_path: Path) -> None:
    path = trace("mapi-http.pcap")
    lengths = [length for _, length in frames(path)]
    tcp = len(tshark_rows(path, ["frame.number"], "tcp"))
    out = tmp_path / "other.txt"
    with shared_device_flows(path, 2) as (counting, writing):
        counting.apply("BPF_FILTER", "tcp")
        packets = counting.apply("PKT_COUNTER")
        volume = writing.apply("BYTE_COUNTER")
        writing.apply("RES2FILE", "1,1", f"{packets.fid}@{counting.fd},{volume.fid}@{writing.fd}", "", out, "-1", 0)
        run_device([counting, writing])
    assert lines_of(out) == [f"{tcp} {sum(lengths)}"]


def test_a_source_flow_not_connected_yet_fails_the_connect(tmp_path: Path) -> None:
    out = tmp_path / "early.txt"
    with shared_device_flows(trace("mapi-www.pcap"), 2) as (source, writing):
        own = writing.apply("PKT_COUNTER")
        other = source.apply("PKT_COUNTER")
        writing.apply("RES2FILE", "1,1", [own, other], "head", out, "-1", 0)
        with pytest.raises(MapiError) as caught:
            writing.connect()                  # before the flow it reads
        assert caught.value.code == 7007 and "connect flow" in str(caught.value)
    assert lines_of(out) == ["head"]         # no line from half-bound references


def test_a_full_disk_is_counted_not_fatal() -> None:
    path = trace("ndpi-4.2-src--WebattackXSS.pcap")
    packets = len(frames(path))
    with Flow(path) as flow:
        counter = flow.apply("PKT_COUNTER")
        writer = flow.apply("RES2FILE", "1", [counter], "header", "/dev/full", "0", 0)
        flow.run(timeout=60)
        status = writer.read()
        assert counter.read() == packets           # every packet went through
        assert status.lines == packets
        assert status.write_errors > 0             # lines of ~5 bytes overflow the 64 KiB buffer


# ---- errors ------------------------------------------------------------------------------------

def apply_error(flow: Flow, *args: object) -> MapiError:
    with pytest.raises(MapiError) as caught:
        flow.apply("RES2FILE", *args)
    assert "RES2FILE" in str(caught.value)
    return caught.value


def test_argument_errors(tmp_path: Path) -> None:
    out = str(tmp_path / "x")
    with shared_device_flows(trace("mapi-www.pcap"), 1) as (flow,):
        counter = flow.apply("PKT_COUNTER")
        stamp = flow.apply("PKT_INFO", "PKT_TS")
        bpf = flow.apply("BPF_FILTER", "tcp")
        writer = flow.apply("RES2FILE", "1", [counter], "", out, "-1", 0)
        ok = [counter]
        cases = [
            # types
            (("5", ok, "", out, "0", 0), 7001, "argument 1 (types)"),
            (("-1", ok, "", out, "0", 0), 7001, "argument 1 (types)"),
            (("R2F_TEXT", ok, "", out, "0", 0), 7001, "R2F_TEXT"),
            (("1,", ok, "", out, "0", 0), 7001, "argument 1 (types)"),
            (("", ok, "", out, "0", 0), 7001, "argument 1 (types)"),
            ((1, ok, "", out, "0", 0), 7001, "argument 1 (types)"),
            # functions
            (("1,1", ok, "", out, "0", 0), 7002, "2 type(s)"),
            (("1", [counter, counter], "", out, "0", 0), 7002, "1 type(s)"),
            (("1", f"99@{flow.fd}", "", out, "0", 0), 7002, "argument 2 (functions)"),
            (("1", f"{counter.fid}@999", "", out, "0", 0), 7002, "argument 2 (functions)"),
            (("1", "1:1", "", out, "0", 0), 7002, "fid@fd"),
            (("1", "", "", out, "0", 0), 7002, "argument 2 (functions)"),
            (("1", [], "", out, "0", 0), 7002, "argument 2 (functions)"),
            (("1", [bpf], "", out, "0", 0), 7002, "no result"),
            (("1", [writer], "", out, "0", 0), 7002, "res2file"),
            (("3", [counter], "", out, "0", 0), 7002, "stat"),
            (("2", [writer], "", out, "0", 0), 7002, "u64"),
            # header, file
            (("1", ok, 7, out, "0", 0), 7003, "argument 3 (header)"),
            (("1", ok, "a\0b", out, "0", 0), 7003, "argument 3 (header)"),
            (("1", ok, "", str(tmp_path / "no" / "such" / "dir"), "0", 0), 7004, "argument 4 (file)"),
            (("1", ok, "", "", "0", 0), 7004, "argument 4 (file)"),
            # interval
            (("1", ok, "", out, "-2", 0), 7005, "argument 5 (interval)"),
            (("1", ok, "", out, "1 fortnight", 0), 7005, "argument 5 (interval)"),
            (("1", ok, "", out, "-1s", 0), 7005, "argument 5 (interval)"),
            (("1", ok, "", out, 1, 0), 7005, "argument 5 (interval)"),
            # reset
            (("1", ok, "", out, "0", 2), 7011, "argument 6 (reset)"),
            (("1", ok, "", out, "0", -1), 7011, "argument 6 (reset)"),
            (("1", ok, "", out, "0", "1"), 7011, "argument 6 (reset)"),
            (("1", [stamp], "", out, "1s", 1), 7011, "cannot be reset"),
            # count
            (("1", ok, "", out, "0"), 7011, "argument 6 (reset) is missing"),
            (("1", ok), 7003, "argument 3 (header) is missing"),
            (("1", ok, "", out, "0", 0, 0), 7000, "takes 6 argument(s)"),
        ]
        for args, code, words in cases:
            error = apply_error(flow, *args)
            assert error.code == code, (args, str(error))
            assert words in str(error), (args, str(error))


def test_reset_of_a_function_on_another_device_is_7011(tmp_path: Path) -> None:
    with Flow(trace("mapi-www.pcap")) as elsewhere, Flow(trace("mapi-http.pcap")) as flow:
        counter = elsewhere.apply("PKT_COUNTER")
        error = apply_error(flow, "1", [counter], "", tmp_path / "x", "1s", 1)
        assert error.code == 7011 and "another device" in str(error)
        flow.apply("RES2FILE", "1", [counter], "", tmp_path / "y", "1s", 0)    # reading it is fine


def test_a_refused_apply_leaves_no_file_open(tmp_path: Path) -> None:
    with Flow(trace("mapi-www.pcap")) as flow:
        counter = flow.apply("PKT_COUNTER")
        gc.collect()                                  # (files other tests left to the collector)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            apply_error(flow, "1,1", [counter], "", tmp_path / "x", "0", 0)
            gc.collect()
