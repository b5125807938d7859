"""Flows on every shared trace, checked against tcpdump, tshark and capinfos.

Two kinds of expected values, never produced by mapi:

* hard-coded numbers, with the command that printed them beside each one;
* the oracle fixture (tests/conftest.py), which runs tcpdump/tshark/capinfos at test time, so
  that every shared trace x every filter of FILTERS is checked.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from mapi_core.testing import trace, traces_dir

import mapi_core
from mapi_core import FLOW_ACTIVE, FLOW_FINISHED, FLOW_INIT, Flow, MapiError

# Every shared trace, by file name (/work/shared/traces/README.md describes them).
TRACE_NAMES = (
    "deb-pktanon--sample.pcap",
    "deb-python3-dpkt--dns_icmp.pcap",
    "deb-python3-dpkt--http.pcap",
    "deb-python3-dpkt--nb6-http.pcap",
    "mapi-http.pcap",
    "mapi-tracefile.pcap",                   # pcap µs, snaplen 96 (wire length > captured length)
    "mapi-www.pcap",
    "ndpi-4.2-src--1kxun.pcap",              # pcapng
    "ndpi-4.2-src--6in4tunnel.pcap",
    "ndpi-4.2-src--WebattackXSS.pcap",
    "ndpi-4.2-src--ajp.pcap",                # 802.1Q VLAN
    "ndpi-4.2-src--dns_fragmented.pcap",
    "ndpi-4.2-src--exe_download.pcap",
    "ndpi-4.2-src--ftp-start-tls.pcap",
    "ndpi-4.2-src--ftp_failed.pcap",
    "ndpi-4.2-src--http_ipv6.pcap",
    "ndpi-4.2-src--netflowv9.pcap",
    "ndpi-4.2-src--quic.pcap",
    "ndpi-4.2-src--rtsp.pcap",               # pcapng, Linux SLL
    "ndpi-4.2-src--synscan.pcap",
    "pypi-pcapy-ng--96pings.pcap",
    "tcpdump-4.99.3-src--dns_tcp.pcap",
    "tcpflow-1.6.1-src--jpegs.cap",
    "tcpflow-1.6.1-src--local.pcap",         # DLT_NULL (BSD loopback)
    "wireshark-4.0.17-src--dhcp-nanosecond.pcap",    # ns pcap
    "wireshark-4.0.17-src--dhcp-nanosecond.pcapng",  # ns pcapng
    "wireshark-4.0.17-src--empty.pcap",              # no packets
    "wireshark-4.0.17-src--http-ooo.pcap",           # raw IPv4
    "wireshark-4.0.17-src--logistics_multicast.pcapng",
)

# '' means no BPF_FILTER at all (an empty expression is an error, see test_compat_api.py).
FILTERS = ("", "tcp", "udp", "tcp and port 80", "ip6", "icmp", "arp", "vlan", "not tcp", "greater 1000",
           "ether broadcast")


def _id(expression: str) -> str:
    return expression.replace(" ", "_") or "no_filter"


def test_every_shared_trace_is_listed():
    """TRACE_NAMES covers the shared folder, so a trace added there is not silently left out."""
    folder = traces_dir()
    if folder is None:
        trace(TRACE_NAMES[0])  # skips, or fails under CI
    on_disk = {p.name for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng", ".cap"}}
    assert on_disk <= set(TRACE_NAMES), f"add to TRACE_NAMES: {sorted(on_disk - set(TRACE_NAMES))}"


# ------------------------------------------------------------------------------------------------
# (b) The matrix: every trace x every filter, oracle run at test time


# DLT_NULL savefiles hold the writer's AF_ values (BSD's AF_INET6 24/28/30) in the writer's byte
# order; libpcap compiles differently for a savefile than for a live interface:
#     tcpdump -d -y NULL ip6                            -> jeq #0xa000000
#     tcpdump -d -r tcpflow-1.6.1-src--local.pcap ip6   -> jeq #0x1e000000 / #0x18000000 / #0x1c000000
# BPF_FILTER must compile with the savefile rules, as tcpdump -r does.

MATRIX = [
    pytest.param(name, expression, id=f"{name}-{_id(expression)}")
    for name in TRACE_NAMES for expression in FILTERS
]


@pytest.mark.parametrize(("name", "expression"), MATRIX)
def test_filter_matrix(name, expression, oracle):
    """PKT_COUNTER and BYTE_COUNTER after BPF_FILTER equal tcpdump's selection; an expression
    libpcap cannot compile for the trace's link type is refused with 1025 exactly when tcpdump
    refuses it too, with libpcap's message."""
    path = trace(name)
    refusal = oracle.compile_error(path, expression)
    with Flow(path) as flow:
        if refusal is not None:
            with pytest.raises(MapiError) as err:
                flow.apply("BPF_FILTER", expression)
            assert err.value.code == 1025
            assert refusal in str(err.value)
            return
        if expression:
            flow.apply("BPF_FILTER", expression)
        packets = flow.apply("PKT_COUNTER")
        wire_bytes = flow.apply("BYTE_COUNTER")
        flow.run(timeout=120)
        assert (packets.read(), wire_bytes.read()) == (oracle.count(path, expression),
                                                       oracle.wire_bytes(path, expression))


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_no_filter_vs_capinfos(name, oracle):
    """Without a filter: PKT_COUNTER = ``capinfos -c``, BYTE_COUNTER = ``capinfos -d``.

    capinfos' "Data size" is the sum of the wire lengths, not the captured ones: for
    mapi-tracefile.pcap (snaplen 96) it prints 283464 bytes, which is
    ``tshark -r mapi-tracefile.pcap -T fields -e frame.len | awk '{s+=$1} END {print s}'``,
    while the same sum of frame.cap_len is 64834.
    """
    path = trace(name)
    with Flow(path) as flow:
        packets = flow.apply("PKT_COUNTER")
        wire_bytes = flow.apply("BYTE_COUNTER")
        flow.run(timeout=120)
        assert packets.read() == oracle.capinfos_packets(path)
        assert wire_bytes.read() == oracle.capinfos_data_size(path)


