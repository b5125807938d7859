"""PKT_INFO, PROTINFO, GAP, HASH and BINOP on real traces.

Every expected value comes from tshark or tcpdump, run here, or from a hand calculation on what
they print:

* timestamps: ``tshark -T fields -e frame.time_epoch`` gives seconds.nanoseconds; MAPI's 32.32
  value of a time t is floor(t * 2^32), written out in :func:`ts32`;
* header fields: ``tshark -T fields -e <field>`` with the same names PROTINFO takes, with IP
  reassembly off (``-o ip.defragment:FALSE``: each fragment as captured);
* hashes: the frame bytes and the offsets of each protocol from ``tshark -T json -x``, hashed
  by the formula of the description in :func:`additive_hash`.

Per-packet values are written by RES2FILE with interval "0" (one line per packet).
"""

from __future__ import annotations

import ipaddress
import json
import random
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from mapi_core.testing import (
    epoch_to_ts32,
    run,
    run_device,
    shared_device_flows,
    tcpdump_wire_lengths,
    tool,
    trace,
    tshark_fields,
)
from mapi_stdlib.values import PROTINFO_FIELDS, gap_backward_steps

from mapi_core import Flow, MapiError, default_runtime

NO_REASSEMBLY = ("-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE")
TWO_64 = 2**64


# ---- oracles -----------------------------------------------------------------------------------

def tshark_rows(path: Path, fields: Sequence[str], display_filter: str | None = None) -> list[list[str]]:
    """One row per frame, one column per field (first occurrence; '' when absent)."""
    return tshark_fields(path, *fields, display_filter=display_filter, options=NO_REASSEMBLY)


ts32 = epoch_to_ts32


def tshark_number(text: str) -> int:
    """tshark prints some fields in hex (0x0018), others in decimal."""
    return int(text, 0)


# ---- flows -------------------------------------------------------------------------------------

def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


# ---- PKT_INFO ----------------------------------------------------------------------------------

TIMESTAMP_TRACES = [
    "mapi-www.pcap",                                   # µs pcap, Ethernet, snaplen 96
    "wireshark-4.0.17-src--dhcp-nanosecond.pcap",      # ns pcap
    "wireshark-4.0.17-src--dhcp-nanosecond.pcapng",    # pcapng
    "ndpi-4.2-src--rtsp.pcap",                         # Linux SLL
    "wireshark-4.0.17-src--http-ooo.pcap",             # raw IPv4
    "wireshark-4.0.17-src--logistics_multicast.pcapng",
]


@pytest.mark.parametrize("name", TIMESTAMP_TRACES)
def test_pkt_info_of_the_last_packet(name: str) -> None:
    path = trace(name)
    last = tshark_rows(path, ["frame.time_epoch", "frame.len"])[-1]
    with Flow(path) as flow:
        stamp = flow.apply("PKT_INFO", "PKT_TS")
        size = flow.apply("PKT_INFO", "PKT_SIZE")
        stamp_by_number = flow.apply("PKTINFO", 0)     # MAPI's name and numbers
        size_by_number = flow.apply("PKTINFO", 1)
        flow.run(timeout=60)
        assert stamp.read() == stamp_by_number.read() == ts32(last[0])
        assert size.read() == size_by_number.read() == int(last[1])


@pytest.mark.parametrize("name", TIMESTAMP_TRACES)
def test_pkt_info_of_every_packet(name: str, tmp_path: Path) -> None:
    path = trace(name)
    expected = [f"{ts32(epoch)} {length}" for epoch, length in tshark_rows(path, ["frame.time_epoch", "frame.len"])]
    out = tmp_path / "pktinfo.txt"
    with Flow(path) as flow:
        stamp = flow.apply("PKT_INFO", "PKT_TS")
        size = flow.apply("PKT_INFO", "PKT_SIZE")
        flow.apply("RES2FILE", "R2F_ULLSTR,R2F_ULLSTR", [stamp, size], "", out, "0", 0)
        flow.run(timeout=60)
    assert lines_of(out) == expected


