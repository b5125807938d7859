"""``mapi dump`` (MAPI's mapidump), run as a command, checked against tcpdump and tshark.

Oracles:

* which packets: ``tcpdump -r F -w - EXPR | tshark -r - -T fields -e frame.len`` (libpcap's
  selection, in order), ``tshark -Y 'frame contains ...'`` for -s, tshark's times for -G;
* what each line says: ``tshark -T fields -E occurrence=f`` (addresses, ports, TCP sequence and
  acknowledgement numbers, window, payload length, flags, UDP length, ICMP type/id/seq, ARP
  addresses), and tshark's ``frame.time_epoch`` rounded to the µs by hand;
* -X: the hex lines of ``tcpdump -XX``;
* -w: ``tcpdump -r F -w REF EXPR``, byte for byte, and tshark/capinfos on the other formats;
* live (-i): ``tcpdump -i lo -w REF`` on the same interface of the test's own network namespace.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from fractions import Fraction
from math import floor
from pathlib import Path

import pytest
from mapi_core.testing import epoch_to_ts32, require_capabilities, run, tcpdump_wire_lengths, tool, trace, tshark_fields

MAPI = [sys.executable, "-m", "mapi_core.cli"]
ENV = {**os.environ, "TZ": "UTC"}
STEP_TIMEOUT = 60
LINE = re.compile(r"^(?P<time>\d\d:\d\d:\d\d\.\d{6}) (?P<body>.*), (?P<wlen>\d+) bytes(?: \((?P<cap>\d+) captured\))?$")


def dump(*args: str, timeout: float = STEP_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([*MAPI, "dump", *args], check=False, capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def lines(*args: str) -> list[re.Match]:
    """The summary lines of a successful ``mapi dump``, parsed."""
    result = dump(*args)
    assert result.returncode == 0, result.stderr
    parsed = [LINE.match(line) for line in result.stdout.splitlines()]
    assert all(parsed), result.stdout
    assert f"{len(parsed)} packets captured" in result.stderr
    return parsed


def tshark_count(path: Path, display_filter: str) -> int:
    return len(tshark_fields(path, "frame.number", display_filter=display_filter))


# ---- which packets -----------------------------------------------------------------------------

SELECTIONS = [
    ("mapi-tracefile.pcap", ""),
    ("mapi-tracefile.pcap", "tcp port 80 and tcp[tcpflags] & tcp-syn != 0"),
    ("ndpi-4.2-src--http_ipv6.pcap", "ip6 and tcp"),
    ("tcpflow-1.6.1-src--local.pcap", "tcp dst port 6258"),       # DLT_NULL
    ("ndpi-4.2-src--rtsp.pcap", "greater 300"),                   # Linux SLL, pcapng
    ("deb-python3-dpkt--dns_icmp.pcap", "icmp or udp port 53"),
    ("wireshark-4.0.17-src--http-ooo.pcap", ""),                  # raw IPv4
]


@pytest.mark.parametrize(("name", "expression"), SELECTIONS)
def test_the_packets_are_tcpdumps_selection(name: str, expression: str) -> None:
    path = trace(name)
    expected = tcpdump_wire_lengths(path, expression)
    assert expected
    printed = lines("-r", str(path), *expression.split())
    assert [int(m["wlen"]) for m in printed] == expected


def test_count_stops_after_that_many() -> None:
    path = trace("mapi-tracefile.pcap")
    expected = tcpdump_wire_lengths(path, "tcp")[:7]
    printed = lines("-r", str(path), "-c", "7", "tcp")
    assert [int(m["wlen"]) for m in printed] == expected


@pytest.mark.parametrize(("name", "pattern", "display_filter"), [
    ("mapi-http.pcap", "GET /", 'frame contains "GET /"'),
    ("deb-python3-dpkt--http.pcap", "HTTP/1.1 200", 'frame contains "HTTP/1.1 200"'),
    ("ndpi-4.2-src--WebattackXSS.pcap", "|0d 0a 0d 0a|", "frame contains 0d:0a:0d:0a"),
])
def test_search_keeps_the_packets_that_contain_the_string(name: str, pattern: str, display_filter: str) -> None:
    path = trace(name)
    expected = tshark_count(path, display_filter)
    assert expected > 0
    assert len(lines("-r", str(path), "-s", pattern)) == expected


@pytest.mark.parametrize(("duration", "seconds", "expression"), [
    ("2", Fraction(2), ""),
    ("500ms", Fraction(1, 2), ""),
    ("40s", Fraction(40), "tcp"),
])
def test_duration_in_packet_time(duration: str, seconds: Fraction, expression: str) -> None:
    # STARTSTOP("+0s", duration) first: the window starts at the trace's first packet and ends
    # `duration` later, both ends included; packets stamped before the first pass (the trace's
    # times go back and forth).  By hand, in 32.32 units, on tshark's times.
    path = trace("mapi-tracefile.pcap")
    limit = floor(seconds * 2**32)
    rows = tshark_fields(path, "frame.time_epoch", "frame.len")
    first = epoch_to_ts32(rows[0][0])
    if expression:     # libpcap's selection, with its times: tcpdump -r F -w - EXPR | tshark -r - ...
        selected = subprocess.run([tool("tcpdump"), "-r", str(path), "-w", "-", expression], check=True,
                                  capture_output=True, timeout=STEP_TIMEOUT).stdout
        listed = subprocess.run([tool("tshark"), "-r", "-", "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len"],
                                input=selected, check=True, capture_output=True, timeout=STEP_TIMEOUT).stdout
        rows = [line.split("\t") for line in listed.decode().splitlines()]
    expected = [int(length) for epoch, length in rows if epoch_to_ts32(epoch) - first <= limit]
    printed = lines("-r", str(path), "-G", duration, *expression.split())
    assert 0 < len(printed) < len(rows)
    assert [int(m["wlen"]) for m in printed] == expected


# ---- what each line says -----------------------------------------------------------------------

def utc_time(epoch: str) -> str:
    """tshark's epoch as the line shows it: the 32.32 time (floor), rounded to the nearest µs, UTC."""
    ts = epoch_to_ts32(epoch)
    micros = floor(Fraction((ts & 0xFFFFFFFF) * 10**6, 2**32) + Fraction(1, 2))
    seconds = (ts >> 32) + micros // 10**6
    clock = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%H:%M:%S")
    return f"{clock}.{micros % 10**6:06d}"