# ------------------------------------------------------------------------------------------------
# (a) Hard-coded values, with the commands that printed them

def _case(name, expression, packets, wire_bytes, marks=()):
    return pytest.param(name, expression, packets, wire_bytes, id=f"{name}-{_id(expression)}", marks=marks)


HARD_CODED = [
    # capinfos -c -d mapi-tracefile.pcap  -> Number of packets: 893, Data size: 283464 bytes
    _case("mapi-tracefile.pcap", "", 893, 283464),
    # tcpdump --count -r mapi-tracefile.pcap 'tcp and port 80'  -> 478 packets
    # tcpdump -r mapi-tracefile.pcap -w - 'tcp and port 80' | tshark -r - -T fields -e frame.len
    #     | awk '{s+=$1} END {print s}'  -> 235710
    _case("mapi-tracefile.pcap", "tcp and port 80", 478, 235710),
    # tcpdump --count -r mapi-tracefile.pcap tcp  -> 596 packets;  (same pipeline) -> 262260
    _case("mapi-tracefile.pcap", "tcp", 596, 262260),
    # tcpdump --count -r mapi-tracefile.pcap udp  -> 110 packets;  (same pipeline) -> 8759
    _case("mapi-tracefile.pcap", "udp", 110, 8759),
    # tcpdump --count -r mapi-tracefile.pcap arp  -> 18 packets;  (same pipeline) -> 1062
    _case("mapi-tracefile.pcap", "arp", 18, 1062),
    # tcpdump --count -r mapi-tracefile.pcap 'not tcp'  -> 297 packets;  (same pipeline) -> 21204
    _case("mapi-tracefile.pcap", "not tcp", 297, 21204),
    # tcpdump --count -r mapi-tracefile.pcap 'greater 1000'  -> 132 packets;  (same pipeline) -> 191035
    # (snaplen 96: this filter only works on the wire length)
    _case("mapi-tracefile.pcap", "greater 1000", 132, 191035),
    # tcpdump --count -r wireshark-4.0.17-src--dhcp-nanosecond.pcap udp  -> 4 packets;  (pipeline) -> 1312
    _case("wireshark-4.0.17-src--dhcp-nanosecond.pcap", "udp", 4, 1312),
    # tcpdump --count -r wireshark-4.0.17-src--dhcp-nanosecond.pcapng 'ether broadcast'  -> 2 packets;
    #     (pipeline) -> 628
    _case("wireshark-4.0.17-src--dhcp-nanosecond.pcapng", "ether broadcast", 2, 628),
    # tcpdump --count -r ndpi-4.2-src--1kxun.pcap 'tcp and port 80'  -> 927 packets;  (pipeline) -> 522920
    _case("ndpi-4.2-src--1kxun.pcap", "tcp and port 80", 927, 522920),
    # tcpdump --count -r ndpi-4.2-src--1kxun.pcap udp  -> 342 packets;  (pipeline) -> 64978
    _case("ndpi-4.2-src--1kxun.pcap", "udp", 342, 64978),
    # tcpdump --count -r ndpi-4.2-src--rtsp.pcap 'src port 8554'  -> 320 packets;  (pipeline) -> 64264
    _case("ndpi-4.2-src--rtsp.pcap", "src port 8554", 320, 64264),
    # tcpdump --count -r ndpi-4.2-src--rtsp.pcap 'tcp[tcpflags] & tcp-syn != 0'  -> 52 packets;
    #     (pipeline) -> 3536
    _case("ndpi-4.2-src--rtsp.pcap", "tcp[tcpflags] & tcp-syn != 0", 52, 3536),
    # tcpdump --count -r tcpflow-1.6.1-src--local.pcap ip  -> 8 packets;  (pipeline) -> 1058
    _case("tcpflow-1.6.1-src--local.pcap", "ip", 8, 1058),
    # tcpdump --count -r tcpflow-1.6.1-src--local.pcap ip6  -> 98 packets;  (pipeline) -> 15436
    _case("tcpflow-1.6.1-src--local.pcap", "ip6", 98, 15436),
    # tcpdump --count -r wireshark-4.0.17-src--http-ooo.pcap 'tcp and port 80'  -> 16 packets;
    #     (pipeline) -> 929
    _case("wireshark-4.0.17-src--http-ooo.pcap", "tcp and port 80", 16, 929),
    # tcpdump --count -r ndpi-4.2-src--ajp.pcap vlan  -> 26 packets;  (pipeline) -> 4446
    _case("ndpi-4.2-src--ajp.pcap", "vlan", 26, 4446),
    # tcpdump --count -r ndpi-4.2-src--ajp.pcap 'vlan and tcp port 8009'  -> 13 packets;  (pipeline) -> 2223
    _case("ndpi-4.2-src--ajp.pcap", "vlan and tcp port 8009", 13, 2223),
    # tcpdump --count -r ndpi-4.2-src--ajp.pcap 'not vlan'  -> 12 packets;  (pipeline) -> 2726
    _case("ndpi-4.2-src--ajp.pcap", "not vlan", 12, 2726),
    # tcpdump --count -r deb-python3-dpkt--dns_icmp.pcap icmp  -> 22 packets;  (pipeline) -> 2156
    _case("deb-python3-dpkt--dns_icmp.pcap", "icmp", 22, 2156),
    # tcpdump --count -r ndpi-4.2-src--WebattackXSS.pcap 'tcp and port 80'  -> 9374 packets;
    #     (pipeline) -> 4721148
    _case("ndpi-4.2-src--WebattackXSS.pcap", "tcp and port 80", 9374, 4721148),
]


