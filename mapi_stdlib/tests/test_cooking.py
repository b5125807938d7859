"""COOKING (IPv4/IPv6 defragmentation, TCP stream reassembly) checked against Wireshark.

Oracles:

* TCP streams: ``tshark -q -z follow,tcp,raw,N`` (Wireshark's "Follow TCP Stream"), the bytes of
  each direction; the "[N bytes missing in capture file]" lines Wireshark puts where the capture
  lost data are annotations, not stream bytes: they are taken out and counted.
* IP defragmentation: tshark's ``ip.reassembled.data`` / ``ipv6.reassembled.data``.
* Counters: tshark's per-packet fields (``tcp.len``, ``tcp.seq``...) summed in the test, or hand
  calculations on packets built by the test, written out next to the assertion.

COOKING's output is read without trusting COOKING's code: a minimal Python function (COLLECT,
registered in a test library) placed after COOKING keeps every packet that passes; the test
writes them to a pcap file and lets tshark dissect them (addresses, ports, TCP payload, sequence
number, lengths, checksums).

An offline trace ends without a call that could flush what COOKING still holds, so most tests
append "carrier" packets to a copy of the trace: TCP ACKs of an unrelated connection, later than
the connections' timeout.  They make COOKING expire every connection (timeout on packet time)
and carry the remaining chunks out, one per carrier.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import types
from collections import defaultdict
from pathlib import Path
from typing import Any

import attrs
import pytest
from mapi_core.plugins import FunctionDef, hookimpl
from mapi_core.plugins.manager import Registry
from mapi_core.testing import tool, trace
from mapi_stdlib.cooking import BOTH_SIDE, CLIENT_SIDE, SERVER_SIDE, CookingStats

from mapi_core import Flow, MapiError, Runtime

TIMEOUT = 3600          # seconds: longer than any test trace, so connections expire only at the carriers

# ---------------------------------------------------------------------------------------------
# The collector: a Python slow-path function that keeps what passes.


@attrs.frozen
class Passed:
    data: bytes
    ts: int
    linktype: int
    caplen: int
    wlen: int


_COLLECTORS: list[Collect] = []


class Collect:
    def init(self) -> None:
        self.packets: list[Passed] = []
        _COLLECTORS.append(self)

    def process(self, packet: Any, header: Any) -> int:
        self.packets.append(Passed(bytes(packet), header.ts, header.linktype, header.caplen, header.wlen))
        return 1


@hookimpl
def _register() -> Any:
    yield FunctionDef(name="COLLECT", description="keeps every packet (test)", implementation=Collect)


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    library = types.ModuleType("cooking_test_library")
    library.mapi_register_functions = _register
    registry = Registry.discover()
    registry.register_library(library, "cookingtest")
    runtime = Runtime(registry)
    yield runtime
    runtime.shutdown()


def run_cooking(runtime: Runtime, path: Path, *args: Any, bpf: str | None = None) -> tuple[CookingStats, list[Passed]]:
    """COOKING(*args) on the trace (after BPF_FILTER bpf); its result and the packets it passed."""
    with Flow(str(path), runtime=runtime) as flow:
        if bpf:
            flow.apply("BPF_FILTER", bpf)
        cooking = flow.apply("COOKING", *args)
        flow.apply("COLLECT")
        flow.run(timeout=60)
        stats = cooking.read()
    return stats, _COLLECTORS.pop().packets


# ---------------------------------------------------------------------------------------------
# pcap files: reading the record times, appending carriers, writing what passed.


@attrs.frozen
class PcapInfo:
    endian: str
    nanoseconds: bool
    linktype: int
    last_second: int


def pcap_info(path: Path) -> PcapInfo:
    raw = path.read_bytes()
    magic = raw[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nanoseconds = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack_from(endian + "I", raw, 20)[0] & 0xFFFF
    last, at = 0, 24
    while at + 16 <= len(raw):
        seconds, _, caplen, _ = struct.unpack_from(endian + "IIII", raw, at)
        last = max(last, seconds)
        at += 16 + caplen
    return PcapInfo(endian, nanoseconds, linktype, last)


def carrier_frame(linktype: int, endian: str, number: int, vlan: int | None = None) -> bytes:
    """A TCP ACK from 10.255.255.1:1 to 10.255.255.2:2 (no payload), framed for the link type."""
    tcp = struct.pack("!HHIIBBHHH", 1, 2, number, 0, 5 << 4, 0x10, 1024, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, number & 0xFFFF, 0, 64, 6, 0,
                     bytes([10, 255, 255, 1]), bytes([10, 255, 255, 2]))
    if linktype == 1:
        tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
        return b"\x02" * 6 + b"\x04" * 6 + tag + b"\x08\x00" + ip + tcp
    if linktype == 0:
        return struct.pack(endian + "I", 2) + ip + tcp      # AF_INET in the writer's byte order
    if linktype == 113:                                     # Linux cooked capture: sent by us, IPv4
        return struct.pack("!HHH8sH", 4, 1, 6, b"\x02" * 6 + b"\0\0", 0x0800) + ip + tcp
    if linktype in (101, 228):
        return ip + tcp
    raise ValueError(f"no carrier for link type {linktype}")


def as_pcap(path: Path, out: Path) -> Path:
    """The trace itself if it is a pcap file, else a pcap copy (``editcap -F pcap``)."""
    if path.read_bytes()[:4] != b"\x0a\x0d\x0d\x0a":
        return path
    subprocess.run([tool("editcap"), "-F", "pcap", str(path), str(out)], check=True, capture_output=True)
    return out


def with_carriers(path: Path, out: Path, after: int, count: int, vlan: int | None = None) -> Path:
    """A copy of the trace with `count` carriers, `after` seconds after its last packet."""
    path = as_pcap(path, out.with_suffix(".converted.pcap"))
    info = pcap_info(path)
    records = bytearray(path.read_bytes())
    for number in range(count):
        frame = carrier_frame(info.linktype, info.endian, number, vlan)
        records += struct.pack(info.endian + "IIII", info.last_second + after, number, len(frame), len(frame))
        records += frame
    out.write_bytes(bytes(records))
    return out


def write_pcap(path: Path, packets: list[Passed]) -> Path:
    [linktype] = {p.linktype for p in packets} or {1}
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for p in packets:
            f.write(struct.pack("<IIII", p.ts >> 32, ((p.ts & 0xFFFFFFFF) * 1_000_000) >> 32, len(p.data), p.wlen))
            f.write(p.data)
    return path


def build_pcap(path: Path, frames: list[tuple[float, bytes]], linktype: int = 1) -> Path:
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for ts, frame in frames:
            seconds = int(ts)
            f.write(struct.pack("<IIII", seconds, round((ts - seconds) * 1e6), len(frame), len(frame)))
            f.write(frame)
    return path


# ---------------------------------------------------------------------------------------------
# tshark.


def tshark(*argv: str) -> str:
    return subprocess.run([tool("tshark"), *argv], check=True, capture_output=True, text=True).stdout


def tshark_fields(path: Path, fields: list[str], *options: str) -> list[list[str]]:
    argv = ["-r", str(path), *options, "-T", "fields", "-E", "separator=|"]
    for field in fields:
        argv += ["-e", field]
    return [line.split("|") for line in tshark(*argv).splitlines()]


_MISSING = re.compile(rb"\[(\d+) bytes missing in capture file\]\x00?")


@attrs.frozen
class Followed:
    """One direction of a TCP stream as Wireshark follows it."""

    data: bytes
    missing: int          # bytes Wireshark marks as missing in the capture


def wireshark_streams(path: Path) -> dict[tuple[str, str], Followed]:
    """(source "addr:port", destination) -> the direction's bytes, for every TCP stream of the trace."""
    numbers = sorted({int(x) for x in tshark("-r", str(path), "-T", "fields", "-e", "tcp.stream").split()})
    streams: dict[tuple[str, str], Followed] = {}
    for number in numbers:
        output = tshark("-r", str(path), "-q", "-z", f"follow,tcp,raw,{number}")
        nodes = [re.sub(r"^\[(.*)\]:", r"\1:", line.split(": ", 1)[1])
                 for line in output.splitlines() if line.startswith("Node ")]
        data, missing = [bytearray(), bytearray()], [0, 0]
        for line in output.splitlines():
            if not re.fullmatch(r"\t?[0-9a-f]+", line):
                continue
            side = 1 if line.startswith("\t") else 0
            chunk = bytes.fromhex(line.strip())
            marker = _MISSING.fullmatch(chunk)
            if marker:
                missing[side] += int(marker[1])
            else:
                data[side] += chunk
        streams[(nodes[0], nodes[1])] = Followed(bytes(data[0]), missing[0])
        streams[(nodes[1], nodes[0])] = Followed(bytes(data[1]), missing[1])
    return streams


