"""``mapi dump``: a tcpdump-like capture tool on the API (MAPI's ``mapidump``).

One flow, with the functions MAPI's mapidump applied, in its order::

    STARTSTOP "+0s" DURATION     -G: packets of the first DURATION of packet time
    BPF_FILTER EXPRESSION        the tcpdump expression, if any
    STR_SEARCH STRING            -s: packets whose bytes contain STRING (Snort syntax: |41 42| hex)
    TO_FILE FORMAT OUT COUNT     -w: packets written to OUT
    TO_BUFFER WAIT               otherwise: packets read back and printed, one line each

The one-line summaries are decoded here, in Python, from the packet bytes: link layer (Ethernet
with VLAN tags, PPPoE, MPLS; Linux cooked v1/v2; BSD loopback; raw IP), IPv4/IPv6 (extension
headers, fragments, 6in4 / IP-in-IP), ARP, TCP, UDP, ICMP and ICMPv6.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import click
from rich.live import Live
from rich.text import Text

from mapi_core.api.flow import Flow, FunctionHandle
from mapi_core.cli._common import CliError, err
from mapi_core.constants import MFF_PCAP, MFF_PCAP_NS, MFF_PCAPNG, WAIT
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.packets import Packet
from mapi_core.timestamps import ONE_SECOND, parse_time, to_timeval

#: ``--format`` names of TO_FILE's formats.
FORMATS = {"pcap": MFF_PCAP, "pcap-ns": MFF_PCAP_NS, "pcapng": MFF_PCAPNG}
#: How often a capture into a file checks its status (and redraws the rate), in seconds.
POLL_SECONDS = 0.1
#: The rate shown while writing live is over this many seconds.
RATE_SECONDS = 0.5
#: Longest wait for one packet before checking the deadline and Ctrl-C again, in seconds.
READ_SLICE = 0.2

# ---- decoding ---------------------------------------------------------------------------------

_ETHERNET, _RAW, _NULL, _LOOP, _SLL, _SLL2, _IPV4, _IPV6 = 1, 101, 0, 108, 113, 276, 228, 229
_RAW_ALIASES = (12, 14)                     # DLT_RAW on some systems
_ETHERTYPE_IPV4, _ETHERTYPE_IPV6, _ETHERTYPE_ARP = 0x0800, 0x86DD, 0x0806
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_MPLS = (0x8847, 0x8848)
_PPPOE_DISCOVERY, _PPPOE_SESSION = 0x8863, 0x8864
_AF_INET6 = (10, 24, 28, 30)                # Linux, NetBSD/OpenBSD, FreeBSD, macOS

_TCP_FLAGS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"), (0x40, "E"), (0x80, "W"))
_IP_PROTOCOLS = {1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP", 51: "AH",
                 58: "ICMPv6", 88: "EIGRP", 89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP"}
_ICMP_TYPES = {0: "echo reply", 3: "unreachable", 4: "source quench", 5: "redirect", 8: "echo request",
               9: "router advertisement", 10: "router solicitation", 11: "time exceeded", 12: "parameter problem",
               13: "timestamp request", 14: "timestamp reply"}
_ICMP6_TYPES = {1: "unreachable", 2: "packet too big", 3: "time exceeded", 4: "parameter problem",
                128: "echo request", 129: "echo reply", 130: "multicast listener query",
                131: "multicast listener report", 133: "router solicitation", 134: "router advertisement",
                135: "neighbor solicitation", 136: "neighbor advertisement", 143: "multicast listener report v2"}
_IPV6_EXTENSIONS = (0, 43, 60)              # hop-by-hop, routing, destination options (fragment: 44, AH: 51)


class Truncated(Exception):
    """The captured bytes end inside a header."""


def _u8(data: bytes, offset: int) -> int:
    if offset >= len(data):
        raise Truncated
    return data[offset]


def _u16(data: bytes, offset: int) -> int:
    if offset + 2 > len(data):
        raise Truncated
    return int.from_bytes(data[offset:offset + 2], "big")


def _u32(data: bytes, offset: int) -> int:
    if offset + 4 > len(data):
        raise Truncated
    return int.from_bytes(data[offset:offset + 4], "big")


def _mac(data: bytes, offset: int = 0) -> str:
    if offset + 6 > len(data):
        raise Truncated
    return ":".join(f"{b:02x}" for b in data[offset:offset + 6])


def _ipv4(data: bytes, offset: int) -> str:
    if offset + 4 > len(data):
        raise Truncated
    return str(ipaddress.IPv4Address(data[offset:offset + 4]))


def _ipv6(data: bytes, offset: int) -> str:
    if offset + 16 > len(data):
        raise Truncated
    return str(ipaddress.IPv6Address(data[offset:offset + 16]))


@attrs.frozen
class _Network:
    """What the network layer says, for the transport layer to finish the line."""

    name: str               # "IP", "IP6", "IP (ttl 64, ...)"
    src: str
    dst: str
    end: int                # where the IP packet ends (by its length field, even past what was captured)


def _transport(net: _Network, protocol: int, data: bytes, offset: int, verbose: bool) -> str:
    """``IP src.sport > dst.dport: TCP ...``, or the protocol alone when it has no ports."""
    try:
        if protocol == 6:
            sport, dport, seq, ack = _u16(data, offset), _u16(data, offset + 2), _u32(data, offset + 4), \
                _u32(data, offset + 8)
            header, flags, window = (_u8(data, offset + 12) >> 4) * 4, _u8(data, offset + 13), _u16(data, offset + 14)
            names = "".join(name for bit, name in _TCP_FLAGS if flags & bit) or "none"
            text = f"TCP [{names}] seq {seq}"
            if flags & 0x10:
                text += f" ack {ack}"
            text += f" win {window} len {max(net.end - offset - header, 0)}"
            return f"{net.name} {net.src}.{sport} > {net.dst}.{dport}: {text}"
        if protocol == 17:
            sport, dport, length = _u16(data, offset), _u16(data, offset + 2), _u16(data, offset + 4)
            return f"{net.name} {net.src}.{sport} > {net.dst}.{dport}: UDP len {max(length - 8, 0)}"
        if protocol in (1, 58):
            kind, code = _u8(data, offset), _u8(data, offset + 1)
            names = _ICMP_TYPES if protocol == 1 else _ICMP6_TYPES
            text = f"{'ICMP' if protocol == 1 else 'ICMPv6'} {names.get(kind, f'type {kind}')}"
            if (protocol, kind) in ((1, 0), (1, 8), (58, 128), (58, 129)):
                text += f" id {_u16(data, offset + 4)} seq {_u16(data, offset + 6)}"
            elif code:
                text += f" code {code}"
            return f"{net.name} {net.src} > {net.dst}: {text}"
    except Truncated:
        return f"{net.name} {net.src} > {net.dst}: {_IP_PROTOCOLS.get(protocol, protocol)} [truncated]"
    if protocol == 41:
        return f"{net.name} {net.src} > {net.dst}: {_network(_ETHERTYPE_IPV6, data, offset, verbose)}"
    if protocol == 4:
        return f"{net.name} {net.src} > {net.dst}: {_network(_ETHERTYPE_IPV4, data, offset, verbose)}"
    return f"{net.name} {net.src} > {net.dst}: {_IP_PROTOCOLS.get(protocol, 'ip-proto')} (proto {protocol})"


def _ip4(data: bytes, offset: int, verbose: bool) -> str:
    header = (_u8(data, offset) & 0x0F) * 4
    tos, length, ident = _u8(data, offset + 1), _u16(data, offset + 2), _u16(data, offset + 4)
    fragment, ttl, protocol = _u16(data, offset + 6), _u8(data, offset + 8), _u8(data, offset + 9)
    src, dst = _ipv4(data, offset + 12), _ipv4(data, offset + 16)
    name = "IP"
    if verbose:
        flags = "DF" if fragment & 0x4000 else "MF" if fragment & 0x2000 else "none"
        name = f"IP (tos {tos:#x}, ttl {ttl}, id {ident}, flags [{flags}], length {length})"
    end = offset + length if length >= header else len(data)     # 0 with TSO: what was captured
    net = _Network(name, src, dst, end)
    if fragment & 0x1FFF:
        return (f"{name} {src} > {dst}: fragment id {ident} offset {(fragment & 0x1FFF) * 8}, "
                f"{_IP_PROTOCOLS.get(protocol, protocol)}")
    return _transport(net, protocol, data, offset + header, verbose)


def _ip6(data: bytes, offset: int, verbose: bool) -> str:
    first, length = _u32(data, offset), _u16(data, offset + 4)
    protocol, hops = _u8(data, offset + 6), _u8(data, offset + 7)
    src, dst = _ipv6(data, offset + 8), _ipv6(data, offset + 24)
    name = f"IP6 (flowlabel {first & 0xFFFFF:#x}, hlim {hops}, payload length {length})" if verbose else "IP6"
    end = offset + 40 + length if length else len(data)               # 0: a jumbogram
    net = _Network(name, src, dst, end)
    position = offset + 40
    try:
        for _ in range(16):                     # a bounded chain of extension headers
            if protocol in _IPV6_EXTENSIONS:
                protocol, position = _u8(data, position), position + (_u8(data, position + 1) + 1) * 8
            elif protocol == 51:
                protocol, position = _u8(data, position), position + (_u8(data, position + 1) + 2) * 4
            elif protocol == 44:
                fragment = _u16(data, position + 2)
                if fragment & 0xFFF8:
                    return (f"{name} {src} > {dst}: fragment id {_u32(data, position + 4)} offset "
                            f"{fragment & 0xFFF8}, {_IP_PROTOCOLS.get(_u8(data, position), _u8(data, position))}")
                protocol, position = _u8(data, position), position + 8
            else:
                break
    except Truncated:
        return f"{name} {src} > {dst}: [truncated]"
    return _transport(net, protocol, data, position, verbose)


def _arp(data: bytes, offset: int) -> str:
    operation = _u16(data, offset + 6)
    hlen, plen = _u8(data, offset + 4), _u8(data, offset + 5)
    if (hlen, plen) != (6, 4):
        return f"ARP hardware {_u16(data, offset)} protocol {_u16(data, offset + 2):#06x} op {operation}"
    sender_mac, sender, target = _mac(data, offset + 8), _ipv4(data, offset + 14), _ipv4(data, offset + 24)
    if operation == 1:
        return f"ARP who-has {target} tell {sender}"
    if operation == 2:
        return f"ARP reply {sender} is-at {sender_mac}"
    return f"ARP op {operation} {sender} > {target}"


def _network(ethertype: int, data: bytes, offset: int, verbose: bool) -> str:
    if ethertype == _ETHERTYPE_IPV4:
        return _ip4(data, offset, verbose)
    if ethertype == _ETHERTYPE_IPV6:
        return _ip6(data, offset, verbose)
    if ethertype == _ETHERTYPE_ARP:
        return _arp(data, offset)
    if ethertype in _MPLS:
        labels = []
        for _ in range(16):
            entry = _u32(data, offset)
            labels.append(str(entry >> 12))
            offset += 4
            if entry & 0x100:                   # bottom of stack
                break
        version = _u8(data, offset) >> 4
        inner = {4: _ETHERTYPE_IPV4, 6: _ETHERTYPE_IPV6}.get(version)
        rest = _network(inner, data, offset, verbose) if inner else "[not IP]"
        return f"MPLS {','.join(labels)} {rest}"
    if ethertype == _PPPOE_SESSION:
        session, protocol = _u16(data, offset + 2), _u16(data, offset + 6)
        inner = {0x0021: _ETHERTYPE_IPV4, 0x0057: _ETHERTYPE_IPV6}.get(protocol)
        rest = _network(inner, data, offset + 8, verbose) if inner else f"PPP protocol {protocol:#06x}"
        return f"PPPoE session {session:#x} {rest}"
    if ethertype == _PPPOE_DISCOVERY:
        return f"PPPoE discovery code {_u8(data, offset + 1):#x}"
    return f"ethertype {ethertype:#06x}"


def _llc(data: bytes, offset: int) -> str:
    """An 802.2 LLC header: SNAP with its OUI and protocol id, STP, or the SAPs."""
    dsap, ssap = _u8(data, offset), _u8(data, offset + 1)
    if dsap == ssap == 0xAA:
        return f"SNAP oui {_u32(data, offset + 2) & 0xFFFFFF:#08x} pid {_u16(data, offset + 6):#06x}"
    if dsap == ssap == 0x42:
        return "STP"
    return f"LLC dsap {dsap:#04x} ssap {ssap:#04x}"


def _by_version(data: bytes, offset: int, verbose: bool) -> str:
    version = _u8(data, offset) >> 4
    if version == 4:
        return _ip4(data, offset, verbose)
    if version == 6:
        return _ip6(data, offset, verbose)
    return f"raw IP version {version}"


def describe(linktype: int, data: bytes, verbose: bool = False) -> str:
    """The packet's headers in one line (without time and length)."""
    try:
        if linktype == _ETHERNET:
            ethertype, offset = _u16(data, 12), 14
            macs = f"{_mac(data, 6)} > {_mac(data, 0)}"
            if ethertype <= 1500:
                return f"802.3 {macs}: {_llc(data, 14)}, length {ethertype}"
            tags = []
            while ethertype in _VLAN_TAGS and len(tags) < 8:
                tags.append(f"vlan {_u16(data, offset) & 0x0FFF}")
                ethertype, offset = _u16(data, offset + 2), offset + 4
            prefix = (f"{macs}, " if verbose else "") + "".join(f"{tag}, " for tag in tags)
            return prefix + _network(ethertype, data, offset, verbose)
        if linktype == _SLL:
            return _network(_u16(data, 14), data, 16, verbose)
        if linktype == _SLL2:
            return _network(_u16(data, 0), data, 20, verbose)
        if linktype in (_NULL, _LOOP):
            family = int.from_bytes(data[:4], "big") if len(data) >= 4 else _u32(data, 0)
            if linktype == _NULL and family & 0xFFFF0000:          # written in little-endian order
                family = int.from_bytes(data[:4], "little")
            if family == 2:
                return _ip4(data, 4, verbose)
            if family in _AF_INET6:
                return _ip6(data, 4, verbose)
            return f"loopback family {family}"
        if linktype in (_RAW, *_RAW_ALIASES):
            return _by_version(data, 0, verbose)
        if linktype == _IPV4:
            return _ip4(data, 0, verbose)
        if linktype == _IPV6:
            return _ip6(data, 0, verbose)
    except Truncated:
        return "[truncated]"
    return f"link-type {linktype}"


