"""Per-packet values: PKT_INFO (alias PKTINFO), PROTINFO, GAP, HASH and BINOP.

Each keeps one value about the latest packet that reached it (or, for BINOP, about two other
results) in its result memory, written by its native ``process`` (``native/values.c``).
Results are u64 words, so STAT, DIST, BINOP, BUCKET and RES2FILE can read them.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import attrs
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.native import extension
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import ArgumentError, FlowRef, FunctionRef, Int, String
from mapi_core.plugins.results import U64, ResultSpec

from mapi_core import errors, references

NATIVE = "mapi_stdlib.native._values"


def _native() -> ModuleType:
    """The cffi extension, loaded when a flow first uses one of these functions."""
    return extension(NATIVE)


# ---- PKT_INFO ----------------------------------------------------------------------------------

PKT_INFO_CHOICES = {"PKT_TS": 0, "PKT_SIZE": 1}


@attrs.frozen(kw_only=True)
class _LateCheckedInt(Int):
    """An ``Int`` with named values whose invalid values are reported by the function's
    ``instance`` hook, for MAPI functions that gave them the code of another position."""

    def convert(self, value: Any, resolver: Any) -> Any:
        return value

    def check(self, value: Any) -> int:
        return Int.convert(self, value, None)


_PKT_INFO_ARGUMENT = _LateCheckedInt(
    name="info", choices=PKT_INFO_CHOICES,
    description="PKT_TS (0): the timestamp, 32.32 fixed point; PKT_SIZE (1): the wire length in bytes")


class PktInfo:
    """The timestamp or wire length of the latest packet."""

    def instance(self, args: Any) -> None:
        try:
            self.what = _PKT_INFO_ARGUMENT.check(args.info)
        except ArgumentError as err:
            # MAPI reported a bad selector as the *second* argument; kept for compatibility.
            raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT_2, f"PKT_INFO: argument 1 (info): {err}") from None

    def init(self, result: Any) -> Any:
        ffi = _native().ffi
        self.state = ffi.new("values_pkt_info_t *", {"result": ffi.cast("uint64_t *", result.address),
                                                     "what": self.what})
        return self.state


# ---- PROTINFO ----------------------------------------------------------------------------------

#: Wireshark's field names -> the C constant of the field (``enum values_field`` in values.h)
#: and, for address fields, the IP version of the address.
PROTINFO_FIELDS: dict[str, tuple[str, int | None]] = {
    "ip.version": ("VALUES_IP_VERSION", None),
    "ip.hdr_len": ("VALUES_IP_HDR_LEN", None),
    "ip.dsfield": ("VALUES_IP_DSFIELD", None),
    "ip.len": ("VALUES_IP_LEN", None),
    "ip.id": ("VALUES_IP_ID", None),
    "ip.flags": ("VALUES_IP_FLAGS", None),
    "ip.frag_offset": ("VALUES_IP_FRAG_OFFSET", None),
    "ip.ttl": ("VALUES_IP_TTL", None),
    "ip.proto": ("VALUES_IP_PROTO", None),
    "ip.checksum": ("VALUES_IP_CHECKSUM", None),
    "ip.src": ("VALUES_IP_SRC", 4),
    "ip.dst": ("VALUES_IP_DST", 4),
    "ipv6.version": ("VALUES_IPV6_VERSION", None),
    "ipv6.tclass": ("VALUES_IPV6_TCLASS", None),
    "ipv6.flow": ("VALUES_IPV6_FLOW", None),
    "ipv6.plen": ("VALUES_IPV6_PLEN", None),
    "ipv6.nxt": ("VALUES_IPV6_NXT", None),
    "ipv6.hlim": ("VALUES_IPV6_HLIM", None),
    "ipv6.src": ("VALUES_IPV6_SRC", 6),
    "ipv6.dst": ("VALUES_IPV6_DST", 6),
    "tcp.srcport": ("VALUES_TCP_SRCPORT", None),
    "tcp.dstport": ("VALUES_TCP_DSTPORT", None),
    "tcp.seq_raw": ("VALUES_TCP_SEQ_RAW", None),
    "tcp.ack_raw": ("VALUES_TCP_ACK_RAW", None),
    "tcp.hdr_len": ("VALUES_TCP_HDR_LEN", None),
    "tcp.flags": ("VALUES_TCP_FLAGS", None),
    "tcp.window_size_value": ("VALUES_TCP_WINDOW_SIZE_VALUE", None),
    "tcp.checksum": ("VALUES_TCP_CHECKSUM", None),
    "tcp.urgent_pointer": ("VALUES_TCP_URGENT_POINTER", None),
    "udp.srcport": ("VALUES_UDP_SRCPORT", None),
    "udp.dstport": ("VALUES_UDP_DSTPORT", None),
    "udp.length": ("VALUES_UDP_LENGTH", None),
    "udp.checksum": ("VALUES_UDP_CHECKSUM", None),
    "icmp.type": ("VALUES_ICMP_TYPE", None),
    "icmp.code": ("VALUES_ICMP_CODE", None),
    "icmp.checksum": ("VALUES_ICMP_CHECKSUM", None),
    "icmpv6.type": ("VALUES_ICMPV6_TYPE", None),
    "icmpv6.code": ("VALUES_ICMPV6_CODE", None),
    "icmpv6.checksum": ("VALUES_ICMPV6_CHECKSUM", None),
}

_PROTINFO_LAYOUT = struct.Struct("=Q16sQ")


def _protinfo_u64(raw: bytes) -> int | None:
    """The u64 of a PROTINFO result, None while no packet had the header."""
    value, _, packets = _PROTINFO_LAYOUT.unpack_from(raw)
    return value if packets else None


#: PROTINFO's result: the u64 first (what BINOP, STAT and DIST read), then the address bytes.
PROTINFO_RESULT = ResultSpec(
    "u64", _PROTINFO_LAYOUT.size, _protinfo_u64,
    "the field's value as a u64, then 16 address bytes and the count of packets that had the header")


class ProtInfo:
    """One header field of the latest packet that has the header; drops the others."""

    def instance(self, args: Any) -> None:
        field = args.field.strip().lower()
        if field not in PROTINFO_FIELDS:
            raise errors.invalid_argument("PROTINFO", 1, "field", (
                f"{args.field!r} is not a field PROTINFO knows; the fields are {', '.join(PROTINFO_FIELDS)}"))
        self.constant, self.family = PROTINFO_FIELDS[field]

    def init(self, result: Any) -> Any:
        native = _native()
        self.state = native.ffi.new("values_protinfo_t *", {
            "result": native.ffi.cast("values_protinfo_result_t *", result.address),
            "field": getattr(native.lib, self.constant)})
        return self.state

    def client_read_result(self, raw: bytes) -> int | ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        value, address, packets = _PROTINFO_LAYOUT.unpack_from(raw)
        if packets == 0:
            return None          # (the runtime then asks _protinfo_u64, which says None too)
        if self.family == 4:
            return ipaddress.IPv4Address(address[:4])
        if self.family == 6:
            return ipaddress.IPv6Address(address)
        return value


# ---- GAP ---------------------------------------------------------------------------------------

_GAP_LAYOUT = struct.Struct("=QQ")

#: GAP's result: the gap (a 32.32 duration) first, then the count of backward steps.
GAP_RESULT = ResultSpec("ts", _GAP_LAYOUT.size, lambda raw: _GAP_LAYOUT.unpack_from(raw)[0],
                        "the time since the previous packet, 32.32 fixed point")


class Gap:
    """The time between the latest packet and the one before it."""

    def init(self, result: Any) -> Any:
        ffi = _native().ffi
        self.state = ffi.new("values_gap_t *", {"result": ffi.cast("values_gap_result_t *", result.address)})
        return self.state


def gap_backward_steps(handle: Any) -> int:
    """How many packets reached a GAP with a timestamp before the previous packet's (their gap
    was given as 0).  ``handle`` is the FunctionHandle that ``flow.apply("GAP")`` returned."""
    record = handle.flow.runtime.flow(handle.fd)
    function = record.function(handle.fid)
    if function.definition.name != "GAP":
        raise TypeError(f"{handle!r} is not a GAP")
    return _GAP_LAYOUT.unpack_from(record.snapshot(function))[1]


# ---- HASH --------------------------------------------------------------------------------------

class Hash:
    """The additive hash of one layer of the latest packet."""

    def init(self, args: Any, result: Any) -> Any:
        ffi = _native().ffi
        self.state = ffi.new("values_hash_t *", {"result": ffi.cast("uint64_t *", result.address),
                                                 "layer": args.layer})
        return self.state


# ---- BINOP -------------------------------------------------------------------------------------

BINOP_CHOICES = {"BINOP_ADD": 0, "BINOP_SUB": 1, "BINOP_MUL": 2, "BINOP_DIV": 3}


class BinOp:
    """left op right, over the u64 results of two functions (any flows), after every packet."""

    def instance(self, args: Any, device: Any) -> None:
        references.check_source("BINOP", args.function1, 3, device=device)
        references.check_source("BINOP", args.function2, 5, device=device)

    def init(self, args: Any, device: Any, result: Any) -> Any:
        ffi = _native().ffi
        state = ffi.new("values_binop_t *", {"result": ffi.cast("uint64_t *", result.address), "op": args.op})
        self.bindings = [references.bind(args.function1, ffi.addressof(state, "left"), device=device)]
        try:
            self.bindings.append(references.bind(args.function2, ffi.addressof(state, "right"), device=device))
        except Exception:
            self.cleanup()
            raise
        self.state = state
        return state

    def cleanup(self) -> None:
        bindings, self.bindings = getattr(self, "bindings", []), []
        for binding in bindings:
            binding.release()


# ---- definitions -------------------------------------------------------------------------------

_PROTINFO_DESCRIPTION = (
    "Keeps one header field of the latest packet that has that header, named as in Wireshark "
    "(tshark -e NAME gives the same number): {fields}. It is a filter: packets without the "
    "header (or with it cut short by the snapshot length) are dropped, so place it where only "
    "packets with that header should go on. Fragments: TCP/UDP/ICMP fields come from first "
    "fragments only (later ones carry no transport header). Tunnels are not entered: the outer "
    "IP header is the one read. Values are the raw header numbers: ip.hdr_len and tcp.hdr_len "
    "in bytes, ip.flags the 3 flag bits, ip.frag_offset in 8-byte units, tcp.flags the 12 flag "
    "bits, tcp.seq_raw/ack_raw the sequence numbers on the wire, tcp.window_size_value "
    "unscaled. The result's u64 (what BINOP, STAT, DIST and RES2FILE read) is the value; for "
    "ip.src/ip.dst the address as a 32-bit number, for ipv6.src/ipv6.dst the upper 64 bits of "
    "the address (its /64 prefix, big-endian: int(address) >> 64); the full address follows in "
    "the result. read() returns an int, an ipaddress.IPv4Address/IPv6Address for address "
    "fields, or None while no packet with the header has been seen. Not in MAPI's stdflib "
    "(its tcpanalyze example used it); an unknown field is error 7001 listing the valid ones."
)


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="PKT_INFO",
        aliases=("PKTINFO",),
        description=(
            "Keeps the timestamp or the wire length of the latest packet that reached it. "
            "PKT_TS: the timestamp as MAPI's 32.32 fixed point (seconds since the epoch << 32 | "
            "fraction in 2^-32 s; a µs or ns capture time t becomes floor(t * 2^32) exactly). "
            "PKT_SIZE: the wire length (not the captured length) in bytes. read() returns the "
            "u64 as an int (0 before the first packet). A bad selector is error 7002, as in MAPI "
            "(the names PKT_TS and PKT_SIZE are accepted as well as 0 and 1)."),
        implementation=PktInfo,
        arguments=(_PKT_INFO_ARGUMENT,),
        result=attrs.evolve(U64, description="the latest packet's 32.32 timestamp or wire length"),
        process=f"{NATIVE}:values_pkt_info",
    )
    yield FunctionDef(
        name="PROTINFO",
        description=_PROTINFO_DESCRIPTION.format(fields=", ".join(PROTINFO_FIELDS)),
        implementation=ProtInfo,
        arguments=(String(name="field", description="a Wireshark field name, e.g. 'tcp.seq_raw' or 'ip.src'"),),
        result=PROTINFO_RESULT,
        filters=True,
        process=f"{NATIVE}:values_protinfo",
    )
    yield FunctionDef(
        name="GAP",
        description=(
            "Keeps the time between the latest packet that reached it and the packet before "
            "that one (in 32.32 units, 2^-32 s; 0 for the first packet), as Wireshark's "
            "frame.time_delta (frame.time_delta_displayed after a filter). Fix: MAPI's unsigned "
            "subtraction turned a timestamp earlier than the previous one into a gap of about "
            "2^64; here such a packet gets gap 0, is counted "
            "(mapi_stdlib.values.gap_backward_steps(handle)), and the next gap is measured from "
            "it. read() returns the gap as an int."),
        implementation=Gap,
        result=GAP_RESULT,
        process=f"{NATIVE}:values_gap",
    )
    yield FunctionDef(
        name="HASH",
        description=(
            "Keeps a hash of the latest packet's bytes at one layer: (n + sum of the n bytes) "
            "mod 500009, where n is the number of bytes hashed. Layer 0: the captured frame "
            "from its link-layer header (n = captured length). 1: from the network header to "
            "the end of the IP datagram (IP total length; IPv6: 40 + payload length; a length "
            "of 0, as in jumbograms and TSO captures, means to the end of the capture), or of "
            "the ARP packet; other network protocols to the end of the capture. 2: the IP "
            "payload, from the transport header (after IPv6 extension headers) to the end of "
            "the datagram; for ARP/RARP the bytes after its 8-byte fixed header. 3: the "
            "TCP/UDP/ICMP/ICMPv6 payload (after the TCP header with options, or the 8-byte "
            "UDP/ICMP header) to the end of the datagram. Every range stops at the captured "
            "length; link-layer padding is never hashed at layers 1-3. A packet without the "
            "layer hashes no bytes: 0. Fixes: MAPI hashed offline packets from the pcap record "
            "header, assumed 14 or 20 bytes of link header and could read past the captured "
            "bytes. The result is a u64 (MAPI: unsigned int) so STAT, DIST and BINOP can read "
            "it; read() returns an int. A layer outside 0..3 is error 7001."),
        implementation=Hash,
        arguments=(Int(name="layer", minimum=0, maximum=3,
                       description="0 frame, 1 network, 2 transport (IP payload), 3 transport payload"),),
        result=attrs.evolve(U64, description="the hash of the latest packet's bytes at the layer"),
        process=f"{NATIVE}:values_hash",
    )
    yield FunctionDef(
        name="BINOP",
        description=(
            "After every packet that reaches it, computes left OP right over the u64 results "
            "of two functions (of this flow or of other flows; kinds u64 or ts): BINOP_ADD (0) "
            "and BINOP_SUB (1) as in MAPI, BINOP_MUL (2) and BINOP_DIV (3) added. Arithmetic is "
            "unsigned 64-bit, as in C: results wrap modulo 2^64, so a negative difference d "
            "reads as 2^64 + d (subtract 2^64 from values >= 2^63 to see it signed); division "
            "truncates, and a zero divisor gives 0. Values are read when the packet reaches "
            "BINOP: functions before it in its flow include the packet; a function of another "
            "flow of the same device has seen the packet too (a flow that is read is connected, "
            "and so run, before its readers); a flow on another device is read as it is at that "
            "moment. A source flow closed first keeps its last "
            "values. read() returns an int. Errors by position: an unknown flow is "
            "7002 or 7004, an unknown function, or one without a u64 result, 7003 or 7005 "
            "(MAPI gave 7002/7004 for both); an unknown operation 7001."),
        implementation=BinOp,
        arguments=(
            Int(name="op", choices=BINOP_CHOICES, description="the operation"),
            FlowRef(name="flow1", description="the flow of the left operand"),
            FunctionRef(name="function1", description="the left operand's function"),
            FlowRef(name="flow2", description="the flow of the right operand"),
            FunctionRef(name="function2", description="the right operand's function"),
        ),
        result=attrs.evolve(U64, description="left op right, modulo 2^64"),
        process=f"{NATIVE}:values_binop",
    )