@pytest.mark.parametrize(("name", "expression", "packets", "wire_bytes"), HARD_CODED)
def test_hard_coded(name, expression, packets, wire_bytes):
    with Flow(trace(name)) as flow:
        if expression:
            flow.apply("BPF_FILTER", expression)
        counted = flow.apply("PKT_COUNTER")
        summed = flow.apply("BYTE_COUNTER")
        flow.run(timeout=120)
        assert (counted.read(), summed.read()) == (packets, wire_bytes)


# tcpdump -d -r FILE EXPR (libpcap 1.10.3) refuses these; BPF_FILTER must give 1025 with the text.
REFUSED = [
    ("tcpflow-1.6.1-src--local.pcap", "ether broadcast", "not a broadcast link"),          # DLT_NULL
    ("tcpflow-1.6.1-src--local.pcap", "vlan", "no VLAN support for BSD loopback"),
    ("tcpflow-1.6.1-src--local.pcap", "arp", "expression rejects all packets"),
    ("wireshark-4.0.17-src--http-ooo.pcap", "ether broadcast", "not a broadcast link"),    # raw IPv4
    ("wireshark-4.0.17-src--http-ooo.pcap", "ip6", "expression rejects all packets"),
    ("ndpi-4.2-src--rtsp.pcap", "vlan", "no VLAN support for Linux cooked v1"),            # Linux SLL
    ("ndpi-4.2-src--rtsp.pcap", "ether broadcast", "not a broadcast link"),
]


