"""BPF_FILTER's interpreter (native/bpf_vm.c) against libpcap's bpf_filter(), packet by packet.

The oracle is libpcap's own interpreter, run on the same compiled program and the same packet;
the expressions cover every kind of instruction pcap_compile emits (absolute, indirect and
length loads, the MSH load of an IP header length, scratch memory, every ALU operation with a
constant and with X, every jump with a constant and with X), and the traces every link type the
shared folder has, with snapshot lengths shorter than the packets (loads past the captured bytes).
BPF_FILTER's counts against tcpdump's are in tests/test_flows_vs_tcpdump.py.
"""

from __future__ import annotations

import pytest
from mapi_core.testing import trace
from mapi_stdlib.native._stdlib import ffi, lib

from mapi_core import Flow

EXPRESSIONS = (
    "tcp and port 80", "udp", "ip6", "icmp or icmp6", "arp", "vlan", "vlan and udp", "not tcp", "mpls",
    "greater 1000", "less 100", "len > 200 and len < 900", "ether[0] & 1 = 1", "ether broadcast",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "ip[6:2] & 0x1fff != 0", "portrange 1000-2000",
    "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420", "ip6 and tcp and ip6[53] & 2 != 0", "net 10.0.0.0/8",
    "ip[2:2] * 3 > 1500", "ip[2:2] / 4 > 100", "ip[2:2] % 7 = 3", "ip[2:2] - 20 > 500", "ip[2:2] + 20 > 500",
    "(ip[8] ^ 0xff) > 200", "ip[2:2] << 1 > 2000", "ip[2:2] >> 3 > 60", "(ip[0] | 0x0f) = 0x4f",
    "-ip[8] > 0x7fffffff", "ip[2:2] % (ip[1] & 3) = 1",
    "ip[2:2] * (ip[9] & 7) > 100", "ip[2:2] & ip[4:2] != 0", "ip[2:2] | ip[4:2] = 0xffff",
    "(ip[2:2] ^ ip[4:2]) > 1000", "ip[2:2] + ip[4:2] > 40000", "ip[2:2] - ip[4:2] < 100",
    "ip[2:2] << (ip[0] & 7) > 4000", "ip[2:2] >> (ip[0] & 7) > 100", "tcp[0:2] = tcp[2:2]",
    "ip[2:2] > ip[4:2]", "ip[2:2] >= ip[4:2]", "ether[len - 4:4] > 0x80000000", "ether[len - 1] = 0",
    "ip[len - 14 - 1] & 1 = 1", "udp[8:4] = 0x12345678 or tcp[20:4] = 0x48545450",
)

TRACES = (
    "mapi-tracefile.pcap",                    # Ethernet, snaplen 96
    "ndpi-4.2-src--ajp.pcap",                 # 802.1Q
    "ndpi-4.2-src--rtsp.pcap",                # pcapng, Linux SLL
    "tcpflow-1.6.1-src--local.pcap",          # DLT_NULL
    "wireshark-4.0.17-src--http-ooo.pcap",    # raw IPv4
    "ndpi-4.2-src--http_ipv6.pcap",
    "ndpi-4.2-src--dns_fragmented.pcap",
    "ndpi-4.2-src--6in4tunnel.pcap",
    "deb-pktanon--sample.pcap",
)


def packets(path):
    with Flow(str(path)) as flow:
        buffer = flow.apply("TO_BUFFER", "WAIT")
        flow.connect()
        yield from buffer


@pytest.mark.parametrize("name", TRACES)
def test_verdicts_equal_libpcaps_on_every_packet(name):
    path = trace(name)
    records = list(packets(path))
    assert records, f"{name} has no packets"
    header = ffi.new("mapi_pkthdr_t *")
    vm, pcap = ffi.new("unsigned *"), ffi.new("unsigned *")
    errbuf = ffi.new("char[]", 512)
    compared = matched = 0
    for expression in EXPRESSIONS:
        state = lib.stdlib_bpf_new(expression.encode(), records[0].linktype, 0, errbuf, 512)
        if state == ffi.NULL:
            continue          # no meaning for this link type (e.g. vlan on DLT_NULL)
        state = ffi.gc(state, lib.stdlib_bpf_free)
        for number, packet in enumerate(records, start=1):
            header.ts, header.caplen, header.wlen = packet.ts, packet.caplen, packet.wlen
            header.ifindex, header.linktype = packet.ifindex, packet.linktype
            if lib.stdlib_bpf_verdicts(state, packet.data, header, vm, pcap) == 0:
                continue
            assert vm[0] == pcap[0], f"{name} packet {number}, {expression!r}: bpf_vm {vm[0]}, libpcap {pcap[0]}"
            compared += 1
            matched += pcap[0] != 0
    assert compared >= len(records) * 10        # most expressions ran on every packet
    assert 0 < matched < compared               # both verdicts were seen


