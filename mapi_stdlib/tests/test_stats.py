"""STAT, DIST, BUCKET, BURST and TOP on shared traces; every expected value from tshark.

Oracles, run at test time:

* per-packet values: ``tshark -r F -T fields -e frame.len -e frame.time_epoch ...``; a packet's
  32.32 timestamp is computed here from frame.time_epoch exactly as the 32.32 definition says
  (``sec << 32 | (nsec << 32) // 10**9``);
* per-interval counts: ``tshark -r F -q -z io,stat,1``, whose intervals start at the first
  packet and are half-open, [k, k+1) s, the last one ("k <> Dur") partial;
* statistics: Python's ``statistics`` over those values;
* DIST, BURST and TOP: the documented rule written out below over tshark's fields (histogram
  bins, the burst rule, counting field values with the tie order "first to reach its count ranks
  first").
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from mapi_core.api.compat import mapi_create_offline_device, mapi_delete_offline_device, mapi_start_offline_device
from mapi_core.testing import run, tool, trace
from mapi_stdlib.stats import BucketEntry, BurstCategory, Histogram, TopList, burst_category_ranges

from mapi_core import Flow, MapiError, testing

KXUN = "ndpi-4.2-src--1kxun.pcap"            # Ethernet, IPv4 + IPv6, 61 s, one empty second
SYNSCAN = "ndpi-4.2-src--synscan.pcap"       # 2011 SYNs to many ports, 24 s, many empty seconds
PINGS = "pypi-pcapy-ng--96pings.pcap"        # ICMP echo, one per second, snaplen 96
HTTP6 = "ndpi-4.2-src--http_ipv6.pcap"       # IPv6 only, 24 s with empty seconds
DNS_ICMP = "deb-python3-dpkt--dns_icmp.pcap"
LOGISTICS = "wireshark-4.0.17-src--logistics_multicast.pcapng"   # pcapng, IPv4 + IPv6, 208 s
CAMPUS = "mapi-tracefile.pcap"               # snaplen 96, timestamps not monotonic
WWW = "mapi-www.pcap"                        # 10 packets, 7.4 s, six empty seconds
AJP = "ndpi-4.2-src--ajp.pcap"               # 802.1Q VLAN
RTSP = "ndpi-4.2-src--rtsp.pcap"             # Linux SLL
DNS_FRAGMENTS = "ndpi-4.2-src--dns_fragmented.pcap"
QUIC = "ndpi-4.2-src--quic.pcap"             # a 31.9-million-second jump between packets
PKTANON = "deb-pktanon--sample.pcap"         # ICMP, ICMPv6

ONE_SECOND = 1 << 32


# ---- oracles -----------------------------------------------------------------------------------


@functools.cache
def tshark_fields(name: str, fields: tuple[str, ...], display_filter: str = "",
                  options: tuple[str, ...] = ()) -> list[list[str]]:
    """One row per packet: the first occurrence of each field ('' when absent)."""
    return testing.tshark_fields(trace(name), *fields, display_filter=display_filter, options=options)


ts32 = testing.epoch_to_ts32


def packets(name: str) -> list[tuple[int, int]]:
    """(32.32 timestamp, frame.len) of every packet."""
    return [(ts32(epoch), int(length)) for epoch, length in tshark_fields(name, ("frame.time_epoch", "frame.len"))]


_IO_ROW = re.compile(r"\|\s*[\d.]+\s*<>\s*(?:[\d.]+|Dur)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")


@functools.cache
def io_stat(name: str) -> list[tuple[int, int]]:
    """``tshark -q -z io,stat,1``: (frames, bytes) of each 1 s interval from the first packet,
    the last row being the partial interval at the end."""
    output = run(tool("tshark"), "-r", str(trace(name)), "-q", "-z", "io,stat,1")
    return [(int(frames), int(nbytes)) for frames, nbytes in _IO_ROW.findall(output)]


def assert_stat(record: Any, samples: Sequence[int]) -> None:
    """A StatRecord against Python's statistics over the samples."""
    assert record.count == len(samples)
    assert record.total == sum(samples)
    assert record.total_of_squares == sum(v * v for v in samples)
    assert (record.minimum, record.maximum) == (min(samples), max(samples))
    assert record.mean == statistics.mean(samples)
    assert record.variance == statistics.pvariance(samples)
    if len(samples) > 1:
        assert record.sample_variance == statistics.variance(samples)