@attrs.frozen
class Cooked:
    source: str
    destination: str
    payload: bytes
    tcp_len: int
    seq: int
    ip_checksum: str      # tshark: 1 good, "" for IPv6
    tcp_checksum: str


def dissect(tmp_path: Path, packets: list[Passed]) -> list[Cooked]:
    """What tshark sees in the packets COOKING passed (no TCP reassembly of its own)."""
    if not packets:
        return []
    path = write_pcap(tmp_path / "passed.pcap", packets)
    rows = tshark_fields(path, ["ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
                                "tcp.payload", "tcp.len", "tcp.seq_raw", "ip.checksum.status",
                                "tcp.checksum.status"],
                         "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE",
                         "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE")
    return [Cooked(f"{r[0] or r[1]}:{r[2]}", f"{r[3] or r[4]}:{r[5]}", bytes.fromhex(r[6]), int(r[7] or -1),
                   int(r[8] or -1), r[9], r[10]) for r in rows]


def by_direction(cooked: list[Cooked]) -> dict[tuple[str, str], list[bytes]]:
    chunks: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for packet in cooked:
        chunks[(packet.source, packet.destination)].append(packet.payload)
    return chunks


def assert_well_formed(cooked: list[Cooked]) -> None:
    """Every passed packet is a cooked TCP packet that tshark finds consistent."""
    for packet in cooked:
        assert packet.seq == 0, packet                       # MAPI: sequence number 0
        assert packet.tcp_len == len(packet.payload), packet  # the IP length says what is there
        assert packet.tcp_checksum == "1", packet             # recomputed: good
        assert packet.ip_checksum in ("1", ""), packet