@pytest.mark.parametrize("name", ["mapi-www.pcap", "wireshark-4.0.17-src--dhcp-nanosecond.pcapng"])
def test_times_and_lengths(name: str) -> None:
    path = trace(name)
    rows = tshark_fields(path, "frame.time_epoch", "frame.len", "frame.cap_len")
    printed = lines("-r", str(path))
    assert [m["time"] for m in printed] == [utc_time(epoch) for epoch, _, _ in rows]
    assert [(int(m["wlen"]), int(m["cap"] or m["wlen"])) for m in printed] == \
        [(int(wlen), int(cap)) for _, wlen, cap in rows]


@pytest.mark.parametrize("shift_ns", [499, 500, 501, 777])
def test_ns_times_are_rounded_to_the_nearest_us(shift_ns: int, tmp_path: Path) -> None:
    # editcap -F nsecpcap -t 0.000000NNN: every time of mapi-www.pcap NNN ns later.
    shifted = tmp_path / "shifted.pcap"
    run(tool("editcap"), "-F", "nsecpcap", "-t", f"0.{shift_ns:09d}", str(trace("mapi-www.pcap")), str(shifted))
    epochs = [epoch for (epoch,) in tshark_fields(shifted, "frame.time_epoch")]
    assert all(epoch.endswith(f"{shift_ns:03d}") for epoch in epochs)
    assert [m["time"] for m in lines("-r", str(shifted))] == [utc_time(epoch) for epoch in epochs]


FIELDS = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw",
          "tcp.window_size_value", "tcp.len", "tcp.flags", "udp.srcport", "udp.dstport", "udp.length",
          "icmp.type", "icmp.ident", "icmp.seq", "icmpv6.type", "arp.opcode", "arp.src.proto_ipv4",
          "arp.dst.proto_ipv4", "vlan.id")
#: tshark's names of the ICMP types the lines name (RFC 792 / RFC 4443 numbers).
ICMP_NAMES = {"echo reply": 0, "unreachable": 3, "echo request": 8, "time exceeded": 11}
ICMP6_NAMES = {"echo request": 128, "echo reply": 129, "unreachable": 1, "packet too big": 2, "neighbor solicitation": 135,
               "neighbor advertisement": 136, "router solicitation": 133, "router advertisement": 134,
               "multicast listener report v2": 143}