def run_flow(name: str, build: Callable[[Flow], Any]) -> Any:
    """Applies functions with ``build(flow)``, reads the whole trace, returns ``build``'s handles'
    values (``read()`` of each handle in what build returned)."""
    with Flow(trace(name)) as flow:
        handles = build(flow)
        flow.run(timeout=60)
        return [handle.read() for handle in handles]


# ---- STAT --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [KXUN, CAMPUS, RTSP, LOGISTICS])
def test_stat_every_packet_over_counters(name: str) -> None:
    lengths = [length for _, length in packets(name)]
    by_packets, by_bytes = run_flow(name, lambda flow: [
        flow.apply("STAT", flow.apply("PKT_COUNTER"), "0"),
        flow.apply("STATS", flow.apply("BYTE_COUNTER"), "0"),      # MAPI's name
    ])
    # the counters' values as STAT samples them, packet after packet
    assert_stat(by_packets, list(range(1, len(lengths) + 1)))
    assert_stat(by_bytes, list(itertools.accumulate(lengths)))


@pytest.mark.parametrize("name", [KXUN, DNS_ICMP])
def test_stat_skips_the_first_packet_with_ticks_1(name: str) -> None:
    lengths = [length for _, length in packets(name)]
    [record] = run_flow(name, lambda flow: [flow.apply("STAT", flow.apply("BYTE_COUNTER"), "1")])
    assert_stat(record, list(itertools.accumulate(lengths))[1:])


@pytest.mark.parametrize("name", [KXUN, SYNSCAN, HTTP6, WWW, LOGISTICS])
def test_stat_per_second_matches_tshark_io_stat(name: str) -> None:
    rows = io_stat(name)[:-1]            # the last, partial interval is never sampled
    by_packets, by_bytes = run_flow(name, lambda flow: [
        flow.apply("STAT", flow.apply("PKT_COUNTER"), "1s"),
        flow.apply("STAT", flow.apply("BYTE_COUNTER"), "1s"),
    ])
    assert_stat(by_packets, [frames for frames, _ in rows])
    assert_stat(by_bytes, [nbytes for _, nbytes in rows])


def test_stat_counts_a_true_zero_as_the_minimum() -> None:
    # synscan has empty seconds: io,stat shows intervals of 0 frames, which are samples of 0
    rows = io_stat(SYNSCAN)[:-1]
    assert 0 in [frames for frames, _ in rows]
    [record] = run_flow(SYNSCAN, lambda flow: [flow.apply("STAT", flow.apply("PKT_COUNTER"), "1s")])
    assert record.minimum == 0
    # GAP is 0 on the first packet: '0' samples it (minimum 0), '1' skips it
    stamps = [ts for ts, _ in packets(KXUN)]
    gaps = [0] + [b - a for a, b in itertools.pairwise(stamps)]
    every, skip = run_flow(KXUN, lambda flow: [
        flow.apply("STAT", gap := flow.apply("GAP"), "0"),
        flow.apply("STAT", gap, "1"),
    ])
    assert_stat(every, gaps)
    assert every.minimum == 0
    assert_stat(skip, gaps[1:])


def test_stat_periodic_over_a_huge_gap_of_empty_intervals() -> None:
    # QUIC: 518 packets over 31920417 s.  Closed 1 s intervals: as many as whole seconds from the
    # first packet to the last; their packets: all but those of the last (partial) second.
    stamps = [ts for ts, _ in packets(QUIC)]
    first, last = stamps[0], stamps[-1]
    closed = (last - first) // ONE_SECOND
    in_last = sum(1 for ts in stamps if ts >= first + closed * ONE_SECOND)
    [record] = run_flow(QUIC, lambda flow: [flow.apply("STAT", flow.apply("PKT_COUNTER"), "1s")])
    assert record.count == closed
    assert record.total == len(stamps) - in_last
    assert record.minimum == 0


def test_stat_reads_a_counter_of_another_flow_on_the_same_device() -> None:
    # While a flow reads another of its device, the device runs packet by packet across flows:
    # the counting flow (created first) has counted packet k when the reader samples it, so the
    # samples are 1, 2, ... total; their sum is total * (total + 1) / 2.
    total = len(packets(KXUN))
    device = mapi_create_offline_device(str(trace(KXUN)))
    try:
        with Flow(device) as counted, Flow(device) as reading:
            counter = counted.apply("PKT_COUNTER")
            stat = reading.apply("STAT", counter, "0")
            counted.connect()
            reading.connect()
            mapi_start_offline_device(device)
            reading.wait(60)
            record = stat.read()
            assert (record.count, record.minimum, record.maximum) == (total, 1, total)
            assert record.total == total * (total + 1) // 2
    finally:
        mapi_delete_offline_device(device)