# ---------------------------------------------------------------------------------------------
# Streams: every byte Wireshark follows, in cooked packets.

STREAM_TRACES = [
    # trace, BPF filter before COOKING, threshold, VLAN of the carriers
    pytest.param("deb-python3-dpkt--http.pcap", "tcp", 1000, None, id="http"),
    pytest.param("wireshark-4.0.17-src--http-ooo.pcap", None, 40, None, id="http-ooo-raw-ip"),
    pytest.param("tcpdump-4.99.3-src--dns_tcp.pcap", "tcp", 100, None, id="dns-tcp"),
    pytest.param("tcpflow-1.6.1-src--jpegs.cap", "tcp", 4000, None, id="jpegs-holes"),
    pytest.param("ndpi-4.2-src--ajp.pcap", "vlan and tcp", 200, 7, id="ajp-vlan"),
    pytest.param("ndpi-4.2-src--http_ipv6.pcap", "tcp", 1000, None, id="http-ipv6"),
    pytest.param("tcpflow-1.6.1-src--local.pcap", "tcp", 100, None, id="ssh-loopback-null"),
    pytest.param("ndpi-4.2-src--rtsp.pcap", "tcp", 3000, None, id="rtsp-linux-cooked-retransmissions"),
    pytest.param("ndpi-4.2-src--ftp-start-tls.pcap", "tcp", 50, None, id="ftp-retransmissions"),
]


@pytest.mark.parametrize(("name", "bpf", "threshold", "vlan"), STREAM_TRACES)
def test_cooked_streams_are_wiresharks_streams(runtime: Runtime, tmp_path: Path, name: str, bpf: str | None,
                                               threshold: int, vlan: int | None) -> None:
    path = trace(name)
    expected = wireshark_streams(path)
    extended = with_carriers(path, tmp_path / "carried.pcap", TIMEOUT + 1, 2 * len(expected) + 2, vlan)
    stats, packets = run_cooking(runtime, extended, threshold, TIMEOUT, 0, BOTH_SIDE, bpf=bpf)
    cooked = dissect(tmp_path, packets)
    assert_well_formed(cooked)
    chunks = by_direction(cooked)
    for direction, followed in expected.items():
        mine = chunks.pop(direction, [])
        assert b"".join(mine) == followed.data, direction
        # a chunk leaves when its direction has `threshold` bytes (MAPI): only the last is shorter
        assert all(len(chunk) >= threshold for chunk in mine[:-1]), (direction, [len(c) for c in mine])
    assert not chunks, "no other direction has bytes (the carriers have none)"
    assert stats.chunks == len(packets)
    assert stats.bytes_delivered == sum(len(f.data) for f in expected.values())
    assert (stats.buffered_bytes, stats.pending_chunks) == (0, 0), "everything was carried out"
    # the carriers came after the timeout: every open connection expired (+1: the carriers' own)
    assert stats.connections - 1 == stats.connections_closed + stats.connections_reset + stats.connections_expired
    assert stats.dropped_memory_bytes == stats.dropped_window_bytes == stats.dropped_evicted_bytes == 0


@pytest.mark.parametrize(("name", "bpf"), [("wireshark-4.0.17-src--http-ooo.pcap", None),
                                          ("deb-python3-dpkt--http.pcap", "tcp"),
                                          ("ndpi-4.2-src--1kxun.pcap", "tcp"),
                                          ("ndpi-4.2-src--rtsp.pcap", "tcp"),
                                          ("ndpi-4.2-src--ftp-start-tls.pcap", "tcp")])
def test_overlap_bytes_count_every_byte_received_again(runtime: Runtime, name: str, bpf: str | None) -> None:
    """overlap_bytes = sum of segment lengths - bytes covered, per direction, from tshark's
    relative sequence numbers and lengths (computed here with a set of covered offsets)."""
    path = trace(name)
    rows = tshark_fields(path, ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.seq", "tcp.len"],
                         "-Y", "tcp.len > 0")
    total, covered = 0, defaultdict(set)
    for stream, src, src6, port, seq, length in rows:
        total += int(length)
        covered[(stream, src or src6, port)].update(range(int(seq), int(seq) + int(length)))
    expected = total - sum(len(offsets) for offsets in covered.values())
    # http-ooo: frames 4 and 5 both carry Seq=41 Len=2, so 2 bytes came twice
    stats, _ = run_cooking(runtime, path, 100, 0, 0, BOTH_SIDE, bpf=bpf)
    assert stats.overlap_bytes == expected
    assert expected > 0
    assert {"wireshark-4.0.17-src--http-ooo.pcap": 2}.get(name, expected) == expected


