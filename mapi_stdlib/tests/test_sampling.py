"""SAMPLE, HASHSAMP, STARTSTOP, SYNC and THRESHOLD on real traces, checked against tshark.

Every expected value comes from tshark run at test time (frame numbers, lengths, timestamps,
5-tuples), combined by hand calculations written out below: Linux 2.6's jhash (lookup2) for
HASHSAMP, the published xoshiro256**/splitmix64 for SAMPLE's predicted draws, cumulative sums
and a literal model of the documented poll clock for THRESHOLD.  tshark runs with IP
reassembly off so that each frame is judged on its own, as HASHSAMP judges it.
"""

from __future__ import annotations

import calendar
import contextlib
import ipaddress
import math
from collections.abc import Iterator
from typing import Any

import pytest
from mapi_core.testing import epoch_to_ts32, run, shared_device_flows, tool, trace, tshark_fields

from mapi_core import Flow, MapiError, default_runtime

# ---- tshark -------------------------------------------------------------------------------------

NO_REASSEMBLY = ("-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE")


def tshark(path: Any, *fields: str, where: str | None = None) -> list[list[str]]:
    """One row per frame (first occurrence of each field), in file order."""
    return tshark_fields(path, *fields, display_filter=where, options=NO_REASSEMBLY)


def count(path: Any, where: str) -> int:
    """tshark -r F -Y WHERE -T fields -e frame.number | wc -l"""
    return len(tshark(path, "frame.number", where=where))


ts32 = epoch_to_ts32


def frames(path: Any) -> list[tuple[int, int, int]]:
    """(frame number, 32.32 ts, wire length) of every frame."""
    return [(int(n), ts32(t), int(length))
            for n, t, length in tshark(path, "frame.number", "frame.time_epoch", "frame.len")]


def capinfos_count(path: Any) -> int:
    for line in run(tool("capinfos"), "-c", "-M", str(path)).splitlines():
        if "Number of packets" in line:
            return int(line.split()[-1])
    raise AssertionError("capinfos printed no packet count")


# ---- flows --------------------------------------------------------------------------------------

def run_flow(path: Any, *functions: tuple[Any, ...]) -> tuple[Flow, list[Any]]:
    """A connected and finished flow with ``functions`` applied in order (caller closes it)."""
    flow = Flow(path)
    handles = [flow.apply(*function) for function in functions]
    flow.run(timeout=60)
    return flow, handles


def read_all(handle: Any) -> list[Any]:
    """Every item of a blocking result, until None (the flow has ended)."""
    items = []
    while (item := handle.read(timeout=10)) is not None:
        items.append(item)
    return items


@contextlib.contextmanager
def shared_device(path: Any, flows: int) -> Iterator[tuple[str, list[Flow]]]:
    """An offline device (not started) with ``flows`` flows on it, and its name."""
    with shared_device_flows(path, flows) as created:
        yield default_runtime().flow(created[0].fd).device.name, created


def apply_error(path: Any, name: str, *args: Any) -> MapiError:
    with Flow(path) as flow, pytest.raises(MapiError) as caught:
        flow.apply(name, *args)
    return caught.value


def assert_error(error: MapiError, code: int, *words: str) -> None:
    assert error.code == code, str(error)
    for word in words:
        assert word in str(error), f"{word!r} is not in {str(error)!r}"


# ==== SAMPLE ======================================================================================

SAMPLE_TRACES = [
    "mapi-tracefile.pcap",                           # Ethernet, 893 frames
    "ndpi-4.2-src--rtsp.pcap",                       # Linux SLL, 568
    "tcpflow-1.6.1-src--local.pcap",                 # BSD loopback, 106
    "wireshark-4.0.17-src--logistics_multicast.pcapng",
]


@pytest.mark.parametrize("name", SAMPLE_TRACES)
@pytest.mark.parametrize("period", [1, 3, 7, 50])
def test_periodic_sample_passes_every_nth_frame(name: str, period: int) -> None:
    path = trace(name)
    # tshark -r F -Y 'frame.number % N == 0': the N-th, 2N-th ... frames, and their wire lengths
    chosen = tshark(path, "frame.len", where=f"frame.number % {period} == 0")
    flow, (_, packets, volume) = run_flow(path, ("SAMPLE", period, "PERIODIC"), ("PKT_COUNTER",), ("BYTE_COUNTER",))
    with flow:
        assert packets.read() == len(chosen)
        assert volume.read() == sum(int(length) for (length,) in chosen)


def test_deterministic_is_periodic_by_name_and_number() -> None:
    path = trace("mapi-tracefile.pcap")
    expected = count(path, "frame.number % 5 == 0")
    for mode in ("DETERMINISTIC", "PERIODIC", 2):
        flow, (_, packets) = run_flow(path, ("SAMPLE", 5, mode), ("PKT_COUNTER",))
        with flow:
            assert packets.read() == expected


def test_periodic_sample_passes_exactly_those_frames() -> None:
    # Which frames passed: HASHSAMP(1024, keep) after SAMPLE records the timestamp of every TCP/UDP
    # packet that reaches it; tshark lists the chosen frames that are TCP/UDP over IP.
    path = trace("mapi-tracefile.pcap")
    expected = [ts for number, ts, *_ in hashable_frames(path) if number % 7 == 0]
    flow, (_, samples) = run_flow(path, ("SAMPLE", 7, "PERIODIC"), ("HASHSAMP", 1024, 1))
    with flow:
        assert [sample.ts for sample in read_all(samples)] == expected