def test_stat_periodic_output_is_the_same_on_a_second_run() -> None:
    def once() -> Any:
        return run_flow(LOGISTICS, lambda flow: [flow.apply("STAT", flow.apply("BYTE_COUNTER"), "250ms")])
    assert once() == once()


# ---- DIST --------------------------------------------------------------------------------------


def histogram(values: Sequence[int], minimum: int, maximum: int, width: int) -> tuple[int, list[int], int]:
    """The documented bins: underflow, [minimum + i*width, minimum + (i+1)*width) with the last
    one closed at maximum, overflow."""
    nbins = -(-(maximum - minimum) // width)
    bins = [0] * nbins
    under = over = 0
    for v in values:
        if v < minimum:
            under += 1
        elif v > maximum:
            over += 1
        else:
            bins[min((v - minimum) // width, nbins - 1)] += 1
    return under, bins, over


def assert_histogram(result: Histogram, values: Sequence[int], minimum: int, maximum: int, width: int) -> None:
    under, bins, over = histogram(values, minimum, maximum, width)
    assert (result.underflow, list(result.counts), result.overflow) == (under, bins, over)
    assert result.total == len(values)
    assert result.bins[0].low == minimum and result.bins[-1].high == maximum + 1
    assert all(a.high == b.low for a, b in itertools.pairwise(result.bins))


@pytest.mark.parametrize(("name", "minimum", "maximum", "width"), [
    (CAMPUS, 60, 1486, 100),           # 1514-byte frames overflow
    (KXUN, 64, 1514, 64),
    (RTSP, 62, 751, 300),              # the last bin, [662, 751], is narrower
])
def test_dist_of_packet_sizes_matches_tshark_frame_len(name: str, minimum: int, maximum: int, width: int) -> None:
    lengths = [length for _, length in packets(name)]
    # the edges are values that occur, so v == minimum and v == maximum are both exercised
    assert minimum in lengths and maximum in lengths
    [result] = run_flow(name, lambda flow: [flow.apply("DIST", flow.apply("PKT_INFO", "PKT_SIZE"),
                                                       str(minimum), str(maximum), str(width))])
    assert_histogram(result, lengths, minimum, maximum, width)


def test_dist_puts_minimum_in_the_first_bin_and_maximum_in_the_last() -> None:
    # PKT_COUNTER is 1, 2, ... N on successive packets: each value is sampled exactly once.
    n = len(packets(DNS_ICMP))
    [result] = run_flow(DNS_ICMP, lambda flow: [flow.apply("DIST", flow.apply("PKT_COUNTER"), "5", "20", "5")])
    assert result.underflow == 4                                   # 1..4
    assert [(b.low, b.high, b.count) for b in result.bins] == [(5, 10, 5), (10, 15, 5), (15, 21, 6)]
    assert result.overflow == n - 20                               # 21..N
    # MAPI put v == minimum into the last slot; the first bin here holds 5, 6, 7, 8, 9.


def test_dist_over_cumulative_bytes_and_time_strings() -> None:
    stamps, lengths = zip(*packets(KXUN))
    cumulative = list(itertools.accumulate(lengths))
    gaps = [0] + [b - a for a, b in itertools.pairwise(stamps)]
    ten_ms = (10 * ONE_SECOND) // 1000          # "10ms" in 32.32 units: floor(0.01 * 2^32)
    bytes_dist, gap_dist = run_flow(KXUN, lambda flow: [
        flow.apply("DIST", flow.apply("BYTE_COUNTER"), 0, 800000, 25000),      # ints are accepted too
        flow.apply("DIST", flow.apply("GAP"), "0", "1s", "10ms"),
    ])
    assert_histogram(bytes_dist, cumulative, 0, 800000, 25000)
    assert_histogram(gap_dist, gaps, 0, ONE_SECOND, ten_ms)


# ---- BUCKET ------------------------------------------------------------------------------------


def drain(handle: Any, timeout: float = 10) -> list[BucketEntry]:
    """Every entry BUCKET gives until None."""
    entries = []
    while (entry := handle.read(timeout=timeout)) is not None:
        entries.append(entry)
        assert len(entries) < 100000
    return entries


def bucket_run(name: str, *args: Any, source: str = "PKT_COUNTER") -> list[BucketEntry]:
    with Flow(trace(name)) as flow:
        bucket = flow.apply("BUCKET", flow.apply(source), *args)
        flow.connect()
        return drain(bucket)


@pytest.mark.parametrize("name", [KXUN, SYNSCAN, HTTP6, WWW])
def test_bucket_per_second_with_reset_matches_tshark_io_stat(name: str) -> None:
    rows = io_stat(name)
    first = packets(name)[0][0]
    entries = bucket_run(name, "1s", 1)
    expected = [BucketEntry(first + k * ONE_SECOND, frames, 0, k == len(rows) - 1)
                for k, (frames, _) in enumerate(rows)]
    assert entries == expected
    assert entries[0].seconds == pytest.approx(first / ONE_SECOND)


def test_bucket_without_reset_gives_the_running_value() -> None:
    rows = io_stat(SYNSCAN)
    first = packets(SYNSCAN)[0][0]
    entries = bucket_run(SYNSCAN, "1s", 0, source="BYTE_COUNTER")
    running = list(itertools.accumulate(nbytes for _, nbytes in rows))
    assert [(e.ts, e.value, e.partial) for e in entries] == [
        (first + k * ONE_SECOND, value, k == len(rows) - 1) for k, value in enumerate(running)]


def test_bucket_per_packet_with_reset_gives_each_packets_value() -> None:
    entries = bucket_run(DNS_ICMP, "0", 1, source="BYTE_COUNTER")
    assert [(e.ts, e.value, e.partial) for e in entries] == [(ts, length, False) for ts, length in packets(DNS_ICMP)]


def test_bucket_never_gives_one_interval_for_the_whole_flow() -> None:
    stamps = packets(KXUN)
    assert bucket_run(KXUN, "-1", 0) == [BucketEntry(stamps[0][0], len(stamps), 0, True)]


def test_bucket_reports_entries_lost_by_the_ring() -> None:
    # the whole trace is read before the first read: of 60 closed intervals a ring of 5 keeps 5
    rows = io_stat(KXUN)
    first = packets(KXUN)[0][0]
    with Flow(trace(KXUN)) as flow:
        bucket = flow.apply("BUCKET", flow.apply("PKT_COUNTER"), "1s", 1, 5)
        flow.run(timeout=60)
        entries = drain(bucket)
    closed = len(rows) - 1
    assert [e.lost for e in entries] == [closed - 5, 0, 0, 0, 0, 0]
    assert [(e.ts, e.value) for e in entries] == [
        (first + k * ONE_SECOND, rows[k][0]) for k in range(closed - 5, closed + 1)]
    assert entries[-1].partial


def test_bucket_blocks_until_an_entry_comes_and_ends_with_none() -> None:
    rows = io_stat(WWW)
    device = mapi_create_offline_device(str(trace(WWW)))
    try:
        with Flow(device) as flow:
            bucket = flow.apply("BUCKET", flow.apply("PKT_COUNTER"), "1s", 1)
            flow.connect()
            with pytest.raises(MapiError) as caught:       # the device has not started: nothing comes
                bucket.read(timeout=0.2)
            assert caught.value.code == 6160
            mapi_start_offline_device(device)
            assert [e.value for e in drain(bucket)] == [frames for frames, _ in rows]
            assert bucket.read(timeout=0.2) is None          # and stays None
    finally:
        mapi_delete_offline_device(device)


def test_bucket_gives_the_same_output_on_a_second_run() -> None:
    assert bucket_run(LOGISTICS, "500ms", 1) == bucket_run(LOGISTICS, "500ms", 1)


# ---- BURST -------------------------------------------------------------------------------------


def expected_bursts(name: str, minimum: int, maximum: int, step: int, frame_gap: int, late: int, early: int,
                    speed: int) -> list[BurstCategory]:
    """The documented rule over tshark's timestamps and frame lengths, by hand."""
    count = (maximum - minimum) // step + 2
    cats = [[0] * 5 for _ in range(count)]

    def category(nbytes: int) -> list[int]:
        return cats[0 if nbytes < minimum else min(1 + (nbytes - minimum) // step, count - 1)]

    ift, late32, early32 = ((ns << 32) // 10**9 for ns in (frame_gap, late, early))
    burst: list[int] = []                          # [bytes, packets] of the burst in progress
    previous = None
    for ts, wlen in packets(name):
        if previous is not None:
            prev_ts, prev_len = previous
            expected = prev_ts + ((prev_len * 8) << 32) // (speed * 10**6) + ift
            if max(expected - early32, 0) <= ts <= expected + late32:
                burst[0] += wlen
                burst[1] += 1
            else:
                cat = category(burst[0])
                cat[0] += burst[0]
                cat[1] += burst[1]
                cat[2] += 1
                cat[3] += ((ts - expected) * speed * 10**6 // 8) >> 32 if ts > expected else 0
                cat[4] += 1
                burst = [wlen, 1]
        else:
            burst = [wlen, 1]
        previous = ts, wlen
    if burst:                                       # the flow has ended: the last burst counts
        cat = category(burst[0])
        cat[0] += burst[0]
        cat[1] += burst[1]
        cat[2] += 1
    ranges = burst_category_ranges(minimum, maximum, step)
    return [BurstCategory(low, high, *values) for (low, high), values in zip(ranges, cats)]


BURST_CASES = [
    # MAPI's test_burst settings at 100 Mbit/s: iftime 160000/speed ns, tolerances 12304000/speed ns
    (KXUN, (0, 10000, 1000, 1600, 123040, 123040, 100)),
    (CAMPUS, (100, 3000, 200, 1600, 123040, 123040, 100)),
    # 10 Mbit/s, wide late tolerance, no early one
    (SYNSCAN, (64, 1024, 64, 16000, 2000000, 0, 10)),
    (LOGISTICS, (0, 5000, 500, 160, 50000000, 1000000, 1000)),
]


@pytest.mark.parametrize(("name", "arguments"), BURST_CASES)
def test_burst_matches_a_hand_calculation(name: str, arguments: tuple[int, ...]) -> None:
    expected = expected_bursts(name, *arguments)
    assert sum(c.bursts for c in expected) < len(packets(name))       # some bursts have several packets
    assert sum(c.gaps for c in expected) > 0
    [result] = run_flow(name, lambda flow: [flow.apply("BURST", *arguments)])
    assert result == expected
    assert sum(c.packets for c in result) == len(packets(name))


# ---- TOP ---------------------------------------------------------------------------------------

NO_DEFRAGMENT = ("-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE")


def field_values(name: str, field: str, link: int) -> list[tuple[Any, int]]:
    """(value, frame.len - link header) of each packet that has the field, from tshark.

    IP fields: ``ip.X`` or ``ipv6.X``; transport fields only when that transport is the packet's
    own (not inside an ICMP error); fragments are not reassembled (later ones have no ports).
    Cisco FabricPath frames (``cfp``, in the AJP trace) are left out: TOP does not look inside
    them, as ``tcpdump 'vlan and ip'`` does not (26 of AJP's 38 packets for both)."""
    if field in ("src", "dst"):
        rows = tshark_fields(name, ("ip." + field, "ipv6." + field, "frame.len", "vlan.id"), "(ip || ipv6) && !cfp")
        return [(ipaddress.ip_address(v4 or v6), int(length) - link - (4 if vlan else 0))
                for v4, v6, length, vlan in rows]
    protocol = field.partition(".")[0]
    rows = tshark_fields(name, (field, "frame.len", "vlan.id"), f"{protocol} && !icmp && !icmpv6 && !cfp",
                         NO_DEFRAGMENT)
    return [(int(value), int(length) - link - (4 if vlan else 0)) for value, length, vlan in rows if value]


def expected_top(items: Sequence[tuple[Any, int]], x: int, by_bytes: bool) -> list[tuple[Any, int, int]]:
    """The x values with most packets (bytes), equal counts ranked by who reached them first."""
    counts: dict[Any, tuple[int, int]] = {}
    reached: dict[Any, int] = {}
    for index, (value, nbytes) in enumerate(items):
        npackets, total = counts.get(value, (0, 0))
        counts[value] = (npackets + 1, total + nbytes)
        reached[value] = index
    order = sorted(counts, key=lambda v: (-counts[v][1 if by_bytes else 0], reached[v]))
    return [(v, *counts[v]) for v in order[:x]]


TOP_CASES = [
    # trace, link header bytes, tshark field, TOP protocol and field
    (KXUN, 14, "dst", "TOPX_IP", "IP_DSTIP"),           # IPv4 and IPv6 addresses together
    (KXUN, 14, "src", "TOPX_IP", "TOPX_IP_SRCIP"),      # appmon's spelling
    (HTTP6, 14, "src", "TOPX_IP", "IP_SRCIP"),
    (CAMPUS, 14, "dst", 1, 9),                          # MAPI's numbers
    (AJP, 14, "dst", "TOPX_IP", "IP_DSTIP"),            # 802.1Q: 4 more bytes of link header
    (RTSP, 16, "src", "TOPX_IP", "IP_SRCIP"),           # Linux SLL
    (SYNSCAN, 14, "tcp.dstport", "TOPX_TCP", "TCP_DSTPORT"),   # many ties
    (KXUN, 14, "tcp.dstport", "TOPX_TCP", "TCP_DSTPORT"),
    (HTTP6, 14, "tcp.dstport", "TOPX_TCP", "TCP_DSTPORT"),
    (KXUN, 14, "udp.srcport", "TOPX_UDP", "UDP_SRCPORT"),
    (DNS_FRAGMENTS, 14, "udp.srcport", "TOPX_UDP", "UDP_SRCPORT"),   # only first fragments have ports
    (LOGISTICS, 14, "udp.srcport", "TOPX_UDP", 18),
]


@pytest.mark.parametrize(("name", "link", "field", "protocol", "top_field"), TOP_CASES)
@pytest.mark.parametrize("x", [3, 1000])
def test_top_by_packets_and_by_bytes_matches_tshark(name: str, link: int, field: str, protocol: Any,
                                                   top_field: Any, x: int) -> None:
    items = field_values(name, field, link)
    by_packets, by_bytes = run_flow(name, lambda flow: [
        flow.apply("TOP", x, protocol, top_field),                      # sortby defaults to packets
        flow.apply("TOP", x, protocol, top_field, "SORT_BY_BYTES", 0),
    ])
    assert [(e.value, e.packets, e.bytes) for e in by_packets] == expected_top(items, x, False)
    assert [(e.value, e.packets, e.bytes) for e in by_bytes] == expected_top(items, x, True)
    assert isinstance(by_packets, TopList)
    assert by_packets.distinct == len({value for value, _ in items})
    assert (by_packets.untracked_packets, by_packets.untracked_bytes) == (0, 0)
    assert by_packets.since == packets(name)[0][0]


def test_top_icmp_types_ours() -> None:
    for name in (PINGS, DNS_ICMP, PKTANON):
        rows = tshark_fields(name, ("icmp.type", "icmpv6.type", "frame.len"), "icmp || icmpv6")
        items = [(int(v4 or v6), int(length) - 14) for v4, v6, length in rows]
        [result] = run_flow(name, lambda flow: [flow.apply("TOP", 10, "TOPX_ICMP", "ICMP_TYPE")])
        assert [(e.value, e.packets, e.bytes) for e in result] == expected_top(items, 10, False)


def test_top_other_ip_fields() -> None:
    rows = tshark_fields(KXUN, ("ip.ttl", "ipv6.hlim", "ip.proto", "ipv6.nxt", "frame.len"), "ip || ipv6")
    ttl = [(int(v4 or v6), int(length) - 14) for v4, v6, _, _, length in rows]
    proto = [(int(v4 or v6), int(length) - 14) for _, _, v4, v6, length in rows]   # no extension headers here
    ttls, protos = run_flow(KXUN, lambda flow: [flow.apply("TOP", 20, "TOPX_IP", "IP_TTL", 2),
                                                flow.apply("TOP", 20, "TOPX_IP", "IP_PROTOCOL")])
    assert [(e.value, e.packets, e.bytes) for e in ttls] == expected_top(ttl, 20, True)
    assert [(e.value, e.packets, e.bytes) for e in protos] == expected_top(proto, 20, False)


@pytest.mark.parametrize(("name", "seconds"), [(KXUN, 10), (LOGISTICS, 60)])
def test_top_reset_interval_counts_the_last_period(name: str, seconds: int) -> None:
    stamps = [ts for ts, _ in packets(name)]
    period = seconds * ONE_SECOND
    since = stamps[0] + (stamps[-1] - stamps[0]) // period * period
    rows = tshark_fields(name, ("ip.dst", "ipv6.dst", "frame.len"), "")
    items = [(ipaddress.ip_address(v4 or v6), int(length) - 14)
             for (v4, v6, length), ts in zip(rows, stamps) if ts >= since and (v4 or v6)]

    def once() -> TopList:
        [result] = run_flow(name, lambda flow: [flow.apply("TOP", 5, "TOPX_IP", "IP_DSTIP", 1, seconds)])
        return result

    result = once()
    assert result.since == since
    assert [(e.value, e.packets, e.bytes) for e in result] == expected_top(items, 5, False)
    again = once()
    assert (list(again), again.since) == (list(result), result.since)


def test_top_counts_what_a_full_table_cannot_track(monkeypatch: pytest.MonkeyPatch) -> None:
    # A table of 16 slots holds 8 values at most (load 1/2): the first 8 destinations to appear
    # are counted exactly, the packets of the others go to untracked_packets/bytes.
    import mapi_stdlib.stats
    monkeypatch.setattr(mapi_stdlib.stats, "TOP_MAX_SLOTS", 16)
    items = field_values(KXUN, "dst", 14)
    tracked = list(dict.fromkeys(value for value, _ in items))[:8]
    kept = [(value, nbytes) for value, nbytes in items if value in tracked]
    [result] = run_flow(KXUN, lambda flow: [flow.apply("TOP", 5, "TOPX_IP", "IP_DSTIP", "SORT_BY_BYTES")])
    assert [(e.value, e.packets, e.bytes) for e in result] == expected_top(kept, 5, True)
    assert result.distinct == 8
    assert result.untracked_packets == len(items) - len(kept)
    assert result.untracked_bytes == sum(nbytes for _, nbytes in items) - sum(nbytes for _, nbytes in kept)


# ---- errors ------------------------------------------------------------------------------------


def error_of(name: str, build: Callable[[Flow], Any]) -> MapiError:
    with Flow(trace(name)) as flow, pytest.raises(MapiError) as caught:
        build(flow)
    return caught.value


def counter(flow: Flow) -> Any:
    return flow.apply("PKT_COUNTER")


ERRORS = [
    # function, build(flow), code, words the message must hold
    ("STAT", lambda f: f.apply("STAT", f.fd, 99, "0"), 7002, "argument 2"),                  # no such function
    ("STAT", lambda f: f.apply("STAT", 999, 1, "0"), 7001, "argument 1"),                    # no such flow
    ("STAT", lambda f: f.apply("STAT", f.apply("BPF_FILTER", "tcp"), "0"), 7002, "no result"),
    ("STAT", lambda f: f.apply("STAT", f.apply("STAT", counter(f), "0"), "0"), 7002, "u64"),
    ("STAT", lambda f: f.apply("STAT", f.apply("PKT_INFO", "PKT_SIZE"), "1s"), 7002, "cannot be reset"),
    ("STAT", lambda f: f.apply("STAT", counter(f), "soon"), 7003, "argument 3 (ticks)"),
    ("STAT", lambda f: f.apply("STAT", counter(f), "-5"), 7003, "argument 3 (ticks)"),
    ("STAT", lambda f: f.apply("STAT", counter(f), 0), 7003, "argument 3 (ticks)"),
    ("STAT", lambda f: f.apply("STAT", counter(f)), 7003, "argument 3 (ticks) is missing"),
    ("STAT", lambda f: f.apply("STAT", counter(f), "0", "x"), 7000, "takes 3 argument"),
    ("DIST", lambda f: f.apply("DIST", f.fd, 7, "0", "10", "1"), 7002, "argument 2"),
    ("DIST", lambda f: f.apply("DIST", counter(f), "-1", "10", "1"), 7003, "argument 3 (minimum)"),
    ("DIST", lambda f: f.apply("DIST", counter(f), "0", "lots", "1"), 7004, "argument 4 (maximum)"),
    ("DIST", lambda f: f.apply("DIST", counter(f), "10", "10", "1"), 7004, "argument 4 (maximum)"),
    ("DIST", lambda f: f.apply("DIST", counter(f), "20", "10", "1"), 7004, "greater than"),
    ("DIST", lambda f: f.apply("DIST", counter(f), "0", "10", "0"), 7005, "argument 5 (width)"),
    ("DIST", lambda f: f.apply("DIST", counter(f), "0", "10s", "1"), 7005, "at most 1000000"),
    ("DIST", lambda f: f.apply("DIST", counter(f), "0", str(2**64), "1"), 7004, "64 bits"),
    ("DIST", lambda f: f.apply("DIST", counter(f), "0", "10"), 7005, "missing"),
    ("BUCKET", lambda f: f.apply("BUCKET", counter(f), "1s", 2), 7000, "argument 4 (reset)"),
    ("BUCKET", lambda f: f.apply("BUCKET", counter(f), "1s", -1), 7000, "argument 4 (reset)"),
    ("BUCKET", lambda f: f.apply("BUCKET", counter(f), "1s", "1"), 7004, "argument 4 (reset)"),
    ("BUCKET", lambda f: f.apply("BUCKET", counter(f), "-2", 0), 7003, "argument 3 (interval)"),
    ("BUCKET", lambda f: f.apply("BUCKET", counter(f), "often", 0), 7003, "argument 3 (interval)"),
    ("BUCKET", lambda f: f.apply("BUCKET", f.apply("GAP"), "1s", 1), 7002, "cannot be reset"),
    ("BUCKET", lambda f: f.apply("BUCKET", f.fd, 5, "1s", 0), 7002, "argument 2"),
    ("BUCKET", lambda f: f.apply("BUCKET", counter(f), "1s", 0, 0), 7005, "argument 5 (ring_size)"),
    ("BUCKET", lambda f: f.apply("BUCKET", counter(f), "1s", 0, 10**7), 7005, "argument 5 (ring_size)"),
    ("BURST", lambda f: f.apply("BURST", -1, 100, 10, 0, 0, 0, 100), 7001, "argument 1 (minimum)"),
    ("BURST", lambda f: f.apply("BURST", 100, 100, 10, 0, 0, 0, 100), 7002, "argument 2 (maximum)"),
    ("BURST", lambda f: f.apply("BURST", 0, 100, 0, 0, 0, 0, 100), 7003, "argument 3 (step)"),
    ("BURST", lambda f: f.apply("BURST", 0, 100, -5, 0, 0, 0, 100), 7003, "argument 3 (step)"),
    ("BURST", lambda f: f.apply("BURST", 0, 2**31 - 1, 1, 0, 0, 0, 100), 7003, "at most"),
    ("BURST", lambda f: f.apply("BURST", 0, 100, 10, -1, 0, 0, 100), 7004, "argument 4 (frame_gap)"),
    ("BURST", lambda f: f.apply("BURST", 0, 100, 10, 0, -1, 0, 100), 7005, "argument 5 (late)"),
    ("BURST", lambda f: f.apply("BURST", 0, 100, 10, 0, 0, -1, 100), 7011, "argument 6 (early)"),
    ("BURST", lambda f: f.apply("BURST", 0, 100, 10, 0, 0, 0, 0), 7000, "argument 7 (speed)"),
    ("BURST", lambda f: f.apply("BURST", 0, 100, 10, 0, 0, 0), 7000, "argument 7 (speed) is missing"),
    ("BURST", lambda f: f.apply("BURST", 0, "100", 10, 0, 0, 0, 100), 7002, "argument 2 (maximum)"),
    ("BURST", lambda f: f.apply("BURST", 0, 2**40, 10, 0, 0, 0, 100), 7002, "argument 2 (maximum)"),
    ("TOP", lambda f: f.apply("TOP", 0, 1, 9), 7001, "argument 1 (x)"),
    ("TOP", lambda f: f.apply("TOP", -3, 1, 9), 7001, "argument 1 (x)"),
    ("TOP", lambda f: f.apply("TOP", 1001, 1, 9), 7001, "argument 1 (x)"),
    ("TOP", lambda f: f.apply("TOP", 10, 5, 9), 7002, "argument 2 (protocol)"),
    ("TOP", lambda f: f.apply("TOP", 10, "TOPX_SCTP", 9), 7002, "argument 2 (protocol)"),
    ("TOP", lambda f: f.apply("TOP", 10, "TOPX_TCP", "IP_DSTIP"), 7003, "not a field of TOPX_TCP"),
    ("TOP", lambda f: f.apply("TOP", 10, "TOPX_IP", 10), 7003, "not a field of TOPX_IP"),
    ("TOP", lambda f: f.apply("TOP", 10, "TOPX_UDP", "ICMP_TYPE"), 7003, "argument 3 (field)"),
    ("TOP", lambda f: f.apply("TOP", 10, "TOPX_IP", 99), 7003, "argument 3 (field)"),
    ("TOP", lambda f: f.apply("TOP", 10, "TOPX_IP"), 7003, "argument 3 (field) is missing"),
    ("TOP", lambda f: f.apply("TOP", 10, "TOPX_IP", 9, 3), 7004, "argument 4 (sortby)"),
    ("TOP", lambda f: f.apply("TOP", 10, "TOPX_IP", 9, 1, -1), 7005, "argument 5 (reset)"),
    ("TOP", lambda f: f.apply("TOP", "ten", "TOPX_IP", 9), 7001, "argument 1 (x)"),
]


@pytest.mark.parametrize(("function", "build", "code", "words"), ERRORS,
                         ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors_name_the_function_and_the_argument(function: str, build: Callable[[Flow], Any], code: int,
                                                   words: str) -> None:
    error = error_of(WWW, build)
    assert error.code == code
    assert function in str(error)
    assert words in str(error)


def test_periodic_reset_across_devices_is_refused() -> None:
    with Flow(trace(WWW)) as other, Flow(trace(WWW)) as flow:
        source = other.apply("PKT_COUNTER")
        for build in (lambda: flow.apply("STAT", source, "1s"), lambda: flow.apply("BUCKET", source, "1s", 1)):
            with pytest.raises(MapiError) as caught:
                build()
            assert caught.value.code == 7002
            assert "another device" in str(caught.value)
        # without a reset, another device's counter may be read
        flow.apply("STAT", source, "0")
        flow.apply("BUCKET", source, "1s", 0)