def test_holes_the_capture_lost_are_skipped_as_wireshark_marks_them(runtime: Runtime, tmp_path: Path) -> None:
    """jpegs.cap lost segments (the receiver acknowledges bytes never captured): Wireshark writes
    "[N bytes missing in capture file]"; COOKING skips the same bytes and counts them."""
    path = trace("tcpflow-1.6.1-src--jpegs.cap")
    expected = wireshark_streams(path)
    marked = sum(f.missing for f in expected.values())
    assert marked > 0
    extended = with_carriers(path, tmp_path / "carried.pcap", TIMEOUT + 1, 2 * len(expected) + 2)
    stats, _ = run_cooking(runtime, extended, 4000, TIMEOUT, 0, BOTH_SIDE, bpf="tcp")
    assert stats.missing_bytes == marked


def test_bytes_left_at_the_end_of_a_trace_are_counted(runtime: Runtime, tmp_path: Path) -> None:
    """Without carriers, what has not left is reported: delivered bytes are a prefix of each
    direction, and the rest is exactly buffered_bytes."""
    path = trace("deb-python3-dpkt--http.pcap")
    expected = wireshark_streams(path)
    stats, packets = run_cooking(runtime, path, 500, 0, 0, BOTH_SIDE, bpf="tcp")
    chunks = by_direction(dissect(tmp_path, packets))
    undelivered = 0
    for direction, followed in expected.items():
        mine = b"".join(chunks.pop(direction, []))
        assert followed.data.startswith(mine), direction
        undelivered += len(followed.data) - len(mine)
    assert undelivered > 0
    assert stats.buffered_bytes == undelivered
    assert stats.bytes_delivered == sum(len(f.data) for f in expected.values()) - undelivered


# ---------------------------------------------------------------------------------------------
# Arguments: direction, ret_once, threshold, timeout.


def clients(path: Path) -> set[str]:
    """The client endpoint of every TCP stream (tshark's fields, COOKING's documented rule): the
    sender of a SYN without ACK, the receiver of a SYN+ACK; for a stream without either, the
    endpoint with the higher port, and with equal ports the sender of the stream's first packet."""
    rows = tshark_fields(path, ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
                                "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack"], "-Y", "tcp")
    found: dict[str, str] = {}
    first: dict[str, tuple[str, str, int, int]] = {}
    for stream, src, src6, sport, dst, dst6, dport, syn, ack in rows:
        source, destination = f"{src or src6}:{sport}", f"{dst or dst6}:{dport}"
        first.setdefault(stream, (source, destination, int(sport), int(dport)))
        if syn in ("1", "True") and stream not in found:
            found[stream] = destination if ack in ("1", "True") else source
    for stream, (source, destination, sport, dport) in first.items():
        if stream not in found:
            found[stream] = source if sport >= dport else destination
    return set(found.values())


@pytest.mark.parametrize("name", ["deb-python3-dpkt--http.pcap", "tcpdump-4.99.3-src--dns_tcp.pcap"])
@pytest.mark.parametrize("direction", [CLIENT_SIDE, SERVER_SIDE])
def test_each_direction_mode_cooks_one_side(runtime: Runtime, tmp_path: Path, name: str, direction: int) -> None:
    """CLIENT_SIDE: the bytes the client receives; SERVER_SIDE: the bytes the server receives
    (libnids' naming, as MAPI).  The client is the sender of the SYN (tshark)."""
    path = trace(name)
    expected = wireshark_streams(path)
    client_ends = clients(path)
    assert client_ends
    wanted = {d: f for d, f in expected.items() if (d[0] in client_ends) == (direction == SERVER_SIDE)}
    extended = with_carriers(path, tmp_path / "carried.pcap", TIMEOUT + 1, 2 * len(expected) + 2)
    stats, packets = run_cooking(runtime, extended, 300, TIMEOUT, 0, direction, bpf="tcp")
    chunks = by_direction(dissect(tmp_path, packets))
    assert {d: b"".join(c) for d, c in chunks.items()} == {d: f.data for d, f in wanted.items() if f.data}
    # the other side's segments are ignored: the sum of their tcp.len (tshark)
    other = "not" if direction == SERVER_SIDE else ""
    sources = " or ".join(f"(ip.src == {e.rsplit(':', 1)[0]} and tcp.srcport == {e.rsplit(':', 1)[1]})"
                          for e in client_ends)
    lengths = tshark_fields(path, ["tcp.len"], "-Y", f"tcp and {other} ({sources})")
    assert stats.ignored_bytes == sum(int(r[0]) for r in lengths) > 0


def test_ret_once_delivers_one_chunk_per_direction(runtime: Runtime, tmp_path: Path) -> None:
    path = trace("deb-python3-dpkt--http.pcap")
    expected = wireshark_streams(path)
    extended = with_carriers(path, tmp_path / "carried.pcap", TIMEOUT + 1, 2 * len(expected) + 2)
    threshold = 1000
    stats, packets = run_cooking(runtime, extended, threshold, TIMEOUT, 1, BOTH_SIDE, bpf="tcp")
    chunks = by_direction(dissect(tmp_path, packets))
    assert set(chunks) == {d for d, f in expected.items() if f.data}
    for direction, [chunk] in chunks.items():
        data = expected[direction].data
        assert data.startswith(chunk)
        assert len(chunk) >= min(threshold, len(data))
    # the rest of every direction was ignored, retransmitted bytes included (tshark's tcp.len sum)
    all_payload = sum(int(r[0]) for r in tshark_fields(path, ["tcp.len"], "-Y", "tcp"))
    assert stats.bytes_delivered + stats.ignored_bytes + stats.overlap_bytes == all_payload


