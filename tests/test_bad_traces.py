"""Empty, truncated, damaged and non-trace files, through the Flow API.

Damaged copies are made in tmp_path with struct, from the pcap / pcapng layouts (never with
mapi).  Expected counts come from the oracles:

* truncated files: ``capinfos -c -d -M CUT`` reads a file cut short up to the last complete
  record (it prints "appears to have been cut short in the middle of a packet ... will continue
  anyway" and then "Number of packets: N" and "Data size"), and ``tcpdump --count -r CUT`` agrees
  ("truncated dump file", then "N packets").  tshark also reads up to the cut, but only reports
  it through its exit status and message, so capinfos is the one used here.
* damaged files: the oracles run on the original file's first N records, cut out with
  ``editcap -r ORIGINAL FIRST 1-N``; ``tcpdump --count -r DAMAGED`` stops at the same record.
"""

from __future__ import annotations

import struct
import subprocess
import warnings
from pathlib import Path

import pytest
from mapi_core.testing import tool, trace

import mapi_core
from mapi_core import FLOW_FINISHED, Flow, MapiError, TraceWarning

EMPTY = "wireshark-4.0.17-src--empty.pcap"

# ------------------------------------------------------------------------------------------------
# Record layout (pcap and pcapng), for cutting and damaging copies