def test_pkt_info_before_any_packet_is_zero() -> None:
    with Flow(trace("wireshark-4.0.17-src--empty.pcap")) as flow:
        stamp = flow.apply("PKT_INFO", 0)
        flow.run(timeout=60)
        assert stamp.read() == 0


@pytest.mark.parametrize("value", [2, -1, 7, "PKT_LEN", 1.0, None])
def test_pkt_info_bad_selector_is_7002_as_in_mapi(value: object) -> None:
    with Flow(trace("mapi-www.pcap")) as flow, pytest.raises(MapiError) as caught:
        flow.apply("PKT_INFO", value)
    assert caught.value.code == 7002
    assert "PKT_INFO" in str(caught.value) and "argument 1 (info)" in str(caught.value)


def test_pkt_info_argument_count() -> None:
    with Flow(trace("mapi-www.pcap")) as flow:
        with pytest.raises(MapiError) as missing:
            flow.apply("PKT_INFO")
        with pytest.raises(MapiError) as extra:
            flow.apply("PKT_INFO", 0, 1)
    assert missing.value.code == 7001 and "PKT_INFO" in str(missing.value) and "info" in str(missing.value)
    assert extra.value.code == 7000 and "PKT_INFO" in str(extra.value)


# ---- PROTINFO ----------------------------------------------------------------------------------

#: Protocols (tshark's frame.protocols names) that may come before the network header in the
#: link types mapi parses (layers.h); a frame with anything else there has no header PROTINFO
#: can read (PPPoE, FabricPath...).
LINK_PROTOCOLS = {"eth", "ethertype", "vlan", "sll", "null", "raw", "mpls"}
TRANSPORTS = {"tcp", "udp", "icmp", "icmpv6"}


def headers_present(protocols: str) -> set[str]:
    """The headers PROTINFO should find, per its description: the outer network header right
    after the link layer, and the transport header right after it (IPv6 extension headers
    skipped), never headers inside ICMP errors or tunnels."""
    names = protocols.split(":")
    found: set[str] = set()
    for i, name in enumerate(names):
        if name in ("ip", "ipv6"):
            if not set(names[:i]) <= LINK_PROTOCOLS:
                return found
            found.add(name)
            rest = [n for n in names[i + 1:] if not n.startswith("ipv6.")]
            if rest and rest[0] in TRANSPORTS:
                found.add(rest[0])
            return found
    return found


def protocol_of(field: str) -> str:
    return field.partition(".")[0]


def u64_of(field: str, text: str) -> int:
    """The u64 PROTINFO documents for a tshark value: addresses as numbers (IPv6: upper half)."""
    if field.endswith((".src", ".dst")) and protocol_of(field) in ("ip", "ipv6"):
        number = int(ipaddress.ip_address(text))
        return number >> 64 if protocol_of(field) == "ipv6" else number
    return tshark_number(text)


PROTINFO_TRACES = [
    "mapi-www.pcap",                                   # IPv4, TCP
    "deb-pktanon--sample.pcap",                        # ARP, ICMP, ICMPv6, IPv6 UDP
    "deb-python3-dpkt--dns_icmp.pcap",                 # UDP, ICMP
    "ndpi-4.2-src--dns_fragmented.pcap",               # IPv4 and IPv6 fragments
    "ndpi-4.2-src--http_ipv6.pcap",                    # IPv6 TCP and UDP
    "ndpi-4.2-src--6in4tunnel.pcap",                   # IPv6 in IPv4: the outer header counts
    "ndpi-4.2-src--ajp.pcap",                          # VLAN; FabricPath frames (not parsed)
    "ndpi-4.2-src--rtsp.pcap",                         # Linux SLL
    "tcpflow-1.6.1-src--local.pcap",                   # BSD loopback, IPv4 and IPv6
    "wireshark-4.0.17-src--http-ooo.pcap",             # raw IPv4
    "mapi-tracefile.pcap",                             # snaplen 96, 802.3 LLC, ICMP error with UDP inside
]