def test_every_expression_compiles_on_ethernet():
    """The list is not silently shrinking to expressions libpcap refuses."""
    errbuf = ffi.new("char[]", 512)
    for expression in EXPRESSIONS:
        state = lib.stdlib_bpf_new(expression.encode(), 1, 0, errbuf, 512)
        assert state != ffi.NULL, (expression, ffi.string(errbuf).decode())
        lib.stdlib_bpf_free(state)


# Opcodes pcap_compile never emits, in hand-made programs (values from <pcap/bpf.h>).
LD, LDX, ST, STX, ALU, JMP, RET, MISC = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
W, H, B, IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x08, 0x10, 0x00, 0x20, 0x40, 0x60, 0x80, 0xa0
ADD, SUB, DIV, NEG, MOD, JEQ, JGT, JSET, K, X, A_SRC, TAX, TXA = (
    0x00, 0x10, 0x30, 0x80, 0x90, 0x10, 0x20, 0x40, 0x00, 0x08, 0x10, 0x00, 0x80)

PROGRAMS = {
    "ret A after txa, ldx len": [(LDX | W | LEN, 0, 0, 0), (MISC | TXA, 0, 0, 0), (RET | A_SRC, 0, 0, 0)],
    "stx, ldx mem, ld mem": [(LDX | W | IMM, 0, 0, 77), (STX, 0, 0, 3), (LDX | W | IMM, 0, 0, 0),
                             (LDX | W | MEM, 0, 0, 3), (MISC | TXA, 0, 0, 0), (ST, 0, 0, 5), (LD | MEM, 0, 0, 5),
                             (RET | A_SRC, 0, 0, 0)],
    "neg": [(LD | B | ABS, 0, 0, 0), (ALU | NEG, 0, 0, 0), (RET | A_SRC, 0, 0, 0)],
    "jset x": [(LDX | W | IMM, 0, 0, 0x0f), (LD | B | ABS, 0, 0, 1), (JMP | JSET | X, 0, 1, 0),
               (RET | K, 0, 0, 1), (RET | K, 0, 0, 2)],
    "div and mod by a zero x": [(LDX | W | IMM, 0, 0, 0), (LD | H | ABS, 0, 0, 0), (ALU | DIV | X, 0, 0, 0),
                                (ALU | MOD | X, 0, 0, 0), (RET | K, 0, 0, 9)],
    "msh past the end": [(LDX | B | MSH, 0, 0, 100000), (RET | K, 0, 0, 1)],
    "ind load, x past the end": [(LDX | W | LEN, 0, 0, 0), (LD | B | IND, 0, 0, 0), (RET | K, 0, 0, 1)],
    "ind word, x + k wraps": [(LDX | W | IMM, 0, 0, 0xffffffff), (LD | W | IND, 0, 0, 2), (RET | K, 0, 0, 1)],
    "abs word at the last bytes": [(LD | LEN, 0, 0, 0), (LD | W | ABS, 0, 0, 10), (ALU | SUB | K, 0, 0, 1),
                                   (JMP | JGT | K, 0, 1, 0x80000000), (RET | K, 0, 0, 3), (RET | A_SRC, 0, 0, 0)],
    "ancillary load (Linux only)": [(LD | W | ABS, 0, 0, 0xfffff000 + 44), (RET | K, 0, 0, 1)],
    "add wraps, tax": [(LD | IMM, 0, 0, 0xffffffff), (ALU | ADD | K, 0, 0, 2), (MISC | TAX, 0, 0, 0),
                       (LD | B | ABS, 0, 0, 0), (JMP | JEQ | X, 0, 1, 0), (RET | K, 0, 0, 4), (RET | A_SRC, 0, 0, 0)],
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@pytest.mark.parametrize("caplen", [0, 1, 3, 14, 64])
def test_hand_made_programs_agree(name, caplen):
    insns = ffi.new("uint8_t[]", 8 * len(PROGRAMS[name]))
    for index, (code, jt, jf, k) in enumerate(PROGRAMS[name]):
        ffi.memmove(insns + 8 * index, code.to_bytes(2, "little") + bytes([jt, jf]) + k.to_bytes(4, "little"), 8)
    packet = bytes(range(0x41, 0x41 + 64))[:caplen]
    vm, pcap = ffi.new("unsigned *"), ffi.new("unsigned *")
    assert lib.stdlib_bpf_program_verdicts(insns, len(PROGRAMS[name]), packet, 64, caplen, vm, pcap) == 1
    assert vm[0] == pcap[0]


def test_invalid_programs_are_refused_and_left_to_libpcap():
    vm, pcap = ffi.new("unsigned *"), ffi.new("unsigned *")
    backwards = ffi.new("uint8_t[]", bytes([0x05, 0, 0, 0]) + (0xffffffff).to_bytes(4, "little"))
    no_return = ffi.new("uint8_t[]", bytes([0x00, 0, 0, 0, 0, 0, 0, 0]))
    for program in (backwards, no_return):
        assert lib.stdlib_bpf_program_verdicts(program, 1, b"abcd", 4, 4, vm, pcap) == 0