def test_threshold_zero_or_negative_means_32000(runtime: Runtime, tmp_path: Path) -> None:
    path = trace("tcpflow-1.6.1-src--jpegs.cap")
    outputs = []
    for threshold in (0, -7, 32000):
        extended = with_carriers(path, tmp_path / "carried.pcap", TIMEOUT + 1, 40)
        _, packets = run_cooking(runtime, extended, threshold, TIMEOUT, 0, BOTH_SIDE, bpf="tcp")
        outputs.append([p.data for p in packets])
    assert outputs[0] == outputs[1] == outputs[2]
    # jpegs' largest direction: 80 kB or so (tshark follow), so some chunks are >= 32000 bytes
    assert max(len(d) for d in outputs[0]) > 32000


def test_a_second_run_gives_the_same_output(runtime: Runtime, tmp_path: Path) -> None:
    path = trace("tcpflow-1.6.1-src--jpegs.cap")
    extended = with_carriers(path, tmp_path / "carried.pcap", 11, 40)
    first = run_cooking(runtime, extended, 1500, 10, 0, BOTH_SIDE)
    second = run_cooking(runtime, extended, 1500, 10, 0, BOTH_SIDE)
    assert first == second


# A connection built by hand: a SYN handshake and 100 bytes from the client at t = 0, then ACKs of
# an unrelated connection at t = 5, 9.5, 10.5 and 11 (packet time).
A, B, C, D = [10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3], [10, 0, 0, 4]


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src: list[int], dst: list[int], proto: int, payload: bytes, ident: int = 0, frag: int = 0) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, bytes(src), bytes(dst))
    return header[:10] + struct.pack("!H", csum(header)) + header[12:] + payload