@pytest.mark.parametrize("name", PROTINFO_TRACES)
def test_protinfo_every_field_every_packet(name: str, tmp_path: Path) -> None:
    path = trace(name)
    fields = list(PROTINFO_FIELDS)
    rows = tshark_rows(path, ["frame.protocols", *fields])
    with shared_device_flows(path, len(fields)) as flows:
        handles = {}
        for flow, field in zip(flows, fields):
            handles[field] = flow.apply("PROTINFO", field)
            flow.apply("RES2FILE", "R2F_ULLSTR", [handles[field]], "", tmp_path / field, "0", 0)
        run_device(flows)
        last_values = {field: handle.read() for field, handle in handles.items()}
    checked = 0     # the files are complete once the flows are closed
    for column, field in enumerate(fields, start=1):
        values = [row[column] for row in rows if protocol_of(field) in headers_present(row[0])]
        assert all(values), f"{field}: tshark lacks it in a frame that has the header"
        assert lines_of(tmp_path / field) == [str(u64_of(field, v)) for v in values], field
        last = last_values[field]
        if not values:
            assert last is None, field
        elif field.endswith((".src", ".dst")):
            assert last == ipaddress.ip_address(values[-1]), field
        else:
            assert last == tshark_number(values[-1]), field
        checked += len(values)
    assert checked > 0


def test_protinfo_drops_packets_without_the_header() -> None:
    # tshark -r deb-pktanon--sample.pcap -Y icmpv6 -T fields -e frame.number | wc -l -> 2 (of 9)
    path = trace("deb-pktanon--sample.pcap")
    icmpv6 = len(tshark_rows(path, ["frame.number"], "icmpv6"))
    with Flow(path) as flow:
        flow.apply("PROTINFO", "icmpv6.type")
        counted = flow.apply("PKT_COUNTER")
        flow.run(timeout=60)
        assert counted.read() == icmpv6 == 2


def test_protinfo_tcp_seq_of_the_last_tcp_packet_with_a_filter_before() -> None:
    path = trace("ndpi-4.2-src--synscan.pcap")
    expected = tshark_rows(path, ["tcp.seq_raw", "ip.src"], "tcp.dstport == 80")
    with Flow(path) as flow:
        flow.apply("BPF_FILTER", "tcp dst port 80")
        seq = flow.apply("PROTINFO", "tcp.seq_raw")
        source = flow.apply("PROTINFO", "ip.src")
        flow.run(timeout=60)
        assert seq.read() == int(expected[-1][0])
        assert source.read() == ipaddress.IPv4Address(expected[-1][1])


@pytest.mark.parametrize("field", ["ip.foo", "tcp.seq", "IP", "frame.len", " "])
def test_protinfo_unknown_field_is_7001_listing_the_fields(field: str) -> None:
    with Flow(trace("mapi-www.pcap")) as flow, pytest.raises(MapiError) as caught:
        flow.apply("PROTINFO", field)
    assert caught.value.code == 7001
    assert "PROTINFO" in str(caught.value) and "argument 1 (field)" in str(caught.value)
    assert "tcp.seq_raw" in str(caught.value) and "icmpv6.checksum" in str(caught.value)


@pytest.mark.parametrize("args", [(), ("",), (6,), (None,), ("ip.src", 1)])
def test_protinfo_bad_arguments(args: tuple) -> None:
    with Flow(trace("mapi-www.pcap")) as flow, pytest.raises(MapiError) as caught:
        flow.apply("PROTINFO", *args)
    assert caught.value.code == (7000 if len(args) > 1 else 7001)
    assert "PROTINFO" in str(caught.value)


# ---- GAP ---------------------------------------------------------------------------------------

GAP_TRACES = [
    "mapi-tracefile.pcap",                             # timestamps go backwards 35 times
    "deb-python3-dpkt--dns_icmp.pcap",
    "wireshark-4.0.17-src--dhcp-nanosecond.pcap",
    "wireshark-4.0.17-src--logistics_multicast.pcapng",
]