#: TCP flag bits as tcpdump writes them (F S R P . U E W), for tshark's tcp.flags.
FLAG_LETTERS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"), (0x40, "E"), (0x80, "W"))
HEADER = re.compile(r"^(?P<prefix>(?:vlan \d+, |PPPoE session \S+ )*)(?P<net>IP6?) (?P<src>\S+) > (?P<dst>\S+): (?P<rest>.*)$")


def check_line(body: str, row: dict[str, str]) -> str:
    """Checks one line's fields against tshark's row; returns what kind of line it was."""
    if body.startswith("ARP "):
        m = re.fullmatch(r"ARP who-has (\S+) tell (\S+)|ARP reply (\S+) is-at \S+", body)
        assert m, body
        if m[1]:
            assert (row["arp.opcode"], m[1], m[2]) == ("1", row["arp.dst.proto_ipv4"], row["arp.src.proto_ipv4"])
        else:
            assert (row["arp.opcode"], m[3]) == ("2", row["arp.src.proto_ipv4"])
        return "ARP"
    if body.startswith(("ethertype ", "802.3 ")):        # tcpdump decodes no further either (0x8903 ...)
        return "other"
    m = HEADER.match(body)
    assert m, body
    if "vlan" in m["prefix"]:
        assert m["prefix"].startswith(f"vlan {row['vlan.id']},")
    rest = m["rest"]
    ports = rest.startswith(("TCP ", "UDP "))
    src, dst = (m["src"].rsplit(".", 1)[0], m["dst"].rsplit(".", 1)[0]) if ports else (m["src"], m["dst"])
    family = "ip" if m["net"] == "IP" else "ipv6"
    assert (src, dst) == (row[f"{family}.src"], row[f"{family}.dst"]), body
    if rest.startswith("IP6 "):                                   # 6in4: the inner header
        return check_line(rest, {**row, "ip.src": "", "ip.dst": ""}) + " in IP"
    if ports:
        protocol = rest[:3].lower()
        assert (m["src"].rsplit(".", 1)[1], m["dst"].rsplit(".", 1)[1]) == \
            (row[f"{protocol}.srcport"], row[f"{protocol}.dstport"]), body
    if rest.startswith("TCP "):
        t = re.fullmatch(r"TCP \[(\S+)\] seq (\d+)(?: ack (\d+))? win (\d+) len (\d+)", rest)
        assert t, body
        flags = int(row["tcp.flags"], 16)
        letters = "".join(letter for bit, letter in FLAG_LETTERS if flags & bit) or "none"
        assert (t[1], t[2], t[4], t[5]) == (letters, row["tcp.seq_raw"], row["tcp.window_size_value"], row["tcp.len"])
        assert t[3] == (row["tcp.ack_raw"] if flags & 0x10 else None)
        return "TCP"
    if rest.startswith("UDP "):
        assert rest == f"UDP len {int(row['udp.length']) - 8}", body
        return "UDP"
    if rest.startswith("ICMP "):
        i = re.fullmatch(r"ICMP (.+?)(?: id (\d+) seq (\d+))?(?: code \d+)?", rest)
        assert i and ICMP_NAMES[i[1]] == int(row["icmp.type"]), body
        if i[2]:
            assert (i[2], i[3]) == (row["icmp.ident"], row["icmp.seq"]), body
        return "ICMP"
    if rest.startswith("ICMPv6 "):
        i = re.fullmatch(r"ICMPv6 (.+?)(?: id \d+ seq \d+)?(?: code \d+)?", rest)
        assert i and ICMP6_NAMES[i[1]] == int(row["icmpv6.type"]), body
        return "ICMPv6"
    return "other"


@pytest.mark.parametrize("name", [
    "mapi-www.pcap",                          # TCP, snaplen 96 (payload lengths from the IP header)
    "deb-python3-dpkt--dns_icmp.pcap",        # UDP, ICMP echo
    "deb-pktanon--sample.pcap",               # ARP, ICMP, ICMPv6, SSDP
    "ndpi-4.2-src--http_ipv6.pcap",           # IPv6
    "tcpflow-1.6.1-src--local.pcap",          # DLT_NULL
    "ndpi-4.2-src--rtsp.pcap",                # Linux SLL
    "ndpi-4.2-src--ajp.pcap",                 # 802.1Q
    "ndpi-4.2-src--6in4tunnel.pcap",          # IPv6 in IPv4
])
def test_each_line_says_what_tshark_says(name: str) -> None:
    path = trace(name)
    rows = [dict(zip(FIELDS, row)) for row in tshark_fields(path, *FIELDS)]
    printed = lines("-r", str(path))
    assert len(printed) == len(rows)
    kinds = {check_line(m["body"], row) for m, row in zip(printed, rows)}
    assert kinds - {"other"}, kinds


