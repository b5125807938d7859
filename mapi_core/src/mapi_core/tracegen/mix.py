"""The traffic model: a campus uplink seen from a tap between the border router and the ISP.

Conversations ("sessions") start as a Poisson process.  When one starts, its whole *plan* is
drawn at once: a time-sorted list of events ``(time_us, build, args)`` whose ``build(*args)``
returns the frame.  Plans are cheap: frames are built only when emitted, and TCP payloads stay
references into shared blobs until then.  A heap merges the plans of all open conversations by
time, and the trace stops after the requested number of packets, like a real capture: the
conversations open at that moment are cut short (nothing is ever cut at the start).

Times are integer microseconds from the start of the trace.  The tap sees a packet from side X
and X's peer's reaction one round trip of the peer later: every host has a round-trip time from
the tap (``lat``), small for campus hosts, larger for hosts on the Internet.
"""

from __future__ import annotations

import heapq
import math
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter

from . import protocols as proto
from .packets import (
    ETH_ARP,
    ETH_IPV4,
    ETH_IPV6,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_RST,
    TCP_SYN,
    Path,
    arp_frame,
    ethernet,
    ipv4,
    ipv6,
    mac,
)

__all__ = ["Counters", "TrafficModel"]

Event = tuple[int, Callable[..., bytes], tuple]

_first = itemgetter(0)
_SEQ = 0xFFFFFFFF

# The two routers on the uplink; every routed frame goes between them.
CAMPUS_ROUTER = mac("00:1b:21:3a:00:01")
ISP_ROUTER = mac("00:0c:db:7f:00:02")
BROADCAST = b"\xff" * 6
CAMPUS_ROUTER_IP = ipv4("198.19.255.1")
ISP_ROUTER_IP = ipv4("198.19.255.2")
CAMPUS_ROUTER_LL = ipv6("fe80::21b:21ff:fe3a:1")
ISP_ROUTER_LL = ipv6("fe80::20c:dbff:fe7f:2")

DELAYED_ACK_US = 40_000

# What a packet of a worm connection counts as (bits).
_WORM_PROBE = 1  # the probe's first SYN
_WORM_GET = 2  # the segment whose payload starts "GET /default.ida?"
_WORM_REQUEST = 4  # the last segment of the request (the request is then complete)

VLANS = (10, 20, 100)

# Relative weights of conversation kinds (per conversation, not per packet: a DNS lookup is two
# packets, an HTTP page dozens and a download thousands).
KINDS: tuple[tuple[str, float], ...] = (
    ("dns", 33.0),
    ("dns6", 4.0),
    ("http", 15.0),
    ("http6", 2.0),
    ("tls", 18.0),
    ("tls6", 4.0),
    ("ssh", 1.2),
    ("smtp", 1.5),
    ("tcp_high", 3.0),
    ("ntp", 3.0),
    ("udp_high", 1.5),
    ("ping", 3.0),
    ("ping6", 1.0),
    ("ndp", 0.5),
    ("arp", 1.0),
)

DOMAINS = ("example.com", "example.net", "example.org", "example.edu", "test.example")
SUBDOMAINS = ("www", "static", "cdn", "api", "img", "news", "mail", "login", "video", "files", "docs", "shop")
WORDS = (
    "network", "monitoring", "passive", "measurement", "packet", "flow", "capture", "filter", "counter",
    "interface", "traffic", "uplink", "campus", "research", "project", "european", "distributed", "analysis",
    "function", "library", "engine", "device", "result", "bytes", "protocol", "header", "payload", "sample",
    "window", "latency", "throughput",
)  # fmt: skip
TEXT_PATHS = (
    "/",
    "/index.html",
    "/news/",
    "/about.html",
    "/css/site.css",
    "/js/app.js",
    "/search?q=mapi",
    "/api/v1/items",
    "/people/",
    "/events/2024/",
)


@dataclass
class Counters:
    """What the model did: worm counters count written packets, ``sessions`` the conversations started."""

    worm_probes: int = 0
    worm_get_packets: int = 0
    worm_requests: int = 0
    worm_packets: int = 0
    sessions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Host:
    """An endpoint: address, round trip from the tap (µs) and OS traits."""

    addr: bytes
    lat: int
    ttl: int
    syn_window: int
    wscale: int
    name: str = ""


def _ttl_seen(rng: random.Random, inside: bool) -> int:
    initial = rng.choice((64, 64, 64, 128, 128, 255))
    return initial - (1 if inside else rng.randint(6, 24))


