"""Tests of the offline trace reader (engine/reader.c through engine/trace.py).

Every expected value comes from an independent source: tshark, capinfos or tcpdump run at test
time, a number such a tool printed (its command is written beside it), or the byte layout of a
file as computed here with the struct module.  Never from our own reader.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import threading
from pathlib import Path

import pytest
from mapi_core.engine.trace import Packet, TraceFile, TraceOpenError
from mapi_core.testing import tool, trace, traces_dir

# ------------------------------------------------------------------------------------------------
# Oracles and helpers


def oracle(*argv: str) -> str:
    """Runs an oracle tool; damaged files make it exit non-zero, so stdout and stderr are joined."""
    done = subprocess.run(argv, capture_output=True, text=True)
    return done.stdout + done.stderr


def tshark_packets(path: Path) -> list[tuple[int, int, int, int, int]]:
    """(caplen, wlen, interface, seconds, nanoseconds) of every frame, as tshark reads them."""
    out = subprocess.run(
        [tool("tshark"), "-r", str(path), "-T", "fields", "-E", "separator=,",
         "-e", "frame.cap_len", "-e", "frame.len", "-e", "frame.interface_id", "-e", "frame.time_epoch"],
        capture_output=True, text=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        cap, wlen, ifid, epoch = line.split(",")
        sec, _, frac = epoch.partition(".")
        # tshark leaves frame.interface_id empty for pcap files (they have one interface, 0) and
        # frame.time_epoch empty for a pcapng simple packet block, which has no time (ours: 0).
        rows.append((int(cap), int(wlen), int(ifid or 0), int(sec or 0), int(frac.ljust(9, "0")[:9])))
    return rows


def tcpdump_count(path: Path) -> int:
    """Packets libpcap delivers before the end or the first error (tcpdump --count)."""
    return int(re.search(r"^(\d+) packets?$", oracle(tool("tcpdump"), "-r", str(path), "--count"), re.MULTILINE)[1])


def capinfos(path: Path) -> str:
    """capinfos's full report, exact numbers (-M)."""
    return oracle(tool("capinfos"), "-M", str(path))


def capinfos_field(info: str, name: str) -> str:
    """The value after "name:" or "name =" in a capinfos report (first occurrence)."""
    return re.search(rf"^\s*{re.escape(name)}\s*[:=]\s*(.*?)\s*$", info, re.MULTILINE)[1]