def test_verbose_adds_the_ip_header_fields() -> None:
    path = trace("mapi-www.pcap")
    rows = tshark_fields(path, "eth.src", "eth.dst", "ip.ttl", "ip.id", "ip.len", "ip.flags.df")
    printed = lines("-r", str(path), "-v")
    for m, (src, dst, ttl, ident, length, df) in zip(printed, rows):
        flags = "DF" if df == "1" else "none"
        assert m["body"].startswith(f"{src} > {dst}, IP (tos "), m["body"]
        assert f"ttl {ttl}, id {int(ident, 16)}, flags [{flags}], length {length})" in m["body"], m["body"]


@pytest.mark.parametrize("name", ["mapi-www.pcap", "tcpflow-1.6.1-src--local.pcap"])
def test_hex_dump_is_tcpdumps(name: str) -> None:
    path = trace(name)
    ours = dump("-r", str(path), "-X", "-c", "6")
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run([tool("tcpdump"), "-r", str(path), "-n", "-XX", "-c", "6"], capture_output=True, text=True,
                            check=True, timeout=STEP_TIMEOUT).stdout
    hex_lines = [line for line in theirs.splitlines() if line.startswith("\t0x")]
    assert hex_lines
    assert [line for line in ours.stdout.splitlines() if line.startswith("\t0x")] == hex_lines


# ---- -w ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expression", "count"), [
    ("mapi-tracefile.pcap", "tcp port 80", None),
    ("ndpi-4.2-src--rtsp.pcap", "tcp and greater 200", None),
    ("tcpflow-1.6.1-src--local.pcap", "", "25"),
    ("ndpi-4.2-src--http_ipv6.pcap", "ip6", "40"),
])
def test_write_is_tcpdumps_file(name: str, expression: str, count: str | None, tmp_path: Path) -> None:
    path = trace(name)
    ours, reference = tmp_path / "mapi.pcap", tmp_path / "tcpdump.pcap"
    limit = ["-c", count] if count else []
    subprocess.run([tool("tcpdump"), "-r", str(path), "-w", str(reference), *limit, *expression.split()],
                   check=True, capture_output=True, timeout=STEP_TIMEOUT)
    result = dump("-r", str(path), "-w", str(ours), *limit, *expression.split())
    assert result.returncode == 0, result.stderr
    assert ours.read_bytes() == reference.read_bytes()
    packets = int(re.search(r"Number of packets:\s*(\d+)", run(tool("capinfos"), "-c", str(reference)))[1])
    assert f"{packets} packets written to {ours}" in result.stderr


@pytest.mark.parametrize(("format_name", "file_type"), [("pcapng", "pcapng"), ("pcap-ns", "nsecpcap"),
                                                        ("pcap", "pcap")])
def test_write_formats(format_name: str, file_type: str, tmp_path: Path) -> None:
    path = trace("ndpi-4.2-src--1kxun.pcap")
    ours, reference = tmp_path / "mapi.out", tmp_path / "tcpdump.pcap"
    subprocess.run([tool("tcpdump"), "-r", str(path), "-w", str(reference), "udp"], check=True, capture_output=True,
                   timeout=STEP_TIMEOUT)
    result = dump("-r", str(path), "-w", str(ours), "--format", format_name, "udp")
    assert result.returncode == 0, result.stderr
    assert re.search(r"File type:\s*(\S+)", run(tool("capinfos"), "-t", "-M", str(ours)))[1] == file_type
    fields = ("frame.len", "frame.cap_len", "frame.encap_type", "frame.time_epoch")

    def rows(capture: Path) -> list[tuple[str, str, str, int]]:
        # times as integer ns: tshark prints 6 or 9 decimals, after the file's resolution
        return [(wlen, cap, encap, int(epoch.replace(".", "").ljust(19, "0")[:19]) if "." in epoch else int(epoch))
                for wlen, cap, encap, epoch in tshark_fields(capture, *fields)]

    assert rows(ours) == rows(reference)
    assert run(tool("tshark"), "-r", str(ours), "-x") == run(tool("tshark"), "-r", str(reference), "-x")