@pytest.mark.parametrize(("name", "expression", "reason"), REFUSED, ids=[f"{n}-{_id(e)}" for n, e, _ in REFUSED])
def test_hard_coded_refusals(name, expression, reason):
    with Flow(trace(name)) as flow:
        with pytest.raises(MapiError) as err:
            flow.apply("BPF_FILTER", expression)
        assert err.value.code == 1025
        assert reason in str(err.value)


def _big_endian_copy(source: Path, target: Path) -> None:
    """tcpflow's little-endian DLT_NULL capture as a big-endian machine would have written it:
    file and record headers big-endian, and the AF value (host order on the capturing machine)
    too.  Built with struct from the pcap file format, not with mapi."""
    raw = source.read_bytes()
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", raw, 0)
    assert magic == 0xA1B2C3D4 and linktype == 0
    out = bytearray(struct.pack(">IHHiIII", magic, major, minor, zone, sigfigs, snaplen, linktype))
    offset = 24
    while offset < len(raw):
        sec, usec, caplen, wlen = struct.unpack_from("<IIII", raw, offset)
        data = bytearray(raw[offset + 16:offset + 16 + caplen])
        family, = struct.unpack_from("<I", data, 0)
        struct.pack_into(">I", data, 0, family)
        out += struct.pack(">IIII", sec, usec, caplen, wlen) + data
        offset += 16 + caplen
    target.write_bytes(bytes(out))


@pytest.mark.parametrize("expression", [
    "greater 200",  # does not look at the AF value: right today
    pytest.param("ip"),
    pytest.param("ip6"),
    pytest.param("tcp"),
])
def test_dlt_null_written_big_endian(expression, tmp_path, oracle):
    """On the big-endian copy tcpdump selects what it selects on the original:
    tcpdump --count -r local_be.pcap ip / ip6 / tcp  -> 8 / 98 / 106 packets."""
    path = tmp_path / "local_be.pcap"
    _big_endian_copy(trace("tcpflow-1.6.1-src--local.pcap"), path)
    assert oracle.count(path, expression) == oracle.count(trace("tcpflow-1.6.1-src--local.pcap"), expression)
    with Flow(path) as flow:
        flow.apply("BPF_FILTER", expression)
        packets = flow.apply("PKT_COUNTER")
        flow.run(timeout=60)
        assert packets.read() == oracle.count(path, expression)


# ------------------------------------------------------------------------------------------------
# Several flows on one offline device


TWO_FLOWS = [
    ("mapi-tracefile.pcap", "tcp", "udp"),
    ("mapi-tracefile.pcap", "tcp and port 80", "not tcp"),
    ("ndpi-4.2-src--1kxun.pcap", "tcp", "udp"),
    ("ndpi-4.2-src--rtsp.pcap", "src port 8554", "dst port 8554"),
    pytest.param("tcpflow-1.6.1-src--local.pcap", "ip6", "ip"),
    ("wireshark-4.0.17-src--http-ooo.pcap", "tcp and port 80", "udp"),
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcapng", "ether broadcast", "not ether broadcast"),
]