# -- PROBABILISTIC: the generator, written out from its published definitions ---------------------

MASK64 = 2**64 - 1


def splitmix64(state: int) -> tuple[int, int]:
    """Steele, Lea and Flood's splitmix64 (Vigna's reference code): (new state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK64


class Xoshiro256StarStar:
    """Blackman and Vigna's xoshiro256** 1.0, seeded with four splitmix64 outputs."""

    def __init__(self, seed: int) -> None:
        self.s = []
        for _ in range(4):
            seed, word = splitmix64(seed)
            self.s.append(word)

    def next(self) -> int:
        s = self.s
        result = (rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def percent(self) -> int:
        """Uniform in 0..99: draws at or above 2**64 - (2**64 % 100) are redrawn."""
        assert 2**64 % 100 == 16
        while True:
            r = self.next()
            if r < 2**64 - 16:
                return r % 100


def predicted(path: Any, percent: int, seed: int) -> list[tuple[int, int, int]]:
    """The frames SAMPLE(percent, PROBABILISTIC, seed) passes: one draw per frame, in order."""
    rng = Xoshiro256StarStar(seed)
    return [frame for frame in frames(path) if rng.percent() < percent]


@pytest.mark.parametrize(("name", "percent", "seed"), [
    ("mapi-tracefile.pcap", 30, 1),
    ("mapi-tracefile.pcap", 1, 99),
    ("ndpi-4.2-src--synscan.pcap", 50, 2**64 - 1),
    ("ndpi-4.2-src--rtsp.pcap", 90, 12345),
])
def test_probabilistic_sample_draws_as_predicted(name: str, percent: int, seed: int) -> None:
    path = trace(name)
    chosen = predicted(path, percent, seed)
    flow, (_, packets, volume) = run_flow(path, ("SAMPLE", percent, "PROBABILISTIC", seed), ("PKT_COUNTER",),
                                          ("BYTE_COUNTER",))
    with flow:
        assert packets.read() == len(chosen)
        assert volume.read() == sum(length for *_, length in chosen)
    # and the count is a plausible binomial draw: within 5 standard deviations of n*p
    n, p = len(frames(path)), percent / 100
    assert abs(len(chosen) - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1


def test_probabilistic_sample_repeats_for_a_seed_and_differs_between_seeds() -> None:
    path = trace("mapi-tracefile.pcap")

    def passed(*seed: int) -> list[int]:
        flow, (_, samples) = run_flow(path, ("SAMPLE", 40, "PROBABILISTIC", *seed), ("HASHSAMP", 1024, 1))
        with flow:
            return [sample.ts for sample in read_all(samples)]

    first, again, other = passed(7), passed(7), passed(8)
    assert first == again
    assert first != other
    # The default seed is a fixed constant: two runs without one agree.
    assert passed() == passed()
    hashable = len(hashable_frames(path))
    for run_ in (first, other):      # binomial bound, 5 standard deviations
        assert abs(len(run_) - hashable * 0.4) <= 5 * math.sqrt(hashable * 0.4 * 0.6)


def test_probabilistic_100_passes_everything() -> None:
    path = trace("ndpi-4.2-src--ajp.pcap")
    flow, (_, packets) = run_flow(path, ("SAMPLE", 100, "PROBABILISTIC"), ("PKT_COUNTER",))
    with flow:
        assert packets.read() == capinfos_count(path)


@pytest.mark.parametrize(("args", "code", "words"), [
    ((0, "PERIODIC"), 7001, ("SAMPLE", "argument 1 (value)")),
    ((-5, "PROBABILISTIC"), 7001, ("SAMPLE", "argument 1 (value)")),
    ((101, "PROBABILISTIC"), 7001, ("SAMPLE", "argument 1 (value)", "percentage")),
    (("ten", "PERIODIC"), 7001, ("SAMPLE", "argument 1 (value)")),
    ((1.5, "PERIODIC"), 7001, ("SAMPLE", "argument 1 (value)")),
    ((2**31, "PERIODIC"), 7001, ("SAMPLE", "argument 1 (value)")),
    ((10, 4), 7002, ("SAMPLE", "argument 2 (mode)")),
    ((10, "RANDOM"), 7002, ("SAMPLE", "argument 2 (mode)")),
    ((10,), 7002, ("SAMPLE", "argument 2 (mode)", "missing")),
    ((10, "PROBABILISTIC", -1), 7003, ("SAMPLE", "argument 3 (seed)")),
    ((10, "PROBABILISTIC", 2**64), 7003, ("SAMPLE", "argument 3 (seed)")),
    ((10, "PROBABILISTIC", "x"), 7003, ("SAMPLE", "argument 3 (seed)")),
    ((10, "PROBABILISTIC", 1, 2), 7000, ("SAMPLE", "3 argument(s)")),
])
def test_sample_errors(args: tuple[Any, ...], code: int, words: tuple[str, ...]) -> None:
    assert_error(apply_error(trace("mapi-www.pcap"), "SAMPLE", *args), code, *words)


# ==== HASHSAMP ====================================================================================

def lookup2_mix(a: int, b: int, c: int) -> int:
    """Bob Jenkins' lookup2 mix (1996), as in Linux 2.6.0-2.6.36's include/linux/jhash.h."""
    m = 0xFFFFFFFF
    a = (a - b - c) & m
    a ^= c >> 13
    b = (b - c - a) & m
    b ^= (a << 8) & m
    c = (c - a - b) & m
    c ^= b >> 13
    a = (a - b - c) & m
    a ^= c >> 12
    b = (b - c - a) & m
    b ^= (a << 16) & m
    c = (c - a - b) & m
    c ^= b >> 5
    a = (a - b - c) & m
    a ^= c >> 3
    b = (b - c - a) & m
    b ^= (a << 10) & m
    c = (c - a - b) & m
    c ^= b >> 15
    return c


def jhash_3words(a: int, b: int, c: int, initval: int) -> int:
    """Linux 2.6: a and b start at the golden ratio 0x9e3779b9, c at initval; one mix."""
    return lookup2_mix((a + 0x9E3779B9) & 0xFFFFFFFF, (b + 0x9E3779B9) & 0xFFFFFFFF, (c + initval) & 0xFFFFFFFF)


def address_word(text: str) -> int:
    """An address as HASHSAMP's documented word: IPv4 bytes read little-endian (MAPI on i386);
    IPv6 the XOR of its four little-endian words."""
    packed = ipaddress.ip_address(text).packed
    word = 0
    for i in range(0, len(packed), 4):
        word ^= int.from_bytes(packed[i:i + 4], "little")
    return word


#: Layers in tshark's frame.protocols that may come before the IP header HASHSAMP reads (its
#: link-layer parser: Ethernet, 802.1Q, MPLS, Linux SLL, BSD loopback, raw IP).  Others (PPPoE,
#: FabricPath, LLC...) hide IP from it.
LINK_LAYERS = {"eth", "ethertype", "vlan", "mpls", "sll", "null", "raw"}
TCP_FLAG_BITS = {0x02: 1, 0x10: 2, 0x04: 4, 0x01: 8, 0x08: 16}    # TCP's SYN ACK RST FIN PSH -> MAPI's
HASH_FIELDS = ("frame.number", "frame.time_epoch", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
               "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.seq_raw", "tcp.flags")


def hashable_frames(path: Any) -> list[tuple[int, int, tuple[Any, ...], int]]:
    """(frame number, ts, sample tuple, 5-tuple hash % 1024) of each TCP/UDP frame whose outer
    IP header HASHSAMP reads.  The sample tuple is (src, dst, sport, dport, seq, flags, proto)."""
    result = []
    for row in tshark(path, *HASH_FIELDS):
        number, epoch, protocols, ip_src, ip_dst, ip6_src, ip6_dst, tsport, tdport, usport, udport, seq, flags = row
        layers = protocols.split(":")
        network = next((i for i, layer in enumerate(layers) if layer in ("ip", "ipv6")), None)
        if network is None or not set(layers[:network]) <= LINK_LAYERS:
            continue
        upper = [layer for layer in layers[network + 1:] if not layer.startswith("ipv6.")]
        if not upper or upper[0] not in ("tcp", "udp"):
            continue     # ICMP, tunnels, later fragments ("data")
        src, dst = (ip_src, ip_dst) if layers[network] == "ip" else (ip6_src, ip6_dst)
        if upper[0] == "tcp":
            proto, sport, dport = 6, int(tsport), int(tdport)
            bits = int(flags, 16)
            mapi_flags = sum(mapi for tcp, mapi in TCP_FLAG_BITS.items() if bits & tcp)
            seq_number = int(seq)
        else:
            proto, sport, dport, mapi_flags, seq_number = 17, int(usport), int(udport), 0, 0
        h = jhash_3words(address_word(src), address_word(dst) ^ proto, sport | dport << 16, 6564987) % 1024
        sample = (ipaddress.ip_address(src), ipaddress.ip_address(dst), sport, dport, seq_number, mapi_flags, proto)
        result.append((int(number), ts32(epoch), sample, h))
    return result


HASH_TRACES = [
    "mapi-tracefile.pcap",                 # Ethernet, snaplen 96, TCP/UDP and much non-IP
    "ndpi-4.2-src--ajp.pcap",              # 802.1Q, and FabricPath frames HASHSAMP cannot read
    "ndpi-4.2-src--rtsp.pcap",             # Linux SLL
    "tcpflow-1.6.1-src--local.pcap",       # BSD loopback, IPv4 and IPv6
    "ndpi-4.2-src--http_ipv6.pcap",        # IPv6 TCP and UDP
    "ndpi-4.2-src--dns_fragmented.pcap",   # IPv4 and IPv6 fragments
    "ndpi-4.2-src--6in4tunnel.pcap",       # IPv6 in IPv4: protocol 41, dropped
    "deb-python3-dpkt--dns_icmp.pcap",     # ICMP errors quoting UDP: dropped
    "deb-python3-dpkt--nb6-http.pcap",     # PPPoE (not parsed) and plain Ethernet
]


@pytest.mark.parametrize("name", HASH_TRACES)
@pytest.mark.parametrize("hash_range", [1024, 700, 300, 1])
def test_hashsamp_passes_the_5_tuples_whose_jhash_is_in_range(name: str, hash_range: int) -> None:
    path = trace(name)
    expected = [frame for frame in hashable_frames(path) if frame[3] < hash_range]
    flow, (_, packets) = run_flow(path, ("HASHSAMP", hash_range, 0), ("PKT_COUNTER",))
    with flow:
        assert packets.read() == len(expected)


@pytest.mark.parametrize("name", ["mapi-tracefile.pcap", "tcpflow-1.6.1-src--local.pcap",
                                  "ndpi-4.2-src--http_ipv6.pcap", "ndpi-4.2-src--ajp.pcap"])
def test_hashsamp_ring_holds_each_sampled_packet(name: str) -> None:
    path = trace(name)
    expected = [(*sample, ts) for _, ts, sample, h in hashable_frames(path) if h < 600]
    assert 0 < len(expected) <= 1024
    flow, (samples,) = run_flow(path, ("HASHSAMP", 600, 1))
    with flow:
        got = read_all(samples)
    assert [(s.src, s.dst, s.sport, s.dport, s.seq, s.flags, s.protocol, s.ts) for s in got] == expected
    assert all(s.lost == 0 for s in got)


def test_hashsamp_ring_overflow_is_counted() -> None:
    # synscan: about 2000 TCP packets, more than the ring's 1024 samples.  Read after the run,
    # the oldest are gone: the first sample read says how many.
    path = trace("ndpi-4.2-src--synscan.pcap")
    expected = [(*sample, ts) for _, ts, sample, _ in hashable_frames(path)]
    assert len(expected) > 1024
    flow, (samples,) = run_flow(path, ("HASHSAMP", 1024, 1))
    with flow:
        got = read_all(samples)
    assert len(got) == 1024
    assert got[0].lost == len(expected) - 1024
    assert [s.lost for s in got[1:]] == [0] * 1023
    assert [(s.src, s.dst, s.sport, s.dport, s.seq, s.flags, s.protocol, s.ts) for s in got] == expected[-1024:]


def test_hashsamp_read_blocks_until_a_sample_or_the_timeout() -> None:
    path = trace("mapi-www.pcap")
    first = hashable_frames(path)[0]
    with shared_device(path, 1) as (name, (flow,)):
        samples = flow.apply("HASHSAMP", 1024, 1)
        flow.connect()
        with pytest.raises(MapiError) as caught:      # the device has not started: nothing comes
            samples.read(timeout=0.2)
        assert_error(caught.value, 6160, "HASHSAMP")
        default_runtime().start_offline_device(name)
        assert samples.read(timeout=10).ts == first[1]


def test_hashsamp_without_keep_has_no_result() -> None:
    flow, (samples,) = run_flow(trace("mapi-www.pcap"), ("HASHSAMP", 1024, 0))
    with flow, pytest.raises(MapiError) as caught:
        samples.read()
    assert_error(caught.value, 6146, "HASHSAMP", "keep")


@pytest.mark.parametrize(("args", "code", "words"), [
    ((0, 0), 7001, ("HASHSAMP", "argument 1 (range)")),
    ((1025, 0), 7001, ("HASHSAMP", "argument 1 (range)")),
    ((-1, 1), 7001, ("HASHSAMP", "argument 1 (range)")),
    (("all", 1), 7001, ("HASHSAMP", "argument 1 (range)")),
    ((10, 2), 7002, ("HASHSAMP", "argument 2 (keep)")),
    ((10, -1), 7002, ("HASHSAMP", "argument 2 (keep)")),
    ((10,), 7002, ("HASHSAMP", "argument 2 (keep)", "missing")),
    ((10, 1, 1), 7000, ("HASHSAMP", "2 argument(s)")),
])
def test_hashsamp_errors(args: tuple[Any, ...], code: int, words: tuple[str, ...]) -> None:
    assert_error(apply_error(trace("mapi-www.pcap"), "HASHSAMP", *args), code, *words)


# ==== STARTSTOP ===================================================================================

def window_of(path: Any, where: str) -> list[tuple[int, int]]:
    """(number, ts) of the frames tshark's filter selects."""
    return [(int(n), ts32(t)) for n, t in tshark(path, "frame.number", "frame.time_epoch", where=where)]


def assert_clear_of(path: Any, *bounds: float) -> None:
    """No frame lies within 2 µs of a bound (rounding to 2^-32 s cannot then matter)."""
    for (relative,) in tshark(path, "frame.time_relative"):
        for bound in bounds:
            assert abs(float(relative) - bound) > 2e-6, f"a frame is at {relative}, too close to {bound}"


@pytest.mark.parametrize(("name", "start", "stop"), [
    ("mapi-tracefile.pcap", 1.5, 2.25),
    ("mapi-tracefile.pcap", 30, 40.0005),
    ("mapi-tracefile.pcap", 0, 10.1),
    ("ndpi-4.2-src--rtsp.pcap", 2.5, 5),
    ("wireshark-4.0.17-src--logistics_multicast.pcapng", 0.75, 1.5),
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcap", 0, 0.000_150),
    ("ndpi-4.2-src--quic.pcap", 1000, 5),            # after the trace: nothing passes
])
def test_relative_window_matches_time_relative(name: str, start: float, stop: float) -> None:
    path = trace(name)
    assert_clear_of(path, *([start] if start else []), start + stop)
    lower = f"frame.time_relative >= {start} && " if start else ""      # start 0: no lower bound
    expected = window_of(path, f"{lower}frame.time_relative <= {start + stop}")
    first = frames(path)[0][1]
    flow, (window, packets) = run_flow(path, ("STARTSTOP", f"+{start}s", f"+{stop}s"), ("PKT_COUNTER",))
    with flow:
        assert packets.read() == len(expected)
        times = window.read()
    assert times.first == first
    assert times.first_processed == (expected[0][1] if expected else None)
    assert times.last == (expected[-1][1] if expected else None)


def utc(text: str) -> int:
    """Seconds since the epoch of a UTC date 'YYYY-MM-DD HH:MM:SS' (calendar.timegm)."""
    return calendar.timegm(tuple(int(x) for x in text.replace("-", " ").replace(":", " ").split()) + (0, 0, 0))


# mapi-tracefile.pcap runs from 1089376567.456945 (2004-07-09 12:36:07 UTC) for 118.65 s:
#   tshark -r mapi-tracefile.pcap -T fields -e frame.time_epoch | sed -n '1p;$p'
@pytest.mark.parametrize(("start", "stop", "start_utc", "stop_utc"), [
    ("2004-07-09 12:36:30", "2004-07-09 12:36:50", "2004-07-09 12:36:30", "2004-07-09 12:36:50"),
    ("2004-07-09T14:36:30+02:00", "+20s", "2004-07-09 12:36:30", "2004-07-09 12:36:50"),
    ("2004-07-09T12:36:30Z", "2004-07-09 07:36:50-0500", "2004-07-09 12:36:30", "2004-07-09 12:36:50"),
    ("2004-07-09 12:37:45.5", "+1m", "2004-07-09 12:37:45", "2004-07-09 12:38:45"),
    ("2004-07-09 11:00:00", "2004-07-09 12:00:00", "2004-07-09 11:00:00", "2004-07-09 12:00:00"),
])
def test_absolute_window_compares_packet_time(start: str, stop: str, start_utc: str, stop_utc: str) -> None:
    path = trace("mapi-tracefile.pcap")
    lower, upper = utc(start_utc), utc(stop_utc)
    if start.endswith(".5"):
        lower_text, upper_text = f"{lower}.5", f"{upper}.5"
    else:
        lower_text, upper_text = str(lower), str(upper)
    expected = window_of(path, f"frame.time_epoch >= {lower_text} && frame.time_epoch <= {upper_text}")
    results = []
    for _ in range(2):                       # time-driven: a second run gives the same output
        flow, (window, packets) = run_flow(path, ("STARTSTOP", start, stop), ("PKT_COUNTER",))
        with flow:
            results.append((packets.read(), window.read()))
    assert results[0] == results[1]
    passed, times = results[0]
    assert passed == len(expected)
    assert times.first == frames(path)[0][1]
    assert times.first_processed == (expected[0][1] if expected else None)
    assert times.last == (expected[-1][1] if expected else None)


@pytest.mark.parametrize(("args", "code", "words"), [
    (("soon", "+1s"), 7001, ("STARTSTOP", "argument 1 (start)")),
    (("-1", "+1s"), 7001, ("STARTSTOP", "argument 1 (start)")),
    (("2004-13-01 00:00:00", "+1s"), 7001, ("STARTSTOP", "argument 1 (start)", "date")),
    (("1969-12-31 23:59:59", "+1s"), 7001, ("STARTSTOP", "argument 1 (start)")),
    ((10, "+1s"), 7001, ("STARTSTOP", "argument 1 (start)")),
    (("", "+1s"), 7001, ("STARTSTOP", "argument 1 (start)")),
    (("+1s", "later"), 7002, ("STARTSTOP", "argument 2 (stop)")),
    (("+1s", "-5s"), 7002, ("STARTSTOP", "argument 2 (stop)")),
    (("2004-07-09 12:36:30", "2004-07-09 12:36:29"), 7002, ("STARTSTOP", "argument 2 (stop)", "before")),
    (("+1s",), 7002, ("STARTSTOP", "argument 2 (stop)", "missing")),
    (("+1s", "2004-07-09 12:36:30"), 7000, ("STARTSTOP", "relative start")),
    (("+1s", "+1s", "+1s"), 7000, ("STARTSTOP", "2 argument(s)")),
])
def test_startstop_errors(args: tuple[Any, ...], code: int, words: tuple[str, ...]) -> None:
    assert_error(apply_error(trace("mapi-www.pcap"), "STARTSTOP", *args), code, *words)


# ==== SYNC ========================================================================================

def test_sync_passes_nothing_while_a_listed_flow_is_unconnected() -> None:
    path = trace("mapi-tracefile.pcap")
    total = capinfos_count(path)
    with shared_device(path, 3) as (name, (gated, second, never)):
        gated.apply("SYNC", f"{second.fd},{never.fd}")
        passed = gated.apply("PKT_COUNTER")
        counted = second.apply("PKT_COUNTER")
        never.apply("PKT_COUNTER")
        gated.connect()
        second.connect()
        default_runtime().start_offline_device(name)
        gated.wait(60)
        assert (passed.read(), counted.read()) == (0, total)


def test_sync_passes_everything_when_all_were_connected_first() -> None:
    path = trace("ndpi-4.2-src--rtsp.pcap")
    total = capinfos_count(path)
    with shared_device(path, 3) as (name, (gated, second, third)):
        gated.apply("SYNC", [gated, second.fd, third])       # itself too, and Flow objects
        passed = gated.apply("PKT_COUNTER")
        for flow in (third, gated, second):
            flow.connect()
        default_runtime().start_offline_device(name)
        gated.wait(60)
        assert passed.read() == total


def test_sync_on_flows_connected_before_it_is_open_at_once() -> None:
    path = trace("tcpflow-1.6.1-src--local.pcap")
    with shared_device(path, 2) as (name, (gated, other)):
        other.connect()
        gated.apply("SYNC", str(other.fd))
        passed = gated.apply("PKT_COUNTER")
        gated.connect()
        default_runtime().start_offline_device(name)
        gated.wait(60)
        assert passed.read() == capinfos_count(path)


def test_sync_unregisters_from_flows_at_close() -> None:
    path = trace("mapi-www.pcap")
    with shared_device(path, 2) as (_, (gated, waited)):
        gated.apply("SYNC", str(waited.fd))
        gated.connect()
        record = default_runtime().flow(waited.fd)
        assert len(record.connect_listeners) == 1
        gated.close()
        assert record.connect_listeners == []
        waited.connect()       # nothing left to call


@pytest.mark.parametrize(("args", "code", "words"), [
    (("",), 7001, ("SYNC", "argument 1 (flows)")),
    (("1,x",), 7001, ("SYNC", "argument 1 (flows)", "'x'")),
    (("1,,2",), 7001, ("SYNC", "argument 1 (flows)")),
    (("99999",), 7001, ("SYNC", "argument 1 (flows)", "no flow 99999")),
    (("-1",), 7001, ("SYNC", "argument 1 (flows)")),
    ((5,), 7001, ("SYNC", "argument 1 (flows)")),
    (([],), 7001, ("SYNC", "argument 1 (flows)")),
    ((), 7001, ("SYNC", "argument 1 (flows)", "missing")),
    (("1", "2"), 7000, ("SYNC", "1 argument(s)")),
])
def test_sync_errors(args: tuple[Any, ...], code: int, words: tuple[str, ...]) -> None:
    assert_error(apply_error(trace("mapi-www.pcap"), "SYNC", *args), code, *words)


# ==== THRESHOLD ===================================================================================

ULL, INT, CHAR = 2, 1, 0
TR_POLL, TR_MW = 64, 128


def threshold_events(path: Any, source: str, *args: Any) -> list[tuple[int, int, int]]:
    """(ts, value, lost) of every event of THRESHOLD(args) on ``source`` in the same flow."""
    with Flow(path) as flow:
        watched = flow.apply(source)
        events = flow.apply("THRESHOLD", args[0], watched, *args[1:])
        flow.run(timeout=60)
        return [(e.ts, e.value, e.lost) for e in read_all(events)]


def edges(values: list[int], times: list[int], holds: Any) -> list[tuple[int, int, int]]:
    """Events of an edge-triggered condition over per-packet quantities."""
    result, held = [], False
    for ts, value in zip(times, values):
        now = holds(value)
        if now and not held:
            result.append((ts, value, 0))
        held = now
    return result


@pytest.mark.parametrize(("name", "limit"), [
    ("mapi-tracefile.pcap", 100), ("ndpi-4.2-src--rtsp.pcap", 0), ("tcpflow-1.6.1-src--local.pcap", 105),
])
def test_packet_count_above_a_threshold_fires_once(name: str, limit: int) -> None:
    path = trace(name)
    listed = frames(path)
    # the packet count exceeds `limit` at frame limit+1; edge-triggered, so once
    assert threshold_events(path, "PKT_COUNTER", ULL, limit, "GT", 0, 0, 0) == [(listed[limit][1], limit + 1, 0)]


@pytest.mark.parametrize(("name", "limit"), [("mapi-tracefile.pcap", 50_000), ("ndpi-4.2-src--ajp.pcap", 6_000)])
def test_byte_count_above_a_threshold_fires_at_the_cumulative_sum(name: str, limit: int) -> None:
    path = trace(name)
    total, expected = 0, []
    for _, ts, length in frames(path):         # cumulative sum of tshark's frame.len
        total += length
        if total > limit:
            expected = [(ts, total, 0)]
            break
    assert expected
    assert threshold_events(path, "BYTE_COUNTER", ULL, limit, "GT", 0, 0, 0) == expected


def test_equal_and_less_than_boundaries() -> None:
    path = trace("mapi-www.pcap")
    listed = frames(path)
    assert threshold_events(path, "PKT_COUNTER", ULL, 7, "EQUAL", 0, 0, 0) == [(listed[6][1], 7, 0)]
    # LT: 1 < 5 already after the first packet, and it holds until the fifth: one event
    assert threshold_events(path, "PKT_COUNTER", "TYPE_UNSIGNED_LONG_LONG", 5, 2, 0, 0, 0) == [(listed[0][1], 1, 0)]


@pytest.mark.parametrize(("name", "boundary", "limit"), [
    ("mapi-http.pcap", "GT_D", 400),
    ("ndpi-4.2-src--exe_download.pcap", "GT_D", 1400),
    ("ndpi-4.2-src--exe_download.pcap", "LT_D", 100),
    ("mapi-tracefile.pcap", "EQUAL_D", 60),
])
def test_byte_differences_fire_on_each_rising_edge(name: str, boundary: str, limit: int) -> None:
    # The difference of BYTE_COUNTER between packets is each frame's length (tshark frame.len).
    path = trace(name)
    listed = frames(path)
    holds = {"GT_D": lambda v: v > limit, "LT_D": lambda v: v < limit, "EQUAL_D": lambda v: v == limit}[boundary]
    expected = edges([length for *_, length in listed], [ts for _, ts, _ in listed], holds)
    assert len(expected) > 2
    assert threshold_events(path, "BYTE_COUNTER", ULL, limit, boundary, 0, 0, 0) == expected


def test_count_stops_after_that_many_events() -> None:
    path = trace("ndpi-4.2-src--exe_download.pcap")
    listed = frames(path)
    expected = edges([length for *_, length in listed], [ts for _, ts, _ in listed], lambda v: v > 1400)[:3]
    assert threshold_events(path, "BYTE_COUNTER", ULL, 1400, "GT_D", 0, 0, 3) == expected


def test_char_value_is_the_low_byte() -> None:
    # TYPE_CHAR reads the first byte of the result: the low byte of the little-endian packet count.
    path = trace("mapi-tracefile.pcap")
    listed = frames(path)
    expected = [(listed[n - 1][1], 200, 0) for n in (200, 456, 712)]      # counts 200, 256+200, 512+200
    assert threshold_events(path, "PKT_COUNTER", CHAR, 200, "EQUAL", 0, 0, 0) == expected


def test_threshold_on_another_flow_of_the_device() -> None:
    # Flow 1 counts TCP packets; THRESHOLD in flow 2 watches that count.  While a flow reads
    # another of its device, the device runs packet by packet across flows, so the event comes
    # at the packet that brings the count over the bound: the last TCP packet for total - 1.
    path = trace("mapi-tracefile.pcap")
    total = count(path, "tcp")
    # tshark -r mapi-tracefile.pcap -Y tcp -T fields -e frame.time_epoch: the last TCP packet's time
    last_tcp = ts32(tshark(path, "frame.time_epoch", where="tcp")[-1][0])
    with shared_device(path, 2) as (name, (counting, watching)):
        counting.apply("BPF_FILTER", "tcp")
        counter = counting.apply("PKT_COUNTER")
        counting.connect()
        events = watching.apply("THRESHOLD", ULL, counter, total - 1, "GT", 0, 0, 0)
        watching.connect()
        default_runtime().start_offline_device(name)
        watching.wait(60)
        got = read_all(events)
    assert [(event.value, event.ts) for event in got] == [(total, last_tcp)]


def poll_model(listed: list[tuple[int, int, int]], period: int, boundary: str, limit: int,
               slices: int = 0) -> list[tuple[int, int, int]]:
    """THRESHOLD's documented poll clock over PKT_COUNTER, literally, with no shortcuts: the first
    packet starts the clock; when a packet arrives at or after an instant, that instant (and any
    other passed) is compared with the count as of the previous packet; TR_MW compares the
    increase over the last `slices` instants (from 0 while the window fills)."""
    events, held = [], False
    previous = 0
    window, slot = [0] * slices, 0
    next_instant = None
    value = 0
    for _, ts, _ in listed:
        if next_instant is None:
            next_instant = ts + period
        else:
            while ts >= next_instant:
                quantity = value
                if slices:
                    quantity, window[slot] = value - window[slot], value
                    slot = (slot + 1) % slices
                if boundary.endswith("_D"):
                    quantity, previous = quantity - previous, quantity
                now = {"GT": quantity > limit, "LT": quantity < limit, "EQUAL": quantity == limit}[
                    boundary.removesuffix("_D")]
                if now and not held:
                    events.append((next_instant, quantity, 0))
                held = now
                next_instant += period
        value += 1
    return events


@pytest.mark.parametrize(("name", "period_ms", "boundary", "limit"), [
    ("mapi-tracefile.pcap", 1000, "GT_D", 10),       # over 10 packets in a second
    ("mapi-tracefile.pcap", 250, "EQUAL_D", 0),      # quiet quarter-seconds (gaps skipped in C)
    ("ndpi-4.2-src--rtsp.pcap", 100, "GT_D", 5),
    ("ndpi-4.2-src--quic.pcap", 60_000, "GT_D", 3),  # spans a year: long gaps, skipped in C
])
def test_poll_compares_once_per_period_of_packet_time(name: str, period_ms: int, boundary: str, limit: int) -> None:
    path = trace(name)
    expected = poll_model(frames(path), (period_ms << 32) // 1000, boundary, limit)
    assert expected
    for _ in range(2):          # time-driven: a second run gives the same events
        got = threshold_events(path, "PKT_COUNTER", ULL | TR_POLL, limit, boundary, period_ms, 0, 0)
        assert got == expected


@pytest.mark.parametrize(("name", "window_ms", "slices", "boundary", "limit"), [
    ("mapi-tracefile.pcap", 2000, 4, "GT", 30),      # over 30 packets in the last 2 s, every 0.5 s
    ("mapi-tracefile.pcap", 3000, 3, "LT", 5),
    ("ndpi-4.2-src--rtsp.pcap", 1000, 10, "GT_D", 3),
    ("ndpi-4.2-src--quic.pcap", 120_000, 4, "GT", 20),
])
def test_moving_window_compares_the_increase_over_the_window(name: str, window_ms: int, slices: int,
                                                             boundary: str, limit: int) -> None:
    path = trace(name)
    period = (window_ms << 32) // (1000 * slices)
    expected = poll_model(frames(path), period, boundary, limit, slices)
    assert expected
    got = threshold_events(path, "PKT_COUNTER", "TYPE_UNSIGNED_LONG_LONG|TR_MW", limit, boundary, window_ms,
                           slices, 0)
    assert got == expected


def test_threshold_ring_overflow_is_counted() -> None:
    path = trace("ndpi-4.2-src--WebattackXSS.pcap")
    listed = frames(path)
    expected = edges([length for *_, length in listed], [ts for _, ts, _ in listed], lambda v: v > 100)
    assert len(expected) > 1024
    got = threshold_events(path, "BYTE_COUNTER", ULL, 100, "GT_D", 0, 0, 0)
    assert len(got) == 1024
    assert got[0][2] == len(expected) - 1024
    assert [(ts, value) for ts, value, _ in got] == [(ts, value) for ts, value, _ in expected[-1024:]]


def test_threshold_read_blocks_until_an_event_the_timeout_or_the_end() -> None:
    path = trace("mapi-www.pcap")
    listed = frames(path)
    with shared_device(path, 1) as (name, (flow,)):
        counter = flow.apply("PKT_COUNTER")
        events = flow.apply("THRESHOLD", ULL, counter, 2, "GT", 0, 0, 0)
        flow.connect()
        with pytest.raises(MapiError) as caught:
            events.read(timeout=0.2)
        assert_error(caught.value, 6160, "THRESHOLD")
        default_runtime().start_offline_device(name)
        event = events.read(timeout=10)
        assert (event.ts, event.value) == (listed[2][1], 3)
        assert events.read(timeout=10) is None          # the trace ended without another


@pytest.mark.parametrize(("args", "code", "words"), [
    ((3, None, 1, "GT", 0, 0, 0), 7001, ("THRESHOLD", "argument 1 (type)")),
    ((ULL | 32, None, 1, "GT", 0, 0, 0), 7001, ("THRESHOLD", "argument 1 (type)")),
    (("TYPE_FOO", None, 1, "GT", 0, 0, 0), 7001, ("THRESHOLD", "argument 1 (type)")),
    ((-1, None, 1, "GT", 0, 0, 0), 7001, ("THRESHOLD", "argument 1 (type)")),
    ((INT, None, 1, "GT", 0, 0, 0), 7003, ("THRESHOLD", "argument 3", "u64")),
    ((ULL, None, -1, "GT", 0, 0, 0), 7004, ("THRESHOLD", "argument 4 (threshold)")),
    ((ULL, None, 2**64, "GT", 0, 0, 0), 7004, ("THRESHOLD", "argument 4 (threshold)")),
    ((ULL, None, 1, 3, 0, 0, 0), 7005, ("THRESHOLD", "argument 5 (boundary)")),
    ((ULL, None, 1, "ABOVE", 0, 0, 0), 7005, ("THRESHOLD", "argument 5 (boundary)")),
    ((ULL, None, 1, "GT", -1, 0, 0), 7011, ("THRESHOLD", "argument 6 (timeout)")),
    ((ULL, None, 1, "GT", 100, 0, 0), 7011, ("THRESHOLD", "argument 6 (timeout)", "TR_POLL")),
    ((ULL | TR_POLL, None, 1, "GT", 0, 0, 0), 7011, ("THRESHOLD", "argument 6 (timeout)")),
    ((ULL, None, 1, "GT", 0, 4, 0), 7000, ("THRESHOLD", "argument 7 (divider)", "TR_MW")),
    ((ULL | TR_MW, None, 1, "GT", 1000, 0, 0), 7000, ("THRESHOLD", "argument 7 (divider)")),
    ((ULL | TR_MW, None, 1, "GT", 1000, 70000, 0), 7000, ("THRESHOLD", "argument 7 (divider)")),
    ((ULL, None, 1, "GT", 0, -1, 0), 7000, ("THRESHOLD", "argument 7 (divider)")),
    ((ULL, None, 1, "GT", 0, 0, -1), 7000, ("THRESHOLD", "argument 8 (count)")),
    ((ULL, None, 1, "GT", 0, 0), 7000, ("THRESHOLD", "argument 8 (count)", "missing")),
    ((ULL, None, 1, "GT", 0, 0, 0, 0), 7000, ("THRESHOLD", "8 argument(s)")),
])
def test_threshold_errors(args: tuple[Any, ...], code: int, words: tuple[str, ...]) -> None:
    with Flow(trace("mapi-www.pcap")) as flow:
        counter = flow.apply("PKT_COUNTER")
        given = list(args)
        given[1:2] = [flow.fd, counter.fid]
        with pytest.raises(MapiError) as caught:
            flow.apply("THRESHOLD", *given)
    assert_error(caught.value, code, *words)


def test_threshold_reference_errors() -> None:
    with Flow(trace("mapi-www.pcap")) as flow:
        gate = flow.apply("BPF_FILTER", "tcp")
        with pytest.raises(MapiError) as caught:                    # an unknown flow
            flow.apply("THRESHOLD", ULL, 99999, 1, 1, "GT", 0, 0, 0)
        assert_error(caught.value, 7002, "THRESHOLD", "argument 2 (flow)")
        with pytest.raises(MapiError) as caught:                    # an unknown function
            flow.apply("THRESHOLD", ULL, flow.fd, 42, 1, "GT", 0, 0, 0)
        assert_error(caught.value, 7003, "THRESHOLD", "argument 3 (function)")
        with pytest.raises(MapiError) as caught:                    # a function without a result
            flow.apply("THRESHOLD", CHAR, gate, 1, "GT", 0, 0, 0)
        assert_error(caught.value, 7003, "THRESHOLD", "argument 3", "no result")