# ---- errors -------------------------------------------------------------------------------------

def test_usage_errors(tmp_path: Path) -> None:
    path = str(trace("mapi-www.pcap"))
    cases = [
        ((), "give one packet source"),
        (("-r", path, "-i", "lo"), "give one packet source"),
        (("-r", path, "--format", "pcapng"), "--format needs -w"),
        (("-r", path, "-w", str(tmp_path / "x"), "-X"), "-X prints packets"),
        (("-r", path, "-w", str(tmp_path / "x"), "--format", "erf"), "'erf' is not one of"),
        (("-r", path, "-c", "0"), "-c"),
        (("-r", path, "-c", "x"), "-c"),
        (("-r", path, "-G", "abc"), "not a time"),
        (("-r", path, "-G", "0"), "not a positive duration"),
        (("-r", path, "-s", ""), "search string is empty"),
        (("-r", str(tmp_path)), "is a directory"),
    ]
    for args, text in cases:
        result = dump(*args)
        assert result.returncode == 2, (args, result)
        assert text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_errors_from_the_api(tmp_path: Path) -> None:
    path = str(trace("mapi-www.pcap"))
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture file at all")
    cases = [
        (("-r", path, "tcp", "port"), "[1025]"),                              # bad expression
        (("-r", str(tmp_path / "none.pcap")), "[6155]"),                       # no such file
        (("-r", str(garbage)), "[6155]"),                                      # not a trace
        (("-r", path, "-w", str(tmp_path / "no" / "x.pcap")), "[7002] TO_FILE: argument 2 (file)"),
        (("-r", path, "-s", "|zz|"), "STR_SEARCH"),                            # bad hex in the pattern
        (("-i", "mapi-no-such0"), "[1026]"),                                   # no such interface
    ]
    for args, text in cases:
        result = dump(*args)
        assert result.returncode == 1, (args, result)
        assert text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_truncated_trace_prints_what_it_has_and_warns(tmp_path: Path) -> None:
    # The first 24 + 16 + 74 + 20 bytes of mapi-www.pcap: one whole packet, then a torn record
    # (its first packet is 74 bytes: tshark -r mapi-www.pcap -c 1 -T fields -e frame.cap_len).
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(trace("mapi-www.pcap").read_bytes()[:24 + 16 + 74 + 20])
    result = dump("-r", str(cut))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert "truncated" in result.stderr and "1 packets captured" in result.stderr


def test_a_closed_pipe_stops_quietly() -> None:
    path = trace("ndpi-4.2-src--WebattackXSS.pcap")      # 9374 packets: far more than head reads
    result = subprocess.run(f"{' '.join(MAPI)} dump -r {path} | head -n 2", shell=True, check=False,
                            capture_output=True, text=True, env=ENV, timeout=STEP_TIMEOUT)
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr, result.stderr


# ---- live ---------------------------------------------------------------------------------------



def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the live dump test cannot run: {what} (CI must provide it)")
    pytest.skip(what)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace of the test's own, with lo up; removed afterwards."""
    require_capabilities("CAP_NET_ADMIN", "CAP_NET_RAW", purpose="a network namespace with live capture")
    name = f"mapi-dump-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], check=False, capture_output=True, text=True,
                          timeout=STEP_TIMEOUT)
    if made.returncode:
        _missing(f"cannot make a network namespace: {made.stderr.strip()}")
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=STEP_TIMEOUT)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=STEP_TIMEOUT)


SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    s.sendto(b"mapi dump live %04d" % i + b"x" * (i % 50), ("127.0.0.1", 9999))
    time.sleep(0.002)