def tcp(src: list[int], dst: list[int], sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    pseudo = bytes(src) + bytes(dst) + struct.pack("!BBH", 0, 6, 20 + len(data))
    return header[:16] + struct.pack("!H", csum(pseudo + header + data)) + header[18:] + data


def eth(payload: bytes, ethertype: int = 0x0800) -> bytes:
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", ethertype) + payload


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04


def segment(src: list[int], dst: list[int], sport: int, dport: int, seq: int, ack: int, flags: int,
            data: bytes = b"") -> bytes:
    return eth(ipv4(src, dst, 6, tcp(src, dst, sport, dport, seq, ack, flags, data)))


def test_timeout_is_packet_time(runtime: Runtime, tmp_path: Path) -> None:
    data = bytes(range(100))
    frames = [
        (0.0, segment(A, B, 40000, 80, 1000, 0, SYN)),
        (0.0, segment(B, A, 80, 40000, 5000, 1001, SYN | ACK)),
        (0.0, segment(A, B, 40000, 80, 1001, 5001, ACK | PSH, data)),
        (5.0, segment(C, D, 50000, 22, 1, 1, ACK)),
        (9.5, segment(C, D, 50000, 22, 1, 1, ACK)),
        (10.5, segment(C, D, 50000, 22, 1, 1, ACK)),   # 10.5 s after the connection's last packet
        (11.0, segment(C, D, 50000, 22, 1, 1, ACK)),
    ]
    path = build_pcap(tmp_path / "idle.pcap", frames)
    stats, packets = run_cooking(runtime, path, 1000, 10, 0, BOTH_SIDE)
    # 100 bytes < threshold 1000: the connection is flushed only when a packet comes more than 10 s
    # of packet time after its last one (the one at 10.5 s), and that packet carries the chunk
    assert [(p.ts >> 32, p.data[-100:]) for p in packets] == [(10, data)]
    assert stats.connections_expired == 1
    stats, packets = run_cooking(runtime, path, 1000, 0, 0, BOTH_SIDE)      # 0: never
    assert (packets, stats.connections_expired, stats.buffered_bytes) == ([], 0, 100)


def test_conflicting_retransmissions_first_copy_wins_and_wraparound(runtime: Runtime, tmp_path: Path) -> None:
    """A stream whose sequence numbers wrap around, with an out-of-order segment, a hole filler
    that overlaps it with other bytes, and a retransmission of held bytes with other bytes."""
    letters = bytes(range(65, 91)) * 8                                   # A..Z A..Z ...
    isn = 0xFFFFFF00                                                     # wraps at offset 255
    frames = [
        segment(A, B, 40000, 80, isn, 0, SYN),
        segment(B, A, 80, 40000, 1000, isn + 1, SYN | ACK),
        segment(A, B, 40000, 80, isn + 1, 1001, ACK),
        segment(A, B, 40000, 80, isn + 1, 1001, ACK | PSH, letters[:100]),                 # offsets 0-99
        segment(A, B, 40000, 80, isn + 201, 1001, ACK | PSH, letters[100:200] + b"z" * 8),  # 200-307, early
        segment(A, B, 40000, 80, isn + 101, 1001, ACK | PSH, b"X" * 150),                  # 100-249
        segment(A, B, 40000, 80, isn + 51, 1001, ACK | PSH, b"Y" * 60),                    # 50-109
        segment(A, B, 40000, 80, isn + 309, 1001, ACK | PSH | FIN, b"end"),                # 308-310
        segment(B, A, 80, 40000, 1001, isn + 313, ACK | FIN),
        segment(A, B, 40000, 80, isn + 313, 1002, ACK),
    ]
    path = build_pcap(tmp_path / "overlaps.pcap", [(i / 1000, f) for i, f in enumerate(frames)])
    stats, packets = run_cooking(runtime, path, 1000, 0, 0, BOTH_SIDE)
    [cooked] = dissect(tmp_path, packets)
    # first copy wins: offsets 200-249 keep the early segment's letters, not the filler's X
    first_wins = letters[:100] + b"X" * 100 + letters[100:200] + b"z" * 8 + b"end"
    assert cooked.payload == first_wins
    # Wireshark keeps the bytes that became contiguous first: the filler's X over offsets 200-249
    wireshark = wireshark_streams(path)[("10.0.0.1:40000", "10.0.0.2:80")].data
    assert wireshark == letters[:100] + b"X" * 150 + letters[150:200] + b"z" * 8 + b"end"
    # again: 50 (X over 200-249) + 60 (Y over 50-109); differing: the X against letters[100:150],
    # except where that letter is X (i % 26 == 23: i = 101, 127): 48; the Y against letters[50:100]
    # except where the letter is Y (i % 26 == 24: i = 50, 76): 48, and against 10 X: 10
    assert (stats.overlap_bytes, stats.conflict_bytes) == (110, 48 + 48 + 10)
    assert (stats.connections_closed, stats.out_of_order) == (1, 1)


def test_a_reset_flushes_both_directions(runtime: Runtime, tmp_path: Path) -> None:
    frames = [
        segment(A, B, 40000, 80, 1, 0, SYN),
        segment(B, A, 80, 40000, 7, 2, SYN | ACK),
        segment(A, B, 40000, 80, 2, 8, ACK | PSH, b"request"),
        segment(B, A, 80, 40000, 8, 9, ACK | PSH, b"response"),
        segment(A, B, 40000, 80, 9, 16, RST),
        segment(C, D, 50000, 22, 1, 1, ACK),             # carries the second chunk
        segment(C, D, 50000, 22, 1, 1, ACK),             # nothing left to carry
    ]
    path = build_pcap(tmp_path / "reset.pcap", [(i, f) for i, f in enumerate(frames)])
    stats, packets = run_cooking(runtime, path, 1000, 0, 0, BOTH_SIDE)
    cooked = dissect(tmp_path, packets)
    assert sorted((c.source, c.payload) for c in cooked) == [("10.0.0.1:40000", b"request"),
                                                            ("10.0.0.2:80", b"response")]
    assert (stats.connections_reset, stats.chunks) == (1, 2)


# ---------------------------------------------------------------------------------------------
# Defragmentation.


def test_datagrams_are_reassembled_as_wireshark_does(runtime: Runtime, tmp_path: Path) -> None:
    """dns_fragmented.pcap: DNS answers in IPv4 and IPv6 fragments.  Each reassembled datagram
    passes as one packet whose IP payload is tshark's reassembled data; other non-TCP packets pass
    unchanged."""
    path = trace("ndpi-4.2-src--dns_fragmented.pcap")
    rows = tshark_fields(path, ["ip.reassembled.data", "ipv6.reassembled.data"],
                         "-Y", "ip.reassembled.length or ipv6.reassembled.length")
    expected = sorted(bytes.fromhex(r[0] or r[1]) for r in rows)
    assert len(expected) == 7            # 4 IPv4 and 3 IPv6 datagrams, 14 fragments
    stats, packets = run_cooking(runtime, path, 100, 0, 0, BOTH_SIDE, bpf="not tcp")
    raw = ["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"]
    fragments = tshark_fields(path, ["frame.number"], *raw,
                              "-Y", "ip.flags.mf == 1 or ip.frag_offset > 0 or ipv6.fraghdr")
    whole = tshark_fields(path, ["frame.number"], *raw, "-Y",
                          "not tcp and not (ip.flags.mf == 1 or ip.frag_offset > 0 or ipv6.fraghdr)")
    assert (stats.fragments, stats.datagrams_reassembled) == (len(fragments), 7) == (14, 7)
    assert len(packets) == len(whole) + 7
    rebuilt = tmp_path / "passed.pcap"
    write_pcap(rebuilt, packets)
    mine = tshark_fields(rebuilt, ["frame.number", "ip.hdr_len", "ip.len", "ipv6.plen", "ip.checksum.status",
                                   "udp.checksum.status"], *raw, "-o", "ip.check_checksum:TRUE",
                         "-o", "udp.check_checksum:TRUE", "-Y", "udp.length > 1400")
    assert len(mine) == 7
    payloads = []
    for number, hdr_len, ip_len, plen, ip_ok, udp_ok in mine:
        data = packets[int(number) - 1].data
        if ip_len:
            payloads.append(data[14 + int(hdr_len):14 + int(ip_len)])
            assert ip_ok == "1"
        else:
            payloads.append(data[14 + 40:14 + 40 + int(plen)])
        assert udp_ok == "1"              # the UDP checksum covers the whole datagram: it is right again
    assert sorted(payloads) == expected


def test_orphan_fragments_expire(runtime: Runtime, tmp_path: Path) -> None:
    """jpegs.cap holds 19 last fragments whose first fragments were not captured (tshark: 19
    packets with ip.frag_offset > 0, none with MF set)."""
    path = trace("tcpflow-1.6.1-src--jpegs.cap")
    raw = ["-o", "ip.defragment:FALSE"]
    assert len(tshark_fields(path, ["frame.number"], *raw, "-Y", "ip.flags.mf == 1")) == 0
    orphans = len(tshark_fields(path, ["frame.number"], *raw, "-Y", "ip.frag_offset > 0"))
    assert orphans == 19
    stats, _ = run_cooking(runtime, path, 4000, 0, 0, BOTH_SIDE)
    assert (stats.fragments, stats.pending_datagrams, stats.datagrams_expired) == (19, 19, 0)
    # 30 s of packet time later they are given up (IPv4 fragment timeout)
    extended = with_carriers(path, tmp_path / "carried.pcap", 31, 1)
    stats, _ = run_cooking(runtime, extended, 4000, 0, 0, BOTH_SIDE)
    assert (stats.fragments, stats.pending_datagrams, stats.datagrams_expired) == (19, 0, 19)


def ipv6(src: bytes, dst: bytes, next_header: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), next_header, 64, src, dst) + payload