@pytest.mark.parametrize("name", GAP_TRACES)
def test_gap_of_every_packet_and_backward_steps(name: str, tmp_path: Path) -> None:
    path = trace(name)
    rows = tshark_rows(path, ["frame.time_epoch", "frame.time_delta"])
    stamps = [ts32(epoch) for epoch, _ in rows]
    # Hand calculation: the difference of consecutive 32.32 times, 0 where time goes backwards.
    expected = [0] + [max(0, b - a) for a, b in zip(stamps, stamps[1:])]
    backward = sum(1 for _, delta in rows if delta.startswith("-"))
    for gap, (_, delta) in zip(expected, rows):
        # Wireshark's own delta agrees to within the 2^-32 s of rounding (negative: clamped).
        exact = max(0.0, float(delta)) * 2**32
        assert abs(gap - exact) < 1 + exact * 1e-15
    out = tmp_path / "gap.txt"
    with Flow(path) as flow:
        gap = flow.apply("GAP")
        flow.apply("RES2FILE", "R2F_ULLSTR", [gap], "", out, "0", 0)
        flow.run(timeout=60)
        assert gap.read() == expected[-1]
        assert gap_backward_steps(gap) == backward
    assert lines_of(out) == [str(g) for g in expected]
    if name == "mapi-tracefile.pcap":
        assert backward == 35    # tshark -r mapi-tracefile.pcap -T fields -e frame.time_delta | grep -c ^-


def test_gap_after_a_filter_is_the_displayed_delta(tmp_path: Path) -> None:
    path = trace("ndpi-4.2-src--http_ipv6.pcap")
    rows = tshark_rows(path, ["frame.time_epoch", "frame.time_delta_displayed"], "tcp")
    stamps = [ts32(epoch) for epoch, _ in rows]
    expected = [0] + [b - a for a, b in zip(stamps, stamps[1:])]
    out = tmp_path / "gap.txt"
    with Flow(path) as flow:
        flow.apply("BPF_FILTER", "tcp")
        gap = flow.apply("GAP")
        flow.apply("RES2FILE", "2", [gap], "", out, "0", 0)
        flow.run(timeout=60)
    # R2F_ULLSEC: seconds with 12 decimals; tshark prints 9 (µs trace: the rest is rounding).
    written = lines_of(out)
    assert len(written) == len(rows)
    for line, (_, delta) in zip(written, rows):
        assert abs(float(line) - float(delta)) < 1e-9
    assert [round(float(line) * 2**32) for line in written] == expected


def test_gap_takes_no_arguments() -> None:
    with Flow(trace("mapi-www.pcap")) as flow, pytest.raises(MapiError) as caught:
        flow.apply("GAP", 1)
    assert caught.value.code == 7000 and "GAP" in str(caught.value)


# ---- HASH --------------------------------------------------------------------------------------

MODULUS = 500009


def additive_hash(data: bytes) -> int:
    """HASH's formula, from its description: (number of bytes + their sum) mod 500009."""
    return (len(data) + sum(data)) % MODULUS


def expected_hashes(path: Path) -> list[tuple[int, int, int, int]]:
    """Per frame, the four layers' hashes, from the bytes and offsets tshark prints."""
    argv = [tool("tshark"), *NO_REASSEMBLY, "-o", "tcp.desegment_tcp_streams:FALSE", "-r", str(path),
            "-T", "json", "-x", "--no-duplicate-keys"]
    frames = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    result = []
    for frame in frames:
        layers = frame["_source"]["layers"]
        data = bytes.fromhex(layers["frame_raw"][0])
        caplen = len(data)
        protocols = layers["frame"]["frame.protocols"].split(":")
        raws = [(key[:-4], value) for key, value in layers.items()
                if key.endswith("_raw") and key != "frame_raw" and isinstance(value, list)
                and len(value) == 5 and isinstance(value[1], int)]
        names = [name for name, _ in raws]
        network = next(name for name in protocols if name in ("ip", "ipv6", "arp"))
        assert set(protocols[:protocols.index(network)]) <= LINK_PROTOCOLS, protocols
        index = names.index(network)
        start = raws[index][1][1]
        if network == "ip":
            end = start + int(layers["ip"]["ip.len"])
        elif network == "ipv6":
            plen = int(layers["ipv6"]["ipv6.plen"])
            end = start + 40 + plen if plen else caplen
        else:  # ARP: 8 fixed bytes, then two hardware and two protocol addresses
            end = start + 8 + 2 * (int(layers["arp"]["arp.hw.size"]) + int(layers["arp"]["arp.proto.size"]))
        end = min(end, caplen)
        layer1 = data[start:end]
        # Layer 2 starts where tshark's next protocol after the network header starts.
        if network == "arp":
            upper = start + 8
        elif network == "ip":
            upper = start + int(layers["ip"]["ip.hdr_len"])
        else:
            upper = raws[index + 1][1][1] if index + 1 < len(raws) else end
        layer2 = data[upper:end]
        layer3 = b""
        rest = [n for n in protocols[protocols.index(network) + 1:] if not n.startswith("ipv6.")]
        if network != "arp" and rest and rest[0] in TRANSPORTS:
            transport = rest[0]
            offset = raws[names.index(transport)][1][1]
            header = int(layers["tcp"]["tcp.hdr_len"]) if transport == "tcp" else 8
            if offset + header <= caplen:
                layer3 = data[offset + header:end]
        result.append((additive_hash(data), additive_hash(layer1), additive_hash(layer2), additive_hash(layer3)))
    return result