def format_time(ts: int) -> str:
    """``HH:MM:SS.ffffff`` in local time, as tcpdump prints it (µs rounded to nearest)."""
    seconds, micros = to_timeval(ts)
    return f"{time.strftime('%H:%M:%S', time.localtime(seconds))}.{micros:06d}"


def summary(packet: Packet, verbose: bool = False) -> str:
    """One line: time, headers, and the length on the wire (and captured, when less)."""
    length = f"{packet.wlen} bytes" if packet.caplen >= packet.wlen else f"{packet.wlen} bytes ({packet.caplen} captured)"
    return f"{format_time(packet.ts)} {describe(packet.linktype, packet.data, verbose)}, {length}"


def hex_dump(data: bytes) -> Iterator[str]:
    """The bytes as ``tcpdump -XX`` shows them: 16 a line, in groups of two, then ASCII."""
    for start in range(0, len(data), 16):
        chunk = data[start:start + 16]
        groups = " ".join(chunk[i:i + 2].hex() for i in range(0, len(chunk), 2))
        text = "".join(chr(b) if 0x20 < b < 0x7F else "." for b in chunk)     # as tcpdump: isgraph()
        yield f"\t0x{start:04x}:  {groups:<39}  {text}"


# ---- the capture ------------------------------------------------------------------------------