def records(raw: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every packet record: pcap records, or pcapng EPB/SPB/PB blocks."""
    magic = raw[:4]
    found = []
    if magic == b"\x0a\x0d\x0d\x0a":  # pcapng
        offset = 0
        order = "<"
        while offset + 12 <= len(raw):
            if raw[offset:offset + 4] == b"\x0a\x0d\x0d\x0a":
                order = "<" if raw[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            kind, length = struct.unpack_from(order + "II", raw, offset)
            if kind in (2, 3, 6):
                found.append((offset, length))
            offset += length
        return found
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
             b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}[magic]
    offset = 24
    while offset + 16 <= len(raw):
        caplen, = struct.unpack_from(order + "I", raw, offset + 8)
        found.append((offset, 16 + caplen))
        offset += 16 + caplen
    return found


def byte_order(raw: bytes) -> str:
    if raw[:4] == b"\x0a\x0d\x0d\x0a":
        return "<" if raw[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    return "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"


def capinfos_counts(path: Path) -> tuple[int, int]:
    """(``capinfos -c``, ``capinfos -d``) of a possibly truncated file."""
    done = subprocess.run([tool("capinfos"), "-c", "-d", "-M", str(path)], capture_output=True, text=True)
    fields = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    return int(fields["Number of packets"]), int(fields["Data size"].split()[0])


def tcpdump_count(path: Path, expression: str = "") -> int:
    """``tcpdump --count -r FILE [EXPR]``: packets before the end, the cut or the damage."""
    argv = [tool("tcpdump"), "--count", "-r", str(path)] + ([expression] if expression else [])
    done = subprocess.run(argv, capture_output=True, text=True)
    last = [line for line in (done.stdout + done.stderr).splitlines() if line.endswith(("packets", "packet"))]
    return int(last[-1].split()[0])


def editcap_first(source: Path, target: Path, count: int) -> Path:
    """``editcap -r SOURCE TARGET 1-N``: the first N records of a file, untouched."""
    subprocess.run([tool("editcap"), "-r", str(source), str(target), f"1-{count}"], check=True,
                   capture_output=True)
    return target


def run_counting(path: Path, expression: str | None = None) -> tuple[Flow, int, int, list[warnings.WarningMessage]]:
    """Runs [BPF_FILTER expression], PKT_COUNTER, BYTE_COUNTER over a file through the Flow API."""
    flow = Flow(path)
    if expression:
        flow.apply("BPF_FILTER", expression)
    packets, wire = flow.apply("PKT_COUNTER"), flow.apply("BYTE_COUNTER")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow.run(timeout=60)
    return flow, packets.read(), wire.read(), caught


# ------------------------------------------------------------------------------------------------
# Empty


def test_empty_trace():
    path = trace(EMPTY)
    # capinfos -c wireshark-4.0.17-src--empty.pcap  -> Number of packets: 0
    assert capinfos_counts(path) == (0, 0)
    flow, packets, wire, caught = run_counting(path)
    with flow:
        assert (packets, wire) == (0, 0)
        assert [w for w in caught if issubclass(w.category, TraceWarning)] == []
        assert flow.info().status == FLOW_FINISHED
        device = mapi_core.mapi_get_device_info(flow.info().devid)
        assert (device.warning, device.error) == ("", "")


# ------------------------------------------------------------------------------------------------
# Truncated: the file ends in the middle of a record


TRUNCATIONS = [
    # (trace, index of the record that is cut, bytes of it kept)
    ("mapi-tracefile.pcap", 500, 26),                   # pcap µs, inside the packet data
    ("mapi-tracefile.pcap", 500, 7),                    # pcap µs, inside the 16-byte record header
    ("mapi-tracefile.pcap", 892, 17),                   # the last record
    ("mapi-tracefile.pcap", 0, 5),                      # no complete record at all
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcap", 2, 100),       # ns pcap
    ("ndpi-4.2-src--1kxun.pcap", 700, 30),              # pcapng, inside an enhanced packet block
    ("ndpi-4.2-src--1kxun.pcap", 700, 4),               # pcapng, inside the block header
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcapng", 3, 40),      # ns pcapng
    ("ndpi-4.2-src--rtsp.pcap", 300, 50),               # pcapng, Linux SLL
    ("tcpflow-1.6.1-src--local.pcap", 50, 20),          # DLT_NULL
]


@pytest.mark.parametrize(("name", "index", "kept"), TRUNCATIONS, ids=[f"{n}-{i}-{k}" for n, i, k in TRUNCATIONS])
def test_truncated_trace(name, index, kept, tmp_path):
    """A file cut mid-record ends with a TraceWarning; every complete record is counted."""
    raw = trace(name).read_bytes()
    offset, length = records(raw)[index]
    assert 0 < kept < length
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(raw[:offset + kept])

    expected_packets, expected_bytes = capinfos_counts(cut)
    assert expected_packets == index == tcpdump_count(cut)

    flow, packets, wire, caught = run_counting(cut)
    with flow:
        assert (packets, wire) == (expected_packets, expected_bytes)
        trace_warnings = [w for w in caught if issubclass(w.category, TraceWarning)]
        assert len(trace_warnings) == 1
        assert "truncated" in str(trace_warnings[0].message)
        assert flow.info().status == FLOW_FINISHED
        device = mapi_core.mapi_get_device_info(flow.info().devid)
        assert str(cut) in device.warning and "truncated" in device.warning
        assert device.error == ""


def test_truncated_trace_warns_through_pytest_warns(tmp_path):
    """The same, written the way a user would: ``flow.run()`` warns with TraceWarning."""
    raw = trace("mapi-www.pcap").read_bytes()
    offset, _ = records(raw)[6]
    cut = tmp_path / "www-cut.pcap"
    cut.write_bytes(raw[:offset + 20])
    # capinfos -c on this cut -> 6 packets (the seventh is incomplete)
    with Flow(cut) as flow:
        packets = flow.apply("PKT_COUNTER")
        with pytest.warns(TraceWarning, match="truncated"):
            flow.run(timeout=60)
        assert packets.read() == 6 == capinfos_counts(cut)[0]


@pytest.mark.parametrize("name", ["mapi-tracefile.pcap", "ndpi-4.2-src--1kxun.pcap"])
def test_cut_at_a_record_boundary_is_a_clean_file(name, tmp_path):
    """Ending exactly between records is not truncation: no warning."""
    raw = trace(name).read_bytes()
    offset, _ = records(raw)[100]
    cut = tmp_path / f"boundary-{name}"
    cut.write_bytes(raw[:offset])
    expected = capinfos_counts(cut)
    assert expected[0] == 100
    flow, packets, wire, caught = run_counting(cut)
    with flow:
        assert (packets, wire) == expected
        assert [w for w in caught if issubclass(w.category, TraceWarning)] == []
        assert mapi_core.mapi_get_device_info(flow.info().devid).warning == ""


# ------------------------------------------------------------------------------------------------
# Damaged: a record length made huge


DAMAGES = [
    # (trace, index of the damaged record, field, filter)
    ("mapi-tracefile.pcap", 500, "pcap caplen", "tcp"),
    ("mapi-tracefile.pcap", 0, "pcap caplen", None),
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcap", 2, "pcap caplen", "udp"),
    ("tcpflow-1.6.1-src--local.pcap", 60, "pcap caplen", "greater 100"),
    ("ndpi-4.2-src--1kxun.pcap", 700, "pcapng block length", "tcp and port 80"),
    ("ndpi-4.2-src--1kxun.pcap", 700, "pcapng captured length", "udp"),
    ("ndpi-4.2-src--rtsp.pcap", 200, "pcapng block length", "src port 8554"),
]


def damage(raw: bytes, offset: int, field: str) -> bytes:
    data = bytearray(raw)
    order = byte_order(raw)
    position = {"pcap caplen": 8, "pcapng block length": 4, "pcapng captured length": 20}[field]
    struct.pack_into(order + "I", data, offset + position, 0x7FFFFFF0)
    return bytes(data)


@pytest.mark.parametrize(("name", "index", "field", "expression"), DAMAGES,
                         ids=[f"{n}-{i}-{f.replace(' ', '_')}" for n, i, f, _ in DAMAGES])
def test_damaged_trace(name, index, field, expression, tmp_path, oracle):
    """A huge record length: flow.wait() raises 6158 naming the problem, and the results cover
    exactly the records before the damage."""
    original = trace(name)
    raw = original.read_bytes()
    offset, _ = records(raw)[index]
    damaged = tmp_path / f"damaged-{name}"
    damaged.write_bytes(damage(raw, offset, field))

    assert tcpdump_count(damaged) == index             # libpcap stops at the same record
    if index:
        first = editcap_first(original, tmp_path / f"first-{name}", index)
        expected = (oracle.count(first, expression or ""), oracle.wire_bytes(first, expression or ""))
    else:
        expected = (0, 0)

    flow = Flow(damaged)
    with flow:
        if expression:
            flow.apply("BPF_FILTER", expression)
        packets, wire = flow.apply("PKT_COUNTER"), flow.apply("BYTE_COUNTER")
        with pytest.raises(MapiError) as err:
            flow.run(timeout=60)
        assert err.value.code == 6158
        assert "damaged" in str(err.value) and str(damaged) in str(err.value)
        assert (packets.read(), wire.read()) == expected
        info = flow.info()
        assert info.status == FLOW_FINISHED
        assert "damaged" in info.error
        device = mapi_core.mapi_get_device_info(info.devid)
        assert device.error == info.error
        # The error stays: waiting again reports it again.
        with pytest.raises(MapiError) as again:
            flow.wait(timeout=60)
        assert again.value.code == 6158


def test_damaged_trace_through_the_compat_calls(tmp_path, wait_flows):
    """With MAPI's calls the flow just finishes; the device info carries the error."""
    raw = trace("mapi-www.pcap").read_bytes()
    offset, _ = records(raw)[4]
    damaged = tmp_path / "www-damaged.pcap"
    damaged.write_bytes(damage(raw, offset, "pcap caplen"))
    assert tcpdump_count(damaged) == 4
    dev = mapi_core.mapi_create_offline_device(str(damaged))
    fd = mapi_core.mapi_create_flow(dev)
    fid = mapi_core.mapi_apply_function(fd, "PKT_COUNTER")
    assert mapi_core.mapi_connect(fd) == 0
    assert mapi_core.mapi_start_offline_device(dev) == 0
    wait_flows([fd])
    assert mapi_core.mapi_read_results(fd, fid).value == 4
    info = mapi_core.mapi_get_flow_info(fd)
    assert "damaged" in mapi_core.mapi_get_device_info(info.devid).error


# ------------------------------------------------------------------------------------------------
# Not trace files at all


@pytest.mark.parametrize("content", [
    b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n" * 20,   # text
    bytes(range(256)) * 4,                                  # binary garbage
    b"",                                                     # empty file
    b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00",                     # a pcap file header cut short
], ids=["text", "binary", "zero-bytes", "short-header"])
def test_garbage_file(content, tmp_path):
    path = tmp_path / "garbage.pcap"
    path.write_bytes(content)
    # libpcap refuses them too: tcpdump -r garbage.pcap -> "unknown file format", or for the
    # last two "truncated dump file; tried to read 4 (24) file header bytes, only got 0 (4)".
    # (capinfos, by contrast, takes a zero-byte file for an empty capture.)
    assert subprocess.run([tool("tcpdump"), "-r", str(path)], capture_output=True).returncode != 0
    with pytest.raises(MapiError) as err:
        Flow(path)
    assert err.value.code == 6155
    assert str(path) in str(err.value)
    assert mapi_core.mapi_create_offline_device(str(path)) is None
    code, message = mapi_core.mapi_read_error()
    assert code == 6155 and str(path) in message


def test_directory_as_offline_device(tmp_path):
    assert mapi_core.mapi_create_offline_device(str(tmp_path)) is None
    code, message = mapi_core.mapi_read_error()
    assert code == 6155
    assert str(tmp_path) in message and "directory" in message


def test_directory_through_the_flow_api(tmp_path):
    with pytest.raises(MapiError) as err:
        Flow(tmp_path)
    assert err.value.code == 6155
    assert str(tmp_path) in str(err.value)