HASH_TRACES = [
    "mapi-www.pcap",                                   # Ethernet padding after short IP packets
    "mapi-http.pcap",                                  # payloads
    "deb-pktanon--sample.pcap",                        # ARP, ICMP, ICMPv6
    "ndpi-4.2-src--dns_fragmented.pcap",               # fragments, IPv6 fragment headers
    "wireshark-4.0.17-src--http-ooo.pcap",             # raw IPv4
    "tcpflow-1.6.1-src--local.pcap",                   # BSD loopback
]


@pytest.mark.parametrize("name", HASH_TRACES)
def test_hash_of_every_layer_of_every_packet(name: str, tmp_path: Path) -> None:
    path = trace(name)
    expected = expected_hashes(path)
    out = tmp_path / "hash.txt"
    with Flow(path) as flow:
        hashes = [flow.apply("HASH", layer) for layer in range(4)]
        flow.apply("RES2FILE", "1,1,1,1", hashes, "", out, "0", 0)
        flow.run(timeout=60)
        assert [h.read() for h in hashes] == list(expected[-1])
    assert lines_of(out) == [" ".join(map(str, row)) for row in expected]


def test_hash_layer_3_of_a_payload_tshark_prints() -> None:
    # The payload of the last TCP segment with data, straight from tshark -e tcp.payload.
    path = trace("mapi-http.pcap")
    payload = bytes.fromhex(tshark_rows(path, ["tcp.payload"], "tcp.len > 0")[-1][0])
    with Flow(path) as flow:
        flow.apply("BPF_FILTER", "tcp and greater 55")
        flow.apply("PROTINFO", "tcp.seq_raw")
        layer3 = flow.apply("HASH", 3)
        flow.run(timeout=60)
        assert layer3.read() == additive_hash(payload)


@pytest.mark.parametrize("layer", [4, -1, 2**31 - 1, "1", 1.5, None])
def test_hash_layer_outside_0_to_3_is_7001(layer: object) -> None:
    with Flow(trace("mapi-www.pcap")) as flow, pytest.raises(MapiError) as caught:
        flow.apply("HASH", layer)
    assert caught.value.code == 7001
    assert "HASH" in str(caught.value) and "argument 1 (layer)" in str(caught.value)


# ---- BINOP -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mapi-tracefile.pcap", "ndpi-4.2-src--http_ipv6.pcap", "mapi-http.pcap"])
def test_binop_over_counters_of_two_flows(name: str) -> None:
    path = trace(name)
    packets = len(tshark_rows(path, ["frame.number"]))
    tcp_bytes = sum(tcpdump_wire_lengths(path, "tcp"))
    with shared_device_flows(path, 4) as (all_packets, tcp, nothing, results):
        counter = all_packets.apply("PKT_COUNTER")
        tcp.apply("BPF_FILTER", "tcp")
        volume = tcp.apply("BYTE_COUNTER")
        nothing.apply("BPF_FILTER", "less 1")                             # no frame is that short
        zero = nothing.apply("PKT_COUNTER")
        add = results.apply("BINOP", "BINOP_ADD", counter, volume)      # handles stand for (flow, fid)
        sub = results.apply("BINOP", 1, all_packets.fd, counter.fid, tcp.fd, volume.fid)
        mul = results.apply("BINOP", "BINOP_MUL", counter, volume)
        div = results.apply("BINOP", "BINOP_DIV", volume, counter)
        by_zero = results.apply("BINOP", "BINOP_DIV", volume, zero)
        run_device([all_packets, tcp, nothing, results])
        assert (counter.read(), volume.read()) == (packets, tcp_bytes)
        assert add.read() == packets + tcp_bytes
        assert sub.read() == (packets - tcp_bytes) % TWO_64        # wraps like C's unsigned
        assert mul.read() == packets * tcp_bytes
        assert div.read() == tcp_bytes // packets
        assert zero.read() == 0 and by_zero.read() == 0                  # a zero divisor gives 0