@attrs.define
class Capture:
    """What was asked for: the flow's functions and how the capture ends."""

    source: str                       # a trace path, or an interface
    live: bool
    expression: str
    search: str | None
    count: int | None
    duration: int | None              # 32.32 units
    output: Path | None
    file_format: int
    hex: bool
    verbose: bool


def _duration(text: str) -> int:
    """``-G``: a time string (``10s``, ``500ms``, ``2m``), a bare number meaning seconds."""
    try:
        spec = parse_time(text if not text.strip().replace(".", "", 1).isdigit() else f"{text.strip()}s")
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'-G' / '--duration'") from None
    if spec.value <= 0:
        raise click.BadParameter(f"{text!r} is not a positive duration", param_hint="'-G' / '--duration'")
    return spec.value


def _open_flow(capture: Capture) -> Flow:
    if not capture.live and not os.path.exists(capture.source):    # Flow() would take it for a device name
        raise MapiError(ErrorCode.MAPI_ERROR_FILE, f"cannot open {capture.source}: no such file")
    flow = Flow(capture.source)
    try:
        if capture.duration is not None:
            flow.apply("STARTSTOP", "+0s", f"+{capture.duration}")      # raw 32.32 units
        if capture.expression:
            flow.apply("BPF_FILTER", capture.expression)
        if capture.search is not None:
            flow.apply("STR_SEARCH", capture.search)
    except BaseException:
        flow.close()
        raise
    return flow