class TcpConv:
    """Plans one TCP connection: handshake, data transfers with ACK clocking, FIN or RST teardown.

    Side 0 is the client (it sends the SYN), side 1 the server.  Segment payloads stay in
    :class:`~.protocols.Stream` objects until the frame is built.
    """

    def __init__(
        self,
        model: TrafficModel,
        client: Host,
        server: Host,
        cport: int,
        sport: int,
        vlan: int | None,
        mss: int,
    ) -> None:
        rng = model.rng
        self.rng = rng
        outbound = model.is_campus(client.addr)
        self.paths = model.paths(client, server, outbound, vlan)
        self.ports = ((cport, sport), (sport, cport))
        self.hosts = (client, server)
        self.lat = (client.lat, server.lat)
        self.mss = mss
        self.nxt = [rng.getrandbits(32), rng.getrandbits(32)]
        # Window fields after the handshake, in units of 2**wscale: 256 KiB or more of buffer.
        self.win = (
            max(1, (1 << 18) >> client.wscale) + rng.randrange(0, 64),
            max(1, (1 << 18) >> server.wscale) + rng.randrange(0, 64),
        )
        # Per full-size segment spacing at the tap: the bottleneck of this path.
        self.gap = rng.choice((12, 12, 24, 60, 120, 240))
        self.events: list[Event] = []
        self._last_ack = [0, 0]

    # -- building blocks

    def _seg(
        self,
        t: int,
        d: int,
        flags: int,
        seq: int,
        ack: int,
        stream: proto.Stream | None = None,
        off: int = 0,
        n: int = 0,
        opts: bytes = b"",
    ) -> None:
        self.events.append((t, self._emit, (d, flags, seq & _SEQ, ack & _SEQ, stream, off, n, opts)))

    def _emit(
        self, d: int, flags: int, seq: int, ack: int, stream: proto.Stream | None, off: int, n: int, opts: bytes
    ) -> bytes:
        payload = stream.chunk(off, n) if stream is not None and n else b""
        window = self.hosts[d].syn_window if flags & TCP_SYN else self.win[d]
        sport, dport = self.ports[d]
        return self.paths[d].tcp(sport, dport, seq, ack, flags, window, payload, opts)

    def _syn_options(self, d: int) -> bytes:
        # MSS, NOP, window scale, NOP, NOP, SACK permitted.
        return struct.pack("!BBHBBBBBBB", 2, 4, self.mss, 1, 3, 3, self.hosts[d].wscale, 1, 1, 4) + b"\x02"

    def _react(self, d: int) -> int:
        """Time until side d's reaction to a packet is seen at the tap (its round trip + stack jitter)."""
        return self.lat[d] + 5 + int(self.rng.random() * 56)

    # -- phases

    def handshake(self, t: int) -> int:
        """SYN, SYN-ACK, ACK from ``t``; returns the time of the client's ACK."""
        c, s = self.nxt
        self._seg(t, 0, TCP_SYN, c, 0, opts=self._syn_options(0))
        t1 = t + self._react(1)
        self._seg(t1, 1, TCP_SYN | TCP_ACK, s, c + 1, opts=self._syn_options(1))
        t2 = t1 + self._react(0)
        self._seg(t2, 0, TCP_ACK, c + 1, s + 1)
        self.nxt = [c + 1, s + 1]
        return t2

    def send(self, d: int, stream: proto.Stream, t: int, reply_in: int | None = None) -> tuple[int, int]:
        """Side ``d`` sends ``stream`` from ``t`` in slow-start flights, the peer ACKing every 2nd segment.

        ``reply_in``: the peer answers this long (beyond its round trip) after the last segment,
        so a last odd segment is acknowledged by the answer instead of a delayed ACK when that
        comes first.  Returns ``(time of the last segment, time of the last event)``.
        """
        r = 1 - d
        rng = self.rng
        base = self.nxt[d]
        peer = self.nxt[r]
        total = stream.length
        mss = self.mss
        gap = self.gap
        cwnd = 10
        sent = 0
        count = 0
        t_last_seg = t
        t_end = t
        start = t
        while sent < total:
            t = start
            first_ack = None
            for i in range(cwnd):
                size = min(mss, total - sent)
                last = sent + size == total
                flags = TCP_ACK | TCP_PSH if last or i == cwnd - 1 else TCP_ACK
                self._seg(t, d, flags, base + sent, peer, stream, sent, size)
                sent += size
                count += 1
                t_last_seg = t
                if count % 2 == 0 or last:
                    if count % 2 == 0:
                        ta = t + self._react(r)
                    elif reply_in is not None and reply_in < DELAYED_ACK_US:
                        ta = None  # the answer carries the ACK
                    else:
                        ta = t + self._react(r) + rng.randint(200, DELAYED_ACK_US)
                    if ta is not None:
                        # A receiver's ACKs leave in order.
                        ta = max(ta, self._last_ack[r] + 1)
                        self._last_ack[r] = ta
                        self._seg(ta, r, TCP_ACK, peer, base + sent)
                        t_end = max(t_end, ta)
                        if first_ack is None:
                            first_ack = ta
                t += max(1, gap * size // 1460) + int(rng.random() * 4)
                if last:
                    break
            t_end = max(t_end, t_last_seg)
            start = max(t, (first_ack or t) + self._react(d))
            cwnd = min(cwnd * 2, 44)
        self.nxt[d] = base + total
        return t_last_seg, t_end

    def answer(self, d: int, sent: tuple[int, int], think: int) -> int:
        """When side ``d`` answers a message whose ``send()`` returned ``sent``: one round trip and ``think`` later."""
        t_seg, t_end = sent
        return max(t_seg + self.lat[d] + think, t_end + 1)

    def fin(self, closer: int, t: int) -> int:
        """FIN from ``closer`` at ``t``, the peer's FIN-ACK, the last ACK; returns the end time."""
        peer = 1 - closer
        a, b = self.nxt[closer], self.nxt[peer]
        self._seg(t, closer, TCP_FIN | TCP_ACK, a, b)
        t1 = t + self._react(peer)
        self._seg(t1, peer, TCP_FIN | TCP_ACK, b, a + 1)
        t2 = t1 + self._react(closer)
        self._seg(t2, closer, TCP_ACK, a + 1, b + 1)
        self.nxt[closer] = a + 1
        self.nxt[peer] = b + 1
        return t2

    def rst(self, side: int, t: int) -> int:
        """An abortive close: RST-ACK from ``side``."""
        self._seg(t, side, TCP_RST | TCP_ACK, self.nxt[side], self.nxt[1 - side])
        return t

    def close(self, t: int) -> int:
        """FIN by the client (60%), by the server (25%) or a client RST (15%)."""
        x = self.rng.random()
        if x < 0.60:
            return self.fin(0, t)
        if x < 0.85:
            return self.fin(1, t)
        return self.rst(0, t)

    def dialogue(self, turns: list[tuple[int, proto.Stream]], t: int, think: Callable[[], int]) -> int:
        """Alternating messages; each answer starts one round trip plus ``think()`` after the previous message."""
        thinks = [think() for _ in turns]
        t_seg = t_end = t
        prev = None
        for i, (d, stream) in enumerate(turns):
            if prev is None:
                start = t + self.rng.randint(50, 400)
            elif d != prev:
                start = self.answer(d, (t_seg, t_end), thinks[i])
            else:
                start = t_end + thinks[i]
            reply_in = thinks[i + 1] if i + 1 < len(turns) and turns[i + 1][0] != d else None
            t_seg, t_end = self.send(d, stream, start, reply_in)
            prev = d
        return t_end

    def plan(self) -> list[Event]:
        """The time-sorted events; the conversation must not be extended afterwards."""
        events = self.events
        events.sort(key=_first)
        # The events refer to the conversation (its _emit), not the other way round any more:
        # no reference cycle, so the plan is freed as soon as its last packet is written.
        del self.events
        return events


class TrafficModel:
    """Draws conversations; :meth:`frames` yields ``(time_us, frame)`` for exactly ``count`` packets."""

    def __init__(self, seed: int, worm_fraction: float = 0.0, rate: float = 800.0) -> None:
        if not 0.0 <= worm_fraction <= 1.0:
            raise ValueError("worm_fraction must be between 0 and 1")
        self.rng = rng = random.Random(seed)
        self.worm_fraction = worm_fraction
        self.mean_gap_us = 1e6 / rate
        self.counters = Counters()
        self.kinds = [k for k, _ in KINDS]
        self.cum_weights = []
        acc = 0.0
        for _, w in KINDS:
            acc += w
            self.cum_weights.append(acc)
        # Opaque bytes (TLS and SSH ciphertext, binary downloads, P2P) and text (HTML bodies).
        blob_rng = random.Random(seed * 7919 + 17)
        self.blob = memoryview(blob_rng.randbytes(4 << 20))
        self.text = memoryview(self._make_text(blob_rng, 300_000))
        self.shellcode = bytes(blob_rng.randbytes(proto.CODE_RED_BODY_LENGTH))
        self.ports: dict[bytes, int] = {}
        self._paths: dict[tuple, tuple[Path, Path]] = {}
        # Campus: 198.18.0.0/16 and 2001:db8:1::/48; the Internet: everything else.
        self.campus4 = [
            self._host(ipv4(f"198.18.{rng.randrange(256)}.{rng.randint(1, 254)}"), True) for _ in range(3000)
        ]
        self.campus6 = [
            self._host(ipv6(f"2001:db8:1:{rng.randrange(1, 64):x}::{rng.randrange(1, 1 << 16):x}"), True)
            for _ in range(600)
        ]
        self.servers4 = [self._host(self._public4(), False, self._name(i)) for i in range(1500)]
        self.servers6 = [
            self._host(
                ipv6(f"2001:db8:{rng.randrange(0x100, 0xFFFF):x}::{rng.randrange(1, 1 << 16):x}"), False, self._name(i)
            )
            for i in range(300)
        ]
        self.resolvers4 = [self._host(self._public4(), False) for _ in range(3)]
        self.resolvers6 = [self._host(ipv6("2001:db8:53::53"), False), self._host(ipv6("2001:db8:53::35"), False)]
        self.ntp_servers = [self._host(self._public4(), False) for _ in range(4)]
        self.mail_hub = self._host(ipv4("198.18.1.25"), True, "mail.campus.example")
        self.campus_web = [
            self._host(ipv4(f"198.18.{rng.randrange(256)}.{rng.randint(1, 254)}"), True) for _ in range(40)
        ]
        self.infected = [self._host(self._public4(), False) for _ in range(rng.randint(1, 3))]

    # -- hosts and paths

    @staticmethod
    def _make_text(rng: random.Random, size: int) -> bytes:
        out: list[str] = ["<!DOCTYPE html>\n<html><head><title>mapi</title></head><body>\n"]
        length = len(out[0])
        while length < size:
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))
            para = f"<p>{words}.</p>\n"
            out.append(para)
            length += len(para)
        return "".join(out).encode()[:size]

    def _name(self, i: int) -> str:
        rng = self.rng
        return f"{rng.choice(SUBDOMAINS)}{i % 7 or ''}.{rng.choice(DOMAINS)}"

    def _public4(self) -> bytes:
        rng = self.rng
        while True:
            a = rng.randint(1, 223)
            if a in (10, 100, 127, 169, 172, 192, 198):
                continue
            return bytes((a, rng.randrange(256), rng.randrange(256), rng.randint(1, 254)))

    def _host(self, addr: bytes, inside: bool, name: str = "") -> Host:
        rng = self.rng
        if inside:
            lat = int(min(20_000, max(100, rng.lognormvariate(math.log(800), 0.9))))
        else:
            lat = int(min(400_000, max(1_000, rng.lognormvariate(math.log(25_000), 0.8))))
        ttl = _ttl_seen(rng, inside)
        syn_window, wscale = rng.choice(((64240, 8), (64240, 8), (65535, 6), (29200, 7), (65160, 7)))
        return Host(addr, lat, ttl, syn_window, wscale, name)

    @staticmethod
    def is_campus(addr: bytes) -> bool:
        return addr[:2] == b"\xc6\x12" or addr[:6] == b"\x20\x01\x0d\xb8\x00\x01"

    def paths(self, a: Host, b: Host, a_inside: bool, vlan: int | None) -> tuple[Path, Path]:
        """The two directions between ``a`` and ``b`` (reused, so IP ids keep counting)."""
        key = (a.addr, b.addr, vlan)
        found = self._paths.get(key)
        if found is not None:
            return found
        ethertype = ETH_IPV4 if len(a.addr) == 4 else ETH_IPV6
        out_l2 = ethernet(ISP_ROUTER, CAMPUS_ROUTER, ethertype, vlan)
        in_l2 = ethernet(CAMPUS_ROUTER, ISP_ROUTER, ethertype, vlan)
        rng = self.rng
        ab = Path(
            out_l2 if a_inside else in_l2, a.addr, b.addr, a.ttl, rng.getrandbits(16), flow_label=rng.getrandbits(20)
        )
        ba = Path(
            in_l2 if a_inside else out_l2, b.addr, a.addr, b.ttl, rng.getrandbits(16), flow_label=rng.getrandbits(20)
        )
        if len(self._paths) > 50_000:
            self._paths.clear()
        self._paths[key] = (ab, ba)
        self._paths[(b.addr, a.addr, vlan)] = (ba, ab)
        return ab, ba

    def ephemeral(self, host: Host) -> int:
        """Next source port of ``host`` (sequential, as Windows and BSD allocate them)."""
        port = self.ports.get(host.addr)
        if port is None:
            port = self.rng.randint(32768, 60999)
        port = port + 1 if port < 60999 else 32768
        self.ports[host.addr] = port
        return port

    def vlan(self) -> int | None:
        return self.rng.choice(VLANS) if self.rng.random() < 0.02 else None

    def _log(self, low: float, median: float, sigma: float, high: float) -> int:
        return int(min(high, max(low, self.rng.lognormvariate(math.log(median), sigma))))

    # -- conversations

    def http(self, t: int, v6: bool = False) -> list[Event]:
        rng = self.rng
        if not v6 and rng.random() < self.worm_fraction:
            return self.code_red(t)
        client = rng.choice(self.campus6 if v6 else self.campus4)
        server = rng.choice(self.servers6 if v6 else self.servers4)
        conv = TcpConv(self, client, server, self.ephemeral(client), 80, self.vlan(), 1440 if v6 else 1460)
        t = conv.handshake(t)
        agent = rng.choice(proto.USER_AGENTS)
        requests = 1 + min(int(rng.expovariate(0.7)), 8)
        for k in range(requests):
            download = rng.random() < 0.05
            if download:
                path = f"/downloads/file-{rng.randrange(1000)}.bin"
                ctype, body_len = "application/octet-stream", self._log(20_000, 300_000, 1.2, 3_000_000)
                body = self.blob[rng.randrange(len(self.blob) - body_len) :][:body_len]
            else:
                path = rng.choice(TEXT_PATHS)
                ctype = (
                    "text/css"
                    if path.endswith(".css")
                    else "application/javascript"
                    if path.endswith(".js")
                    else "text/html; charset=utf-8"
                )
                body_len = self._log(200, 6_000, 1.1, 250_000)
                body = self.text[rng.randrange(len(self.text) - body_len) :][:body_len]
            status = 200 if download or rng.random() < 0.85 else rng.choice((304, 304, 404))
            if status == 304:
                body = b""
            elif status == 404:
                body = self.text[:300]
            head = proto.http_response_head(status, ctype, len(body), t // 1_000_000)
            request = proto.Stream([proto.http_request(path, server.name, agent)])
            think = self._log(100, 3_000, 1.2, 400_000)
            start = t + (rng.randint(20, 300) if k == 0 else self._log(1_000, 80_000, 1.3, 3_000_000))
            sent = conv.send(0, request, start, think)
            _, t = conv.send(1, proto.Stream([head, body]), conv.answer(1, sent, think))
        conv.close(t + self._log(1_000, 200_000, 1.2, 5_000_000))
        return conv.plan()

    def code_red(self, t: int) -> list[Event]:
        """A Code Red II probe: SYN to a campus address; no answer, RST, or a web server that gets the request.

        The worm counters count at emission, so a probe cut off by the end of the trace counts
        only what was written.
        """
        rng = self.rng
        worm = rng.choice(self.infected)
        x = rng.random()
        if x < 0.25:
            target = rng.choice(self.campus_web)
        else:
            target = self._host(ipv4(f"198.18.{rng.randrange(256)}.{rng.randint(1, 254)}"), True)
        conv = TcpConv(self, worm, target, self.ephemeral(worm), 80, None, 1460)
        request = None
        if x >= 0.25:
            c = conv.nxt[0]
            conv._seg(t, 0, TCP_SYN, c, 0, opts=conv._syn_options(0))
            if x < 0.45:  # a host without a web server
                conv._seg(t + conv._react(1), 1, TCP_RST | TCP_ACK, 0, c + 1)
            else:  # nobody there: Windows retransmits the SYN after 3 s
                conv._seg(t + 3_000_000 + rng.randint(0, 20_000), 0, TCP_SYN, c, 0, opts=conv._syn_options(0))
        else:
            t = conv.handshake(t)
            request = proto.Stream([proto.code_red_request(self.shellcode)])
            sent = conv.send(0, request, t + rng.randint(50, 500), 500)
            body = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"
            head = proto.http_response_head(
                404, "text/html; charset=iso-8859-1", len(body), t // 1_000_000, "Apache/2.4.58"
            )
            _, t = conv.send(1, proto.Stream([head, body]), conv.answer(1, sent, 500), None)
            conv.fin(1, t + rng.randint(100, 2_000))
        plan = conv.plan()
        for i, (when, build, args) in enumerate(plan):
            # TcpConv._seg's args: (direction, flags, seq, ack, stream, offset, size, options).
            kind = _WORM_PROBE if i == 0 else 0
            if request is not None and args[4] is request:
                if args[5] == 0:
                    kind |= _WORM_GET
                if args[5] + args[6] == request.length:
                    kind |= _WORM_REQUEST
            plan[i] = (when, self._worm_emit, (kind, build, args))
        return plan

    def _worm_emit(self, kind: int, build: Callable[..., bytes], args: tuple) -> bytes:
        """Builds a packet of a worm connection and counts it (``kind``: bits _WORM_*)."""
        counters = self.counters
        counters.worm_packets += 1
        if kind:
            if kind & _WORM_PROBE:
                counters.worm_probes += 1
            if kind & _WORM_GET:
                counters.worm_get_packets += 1
            if kind & _WORM_REQUEST:
                counters.worm_requests += 1
        return build(*args)

    def tls(self, t: int, v6: bool = False) -> list[Event]:
        rng = self.rng
        client = rng.choice(self.campus6 if v6 else self.campus4)
        server = rng.choice(self.servers6 if v6 else self.servers4)
        conv = TcpConv(self, client, server, self.ephemeral(client), 443, self.vlan(), 1440 if v6 else 1460)
        blob = self.blob
        t = conv.handshake(t)
        hello, session_id = proto.tls_client_hello(rng, server.name)
        think = self._log(100, 2_000, 1.0, 100_000)
        sent = conv.send(0, proto.Stream([hello]), t + rng.randint(50, 400), think)
        server_flight = [proto.tls_server_hello(rng, session_id)] + proto.tls_record_parts(
            blob, rng.getrandbits(24), rng.randint(2_500, 5_500), 16_401
        )
        sent = conv.send(1, proto.Stream(server_flight), conv.answer(1, sent, think), 300)
        t = sent[1]
        first = True
        for _ in range(1 + min(int(rng.expovariate(0.5)), 10)):
            request = proto.tls_record_parts(blob, rng.getrandbits(24), rng.randint(80, 900))
            if first:
                request = (
                    [b"\x14\x03\x03\x00\x01\x01"] + proto.tls_record_parts(blob, rng.getrandbits(24), 53) + request
                )
                start = conv.answer(0, sent, rng.randint(100, 2_000))
                first = False
            else:
                start = t + self._log(1_000, 150_000, 1.3, 3_000_000)
            think = self._log(100, 5_000, 1.2, 300_000)
            sent = conv.send(0, proto.Stream(request), start, think)
            size = (
                self._log(100, 20_000, 1.5, 4_000_000)
                if rng.random() > 0.04
                else self._log(500_000, 1_500_000, 0.6, 4_000_000)
            )
            _, t = conv.send(
                1, proto.Stream(proto.tls_record_parts(blob, rng.getrandbits(24), size)), conv.answer(1, sent, think)
            )
        if rng.random() < 0.7:  # close_notify alert, encrypted
            t, _ = conv.send(
                0,
                proto.Stream(proto.tls_record_parts(blob, rng.getrandbits(24), 19)),
                t + self._log(1_000, 100_000, 1.0, 2_000_000),
                0,
            )
        conv.close(t + rng.randint(100, 50_000))
        return conv.plan()

    def ssh(self, t: int) -> list[Event]:
        rng = self.rng
        if rng.random() < 0.7:
            client, server = rng.choice(self.campus4), rng.choice(self.servers4)
        else:
            client, server = rng.choice(self.servers4), rng.choice(self.campus4)
        conv = TcpConv(self, client, server, self.ephemeral(client), 22, self.vlan(), 1460)
        blob = self.blob
        t = conv.handshake(t)
        S = proto.Stream
        turns = [
            (1, S([proto.ssh_banner(rng, True)])),
            (0, S([proto.ssh_banner(rng, False) + proto.ssh_kexinit(rng, False)])),
            (1, S([proto.ssh_kexinit(rng, True)])),
            (0, S([proto.ssh_ecdh_init(rng)])),
            (1, S([proto.ssh_ecdh_reply_newkeys(rng)])),
            (0, S([proto.ssh_newkeys(rng)] + proto.ssh_encrypted_parts(blob, rng.getrandbits(24), [32]))),
            (1, S(proto.ssh_encrypted_parts(blob, rng.getrandbits(24), [32]))),
            (0, S(proto.ssh_encrypted_parts(blob, rng.getrandbits(24), [380]))),
            (1, S(proto.ssh_encrypted_parts(blob, rng.getrandbits(24), [600, 40]))),
        ]
        if rng.random() < 0.3:  # scp: one bulk transfer of 32 KiB packets
            size = self._log(10_000, 500_000, 1.2, 3_000_000)
            lengths = [32_768] * (size // 32_768) + [size % 32_768 or 16]
            turns.append((rng.randrange(2), S(proto.ssh_encrypted_parts(blob, rng.getrandbits(24), lengths))))
        else:  # interactive: keystrokes and echoes
            for _ in range(rng.randint(5, 60)):
                turns.append((0, S(proto.ssh_encrypted_parts(blob, rng.getrandbits(24), [4]))))
                turns.append(
                    (1, S(proto.ssh_encrypted_parts(blob, rng.getrandbits(24), [rng.choice((4, 4, 40, 300, 1200))])))
                )
        t = conv.dialogue(turns, t, lambda: self._log(50, 3_000, 1.5, 2_000_000))
        conv.close(t + rng.randint(1_000, 500_000))
        return conv.plan()

    def smtp(self, t: int) -> list[Event]:
        rng = self.rng
        outside = rng.choice(self.servers4)
        if rng.random() < 0.5:
            client, server = self.mail_hub, outside
        else:
            client, server = outside, self.mail_hub
        conv = TcpConv(self, client, server, self.ephemeral(client), 25, None, 1460)
        t = conv.handshake(t)
        # at most the text's length: a larger draw used to end the trace with a ValueError
        size = self._log(200, 4_000, 1.3, len(self.text) - 1)
        start = rng.randrange(len(self.text) - size)
        body = bytes(self.text[start : start + size]).replace(b"\n", b"\r\n")
        turns = proto.smtp_dialogue(
            rng,
            client.name or "relay.example.net",
            server.name or "mx.example.org",
            "alice@example.org",
            "bob@campus.example",
            body,
        )
        t = conv.dialogue([(d, proto.Stream([x])) for d, x in turns], t, lambda: self._log(100, 2_000, 1.0, 200_000))
        conv.fin(rng.randrange(2), t + rng.randint(100, 5_000))
        return conv.plan()

    def tcp_high(self, t: int) -> list[Event]:
        """BitTorrent between high ports: handshake, bitfields, then batches of requests and 16 KiB pieces."""
        rng = self.rng
        client, server = rng.choice(self.campus4), rng.choice(self.servers4)
        if rng.random() < 0.4:
            client, server = server, client
        port = 51413 if rng.random() < 0.3 else rng.randint(49152, 65000)
        conv = TcpConv(self, client, server, self.ephemeral(client), port, self.vlan(), 1460)
        t = conv.handshake(t)
        S = proto.Stream
        info_hash = rng.randbytes(20)
        pieces = rng.randint(200, 4000)
        bitfield = bytes((pieces + 7) // 8)
        turns = [
            (0, S([proto.bt_handshake(info_hash, b"-qB4650-" + rng.randbytes(12))])),
            (
                1,
                S(
                    [
                        proto.bt_handshake(info_hash, b"-TR4050-" + rng.randbytes(12))
                        + proto.bt_message(5, b"\xff" * len(bitfield))
                    ]
                ),
            ),
            (0, S([proto.bt_message(5, bitfield) + proto.bt_message(2)])),
            (1, S([proto.bt_message(1)])),
        ]
        for _ in range(rng.randint(1, 6)):
            index = rng.randrange(pieces)
            blocks = range(rng.randint(1, 16))
            turns.append((0, S([proto.bt_requests(index, blocks)])))
            turns.append((1, S(proto.bt_piece_parts(self.blob, rng.getrandbits(24), index, blocks))))
            if rng.random() < 0.5:
                turns.append((0, S([proto.bt_message(4, struct.pack("!I", index))])))
        t = conv.dialogue(turns, t, lambda: self._log(100, 5_000, 1.2, 500_000))
        conv.close(t + rng.randint(1_000, 200_000))
        return conv.plan()

    def _udp_pair(self, a: Host, b: Host, vlan: int | None) -> tuple[Path, Path]:
        return self.paths(a, b, self.is_campus(a.addr), vlan)

    def dns(self, t: int, v6: bool = False) -> list[Event]:
        rng = self.rng
        client = rng.choice(self.campus6 if v6 else self.campus4)
        resolver = rng.choice(self.resolvers6 if v6 else self.resolvers4)
        up, down = self._udp_pair(client, resolver, self.vlan())
        events: list[Event] = []
        nx = rng.random() < 0.08
        name = f"{rng.getrandbits(40):010x}.{rng.choice(DOMAINS)}" if nx else rng.choice(self.servers4).name
        qtypes = (
            [proto.QTYPE_A, proto.QTYPE_AAAA]
            if rng.random() < 0.5
            else [rng.choice((proto.QTYPE_A, proto.QTYPE_A, proto.QTYPE_AAAA, proto.QTYPE_MX))]
        )
        for qtype in qtypes:
            sport = rng.randint(1024, 65535)
            ident = rng.getrandbits(16)
            events.append((t, up.udp, (sport, 53, proto.dns_query(ident, name, qtype))))
            answers: list[tuple[int, int, bytes]] = []
            if not nx:
                if rng.random() < 0.3:
                    answers.append(
                        (proto.QTYPE_CNAME, 300, proto.dns_name(f"edge{rng.randrange(100)}.cdn.example.net"))
                    )
                for _ in range(rng.randint(1, 4)):
                    ttl = rng.choice((60, 300, 3600, 86400))
                    if qtype == proto.QTYPE_A:
                        answers.append((qtype, ttl, self._public4()))
                    elif qtype == proto.QTYPE_AAAA:
                        answers.append(
                            (
                                qtype,
                                ttl,
                                ipv6(f"2001:db8:{rng.randrange(0x100, 0xFFFF):x}::{rng.randrange(1, 1 << 16):x}"),
                            )
                        )
                    else:
                        answers.append(
                            (
                                qtype,
                                ttl,
                                struct.pack("!H", rng.choice((10, 20)))
                                + proto.dns_name(f"mx{rng.randrange(4)}.{name}"),
                            )
                        )
            response = proto.dns_response(
                ident, name, qtype, answers, nxdomain_zone=name.split(".", 1)[1] if nx else None
            )
            t_resp = t + self._log(300, 15_000, 1.0, 500_000)
            events.append((t_resp, down.udp, (53, sport, response)))
            t += rng.randint(5, 200)
        events.sort(key=_first)
        return events

    def ntp(self, t: int) -> list[Event]:
        rng = self.rng
        client, server = rng.choice(self.campus4), rng.choice(self.ntp_servers)
        up, down = self._udp_pair(client, server, None)
        sport = 123 if rng.random() < 0.5 else rng.randint(32768, 60999)
        now = 1704067200_000_000 + t
        t2 = t + server.lat + rng.randint(10, 200)
        return [
            (t, up.udp, (sport, 123, proto.ntp_packet(3, now))),
            (t2, down.udp, (123, sport, proto.ntp_packet(4, now + (t2 - t) // 2, origin_us=now))),
        ]

    def udp_high(self, t: int) -> list[Event]:
        """A voice call between high ports: RTP (Opus) both ways every 20 ms."""
        rng = self.rng
        a, b = rng.choice(self.campus4), rng.choice(self.servers4)
        ab, ba = self._udp_pair(a, b, self.vlan())
        pa, pb = rng.randrange(49152, 65534, 2), rng.randrange(49152, 65534, 2)
        size = rng.choice((60, 80, 120, 160))
        events: list[Event] = []
        blob = self.blob
        offset = rng.getrandbits(24)
        legs = [
            (ab, pa, pb, rng.getrandbits(16), rng.getrandbits(32), rng.getrandbits(32), 0),
            (ba, pb, pa, rng.getrandbits(16), rng.getrandbits(32), rng.getrandbits(32), b.lat),
        ]
        for i in range(rng.randint(10, 250)):
            for path, sp, dp, seq, ts, ssrc, delay in legs:
                n = size + int(rng.random() * 17) - 8
                start = (offset + i * 977 + delay) % (len(blob) - n)
                packet = proto.rtp_packet(seq + i, ts + 960 * i, ssrc, blob[start : start + n])
                events.append((t + delay // 2 + int(rng.random() * 400), path.udp, (sp, dp, packet)))
            t += 20_000
        events.sort(key=_first)
        return events

    def ping(self, t: int, v6: bool = False) -> list[Event]:
        rng = self.rng
        client = rng.choice(self.campus6 if v6 else self.campus4)
        server = rng.choice(self.servers6 if v6 else self.servers4)
        out, back = self._udp_pair(client, server, None)
        req_type, rep_type = (128, 129) if v6 else (8, 0)
        ident = rng.getrandbits(16)
        events: list[Event] = []
        for seq in range(1, rng.randint(1, 5) + 1):
            ts = 1704067200_000_000 + t
            payload = struct.pack("<QQ", ts // 1_000_000, ts % 1_000_000) + bytes(range(0x10, 0x38))[:48]
            events.append((t, out.icmp, (req_type, 0, ident, seq, payload)))
            events.append((t + server.lat + rng.randint(5, 50), back.icmp, (rep_type, 0, ident, seq, payload)))
            t += 1_000_000 + rng.randint(-2_000, 2_000)
        events.sort(key=_first)
        return events

    def ndp(self, t: int) -> list[Event]:
        """IPv6 neighbour solicitation and advertisement between the two routers."""
        rng = self.rng
        a_mac, a_ll, b_mac, b_ll = CAMPUS_ROUTER, CAMPUS_ROUTER_LL, ISP_ROUTER, ISP_ROUTER_LL
        if rng.random() < 0.5:
            a_mac, a_ll, b_mac, b_ll = b_mac, b_ll, a_mac, a_ll
        solicited = ipv6("ff02::1:ff00:0")[:13] + b_ll[13:]
        ns = Path(ethernet(b"\x33\x33" + solicited[12:], a_mac, ETH_IPV6), a_ll, solicited, 255)
        na = Path(ethernet(a_mac, b_mac, ETH_IPV6), b_ll, a_ll, 255)
        ns_body = bytes(4) + b_ll + b"\x01\x01" + a_mac
        na_body = struct.pack("!I", 0xE0000000) + b_ll + b"\x02\x01" + b_mac
        return [
            (t, ns.icmpv6_raw, (135, 0, ns_body)),
            (t + rng.randint(100, 2_000), na.icmpv6_raw, (136, 0, na_body)),
        ]

    def arp(self, t: int, reply: bool = True) -> list[Event]:
        """ARP request (broadcast) and reply between the routers of the uplink."""
        rng = self.rng
        a = (CAMPUS_ROUTER, CAMPUS_ROUTER_IP)
        b = (ISP_ROUTER, ISP_ROUTER_IP)
        if rng.random() < 0.5:
            a, b = b, a
        request = arp_frame(ethernet(BROADCAST, a[0], ETH_ARP), 1, a[0], a[1], bytes(6), b[1])
        events: list[Event] = [(t, bytes, (request,))]
        if reply:
            answer = arp_frame(ethernet(a[0], b[0], ETH_ARP), 2, b[0], b[1], a[0], a[1])
            events.append((t + rng.randint(100, 3_000), bytes, (answer,)))
        return events

    def session(self, t: int) -> list[Event]:
        """The plan of one new conversation starting at ``t``."""
        kind = self.rng.choices(self.kinds, cum_weights=self.cum_weights)[0]
        counters = self.counters
        counters.sessions[kind] = counters.sessions.get(kind, 0) + 1
        if kind.endswith("6"):
            return getattr(self, kind[:-1])(t, True)
        return getattr(self, kind)(t)

    def frames(self, count: int) -> Iterator[tuple[int, bytes]]:
        """``(time_us, frame)`` for exactly ``count`` packets, times strictly increasing.

        Conversations keep starting until the last packet, so the trace ends like a real
        capture: with the conversations of that moment cut short.
        """
        rng = self.rng
        heap: list[tuple[int, int, list[Event], int]] = []
        emitted = 0
        next_start = 0
        last = -1
        serial = 0
        heappush, heapreplace, heappop = heapq.heappush, heapq.heapreplace, heapq.heappop
        mean_gap = self.mean_gap_us
        while emitted < count:
            if not heap or next_start <= heap[0][0]:
                plan = self.session(next_start)
                serial += 1
                heappush(heap, (plan[0][0], serial, plan, 0))
                next_start += 1 + int(rng.expovariate(1.0) * mean_gap)
                continue
            t, s, plan, i = heap[0]
            _, build, args = plan[i]
            if t <= last:
                t = last + 1
            last = t
            yield t, build(*args)
            emitted += 1
            i += 1
            if i < len(plan):
                heapreplace(heap, (plan[i][0], s, plan, i))
            else:
                heappop(heap)