def test_binop_over_per_packet_values(tmp_path: Path) -> None:
    # PKT_TS - GAP is the previous packet's time (reads a ts kind); ip.len - ip.hdr_len the
    # IP payload length (reads PROTINFO's u64).
    path = trace("mapi-www.pcap")
    rows = tshark_rows(path, ["frame.time_epoch", "ip.len", "ip.hdr_len"])
    stamps = [ts32(r[0]) for r in rows]
    out = tmp_path / "binop.txt"
    with Flow(path) as flow:
        stamp = flow.apply("PKT_INFO", "PKT_TS")
        gap = flow.apply("GAP")
        previous = flow.apply("BINOP", "BINOP_SUB", stamp, gap)
        length = flow.apply("PROTINFO", "ip.len")
        header = flow.apply("PROTINFO", "ip.hdr_len")
        payload = flow.apply("BINOP", "BINOP_SUB", length, header)
        flow.apply("RES2FILE", "1,1", [previous, payload], "", out, "0", 0)
        flow.run(timeout=60)
    expected = [f"{s} {int(r[1]) - int(r[2])}" for s, r in zip([stamps[0], *stamps[:-1]], rows)]
    assert lines_of(out) == expected


def test_binop_reads_other_flows_of_its_device_packet_by_packet(tmp_path: Path) -> None:
    # Flows run in the order they were connected, and a flow that is read is connected before
    # its reader: BINOP sees both counters with the packet it is processing, even the one of a
    # flow created after its own.
    path = trace("ndpi-4.2-src--exe_download.pcap")
    lengths = [int(length) for (length,) in tshark_rows(path, ["frame.len"])]
    out = tmp_path / "cross.txt"
    with shared_device_flows(path, 3) as (first, reader, last):
        packets = first.apply("PKT_COUNTER")
        volume = last.apply("BYTE_COUNTER")
        total = reader.apply("BINOP", "BINOP_ADD", packets, volume)
        reader.apply("RES2FILE", "1", [total], "", out, "0", 0)
        run_device([first, last, reader])
    expected = [i + sum(lengths[:i]) for i in range(1, len(lengths) + 1)]
    assert lines_of(out) == [str(value) for value in expected]


def test_binop_keeps_reading_a_source_flow_closed_first() -> None:
    path = trace("mapi-www.pcap")
    packets = len(tshark_rows(path, ["frame.number"]))
    with shared_device_flows(path, 2) as (source, reader):
        frozen = source.apply("PKT_COUNTER")
        own = reader.apply("PKT_COUNTER")
        total = reader.apply("BINOP", "BINOP_ADD", frozen, own)
        source.connect()
        reader.connect()
        source.close()                         # before any packet: its counter stays 0
        default_runtime().start_offline_device(default_runtime().flow(reader.fd).device.name)
        reader.wait(60)
        assert total.read() == packets
        assert own.read() == packets


def test_binop_needs_its_source_flow_connected_first() -> None:
    path = trace("mapi-www.pcap")
    with shared_device_flows(path, 2) as (source, reader):
        counter = source.apply("PKT_COUNTER")
        reader.apply("BINOP", 0, counter, counter)
        with pytest.raises(MapiError) as caught:
            reader.connect()
        assert caught.value.code == 7007 and "connect flow" in str(caught.value)