def _deadline(capture: Capture) -> float | None:
    """Live captures also end on the wall clock: duration after the start (packet time may not
    advance when no packet comes)."""
    if capture.live and capture.duration is not None:
        return time.monotonic() + capture.duration / ONE_SECOND
    return None


def _print_packets(capture: Capture, flow: Flow, echo: Callable[[str], None]) -> int:
    """TO_BUFFER, and a line per packet until the end (trace read, count, duration, Ctrl-C);
    returns the count printed."""
    buffer = flow.apply("TO_BUFFER", WAIT)
    flow.connect()
    deadline = _deadline(capture)
    printed = 0
    try:
        for packet in _packets(buffer, deadline):
            echo(summary(packet, capture.verbose))
            if capture.hex:
                for line in hex_dump(packet.data):
                    echo(line)
            printed += 1
            if capture.count is not None and printed >= capture.count:
                break
    except KeyboardInterrupt:
        pass
    return printed


def _packets(buffer: FunctionHandle, deadline: float | None) -> Iterator[Packet]:
    """The buffer's packets until the trace ends, the flow closes or the deadline passes."""
    while deadline is None or time.monotonic() < deadline:
        wait = READ_SLICE if deadline is None else min(READ_SLICE, max(deadline - time.monotonic(), 0.0))
        try:
            packet = buffer.next_packet(timeout=wait)
        except MapiError as error:
            if error.code != ErrorCode.MAPI_TIMEOUT:
                raise
            continue
        if packet is None:
            return
        yield packet


