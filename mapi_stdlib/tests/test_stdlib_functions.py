"""stdflib's functions on several link types and formats; every number from tcpdump/tshark.

Counts: ``tcpdump -r FILE -w F EXPR; capinfos -c F`` (not ``tcpdump | wc -l``: some packets,
CDP and STP among them, print on several lines).
Wire bytes: ``tcpdump -r FILE -w - EXPR | tshark -r - -T fields -e frame.len`` summed.
"""

from __future__ import annotations

import pytest

from mapi_core import Flow, MapiError
from mapi_core.testing import trace

CASES = [
    # trace, link type, expression, packets, wire bytes
    ("tcpflow-1.6.1-src--local.pcap", "DLT_NULL", "tcp[tcpflags] & tcp-push != 0", 4, 834),
    ("ndpi-4.2-src--rtsp.pcap", "Linux SLL", "greater 500", 24, 18024),
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcapng", "ns pcapng", "udp dst port 67", 2, 628),
    ("mapi-tracefile.pcap", "Ethernet, snaplen 96", "not ip", 123, 7838),
]


@pytest.mark.parametrize(("name", "linktype", "expression", "packets", "wire_bytes"), CASES)
def test_filter_then_count(name: str, linktype: str, expression: str, packets: int, wire_bytes: int) -> None:
    with Flow(trace(name)) as flow:
        flow.apply("BPF_FILTER", expression)
        counted = flow.apply("PKT_COUNTER")
        volume = flow.apply("BYTE_COUNTER")
        flow.run(timeout=60)
        assert (counted.read(), volume.read()) == (packets, wire_bytes)


def test_byte_counter_adds_wire_lengths_not_captured_lengths() -> None:
    # mapi-tracefile.pcap has snaplen 96: captured bytes are far fewer than wire bytes.
    # tshark -r mapi-tracefile.pcap -T fields -e frame.len | awk '{s+=$1} END {print s}'     -> 283464
    # tshark -r mapi-tracefile.pcap -T fields -e frame.cap_len | awk '{s+=$1} END {print s}' -> 64834
    with Flow(trace("mapi-tracefile.pcap")) as flow:
        volume = flow.apply("BYTE_COUNTER")
        flow.run(timeout=60)
        assert volume.read() == 283464


def test_a_bad_expression_is_error_1025_with_libpcaps_words() -> None:
    with Flow(trace("mapi-www.pcap")) as flow, pytest.raises(MapiError) as caught:
        flow.apply("BPF_FILTER", "port eighty")
    assert caught.value.code == 1025
    assert "port eighty" in str(caught.value)
