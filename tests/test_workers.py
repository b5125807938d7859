"""Flow(path, workers=N): a pcap file split across worker processes, results merged on read.

Every expected value comes from tcpdump (which packets match) and tshark (their wire lengths),
through mapi_core.testing.tcpdump_wire_lengths, or from capinfos.
"""

from __future__ import annotations

import re
import struct

import pytest
from mapi_core.testing import run, tcpdump_wire_lengths, tool, trace
from mapi_core.tracegen import generate

from mapi_core import Flow, MapiError, ParallelFlow


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    path = tmp_path_factory.mktemp("workers") / "mix-60000.pcap"
    generate(str(path), 60_000, seed=11)
    return path


def capinfos_count(path) -> int:
    """``capinfos -c -M FILE``: the number of packets in the file."""
    return int(re.search(r"Number of packets:\s+(\d+)", run(tool("capinfos"), "-c", "-M", str(path)))[1])


def counted(path, expression: str, workers: int) -> tuple[int, int, ParallelFlow]:
    with Flow(str(path), workers=workers) as flow:
        flow.apply("BPF_FILTER", expression)
        packets, octets = flow.apply("PKT_COUNTER"), flow.apply("BYTE_COUNTER")
        flow.run(timeout=120)
        return packets.read(), octets.read(), flow


@pytest.mark.parametrize("workers", [2, 3, 7])
@pytest.mark.parametrize("expression", ["tcp and port 80", "udp", "vlan"])
def test_split_counts_equal_tcpdumps(mix, workers, expression):
    # tcpdump -r mix-60000.pcap -w - EXPR | tshark -r - -T fields -e frame.len
    lengths = tcpdump_wire_lengths(mix, expression)
    packets, octets, flow = counted(mix, expression, workers)
    assert (packets, octets) == (len(lengths), sum(lengths))
    assert flow.fallback is None                 # every boundary found by shape was the real one
    assert flow.starts[0] == 24 and len(set(flow.starts)) == workers


@pytest.mark.parametrize("name", ["mapi-tracefile.pcap", "ndpi-4.2-src--ajp.pcap", "tcpflow-1.6.1-src--local.pcap",
                                  "wireshark-4.0.17-src--dhcp-nanosecond.pcap", "deb-pktanon--sample.pcap"])
def test_shared_traces_split_in_two(name):
    path = trace(name)
    expression = "tcp" if "local" not in name else "ip6"
    lengths = tcpdump_wire_lengths(path, expression)
    packets, octets, _ = counted(path, expression, 2)
    assert (packets, octets) == (len(lengths), sum(lengths))


def test_more_workers_than_packets():
    path = trace("wireshark-4.0.17-src--dhcp-nanosecond.pcap")   # capinfos -c: 4 packets
    assert "Number of packets:   4" in run(tool("capinfos"), "-c", str(path))
    with Flow(str(path), workers=6) as flow:
        packets = flow.apply("PKT_COUNTER")
        flow.run(timeout=60)
        assert packets.read() == 4


def test_function_statistics_are_summed(mix):
    # capinfos counts the packets; tcpdump selects the passed ones
    total, selected = capinfos_count(mix), len(tcpdump_wire_lengths(mix, "tcp"))
    with Flow(str(mix), workers=2) as flow:
        bpf = flow.apply("BPF_FILTER", "tcp")
        flow.run(timeout=120)
        info = bpf.info()
        assert (info.pkts, info.passed_pkts, info.name) == (total, selected, "BPF_FILTER")
        with pytest.raises(MapiError) as raised:          # as in one process: a filter has no result
            bpf.read()
        assert raised.value.code == 6146


def _record(seconds: int, data: bytes) -> bytes:
    return struct.pack("<IIII", seconds, 0, len(data), len(data)) + data


def test_a_pcap_carried_inside_a_packet_is_not_taken_for_the_file(tmp_path):
    """A packet whose bytes are themselves pcap records (a capture file sent over TCP) can fool
    the search for a record boundary; the workers' boundaries then disagree, and the flow is read
    again in one process, with the right counts."""
    frame = bytes.fromhex("020000000001020000000002 0800".replace(" ", ""))
    ip_udp = bytes.fromhex("450000200000400040110000c0a80001c0a80002" "00350035000c0000") + b"dns?"
    small = frame + ip_udp
    inner = b"".join(_record(1_700_000_000 + i, small) for i in range(400))     # 400 fake records
    carrier = frame + bytes.fromhex("4500" "0000" "00004000" "4006" "0000" "c0a80001c0a80002") + inner
    records = [_record(1_700_000_000, small) for _ in range(5)] + [_record(1_700_000_001, carrier)]
    records += [_record(1_700_000_002, small) for _ in range(5)]
    path = tmp_path / "carrier.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1) + b"".join(records))
    # the middle of the file falls inside the carrier packet's data
    assert 24 + 5 * len(records[0]) < path.stat().st_size // 2 < 24 + 5 * len(records[0]) + len(records[5])
    lengths = tcpdump_wire_lengths(path, "udp")
    packets, octets, flow = counted(path, "udp", 2)
    assert flow.fallback is not None
    assert (packets, octets) == (len(lengths), sum(lengths)) == (10, 10 * len(small))


def test_functions_that_need_every_packet_in_order_are_refused(mix):
    with Flow(str(mix), workers=2) as flow:
        gap = None
        with pytest.raises(MapiError) as raised:
            gap = flow.apply("GAP")
        assert raised.value.code == 7009 and "cannot run in a flow split across workers" in str(raised.value)
        assert gap is None
        with pytest.raises(MapiError) as raised:
            flow.apply("NO_SUCH_FUNCTION")
        assert raised.value.code == 6144


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="workers=0"):
        Flow(str(tmp_path / "x.pcap"), workers=0)
    with pytest.raises(ValueError, match="workers=True"):
        ParallelFlow(str(tmp_path), workers=True)
    with pytest.raises(MapiError) as raised:
        Flow(str(tmp_path / "missing.pcap"), workers=2)
    assert raised.value.code == 6155 and "no such trace file" in str(raised.value)
    with pytest.raises(ValueError, match="snaplen: capture options are for live devices"):
        Flow(str(trace("mapi-tracefile.pcap")), workers=2, snaplen=96)
    with pytest.raises(MapiError) as raised:
        Flow(str(trace("wireshark-4.0.17-src--dhcp-nanosecond.pcapng")), workers=2)
    assert raised.value.code == 7009 and "pcapng" in str(raised.value)


def test_an_error_in_every_worker_leaves_the_flow_usable(mix):
    """A damaged argument fails in each worker; the next command still gets its own answers."""
    with Flow(str(mix), workers=3) as flow:
        with pytest.raises(MapiError) as raised:
            flow.apply("BPF_FILTER", "tcp and port")          # libpcap: syntax error
        assert raised.value.code == 1025
        packets = flow.apply("PKT_COUNTER")
        flow.run(timeout=120)
        assert packets.read() == capinfos_count(mix)