@attrs.frozen
class _Rate:
    """Packets and bytes written, and their rate over the last interval."""

    packets: int
    bytes: int
    packets_per_second: float
    bits_per_second: float

    def render(self, output: Path) -> Text:
        rate = f"{self.packets_per_second:,.0f} packets/s, {self.bits_per_second / 1e6:,.3f} Mbit/s"
        return Text.assemble(("writing ", "dim"), (str(output), "bold"),
                             f": {self.packets:,} packets, {self.bytes:,} bytes, ", (rate, "cyan"))


def _write_file(capture: Capture, flow: Flow) -> Any:
    """TO_FILE, then wait for the end (trace read, limit reached, duration, Ctrl-C); returns
    TO_FILE's final status.  Live captures show their rate on standard error."""
    assert capture.output is not None
    writer = flow.apply("TO_FILE", capture.file_format, str(capture.output), capture.count or 0)
    flow.connect()
    device = flow.runtime.flow(flow.fd).device
    deadline = _deadline(capture)
    console = err()
    last = (time.monotonic(), 0, 0)
    status = writer.read()
    with Live(console=console, transient=True, auto_refresh=False,
              redirect_stdout=False, redirect_stderr=False) as live:
        try:
            while True:
                finished = device.finished.wait(POLL_SECONDS)
                status = writer.read()
                now = time.monotonic()
                elapsed = now - last[0]
                if capture.live and elapsed >= RATE_SECONDS:
                    rate = _Rate(status.packets, status.bytes, (status.packets - last[1]) / elapsed,
                                 (status.bytes - last[2]) * 8 / elapsed)
                    live.update(rate.render(capture.output), refresh=True)
                    last = (now, status.packets, status.bytes)
                if finished or status.limit_reached or (deadline is not None and now >= deadline):
                    break
        except KeyboardInterrupt:
            pass
    return writer.read()