@pytest.mark.parametrize(("name", "first", "second"), TWO_FLOWS, ids=lambda v: _id(str(v)))
def test_two_flows_on_one_device(name, first, second, oracle, wait_flows):
    """MAPI's offline sequence: device, two flows with different filters, connect both, start;
    each flow sees every packet and counts what tcpdump selects."""
    path = trace(name)
    dev = mapi_core.mapi_create_offline_device(str(path), mapi_core.MFF_PCAP)
    assert dev is not None, mapi_core.mapi_read_error()
    flows = []
    for expression in (first, second):
        fd = mapi_core.mapi_create_flow(dev)
        assert fd > 0, mapi_core.mapi_read_error()
        assert mapi_core.mapi_apply_function(fd, "BPF_FILTER", expression) > 0, mapi_core.mapi_read_error()
        pkts = mapi_core.mapi_apply_function(fd, "PKT_COUNTER")
        wire = mapi_core.mapi_apply_function(fd, "BYTE_COUNTER")
        assert pkts > 0 and wire > 0, mapi_core.mapi_read_error()
        flows.append((fd, pkts, wire, expression))
    for fd, *_ in flows:
        assert mapi_core.mapi_connect(fd) == 0, mapi_core.mapi_read_error()
    assert mapi_core.mapi_start_offline_device(dev) == 0, mapi_core.mapi_read_error()
    wait_flows([fd for fd, *_ in flows])
    for fd, pkts, wire, expression in flows:
        assert mapi_core.mapi_read_results(fd, pkts).value == oracle.count(path, expression), expression
        assert mapi_core.mapi_read_results(fd, wire).value == oracle.wire_bytes(path, expression), expression
    assert mapi_core.mapi_delete_offline_device(dev) == 0


# 32 filters for 32 flows on one device of mapi-tracefile.pcap (None: no filter).
THIRTY_TWO = (
    [None] + [f for f in FILTERS if f]
    + [f"greater {n}" for n in range(100, 1600, 100)]
    + ["less 64", "port 53", "port 443", "port 110", "ip", "ether multicast"]
)


def test_thirty_two_flows_on_one_device(oracle):
    """32 Flow objects on one device (made with mapi_create_offline_device), connected, then the
    device is started once; every flow counts exactly what tcpdump selects."""
    assert len(THIRTY_TWO) == 32
    path = trace("mapi-tracefile.pcap")
    dev = mapi_core.mapi_create_offline_device(str(path))
    assert dev is not None, mapi_core.mapi_read_error()
    flows = []
    for expression in THIRTY_TWO:
        flow = Flow(dev)
        if expression is not None:
            flow.apply("BPF_FILTER", expression)
        flows.append((flow, flow.apply("PKT_COUNTER"), flow.apply("BYTE_COUNTER"), expression or ""))
    assert len({flow.fd for flow, *_ in flows}) == 32
    for flow, *_ in flows:
        flow.connect()
        assert flow.status == "active"
    assert mapi_core.mapi_start_offline_device(dev) == 0, mapi_core.mapi_read_error()
    got, expected = {}, {}
    for flow, pkts, wire, expression in flows:
        flow.wait(timeout=60)
        assert flow.status == "finished"
        got[expression] = (pkts.read(), wire.read())
        expected[expression] = (oracle.count(path, expression), oracle.wire_bytes(path, expression))
    assert got == expected


def test_flows_on_different_devices_of_one_file(oracle, wait_flows):
    """Two offline devices of the same file are independent: each delivers the whole trace."""
    path = trace("mapi-www.pcap")
    devs = [mapi_core.mapi_create_offline_device(str(path)) for _ in range(2)]
    assert None not in devs and devs[0] != devs[1]
    fds = [mapi_core.mapi_create_flow(dev) for dev in devs]
    fids = [mapi_core.mapi_apply_function(fd, "PKT_COUNTER") for fd in fds]
    for fd in fds:
        assert mapi_core.mapi_connect(fd) == 0
    for dev in devs:
        assert mapi_core.mapi_start_offline_device(dev) == 0
    wait_flows(fds)
    # capinfos -c mapi-www.pcap  -> Number of packets: 10
    assert [mapi_core.mapi_read_results(fd, fid).value for fd, fid in zip(fds, fids)] == [10, 10]
    assert oracle.capinfos_packets(path) == 10


# ------------------------------------------------------------------------------------------------
# Function statistics: pkts / passed_pkts along a chain


