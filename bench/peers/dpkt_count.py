"""dpkt peer: the packets and wire bytes of a pcap that ``tcp and port 80`` selects, decided in Python.

    python bench/peers/dpkt_count.py FILE      -> {"packets": N, "bytes": B}

Runs in bench/out/peers-venv (dpkt from PyPI), not in the project's environment.  dpkt has no
BPF, so the selection is written out to match what libpcap compiles ``tcp and port 80`` to on an
Ethernet trace:

* the outer EtherType is IPv4 or IPv6: a frame with an 802.1Q tag does not match (libpcap looks
  inside VLAN tags only after the ``vlan`` keyword), although dpkt decodes the inner packet;
* IPv4: protocol 6, fragment offset 0, and the source or destination port read at the IP header
  length;
* IPv6: next header 6 in the fixed header (no extension header walked) and the ports right after
  the 40-byte header;
* the ports must lie inside the captured bytes.
"""

from __future__ import annotations

import json
import struct
import sys

import dpkt

PORT = 80
TCP = 6
ETHERTYPE_IP = 0x0800
ETHERTYPE_IP6 = 0x86DD
PORTS = struct.Struct("!HH")


def selected(frame: bytes) -> bool:
    """Whether ``tcp and port 80`` selects this Ethernet frame."""
    try:
        eth = dpkt.ethernet.Ethernet(frame)
    except dpkt.dpkt.UnpackError:
        return False
    network = eth.data  # eth.type stays the outer EtherType (0x8100 for a tagged frame)
    if eth.type == ETHERTYPE_IP and isinstance(network, dpkt.ip.IP):
        if network.p != TCP or network.offset:  # a later fragment has no TCP header
            return False
        start = 14 + network.hl * 4
    elif eth.type == ETHERTYPE_IP6 and isinstance(network, dpkt.ip6.IP6):
        if network.nxt != TCP:
            return False
        start = 14 + 40
    else:
        return False
    if len(frame) < start + 4:
        return False
    source, destination = PORTS.unpack_from(frame, start)
    return source == PORT or destination == PORT


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    packets = octets = 0
    with open(argv[0], "rb") as f:
        reader = dpkt.pcap.Reader(f)  # checks the file header
        if reader.datalink() != dpkt.pcap.DLT_EN10MB:
            print(f"dpkt_count: only Ethernet traces (link type {reader.datalink()})", file=sys.stderr)
            return 1
        # dpkt's Reader yields (timestamp, captured bytes) and drops the wire length, so the
        # records are read here with dpkt's own record-header class, as the Reader does.
        f.seek(0)
        magic = dpkt.pcap.FileHdr(f.read(dpkt.pcap.FileHdr.__hdr_len__)).magic
        record = dpkt.pcap.MAGIC_TO_PKT_HDR[magic]
        size = record.__hdr_len__
        while len(raw := f.read(size)) == size:
            header = record(raw)
            if selected(f.read(header.caplen)):
                packets += 1
                octets += header.len
    print(json.dumps({"packets": packets, "bytes": octets}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