"""


def _in(namespace: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv]


def _wait_for_capture(process: subprocess.Popen, seconds: float = 1.5) -> None:
    """Gives a capture time to open its socket (bounded), and checks it did not fail."""
    time.sleep(seconds)
    assert process.poll() is None, process.communicate(timeout=STEP_TIMEOUT)


def test_live_capture_with_write_is_tcpdumps(namespace: str, tmp_path: Path) -> None:
    # mapi dump -i lo -w and tcpdump -i lo -w, at the same time, in the namespace; 300 datagrams.
    packets = 300
    ours, reference = tmp_path / "mapi.pcap", tmp_path / "tcpdump.pcap"
    expression = ["udp", "dst", "port", "9999"]
    with contextlib.ExitStack() as stack:
        mapi = stack.enter_context(subprocess.Popen(
            _in(namespace, *MAPI, "dump", "-i", "lo", "-c", str(packets), "-G", "30", "-w", str(ours), *expression),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV))
        tcpdump = stack.enter_context(subprocess.Popen(
            _in(namespace, tool("tcpdump"), "-i", "lo", "-c", str(packets), "-w", str(reference), *expression),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        try:
            _wait_for_capture(mapi)
            _wait_for_capture(tcpdump, 0.5)
            subprocess.run(_in(namespace, sys.executable, "-c", SENDER, str(packets)), check=True, timeout=STEP_TIMEOUT)
            _, mapi_err = mapi.communicate(timeout=STEP_TIMEOUT)
            tcpdump.communicate(timeout=STEP_TIMEOUT)
        finally:
            for process in (mapi, tcpdump):
                if process.poll() is None:
                    process.kill()
    assert mapi.returncode == 0, mapi_err
    assert f"{packets} packets written" in mapi_err
    assert re.search(r"(\d+) packets received, 0 dropped by the kernel", mapi_err), mapi_err
    fields = ("frame.len", "frame.cap_len", "udp.length", "data.data")
    assert tshark_fields(ours, *fields) == tshark_fields(reference, *fields)
    assert len(tshark_fields(ours, "frame.number")) == packets
    # Both stamped by the kernel: the same times, within one µs of rounding.
    times = [(epoch_to_ts32(a), epoch_to_ts32(b)) for (a,), (b,) in
             zip(tshark_fields(ours, "frame.time_epoch"), tshark_fields(reference, "frame.time_epoch"))]
    assert all(abs(a - b) <= 2**32 // 10**6 + 1 for a, b in times)


def test_live_lines(namespace: str) -> None:
    packets = 20
    with subprocess.Popen(_in(namespace, *MAPI, "dump", "-i", "lo", "-c", str(packets), "-G", "30",
                              "udp", "port", "9999"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) as mapi:
        try:
            _wait_for_capture(mapi)
            subprocess.run(_in(namespace, sys.executable, "-c", SENDER, str(packets)), check=True, timeout=STEP_TIMEOUT)
            out, errors = mapi.communicate(timeout=STEP_TIMEOUT)
        finally:
            if mapi.poll() is None:
                mapi.kill()
    assert mapi.returncode == 0, errors
    printed = [LINE.match(line) for line in out.splitlines()]
    # The sender's datagrams: 19 + (i % 50) bytes of payload, UDP from 127.0.0.1 to port 9999.
    assert [m and re.fullmatch(r"IP 127\.0\.0\.1\.\d+ > 127\.0\.0\.1\.9999: UDP len (\d+)", m["body"])[1]
            for m in printed] == [str(19 + i % 50) for i in range(packets)]
    assert [int(m["wlen"]) for m in printed] == [14 + 20 + 8 + 19 + i % 50 for i in range(packets)]


def test_live_duration_ends_on_the_clock(namespace: str) -> None:
    # No packet at all: -G 1 ends the capture after about a second of wall-clock time.
    started = time.monotonic()
    result = subprocess.run(_in(namespace, *MAPI, "dump", "-i", "lo", "-G", "1", "udp", "port", "9999"),
                            check=False, capture_output=True, text=True, env=ENV, timeout=STEP_TIMEOUT)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "0 packets captured" in result.stderr
    assert 1.0 <= elapsed < 10, elapsed


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_a_live_capture_cleanly(stop: signal.Signals, namespace: str, tmp_path: Path) -> None:
    # No count, no duration: the capture runs until the signal; then the file holds every packet
    # sent (capinfos), and the summary says so.
    packets = 60
    out = tmp_path / "stopped.pcap"
    with subprocess.Popen(_in(namespace, *MAPI, "dump", "-i", "lo", "-w", str(out), "udp", "port", "9999"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) as mapi:
        try:
            _wait_for_capture(mapi)
            subprocess.run(_in(namespace, sys.executable, "-c", SENDER, str(packets)), check=True, timeout=STEP_TIMEOUT)
            time.sleep(0.5)
            mapi.send_signal(stop)
            _, errors = mapi.communicate(timeout=STEP_TIMEOUT)
        finally:
            if mapi.poll() is None:
                mapi.kill()
    assert mapi.returncode == 0, errors
    assert f"{packets} packets written" in errors
    assert re.search(r"Number of packets:\s*(\d+)", run(tool("capinfos"), "-c", str(out)))[1] == str(packets)