def test_function_info_along_a_chain(wait_flows):
    """[PKT_COUNTER, BPF_FILTER tcp, PKT_COUNTER, BPF_FILTER 'port 80', PKT_COUNTER] on
    mapi-tracefile.pcap: pkts = packets reaching the function, passed_pkts = packets it passed."""
    # capinfos -c mapi-tracefile.pcap                         -> 893
    # tcpdump --count -r mapi-tracefile.pcap tcp              -> 596 packets
    # tcpdump --count -r mapi-tracefile.pcap 'tcp and port 80' -> 478 packets
    everything, tcp, http = 893, 596, 478
    dev = mapi_core.mapi_create_offline_device(str(trace("mapi-tracefile.pcap")))
    fd = mapi_core.mapi_create_flow(dev)
    chain = [("PKT_COUNTER",), ("BPF_FILTER", "tcp"), ("PKT_COUNTER",), ("BPF_FILTER", "port 80"), ("PKT_COUNTER",)]
    fids = [mapi_core.mapi_apply_function(fd, *call) for call in chain]
    assert fids == [1, 2, 3, 4, 5], mapi_core.mapi_read_error()
    assert mapi_core.mapi_connect(fd) == 0
    assert mapi_core.mapi_start_offline_device(dev) == 0
    wait_flows([fd])
    expected = [
        ("PKT_COUNTER", everything, everything),
        ("BPF_FILTER", everything, tcp),
        ("PKT_COUNTER", tcp, tcp),
        ("BPF_FILTER", tcp, http),
        ("PKT_COUNTER", http, http),
    ]
    infos = [mapi_core.mapi_get_function_info(fd, fid) for fid in fids]
    assert [(i.name, i.pkts, i.passed_pkts) for i in infos] == expected
    assert [i.fid for i in infos] == fids
    assert [i.libname for i in infos] == ["stdflib"] * 5
    assert [mapi_core.mapi_read_results(fd, fid).value for fid in (1, 3, 5)] == [everything, tcp, http]


def test_function_info_through_handles():
    """The same statistics through FunctionHandle.info() on a Flow."""
    # tcpdump --count -r ndpi-4.2-src--1kxun.pcap udp  -> 342 packets;  capinfos -c -> 1439
    with Flow(trace("ndpi-4.2-src--1kxun.pcap")) as flow:
        before = flow.apply("PKT_COUNTER")
        udp = flow.apply("BPF_FILTER", "udp")
        after = flow.apply("PKT_COUNTER")
        flow.run(timeout=60)
        assert (before.info().pkts, before.info().passed_pkts) == (1439, 1439)
        assert (udp.info().pkts, udp.info().passed_pkts) == (1439, 342)
        assert (after.info().pkts, after.info().passed_pkts) == (342, 342)
        assert udp.info().name == "BPF_FILTER"


# ------------------------------------------------------------------------------------------------
# The Flow API


def test_flow_context_manager(oracle):
    path = trace("deb-python3-dpkt--http.pcap")
    with Flow(path) as flow:
        flow.apply("BPF_FILTER", "tcp and port 80")
        packets = flow.apply("PKT_COUNTER")
        wire = flow.apply("BYTE_COUNTER")
        assert packets.fid == 2 and packets.name == "PKT_COUNTER" and packets.fd == flow.fd
        assert flow.info().status == FLOW_INIT
        flow.run(timeout=60)
        assert flow.status == "finished"
        assert packets.read() == oracle.count(path, "tcp and port 80")
        assert wire.read() == oracle.wire_bytes(path, "tcp and port 80")
        result = packets.read_result()
        assert (result.value, result.size) == (packets.read(), 8)
        fd = flow.fd
    # The flow is closed on leaving the block: its descriptor is unknown now.
    assert mapi_core.mapi_get_flow_info(fd) is None
    assert mapi_core.mapi_read_error()[0] == 6145
    with pytest.raises(MapiError) as err:
        packets.read()
    assert err.value.code == 6145


def test_flow_connect_then_wait(oracle):
    """``connect().wait()`` is ``run()``; results can be read while ACTIVE and after."""
    path = trace("pypi-pcapy-ng--96pings.pcap")
    with Flow(path) as flow:
        flow.apply("BPF_FILTER", "icmp[icmptype] == icmp-echo")
        packets = flow.apply("PKT_COUNTER")
        flow.connect()
        assert flow.info().status in (FLOW_ACTIVE, FLOW_FINISHED)
        flow.wait(timeout=60)
        assert flow.info().status == FLOW_FINISHED
        assert packets.read() == oracle.count(path, "icmp[icmptype] == icmp-echo")


def test_flow_closed_twice_is_harmless():
    flow = Flow(trace("mapi-www.pcap"))
    flow.close()
    flow.close()