def to_decimal(ts: int, nanosecond: bool) -> tuple[int, int]:
    """Our 32.32 timestamp as (seconds, nanoseconds), rounded to the file's decimal resolution.

    The reader stores frac = floor(sub * 2^32 / U) for sub units of 1/U second (U = 10^6 or 10^9),
    so frac * U / 2^32 = sub - e with 0 <= e < U / 2^32 <= 10^9 / 2^32 < 0.233.  Rounding to the
    nearest unit therefore gives sub back exactly: the round trip loses nothing.
    """
    unit = 10**9 if nanosecond else 10**6
    sec, sub = divmod(((ts & 0xFFFFFFFF) * unit + (1 << 31)) >> 32, unit)
    return (ts >> 32) + sec, sub * (10**9 // unit)


def row(p: Packet, nanosecond: bool = False) -> tuple[int, int, int, int, int]:
    """A packet as tshark shows it: caplen, wlen, interface, seconds, nanoseconds."""
    return (p.caplen, p.wlen, p.ifindex, *to_decimal(p.ts, nanosecond))


def read_all(path: Path | str) -> tuple[list[Packet], TraceFile]:
    """Every packet, and the (closed) trace, whose properties keep their final values."""
    with TraceFile(path) as t:
        packets = list(t)
        return packets, t


def summary(path: Path | str) -> tuple[list[Packet], str, str, int]:
    """Packets, final status, message, packet counter: read inside the with block."""
    with TraceFile(path) as t:
        packets = list(t)
        return packets, t.status, t.message, t.packets


def pcap_records(data: bytes) -> list[tuple[int, int, int]]:
    """Independent pcap walker: (offset, caplen, wlen) of each complete 16-byte-header record."""
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    records, offset = [], 24
    while offset + 16 <= len(data):
        cap, wlen = struct.unpack_from(order + "II", data, offset + 8)
        if offset + 16 + cap > len(data):
            break
        records.append((offset, cap, wlen))
        offset += 16 + cap
    return records


def pcapng_blocks(data: bytes) -> list[tuple[int, int, int, str]]:
    """Independent pcapng walker: (offset, type, length, byte order) of each block."""
    blocks, offset, order = [], 0, "<"
    while offset + 12 <= len(data):
        if data[offset:offset + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if data[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(order + "II", data, offset)
        blocks.append((offset, btype, blen, order))
        offset += blen
    return blocks


def byteswap_pcap(data: bytes) -> bytes:
    """The same pcap written in the other byte order: file header and record headers rewritten."""
    src = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    dst = ">" if src == "<" else "<"
    out = bytearray(struct.pack(dst + "IHHiIII", *struct.unpack_from(src + "IHHiIII", data, 0)))
    offset = 24
    while offset < len(data):
        sec, sub, cap, wlen = struct.unpack_from(src + "IIII", data, offset)
        out += struct.pack(dst + "IIII", sec, sub, cap, wlen) + data[offset + 16:offset + 16 + cap]
        offset += 16 + cap
    return bytes(out)


def _trace_names() -> list[str]:
    folder = traces_dir()
    if folder is None:
        return ["(no shared traces folder)"]  # trace() then skips, or fails under CI
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != "README.md")


# Link-type numbers (LINKTYPE_*) by the names the oracles print: capinfos's encapsulation short
# names and libpcap's DLT names as tcpdump shows them.  Extend when a new trace brings a new type.
CAPINFOS_ENCAP = {"ether": 1, "null": 0, "linux-sll": 113, "rawip4": 228}
TCPDUMP_LINKTYPE = {"EN10MB": 1, "NULL": 0, "LINUX_SLL": 113, "IPV4": 228}

# ------------------------------------------------------------------------------------------------
# 1. Every shared trace against the oracles, packet by packet


@pytest.mark.parametrize("name", _trace_names())
def test_every_packet_matches_tshark(name: str) -> None:
    path = trace(name)
    expected = tshark_packets(path)
    packets, t = read_all(path)
    assert t.status == "eof" and t.message == ""
    ours = [row(p, t.nanosecond) for p in packets]
    assert len(ours) == len(expected)
    for number, (mine, theirs) in enumerate(zip(ours, expected), 1):
        assert mine == theirs, f"frame {number}"
    assert all(len(p.data) == p.caplen for p in packets)


@pytest.mark.parametrize("name", _trace_names())
def test_file_properties_match_capinfos_and_tcpdump(name: str) -> None:
    path = trace(name)
    info = capinfos(path)
    with TraceFile(path) as t:
        count = sum(1 for _ in t)
        assert count == int(capinfos_field(info, "Number of packets"))
        assert t.linktype == CAPINFOS_ENCAP[capinfos_field(info, "File encapsulation")]
        link = re.search(r"link-type (\S+) ", oracle(tool("tcpdump"), "-r", str(path), "--count"))[1]
        assert t.linktype == TCPDUMP_LINKTYPE[link]
        # capinfos shows interface 0's snaplen (a pcap's header value) as "Capture length".
        assert t.snaplen == int(capinfos_field(info, "Capture length"))
        assert len(t.interfaces) == int(capinfos_field(info, "Number of interfaces in file"))
        assert t.nanosecond == capinfos_field(info, "File timestamp precision").startswith("nanoseconds")
        assert t.format == ("pcapng" if capinfos_field(info, "File type") == "pcapng" else "pcap")


@pytest.mark.parametrize("name", ["mapi-tracefile.pcap", "ndpi-4.2-src--rtsp.pcap", "pypi-pcapy-ng--96pings.pcap"])
def test_packet_bytes_match_tcpdump(name: str) -> None:
    path = trace(name)
    dump = oracle(tool("tcpdump"), "-r", str(path), "-n", "-xx")
    expected, current = [], None
    for line in dump.splitlines():
        if line.startswith("\t0x"):
            current.append(bytes.fromhex(line.split(":", 1)[1].replace(" ", "")))
        elif line and not line.startswith(("reading from", "\t")):
            current = []
            expected.append(current)
    packets, _ = read_all(path)
    assert [p.data for p in packets] == [b"".join(chunks) for chunks in expected]


# ------------------------------------------------------------------------------------------------
# 2. Hard-coded values, each with the oracle command that printed it


def test_mapi_tracefile_values() -> None:
    packets, t = read_all(trace("mapi-tracefile.pcap"))
    assert len(packets) == 893  # capinfos -c mapi-tracefile.pcap -> 893
    assert t.format == "pcap" and not t.nanosecond and not t.swapped
    assert t.snaplen == 96  # capinfos -l mapi-tracefile.pcap -> file hdr: 96 bytes
    assert t.linktype == 1  # tcpdump -r mapi-tracefile.pcap -> link-type EN10MB (Ethernet)
    # tshark -r mapi-tracefile.pcap -T fields -e frame.cap_len -e frame.len -e frame.time_epoch
    #   first -> 60 60 1089376567.456945000, last -> 74 74 1089376686.110640000
    assert row(packets[0]) == (60, 60, 0, 1089376567, 456945000)
    assert row(packets[-1]) == (74, 74, 0, 1089376686, 110640000)
    # tcpdump -r mapi-tracefile.pcap -xx -c 1 -> 0x0000: 0100 0cdd dddd 00d0 d336 6f54 0018 aaaa
    assert packets[0].data[:16] == bytes.fromhex("01000cdddddd00d0d3366f540018aaaa")


def test_nanosecond_pcap_values() -> None:
    packets, t = read_all(trace("wireshark-4.0.17-src--dhcp-nanosecond.pcap"))
    assert t.format == "pcap" and t.nanosecond  # capinfos -t -> nsecpcap
    assert len(packets) == 4  # capinfos -c -> 4
    assert t.snaplen == 65535  # capinfos -l -> file hdr: 65535 bytes
    # tshark -T fields -e frame.cap_len -e frame.len -e frame.time_epoch
    #   first -> 314 314 1102274184.317453000, last -> 342 342 1102274184.387798000
    assert row(packets[0], True) == (314, 314, 0, 1102274184, 317453000)
    assert row(packets[-1], True) == (342, 342, 0, 1102274184, 387798000)


def test_nanosecond_pcapng_values() -> None:
    packets, t = read_all(trace("wireshark-4.0.17-src--dhcp-nanosecond.pcapng"))
    assert t.format == "pcapng" and t.nanosecond  # capinfos -> Time resolution = 0x09
    assert len(packets) == 4 and t.interfaces == [1]  # capinfos -> 4 packets, 1 interface, Ethernet
    assert t.snaplen == 65535  # capinfos -> Interface #0 Capture length = 65535
    # tshark -T fields -e frame.cap_len -e frame.len -e frame.interface_id -e frame.time_epoch
    #   first -> 314 314 0 1102274184.317453000, last -> 342 342 0 1102274184.387798000
    assert row(packets[0], True) == (314, 314, 0, 1102274184, 317453000)
    assert row(packets[-1], True) == (342, 342, 0, 1102274184, 387798000)


def test_logistics_multicast_pcapng_values() -> None:
    # Not multi-interface after all: capinfos -> "Number of interfaces in file: 1", and walking its
    # blocks finds one SHB, one IDB, 885 EPBs and one ISB.  Multi-section input is synthesised below.
    packets, t = read_all(trace("wireshark-4.0.17-src--logistics_multicast.pcapng"))
    assert len(packets) == 885 and t.interfaces == [1]  # capinfos -c -> 885
    assert t.snaplen == 262144  # capinfos -> Interface #0 Capture length = 262144
    # tshark -T fields -e frame.cap_len -e frame.len -e frame.interface_id -e frame.time_epoch
    #   first -> 92 92 0 1460566231.869355000
    assert row(packets[0]) == (92, 92, 0, 1460566231, 869355000)


def test_empty_pcap_is_a_valid_empty_trace() -> None:
    packets, status, message, count = summary(trace("wireshark-4.0.17-src--empty.pcap"))
    assert packets == [] and count == 0  # capinfos -c wireshark-4.0.17-src--empty.pcap -> 0
    assert (status, message) == ("eof", "")
    with TraceFile(trace("wireshark-4.0.17-src--empty.pcap")) as t:
        assert (t.linktype, t.snaplen) == (1, 65535)  # capinfos -E -l -> ether, file hdr: 65535 bytes


def test_dlt_null_values() -> None:
    packets, t = read_all(trace("tcpflow-1.6.1-src--local.pcap"))
    assert t.linktype == 0  # tcpdump -r tcpflow-1.6.1-src--local.pcap -> link-type NULL (BSD loopback)
    assert t.snaplen == 4096 and len(packets) == 106  # capinfos -l -c -> file hdr: 4096 bytes, 106
    # tshark -T fields -e frame.cap_len -e frame.len -e frame.time_epoch -> 230 230 1326681269.396335000
    assert row(packets[0]) == (230, 230, 0, 1326681269, 396335000)
    assert {p.linktype for p in packets} == {0}


def test_linux_sll_values() -> None:
    packets, t = read_all(trace("ndpi-4.2-src--rtsp.pcap"))
    assert t.format == "pcapng"  # capinfos -t ndpi-4.2-src--rtsp.pcap -> pcapng (despite its name)
    assert t.linktype == 113  # tcpdump -r ndpi-4.2-src--rtsp.pcap -> link-type LINUX_SLL (Linux cooked v1)
    assert len(packets) == 568  # capinfos -c -> 568
    # tshark -T fields -e frame.cap_len -e frame.len -e frame.interface_id -e frame.time_epoch
    #   first -> 205 205 0 1627567277.506127000, last -> 62 62 0 1627567528.308580000
    assert row(packets[0]) == (205, 205, 0, 1627567277, 506127000)
    assert row(packets[-1]) == (62, 62, 0, 1627567528, 308580000)


def test_big_endian_pcap_values() -> None:
    packets, t = read_all(trace("pypi-pcapy-ng--96pings.pcap"))
    assert t.swapped == (struct.pack("=I", 1) == b"\x01\x00\x00\x00")  # od -tx1 -N4 -> a1 b2 c3 d4: big-endian
    # tshark -T fields -e frame.cap_len -e frame.len -e frame.time_epoch -> 96 98 1224640867.186558000
    assert row(packets[0]) == (96, 98, 0, 1224640867, 186558000)


# ------------------------------------------------------------------------------------------------
# 3. Damaged and unusual input made from real traces


def _cut(tmp_path: Path, data: bytes, size: int, name: str = "cut.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data[:size])
    return path


def test_cut_in_record_header(tmp_path: Path) -> None:
    data = trace("mapi-tracefile.pcap").read_bytes()
    records = pcap_records(data)
    offset = records[500][0]  # record of packet 501
    path = _cut(tmp_path, data, offset + 7)
    count = int(capinfos_field(capinfos(path), "Number of packets"))
    assert count == tcpdump_count(path) == 500
    # tcpdump -r cut.pcap -> truncated dump file; tried to read 16 header bytes, only got 7
    assert "only got 7" in oracle(tool("tcpdump"), "-r", str(path), "--count")
    packets, status, message, delivered = summary(path)
    assert len(packets) == delivered == count and status == "truncated"
    assert message == f"truncated: the file ends 7 bytes into the record header of packet {count + 1} (offset {offset})"


def test_cut_in_packet_data(tmp_path: Path) -> None:
    data = trace("ndpi-4.2-src--WebattackXSS.pcap").read_bytes()
    offset, cap, _ = pcap_records(data)[1234]
    path = _cut(tmp_path, data, offset + 16 + cap // 2)
    count = int(capinfos_field(capinfos(path), "Number of packets"))
    assert count == tcpdump_count(path) == 1234
    packets, status, message, _ = summary(path)
    assert len(packets) == count and status == "truncated"
    assert f"{cap // 2} bytes into the {cap}-byte data of packet {count + 1} (offset {offset})" in message
    # What was delivered is what tshark reads of the cut file, packet by packet.
    assert [row(p) for p in packets] == tshark_packets(path)


def test_cut_pcapng_in_block(tmp_path: Path) -> None:
    data = trace("ndpi-4.2-src--1kxun.pcap").read_bytes()
    epbs = [b for b in pcapng_blocks(data) if b[1] == 6]
    offset, _, blen, _ = epbs[700]
    path = _cut(tmp_path, data, offset + blen - 5, "cut.pcapng")
    count = int(capinfos_field(capinfos(path), "Number of packets"))
    assert count == tcpdump_count(path) == 700
    packets, status, message, _ = summary(path)
    assert len(packets) == count and status == "truncated"
    assert f"{blen - 5} bytes into a {blen}-byte enhanced packet block after packet {count} (offset {offset})" in (
        message
    )


def test_byteswapped_pcap_reads_the_same(tmp_path: Path) -> None:
    for name in ("mapi-tracefile.pcap", "pypi-pcapy-ng--96pings.pcap", "wireshark-4.0.17-src--dhcp-nanosecond.pcap"):
        original = trace(name)
        swapped = tmp_path / ("swapped-" + name)
        swapped.write_bytes(byteswap_pcap(original.read_bytes()))
        assert tshark_packets(swapped) == tshark_packets(original)  # the rewrite itself is right
        packets, t = read_all(swapped)
        reference, r = read_all(original)
        assert packets == reference and t.swapped != r.swapped and t.status == "eof"


def _rewrite_pcap(data: bytes, magic: int, minor: int, record_header: int, interchange: bool) -> bytes:
    """A big-endian µs pcap rewritten, in the same byte order, as another variant of the format."""
    out = bytearray(struct.pack(">IHH", magic, 2, minor) + data[8:24])
    offset = 24
    while offset < len(data):
        sec, sub, cap, wlen = struct.unpack_from(">IIII", data, offset)
        lengths = (wlen, cap) if interchange else (cap, wlen)
        out += struct.pack(">IIII", sec, sub, *lengths) + bytes(record_header - 16)
        out += data[offset + 16:offset + 16 + cap]
        offset += 16 + cap
    return bytes(out)


@pytest.mark.parametrize(
    ("magic", "minor", "record_header", "interchange"),
    [
        (0xA1B2CD34, 4, 24, False),  # Kuznetzov's modified pcap: 24-byte record headers
        (0xA1B2C3D4, 2, 16, True),  # before 2.3, caplen and len were the other way round
        (0xA1B2C3D4, 3, 16, True),  # 2.3 files exist both ways: caplen > len means interchanged
    ],
)
def test_pcap_variants(tmp_path: Path, magic: int, minor: int, record_header: int, interchange: bool) -> None:
    original = trace("pypi-pcapy-ng--96pings.pcap")  # big-endian, µs, every caplen 96 < len 98
    data = original.read_bytes()
    assert data[:4] == b"\xa1\xb2\xc3\xd4"
    assert any(cap < wlen for _, cap, wlen in pcap_records(data))
    variant = tmp_path / "variant.pcap"
    variant.write_bytes(_rewrite_pcap(data, magic, minor, record_header, interchange))
    assert tshark_packets(variant) == tshark_packets(original)  # Wireshark reads the variant the same
    assert read_all(variant)[0] == read_all(original)[0]


def test_microseconds_past_a_second_carry(tmp_path: Path) -> None:
    # Expected values from the bytes written: 2 500 000 µs past second 1000 is 1002.5 s.
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    data += struct.pack("<IIII", 1000, 2_500_000, 4, 4) + b"abcd"
    data += struct.pack("<IIII", 1000, 999_999, 1, 1) + b"e"
    path = tmp_path / "carry.pcap"
    path.write_bytes(data)
    packets, _ = read_all(path)
    assert [to_decimal(p.ts, False) for p in packets] == [(1002, 500_000_000), (1000, 999_999_000)]
    assert [p.data for p in packets] == [b"abcd", b"e"]


def test_impossible_caplen_is_damaged(tmp_path: Path) -> None:
    data = bytearray(trace("mapi-tracefile.pcap").read_bytes())
    offset = pcap_records(bytes(data))[99][0]  # packet 100
    struct.pack_into("<I", data, offset + 8, 0x7FFFFFFF)
    path = tmp_path / "bigcap.pcap"
    path.write_bytes(data)
    # tcpdump -> invalid packet capture length 2147483647, bigger than snaplen of 96; 99 packets
    assert tcpdump_count(path) == 99
    packets, status, message, _ = summary(path)
    assert len(packets) == 99 and status == "damaged"
    assert "packet 100" in message and f"offset {offset}" in message and "2147483647" in message


def test_pcapng_wrong_trailing_length_is_damaged(tmp_path: Path) -> None:
    data = bytearray(trace("ndpi-4.2-src--rtsp.pcap").read_bytes())
    offset, _, blen, order = [b for b in pcapng_blocks(bytes(data)) if b[1] == 6][99]  # packet 100
    struct.pack_into(order + "I", data, offset + blen - 4, blen + 4)
    path = tmp_path / "trail.pcapng"
    path.write_bytes(data)
    # tcpdump -> block total length in header and trailer don't match; 99 packets
    assert tcpdump_count(path) == 99
    packets, status, message, _ = summary(path)
    assert len(packets) == 99 and status == "damaged"
    assert f"offset {offset}" in message and f"ends with length {blen + 4}" in message


def test_pcapng_undeclared_interface_is_damaged(tmp_path: Path) -> None:
    data = bytearray(trace("ndpi-4.2-src--rtsp.pcap").read_bytes())
    offset, _, _, order = [b for b in pcapng_blocks(bytes(data)) if b[1] == 6][9]  # packet 10
    struct.pack_into(order + "I", data, offset + 8, 3)
    path = tmp_path / "ifid.pcapng"
    path.write_bytes(data)
    assert tcpdump_count(path) == 9  # libpcap refuses the unknown interface too
    packets, status, message, _ = summary(path)
    assert len(packets) == 9 and status == "damaged" and "interface 3" in message and "packet 10" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x12\x34\x56\x78" + bytes(40), "not a pcap or pcapng file (magic 0x78563412)"),
        (b"", "empty (0 bytes)"),
        (b"\xd4\xc3", "too short (2 bytes)"),
    ],
)
def test_unreadable_content_fails_to_open(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(TraceOpenError) as caught:
        TraceFile(path)
    assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)


def test_ten_byte_file_fails_to_open(tmp_path: Path) -> None:
    path = tmp_path / "ten.pcap"
    path.write_bytes(trace("mapi-tracefile.pcap").read_bytes()[:10])
    # libpcap refuses it as well: tcpdump -r ten.pcap -> truncated dump file; tried to read 24 file header bytes
    assert "tried to read 24 file header bytes" in oracle(tool("tcpdump"), "-r", str(path))
    with pytest.raises(ValueError, match=r"ten\.pcap: truncated pcap file header \(10 of 24 bytes\)"):
        TraceFile(path)


def test_directory_and_missing_path_fail_to_open(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="is a directory"):
        TraceFile(tmp_path)
    with pytest.raises(OSError, match=r"nothing\.pcap: No such file or directory"):
        TraceFile(tmp_path / "nothing.pcap")


# ------------------------------------------------------------------------------------------------
# The read() path: a FIFO fed by a thread


def _through_fifo(tmp_path: Path, data: bytes, chunk: int = 1000) -> tuple[list[Packet], str, str]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "wb") as out:
            for start in range(0, len(data), chunk):
                out.write(data[start:start + chunk])
                out.flush()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    packets, status, message, _ = summary(fifo)
    thread.join(timeout=30)
    return packets, status, message


@pytest.mark.parametrize(
    "name", ["ndpi-4.2-src--WebattackXSS.pcap", "ndpi-4.2-src--1kxun.pcap", "wireshark-4.0.17-src--empty.pcap"]
)
def test_fifo_reads_like_mmap(tmp_path: Path, name: str) -> None:
    path = trace(name)
    expected = summary(path)
    assert _through_fifo(tmp_path, path.read_bytes()) == expected[:3]


def test_fifo_truncated_like_mmap(tmp_path: Path) -> None:
    data = trace("mapi-tracefile.pcap").read_bytes()
    path = _cut(tmp_path, data, pcap_records(data)[300][0] + 20)
    expected = summary(path)
    assert expected[1] == "truncated"
    assert _through_fifo(tmp_path, path.read_bytes(), chunk=777) == expected[:3]


def test_fifo_record_larger_than_the_initial_buffer(tmp_path: Path) -> None:
    # LINKTYPE_DBUS (231) allows 128 MiB records (libpcap's max_snaplen_for_dlt); a 3 MiB one makes
    # the read buffer grow.  Expected values are the bytes written here.
    payloads = [bytes([i]) * size for i, size in enumerate((100, 3 << 20, 50))]
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 1 << 27, 231)
    for i, payload in enumerate(payloads):
        data += struct.pack("<IIII", 1000 + i, 999999, len(payload), len(payload)) + payload
    packets, status, _ = _through_fifo(tmp_path, data, chunk=65536)
    assert status == "eof"
    assert [p.data for p in packets] == payloads
    assert [to_decimal(p.ts, False) for p in packets] == [(1000 + i, 999999000) for i in range(3)]


