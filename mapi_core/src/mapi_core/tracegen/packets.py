"""Frame building: Ethernet/802.1Q, IPv4, IPv6, TCP, UDP, ICMP, ICMPv6 and ARP with real checksums.

Checksums are computed with one trick: for data of even length, the Internet checksum's
one's-complement sum is congruent to ``int.from_bytes(data, "big")`` modulo 0xFFFF (because
2**16 == 1 modulo 0xFFFF), so a whole segment is summed by one C-level conversion and one
division instead of a Python loop over its words.

A :class:`Path` holds everything about one direction of one conversation that does not change
from packet to packet (link header, addresses, TTL, the constant part of the IP header sum and
of the pseudo-header sum), so building a frame is a couple of ``struct`` packs and additions.
"""

from __future__ import annotations

import struct

__all__ = [
    "ETH_ARP",
    "ETH_IPV4",
    "ETH_IPV6",
    "ETH_VLAN",
    "MIN_FRAME",
    "Path",
    "arp_frame",
    "checksum",
    "ethernet",
    "ipv4",
    "ipv6",
    "mac",
    "word_sum",
]

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
ETH_IPV6 = 0x86DD

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

#: Frames shorter than this (Ethernet's 64-byte minimum less the FCS) are zero-padded, as a tap
#: on the wire sees them.
MIN_FRAME = 60

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

_IP4 = struct.Struct("!BBHHHBBH4s4s").pack
_IP6 = struct.Struct("!IHBB16s16s").pack
_TCP = struct.Struct("!HHIIBBHHH").pack
_UDP = struct.Struct("!HHHH").pack
_ICMP = struct.Struct("!BBHHH").pack
_PAD = bytes(MIN_FRAME)


def word_sum(data: bytes | bytearray | memoryview) -> int:
    """Sum of the big-endian 16-bit words of ``data`` modulo 0xFFFF (an odd tail is zero-padded)."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8
    return value % 0xFFFF


def _fold(total: int) -> int:
    """The checksum field for a one's-complement sum ``total`` of non-zero data."""
    rest = total % 0xFFFF
    # rest == 0 means the 16-bit sum is 0xFFFF, whose complement is 0 (RFC 1624).
    return 0xFFFF - rest if rest else 0


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    return _fold(word_sum(data))


def mac(text: str) -> bytes:
    """``"02:00:5e:10:00:01"`` -> 6 bytes."""
    return bytes(int(part, 16) for part in text.split(":"))


def ipv4(text: str) -> bytes:
    """Dotted quad -> 4 bytes."""
    return bytes(int(part) for part in text.split("."))


def ipv6(text: str) -> bytes:
    """IPv6 text (with at most one ``::``) -> 16 bytes."""
    head, _, tail = text.partition("::")
    left = [int(g, 16) for g in head.split(":") if g]
    right = [int(g, 16) for g in tail.split(":") if g] if "::" in text else []
    groups = left + [0] * (8 - len(left) - len(right)) + right
    return struct.pack("!8H", *groups)


def ethernet(dst: bytes, src: bytes, ethertype: int, vlan: int | None = None, pcp: int = 0) -> bytes:
    """An Ethernet II header, with an 802.1Q tag when ``vlan`` is given."""
    if vlan is None:
        return dst + src + struct.pack("!H", ethertype)
    return dst + src + struct.pack("!HHH", ETH_VLAN, (pcp << 13) | vlan, ethertype)


def _pad(frame: bytes) -> bytes:
    if len(frame) < MIN_FRAME:
        return frame + _PAD[: MIN_FRAME - len(frame)]
    return frame