def fragment6(offset: int, more: bool, ident: int, next_header: int, data: bytes) -> bytes:
    return struct.pack("!BBHI", next_header, 0, offset | int(more), ident) + data


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def test_fragment_overlaps(runtime: Runtime, tmp_path: Path) -> None:
    """IPv4: the first copy of an overlapping byte wins.  IPv6 (RFC 5722): overlapping fragments
    drop the datagram, but an exact duplicate is harmless.  Hand-built datagrams."""
    body = udp(1000, 2000, bytes(range(48)))                   # 56 bytes
    v4 = [
        ipv4(A, B, 17, body[:24], ident=7, frag=0x2000),          # 0-23, MF
        ipv4(A, B, 17, b"\xee" * 16, ident=7, frag=0x2000 | 2),   # 16-31 overlaps 16-23 with other bytes
        ipv4(A, B, 17, body[32:], ident=7, frag=4),               # 32-55, last
    ]
    src6, dst6 = bytes(15) + b"\x01", bytes(15) + b"\x02"
    v6_overlap = [
        ipv6(src6, dst6, 44, fragment6(0, True, 9, 17, body[:24])),
        ipv6(src6, dst6, 44, fragment6(16, True, 9, 17, body[16:32])),   # overlaps 16-23 (same bytes)
        ipv6(src6, dst6, 44, fragment6(32, False, 9, 17, body[32:])),
    ]
    v6_duplicate = [
        ipv6(src6, dst6, 44, fragment6(0, True, 10, 17, body[:32])),
        ipv6(src6, dst6, 44, fragment6(0, True, 10, 17, body[:32])),     # exact duplicate
        ipv6(src6, dst6, 44, fragment6(32, False, 10, 17, body[32:])),
    ]
    frames = [eth(f) for f in v4] + [eth(f, 0x86DD) for f in v6_overlap + v6_duplicate]
    path = build_pcap(tmp_path / "fragments.pcap", [(i, f) for i, f in enumerate(frames)])
    stats, packets = run_cooking(runtime, path, 100, 0, 0, BOTH_SIDE)
    assert len(packets) == 2
    ip4, ip6 = packets[0].data[14:], packets[1].data[14:]
    # IPv4: 0-23 from the first fragment, 24-31 from the second (its 16-23 lost to the first), 32-55
    assert ip4[20:] == body[:24] + b"\xee" * 8 + body[32:]
    assert struct.unpack("!H", ip4[2:4])[0] == 20 + 56 and ip4[6:8] == b"\0\0" and csum(ip4[:20]) == 0
    # IPv6: the duplicate datagram, fragment header removed, next header UDP, payload length 56
    assert ip6[6] == 17 and struct.unpack("!H", ip6[4:6])[0] == 56 and ip6[40:] == body
    assert (stats.fragments, stats.datagrams_reassembled, stats.fragment_overlap_bytes,
            stats.datagrams_overlap_dropped, stats.pending_datagrams) == (9, 2, 8, 1, 0)