# ------------------------------------------------------------------------------------------------
# Synthetic pcapng: several sections, interfaces, resolutions and block types, checked with tshark


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack(order + "II", btype, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)


def _shb(order: str) -> bytes:
    return _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def _idb(order: str, linktype: int, snaplen: int, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    options = b""
    if tsresol is not None:
        options += _option(order, 9, bytes([tsresol]))
    if tsoffset:
        options += _option(order, 14, struct.pack(order + "q", tsoffset))
    if options:
        options += _option(order, 0, b"")
    return _block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options)


def _epb(order: str, ifid: int, ticks: int, payload: bytes, wlen: int | None = None) -> bytes:
    head = struct.pack(order + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(payload), wlen or len(payload))
    return _block(order, 6, head + payload)


def _pb(order: str, ifid: int, ticks: int, payload: bytes) -> bytes:
    head = struct.pack(order + "HHIIII", ifid, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(payload), len(payload))
    return _block(order, 2, head + payload)


def test_multi_section_pcapng_against_tshark(tmp_path: Path) -> None:
    ip = bytes.fromhex("450000140000000040000000c0a80001c0a80002")  # an IPv4 header, no payload
    eth = bytes(12) + b"\x08\x00" + ip
    sll = bytes.fromhex("0000000100060000000000000000") + b"\x08\x00" + ip
    base = 1_600_000_000
    le, be = "<", ">"
    blocks = [
        # Section 1, little-endian: interfaces 0 (Ethernet, µs) and 1 (Linux SLL, ns, offset +100 s).
        _shb(le),
        _idb(le, 1, 64),
        _idb(le, 113, 65535, tsresol=9, tsoffset=100),
        _epb(le, 0, base * 10**6 + 123456, eth),
        _epb(le, 1, base * 10**9 + 987654321, sll, wlen=200),
        _block(le, 3, struct.pack(le + "I", 90) + eth + bytes(64 - len(eth))),  # SPB: 90 on the wire, snaplen 64
        _block(le, 5, bytes(12)),  # ISB: skipped
        _block(le, 4, bytes(4)),  # NRB with only nrb_record_end: skipped
        _pb(le, 1, base * 10**9 + 5, sll),
        # Section 2, big-endian: interfaces 2 (raw IPv4, 2^-10 s), 3 (Ethernet, ms), 4 (Ethernet, ps + offset).
        _shb(be),
        _idb(be, 228, 0, tsresol=0x80 | 10),
        _idb(be, 1, 1500, tsresol=3),
        _idb(be, 1, 1500, tsresol=12, tsoffset=base),  # 2^64 ps is only 213 days: the offset carries the epoch
        _epb(be, 0, (base + 1) * 1024 + 2, ip),  # 2/1024 s = 1953125 ns exactly
        _epb(be, 1, (base + 2) * 1000 + 7, eth),
        _epb(be, 2, 3 * 10**12 + 12345678000, eth),
        _epb(be, 2, 4 * 10**12 + 123456789000, eth),
        _epb(be, 0, (base + 4) * 1024 + 512, ip),
    ]
    path = tmp_path / "multi.pcapng"
    path.write_bytes(b"".join(blocks))
    expected = tshark_packets(path)
    assert len(expected) == 9
    # tshark 4.0.17 numbers interfaces within each section (the second section's EPBs show 0, 1, 2);
    # the reader numbers them across the file, so add the interfaces declared by earlier sections,
    # counted from the block layout.
    first_of_section, declared, shift = 0, 0, []
    for _, btype, _, _ in pcapng_blocks(path.read_bytes()):
        if btype == 0x0A0D0D0A:
            first_of_section = declared
        elif btype == 1:
            declared += 1
        elif btype in (2, 3, 6):
            shift.append(first_of_section)
    expected = [(c, w, i + s, sec, ns) for (c, w, i, sec, ns), s in zip(expected, shift)]
    # tshark 4.0.17 overflows converting 123456789000 ps (it prints .012776324, i.e. 123456789000e9
    # mod 2^64 / 1e12); the value written is base + 4 s + 0.123456789 s.
    assert expected[7][3:] == (base + 4, 12776324)
    expected[7] = (*expected[7][:3], base + 4, 123456789)

    packets, t = read_all(path)
    assert t.status == "eof" and t.nanosecond and t.interfaces == [1, 113, 228, 1, 1]
    assert [row(p, True) for p in packets] == expected
    # From the bytes written above: link type per interface, the SPB clipped to the snaplen.
    assert [p.linktype for p in packets] == [1, 113, 1, 113, 228, 1, 1, 1, 228]
    assert (packets[2].caplen, packets[2].wlen, packets[2].data) == (64, 90, (eth + bytes(64))[:64])
    assert packets[1].data == sll and packets[4].data == ip

    # A custom block (tshark shows those as records of their own) is skipped like any other.
    custom = tmp_path / "custom.pcapng"
    custom.write_bytes(b"".join(blocks[:6] + [_block(le, 0x40000BAD, bytes(12))] + blocks[6:]))
    assert read_all(custom)[0] == packets