class Path:
    """One direction of one conversation: link header, addresses, hop limit and IP id counter.

    ``version`` is 4 or 6; ``src``/``dst`` are 4- or 16-byte addresses.  The builders return
    complete frames (padded to :data:`MIN_FRAME`) with correct lengths and checksums.
    """

    __slots__ = ("_flow", "_ip_const", "_pseudo", "dst", "ip_id", "l2", "src", "ttl", "version")

    def __init__(
        self,
        l2: bytes,
        src: bytes,
        dst: bytes,
        ttl: int,
        ip_id: int = 0,
        tos: int = 0,
        flow_label: int = 0,
    ) -> None:
        self.l2 = l2
        self.src = src
        self.dst = dst
        self.ttl = ttl
        self.ip_id = ip_id & 0xFFFF
        self.version = 4 if len(src) == 4 else 6
        addr_sum = word_sum(src + dst)
        self._pseudo = addr_sum
        if self.version == 4:
            # Version/IHL/TOS and the addresses; DF, TTL/proto and length/id are added per packet.
            self._ip_const = ((0x45 << 8) | tos) + addr_sum
            self._flow = 0
        else:
            self._ip_const = 0
            self._flow = (6 << 28) | (tos << 20) | (flow_label & 0xFFFFF)

    def _ip(self, proto: int, payload_len: int, df: bool) -> bytes:
        """The IP header for ``payload_len`` bytes of transport ``proto``."""
        if self.version == 6:
            return _IP6(self._flow, payload_len, proto, self.ttl, self.src, self.dst)
        ip_id = self.ip_id
        self.ip_id = (ip_id + 1) & 0xFFFF
        total = 20 + payload_len
        frag = 0x4000 if df else 0
        csum = _fold(self._ip_const + total + ip_id + frag + ((self.ttl << 8) | proto))
        return _IP4(0x45, 0, total, ip_id, frag, self.ttl, proto, csum, self.src, self.dst)

    def tcp(
        self,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        payload: bytes = b"",
        options: bytes = b"",
    ) -> bytes:
        """A TCP segment in a frame; ``options`` must be a multiple of 4 bytes."""
        hlen = 20 + len(options)
        seg_len = hlen + len(payload)
        offflags = ((hlen >> 2) << 12) | flags
        total = (
            self._pseudo
            + PROTO_TCP
            + seg_len
            + sport
            + dport
            + (seq >> 16)
            + (seq & 0xFFFF)
            + (ack >> 16)
            + (ack & 0xFFFF)
            + offflags
            + window
        )
        if options:
            total += word_sum(options)
        if payload:
            total += word_sum(payload)
        header = _TCP(sport, dport, seq, ack, offflags >> 8, flags, window, _fold(total), 0)
        frame = b"".join((self.l2, self._ip(PROTO_TCP, seg_len, True), header, options, payload))
        return frame if len(frame) >= MIN_FRAME else _pad(frame)

    def udp(self, sport: int, dport: int, payload: bytes) -> bytes:
        """A UDP datagram in a frame."""
        length = 8 + len(payload)
        total = self._pseudo + PROTO_UDP + length + sport + dport + length + word_sum(payload)
        csum = _fold(total) or 0xFFFF  # 0 would mean "no checksum"
        frame = b"".join((self.l2, self._ip(PROTO_UDP, length, False), _UDP(sport, dport, length, csum), payload))
        return frame if len(frame) >= MIN_FRAME else _pad(frame)

    def icmp(self, icmp_type: int, code: int, ident: int, seq: int, payload: bytes) -> bytes:
        """An ICMP (IPv4) or ICMPv6 message with an identifier/sequence header (echo style)."""
        length = 8 + len(payload)
        total = (icmp_type << 8 | code) + ident + seq + word_sum(payload)
        if self.version == 6:
            total += self._pseudo + length + PROTO_ICMPV6
            proto = PROTO_ICMPV6
        else:
            proto = PROTO_ICMP
        header = _ICMP(icmp_type, code, _fold(total), ident, seq)
        frame = b"".join((self.l2, self._ip(proto, length, False), header, payload))
        return frame if len(frame) >= MIN_FRAME else _pad(frame)

    def icmpv6_raw(self, icmp_type: int, code: int, body: bytes) -> bytes:
        """An ICMPv6 message whose body (after type, code and checksum) is given whole (e.g. NDP)."""
        length = 4 + len(body)
        total = self._pseudo + length + PROTO_ICMPV6 + (icmp_type << 8 | code) + word_sum(body)
        header = struct.pack("!BBH", icmp_type, code, _fold(total))
        frame = b"".join((self.l2, self._ip(PROTO_ICMPV6, length, False), header, body))
        return frame if len(frame) >= MIN_FRAME else _pad(frame)


def arp_frame(l2: bytes, op: int, sender_mac: bytes, sender_ip: bytes, target_mac: bytes, target_ip: bytes) -> bytes:
    """An ARP request (op 1) or reply (op 2) for IPv4 over Ethernet; ``l2`` is the link header."""
    body = struct.pack("!HHBBH", 1, ETH_IPV4, 6, 4, op) + sender_mac + sender_ip + target_mac + target_ip
    return _pad(l2 + body)