def test_binop_errors_by_argument_position() -> None:
    with shared_device_flows(trace("mapi-www.pcap"), 1) as (flow,):
        counter = flow.apply("PKT_COUNTER")
        bpf = flow.apply("BPF_FILTER", "tcp")
        fd, fid = flow.fd, counter.fid
        cases = [
            ((4, fd, fid, fd, fid), 7001, "op"),
            (("BINOP_MOD", fd, fid, fd, fid), 7001, "op"),
            ((-1, fd, fid, fd, fid), 7001, "op"),
            ((0, 999, fid, fd, fid), 7002, "flow1"),
            ((0, "1", fid, fd, fid), 7002, "flow1"),
            ((0, fd, 99, fd, fid), 7003, "function1"),
            ((0, fd, bpf.fid, fd, fid), 7003, "argument 3"),           # no result
            ((0, fd, fid, -3, fid), 7004, "flow2"),
            ((0, fd, fid, fd, 0), 7005, "function2"),
            ((0, fd, fid, fd, bpf.fid), 7005, "argument 5"),
            ((0, fd, fid, fd), 7005, "function2"),                     # missing
            ((0, fd, fid, fd, fid, 1), 7000, "BINOP"),                 # too many
        ]
        for args, code, words in cases:
            with pytest.raises(MapiError) as caught:
                flow.apply("BINOP", *args)
            assert caught.value.code == code, args
            assert "BINOP" in str(caught.value) and words in str(caught.value), (args, str(caught.value))


def test_binop_refuses_a_result_that_is_not_a_u64(tmp_path: Path) -> None:
    with shared_device_flows(trace("mapi-www.pcap"), 1) as (flow,):
        counter = flow.apply("PKT_COUNTER")
        writer = flow.apply("RES2FILE", "1", [counter], "", tmp_path / "x", "-1", 0)
        with pytest.raises(MapiError) as caught:
            flow.apply("BINOP", 0, counter, writer)
        assert caught.value.code == 7005
        assert "res2file" in str(caught.value) and "u64" in str(caught.value)


# ---- malformed packets -------------------------------------------------------------------------

def mangled_frames(source: Path, rng: random.Random) -> list[bytes]:
    """The frames of ``source`` (bytes from tshark), each with up to 3 random bytes overwritten
    and cut at a random length."""
    frames = []
    for frame in json.loads(run(tool("tshark"), "-r", str(source), "-T", "json", "-x")):
        raw = bytearray.fromhex(frame["_source"]["layers"]["frame_raw"][0])
        for _ in range(rng.randrange(4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        frames.append(bytes(raw[:rng.randrange(len(raw) + 1)]))
    return frames


def write_pcap(path: Path, frames: Sequence[bytes]) -> None:
    """An Ethernet µs pcap, by hand: 24-byte file header, 16-byte record headers."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            out.write(struct.pack("<IIII", 1_000_000 + i, 0, len(frame), len(frame) + 7))
            out.write(frame)


def test_malformed_packets_crash_nothing(tmp_path: Path) -> None:
    rng = random.Random(2024)
    frames = [frame for name in ("deb-pktanon--sample.pcap", "ndpi-4.2-src--dns_fragmented.pcap",
                                 "mapi-http.pcap", "ndpi-4.2-src--http_ipv6.pcap")
              for frame in mangled_frames(trace(name), rng)]
    path = tmp_path / "mangled.pcap"
    write_pcap(path, frames)
    fields = list(PROTINFO_FIELDS)
    with shared_device_flows(path, len(fields) + 1) as flows:
        seen = [flow.apply("PROTINFO", field) for flow, field in zip(flows, fields)]
        counters = [flow.apply("PKT_COUNTER") for flow in flows[:-1]]
        hashes = [flows[-1].apply("HASH", layer) for layer in range(4)]
        flows[-1].apply("RES2FILE", "1,1,1,1", hashes, "", tmp_path / "hash.txt", "0", 0)
        run_device(flows)
        assert all(0 <= c.read() <= len(frames) for c in counters)
        assert sum(1 for s in seen if s.read() is not None) > 10
    # Layer 0 hashes the captured bytes, whatever they hold.
    assert [int(line.split()[0]) for line in lines_of(tmp_path / "hash.txt")] == [additive_hash(f) for f in frames]