def run(capture: Capture, echo: Callable[[str], None] = click.echo) -> None:
    """Runs the capture; the closing lines (packets captured, written, dropped) go to stderr."""
    started = time.monotonic()
    flow = _open_flow(capture)
    console = err()
    try:
        device = flow.runtime.flow(flow.fd).device
        if capture.output is not None:
            status = _write_file(capture, flow)
            done = (f"{status.packets} packets written to {capture.output}"
                    f" ({status.bytes:,} bytes captured)")
            problems = []
            if status.write_errors:
                problems.append(f"{status.write_errors} lost to write errors")
            if status.skipped:
                problems.append(f"{status.skipped} of another link type skipped")
            if problems:
                done += "; " + ", ".join(problems)
        else:
            done = f"{_print_packets(capture, flow, echo)} packets captured"
        stats = flow.runtime.stats(device.name) if capture.live else None
    finally:
        flow.close()
    if device.error:
        console.print(f"[red]mapi: {device.error}[/]", soft_wrap=True)
    elif device.warning:
        console.print(f"[yellow]mapi: {device.warning}[/]", soft_wrap=True)
    console.print(done, highlight=False, soft_wrap=True)
    if stats is not None:
        console.print(f"{stats.ps_recv} packets received, {stats.ps_drop} dropped by the kernel, "
                      f"{stats.ps_ifdrop} by the interface, {stats.function_drops + stats.engine_drops} by mapi "
                      f"({time.monotonic() - started:.1f} s)", highlight=False, soft_wrap=True)
    if capture.output is not None and status.write_errors:
        raise CliError(f"{capture.output}: {status.write_errors} packet(s) could not be written")
    if device.error:
        raise CliError(device.error)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_on_terminate() -> Iterator[None]:
    """SIGTERM (and SIGINT, even where the shell started us ignoring it) end the capture as Ctrl-C
    does: the flow is closed, so the file gets its last packets and the summary is printed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@click.command()
@click.option("-i", "--interface", help="Capture live from this interface (or configured device name).")
@click.option("-r", "--read", "trace", type=click.Path(dir_okay=False, path_type=Path),
              help="Read packets from a trace file (pcap, ns pcap, pcapng).")
@click.option("-c", "--count", type=click.IntRange(min=1), help="Stop after COUNT packets (printed or written).")
@click.option("-G", "--duration", help="Capture this long, in packet time from the first packet ('10s', "
                                       "'500ms', '2m'; a bare number is seconds); live captures also stop "
                                       "after it on the clock.")
@click.option("-s", "--search", help="Keep packets whose bytes contain this string (STR_SEARCH: Snort syntax, "
                                     "'|0d 0a|' for hex bytes).")
@click.option("-w", "--write", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the packets to this file instead of printing them.")
@click.option("--format", "format_name", type=click.Choice(sorted(FORMATS)), default=None,
              help="File format for -w  [default: pcap (µs)].")
@click.option("-X", "--hex", "hex_", is_flag=True, help="Also print each packet's bytes in hex and ASCII.")
@click.option("-v", "--verbose", is_flag=True, help="Print more header fields (MACs, IP TTL, id, flags, length).")
@click.argument("expression", nargs=-1)
def dump(interface: str | None, trace: Path | None, count: int | None, duration: str | None, search: str | None,
         output: Path | None, format_name: str | None, hex_: bool, verbose: bool, expression: tuple[str, ...]) -> None:
    """Capture packets like tcpdump: from an interface (-i) or a trace file (-r), selected by a
    tcpdump EXPRESSION, and print one line per packet or write them to a file (-w).

    Each line shows the time (local, µs), the network and transport headers (addresses, ports,
    TCP flags, sequence numbers, window, payload length, ICMP type...) and the length on the
    wire.  Writing live, the packet and bit rates are shown on standard error.  Ctrl-C stops the
    capture cleanly.
    """
    if (interface is None) == (trace is None):
        raise click.UsageError("give one packet source: -i INTERFACE or -r FILE")
    if format_name is not None and output is None:
        raise click.UsageError("--format needs -w FILE")
    if hex_ and output is not None:
        raise click.UsageError("-X prints packets; it cannot go with -w")
    if search is not None and not search:
        raise click.BadParameter("the search string is empty", param_hint="'-s' / '--search'")
    capture = Capture(
        source=str(trace) if trace is not None else str(interface),
        live=interface is not None,
        expression=" ".join(expression),
        search=search,
        count=count,
        duration=_duration(duration) if duration is not None else None,
        output=output,
        file_format=FORMATS[format_name or "pcap"],
        hex=hex_,
        verbose=verbose,
    )
    try:
        with _stop_on_terminate():
            run(capture)
    except BrokenPipeError:
        # The reader of our output went away (`mapi dump ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except OSError as error:
        if error.errno == errno.EPIPE:
            sys.exit(0)
        raise
    except MapiError as error:
        raise CliError(str(error)) from error