def test_tcp_in_fragments_goes_into_the_stream(runtime: Runtime, tmp_path: Path) -> None:
    """A TCP segment sent in two IPv4 fragments (last fragment first): Wireshark reassembles the
    datagram and follows the stream; so does COOKING."""
    request = b"GET / HTTP/1.0\r\n" * 6                                         # 96 bytes
    segment_bytes = tcp(A, B, 40000, 80, 2, 8, ACK | PSH, request)             # 116 bytes
    frames = [
        segment(A, B, 40000, 80, 1, 0, SYN),
        segment(B, A, 80, 40000, 7, 2, SYN | ACK),
        eth(ipv4(A, B, 6, segment_bytes[64:], ident=3, frag=8)),               # offset 64, last
        eth(ipv4(A, B, 6, segment_bytes[:64], ident=3, frag=0x2000)),          # offset 0, MF
        segment(B, A, 80, 40000, 8, 2 + 96, ACK | FIN),
        segment(A, B, 40000, 80, 2 + 96, 9, ACK | FIN),
    ]
    path = build_pcap(tmp_path / "tcpfrag.pcap", [(i, f) for i, f in enumerate(frames)])
    expected = wireshark_streams(path)[("10.0.0.1:40000", "10.0.0.2:80")].data
    assert expected == request
    stats, packets = run_cooking(runtime, path, 1000, 0, 0, BOTH_SIDE)
    [cooked] = dissect(tmp_path, packets)
    assert cooked.payload == expected
    assert (stats.datagrams_reassembled, stats.connections_closed) == (1, 1)


# ---------------------------------------------------------------------------------------------
# Robustness: malformed and unusual traffic never crashes, and the books balance.


def test_garbage_packets_do_not_crash(runtime: Runtime, tmp_path: Path) -> None:
    import random

    rng = random.Random(1234)
    templates = [segment(A, B, 40000, 80, 5, 9, ACK | PSH, b"x" * 40),
                 eth(ipv4(A, B, 17, udp(1, 2, b"y" * 30), ident=5, frag=0x2000)),
                 eth(ipv6(bytes(16), bytes(16), 44, fragment6(8, True, 1, 6, b"z" * 16)), 0x86DD)]
    frames = []
    for i in range(3000):
        frame = bytearray(rng.choice(templates))
        for _ in range(rng.randrange(1, 6)):
            frame[rng.randrange(len(frame))] = rng.randrange(256)
        frames.append((i / 100, bytes(frame[:rng.randrange(1, len(frame) + 1)])))
    path = build_pcap(tmp_path / "garbage.pcap", frames)
    stats, packets = run_cooking(runtime, path, 10, 1, 0, BOTH_SIDE)
    assert stats.chunks <= len(packets) <= len(frames)


@pytest.mark.parametrize("name", ["mapi-tracefile.pcap", "ndpi-4.2-src--synscan.pcap",
                                  "ndpi-4.2-src--WebattackXSS.pcap", "ndpi-4.2-src--rtsp.pcap",
                                  "ndpi-4.2-src--1kxun.pcap"])
def test_busy_traces_balance(runtime: Runtime, name: str) -> None:
    """Snaplen 96 (truncated payloads), SYN scans, hundreds of connections, Linux cooked capture,
    IPv6 in IPv4: every stored byte is delivered or still buffered."""
    path = trace(name)
    stats, packets = run_cooking(runtime, path, 2000, 30, 0, BOTH_SIDE)
    assert stats.chunks <= len(packets)
    assert stats.tcp_packets > 0
    # tshark: payload bytes of all TCP segments, as the IP length gives them
    payload = sum(int(r[0]) for r in tshark_fields(path, ["tcp.len"], "-Y", "tcp and not icmp"))
    assert stats.bytes_delivered + stats.buffered_bytes + stats.overlap_bytes <= payload


# ---------------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize(("args", "code", "argument"), [
    ((65416, 0, 0, 3), 7001, "threshold"),           # a cooked packet would not fit in 65535 bytes
    ((2**31, 0, 0, 3), 7001, "threshold"),
    (("big", 0, 0, 3), 7001, "threshold"),
    ((100, -1, 0, 3), 7002, "timeout"),
    ((100, 1.5, 0, 3), 7002, "timeout"),
    ((100, 0, 2, 3), 7003, "ret_once"),
    ((100, 0, -1, 3), 7003, "ret_once"),
    ((100, 0, 0, 0), 7004, "direction"),             # MAPI: 7004
    ((100, 0, 0, 4), 7004, "direction"),
    ((100, 0, 0, "SIDEWAYS"), 7004, "direction"),
    ((100, 0, 0), 7004, "direction"),                # missing
    ((), 7001, "threshold"),
])
def test_argument_errors(runtime: Runtime, args: tuple, code: int, argument: str) -> None:
    with Flow(str(trace("mapi-www.pcap")), runtime=runtime) as flow, pytest.raises(MapiError) as error:
        flow.apply("COOKING", *args)
    assert error.value.code == code
    assert "COOKING" in str(error.value) and argument in str(error.value)


def test_named_directions_and_the_largest_threshold_are_accepted(runtime: Runtime, tmp_path: Path) -> None:
    path = trace("deb-python3-dpkt--http.pcap")
    by_name = run_cooking(runtime, path, 65415, 0, 0, "BOTH_SIDE", bpf="tcp")
    by_number = run_cooking(runtime, path, 65415, 0, 0, 3, bpf="tcp")
    assert by_name == by_number


def test_definition() -> None:
    registry = Registry.discover()
    [definition] = registry.function("COOKING")
    flags = (definition.argdescr, definition.modifies, definition.filters, definition.native)
    assert flags == ("iiii", True, True, True)
    for words in ("libnids", "first copy", "Wireshark", "packet time", "RFC 5722", "checksum", "cap"):
        assert words in definition.description


if __name__ == "__main__":      # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
