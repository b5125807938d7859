"""TO_BUFFER, mapi_get_next_pkt, mapi_loop and iteration over a flow's packets.

Oracles: every packet's time, captured and wire length come from
``tshark -r F -T fields -e frame.time_epoch -e frame.cap_len -e frame.len -e frame.interface_id``
run at test time; its bytes from the pcap that ``tcpdump -r F -w -`` writes (libpcap reads the
trace, the test parses the 16-byte record headers of tcpdump's output, written out below); a
filter's selection from ``tcpdump -r F -w - EXPR``.  Link types are constants with the capinfos
command that printed them.  The live-mode drop count is a hand calculation from tshark's
captured lengths.  Every wait is bounded: a call that could hang runs in a thread joined with a
time limit, and the test fails if it is still blocked.
"""

from __future__ import annotations

import functools
import os
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mapi_core.api.compat import (
    mapi_apply_function,
    mapi_close_flow,
    mapi_connect,
    mapi_create_flow,
    mapi_create_offline_device,
    mapi_delete_offline_device,
    mapi_get_next_pkt,
    mapi_loop,
    mapi_read_error,
    mapi_read_results,
    mapi_start_offline_device,
)
from mapi_core.packets import Packet
from mapi_core.testing import epoch_to_ts32, require_capabilities, tool, trace, tshark_fields

from mapi_core import Flow, MapiError, default_runtime

SMALL = "mapi-tracefile.pcap"        # pcap µs, Ethernet, snaplen 96, 893 packets, ts not monotonic

# (trace, link type). Link types: capinfos -E FILE ("Ethernet" 1, "NULL/Loopback" 0,
# "Linux cooked-mode capture v1" 113, "Raw IPv4" 228).
TRACES = [
    (SMALL, 1),                                                 # pcap µs
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcap", 1),          # pcap ns
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcapng", 1),        # pcapng, ns
    ("wireshark-4.0.17-src--logistics_multicast.pcapng", 1),    # pcapng, 885 packets
    ("tcpflow-1.6.1-src--local.pcap", 0),                       # DLT_NULL
    ("ndpi-4.2-src--rtsp.pcap", 113),                           # Linux SLL
    ("wireshark-4.0.17-src--http-ooo.pcap", 228),               # raw IPv4
]


# ---- oracles ------------------------------------------------------------------------------------

def pcap_payloads(blob: bytes) -> list[bytes]:
    """The frames of a pcap file (tcpdump's -w output): a 24-byte file header, then records of a
    16-byte header (ts_sec, ts_frac, incl_len, orig_len) and incl_len bytes."""
    magic = blob[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    frames, offset = [], 24
    while offset < len(blob):
        _, _, incl_len, _ = struct.unpack_from(endian + "IIII", blob, offset)
        offset += 16
        frames.append(blob[offset:offset + incl_len])
        offset += incl_len
    return frames


def tcpdump_payloads(path: Path, expression: str = "") -> list[bytes]:
    """tcpdump -r FILE -w - [EXPR]"""
    argv = [tool("tcpdump"), "-r", str(path), "-w", "-"] + ([expression] if expression else [])
    return pcap_payloads(subprocess.run(argv, check=True, capture_output=True, timeout=60).stdout)


@functools.cache
def expected(name: str, expression: str = "") -> list[tuple[int, int, int, int, bytes]]:
    """(ts 32.32, caplen, wlen, ifindex, bytes) of every packet (that the filter selects)."""
    path = trace(name)
    source = path
    if expression:      # tshark lists what tcpdump selected
        selected = subprocess.run([tool("tcpdump"), "-r", str(path), "-w", "-", expression], check=True,
                                  capture_output=True, timeout=60).stdout
        source = Path(os.environ.get("TMPDIR", "/tmp")) / f"mapi-test-buffer-{os.getpid()}.pcap"
        source.write_bytes(selected)
    try:
        rows = tshark_fields(source, "frame.time_epoch", "frame.cap_len", "frame.len", "frame.interface_id")
    finally:
        if expression:
            source.unlink()
    payloads = tcpdump_payloads(path, expression)
    assert len(payloads) == len(rows)
    return [(epoch_to_ts32(t), int(cap), int(wire), int(ifindex or 0), data)
            for (t, cap, wire, ifindex), data in zip(rows, payloads)]


def as_tuples(packets: list[Packet]) -> list[tuple[int, int, int, int, bytes]]:
    return [(p.ts, p.caplen, p.wlen, p.ifindex, p.data) for p in packets]


def bounded(call: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Runs call in a thread; fails the test if it is still running after `seconds`."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as err:  # noqa: BLE001 (re-raised in the test's thread)
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{call} still blocked after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {seconds} s"
        time.sleep(0.005)


def code_of(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(MapiError) as caught:
        call()
    return caught.value.code, str(caught.value)


# ---- every packet, three ways -------------------------------------------------------------------

def read_by_get_next_pkt(name: str) -> list[Packet]:
    dev = mapi_create_offline_device(str(trace(name)))
    fd = mapi_create_flow(dev)
    fid = mapi_apply_function(fd, "TO_BUFFER", "WAIT")
    assert mapi_connect(fd) == 0, mapi_read_error()
    assert mapi_start_offline_device(dev) == 0
    packets = []
    try:
        while (packet := mapi_get_next_pkt(fd, fid)) is not None:
            packets.append(packet)
        assert mapi_read_error() == (0, "")
    finally:
        mapi_close_flow(fd)
        mapi_delete_offline_device(dev)
    return packets


def read_by_loop(name: str) -> list[Packet]:
    dev = mapi_create_offline_device(str(trace(name)))
    fd = mapi_create_flow(dev)
    fid = mapi_apply_function(fd, "TO_BUFFER", 0)
    mapi_connect(fd)
    mapi_start_offline_device(dev)
    packets: list[Packet] = []
    try:
        assert mapi_loop(fd, fid, 0, packets.append) == 0     # cnt <= 0: to the end
    finally:
        mapi_close_flow(fd)
        mapi_delete_offline_device(dev)
    return packets


def read_by_iteration(name: str) -> list[Packet]:
    with Flow(trace(name)) as flow:
        handle = flow.apply("TO_BUFFER", "NOWAIT")   # iteration waits whatever the mode
        flow.connect()
        return list(handle)


@pytest.mark.parametrize("way", [read_by_get_next_pkt, read_by_loop, read_by_iteration],
                         ids=["get_next_pkt", "loop", "iteration"])
@pytest.mark.parametrize(("name", "linktype"), TRACES, ids=[t[0].split("--")[-1] for t in TRACES])
def test_every_packet_in_order(name: str, linktype: int, way: Callable[[str], list[Packet]]) -> None:
    packets = bounded(lambda: way(name), 30)
    assert as_tuples(packets) == expected(name)
    assert {p.linktype for p in packets} == {linktype}
    assert all(p.caplen == len(p.data) for p in packets)


def test_seconds_and_stats_after_a_whole_trace() -> None:
    rows = expected(SMALL)
    with Flow(trace(SMALL)) as flow:
        handle = flow.apply("TO_BUFFER", "WAIT")
        flow.connect()
        packets = list(flow.packets())
        stats = handle.read()
    epochs = [float(t) for (t,) in tshark_fields(trace(SMALL), "frame.time_epoch")]
    assert [p.seconds for p in packets] == pytest.approx(epochs, abs=1e-6)
    assert (stats.buffered, stats.read, stats.pending, stats.dropped, stats.truncated) == (len(rows), len(rows), 0, 0, 0)
    assert stats.bytes == sum(caplen for _, caplen, _, _, _ in rows)


def test_loop_stops_after_cnt_and_get_next_pkt_goes_on() -> None:
    rows = expected(SMALL)
    with Flow(trace(SMALL)) as flow:
        handle = flow.apply("TO_BUFFER", "WAIT")
        flow.connect()
        seen: list[Packet] = []
        assert mapi_loop(flow.fd, handle.fid, 5, seen.append) == 0
        assert as_tuples(seen) == rows[:5]
        sixth = mapi_get_next_pkt(flow.fd, handle.fid)
        assert as_tuples([sixth]) == rows[5:6]
        assert mapi_loop(flow.fd, handle.fid, -1, seen.append) == 0
        assert len(seen) == len(rows) - 1
        assert mapi_get_next_pkt(flow.fd, handle.fid) is None     # after the end: None, no error
        assert mapi_read_error() == (0, "")


# ---- back-pressure -------------------------------------------------------------------------------

def test_slow_reader_on_a_tiny_ring_loses_nothing() -> None:
    rows = expected(SMALL)
    with Flow(trace(SMALL)) as flow:
        handle = flow.apply("TO_BUFFER", "WAIT", 4096)   # about 45 packets of this trace
        flow.connect()
        packets = []
        for packet in handle:
            packets.append(packet)
            if len(packets) % 50 == 0:
                time.sleep(0.01)            # the device thread fills the ring meanwhile
        stats = handle.read()
    assert as_tuples(packets) == rows
    assert stats.dropped == 0 and stats.buffered == len(rows)
    assert stats.waits > 0                  # the device thread did wait for the reader


def test_results_stay_readable_while_the_device_waits() -> None:
    """A snapshot of the flow's results does not wait for the device thread, which waits for
    the reader: reading a counter of the same flow from the reader's thread must not hang."""
    rows = expected(SMALL)
    with Flow(trace(SMALL)) as flow:
        counter = flow.apply("PKT_COUNTER")
        handle = flow.apply("TO_BUFFER", "WAIT", 4096)
        after = flow.apply("PKT_COUNTER")
        flow.connect()
        wait_until(lambda: bounded(handle.read, 5).waits > 0)
        before, stats, behind = bounded(lambda: (counter.read(), handle.read(), after.read()), 5)
        assert before >= stats.buffered >= behind       # TO_BUFFER holds the current packet
        assert stats.buffered < len(rows)
        info = bounded(handle.info, 5)
        assert info.pkts >= stats.buffered
        packets = list(handle)
    assert as_tuples(packets) == rows


def test_two_flows_with_to_buffer_on_one_device() -> None:
    everything, udp = expected(SMALL), expected(SMALL, "udp")
    dev = mapi_create_offline_device(str(trace(SMALL)))
    fd1, fd2 = mapi_create_flow(dev), mapi_create_flow(dev)
    fid1 = mapi_apply_function(fd1, "TO_BUFFER", "WAIT", 4096)
    mapi_apply_function(fd2, "BPF_FILTER", "udp")
    fid2 = mapi_apply_function(fd2, "TO_BUFFER", "WAIT", 4096)
    assert mapi_connect(fd1) == 0 and mapi_connect(fd2) == 0
    results: dict[int, list[Packet]] = {fd1: [], fd2: []}
    try:
        assert mapi_start_offline_device(dev) == 0
        readers = [threading.Thread(target=mapi_loop, args=(fd, fid, 0, results[fd].append), daemon=True)
                   for fd, fid in ((fd1, fid1), (fd2, fid2))]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(30)
            assert not reader.is_alive()
    finally:
        mapi_close_flow(fd1)
        mapi_close_flow(fd2)
        mapi_delete_offline_device(dev)
    assert as_tuples(results[fd1]) == everything
    assert as_tuples(results[fd2]) == udp
    assert len(udp) > 50        # tcpdump -r mapi-tracefile.pcap --count udp: 110 packets


@pytest.mark.parametrize("expression", ["tcp and port 80", "udp or arp", "vlan or ip6"])
def test_bpf_filter_before_to_buffer_matches_tcpdump(expression: str) -> None:
    with Flow(trace(SMALL)) as flow:
        flow.apply("BPF_FILTER", expression)
        handle = flow.apply("TO_BUFFER", "WAIT", 4096)
        flow.connect()
        packets = bounded(lambda: list(handle), 30)
    assert as_tuples(packets) == expected(SMALL, expression)


# ---- waking up ------------------------------------------------------------------------------------

def test_nowait_on_an_empty_ring_returns_none_at_once() -> None:
    dev = mapi_create_offline_device(str(trace(SMALL)))
    fd = mapi_create_flow(dev)
    fid = mapi_apply_function(fd, "TO_BUFFER", "NOWAIT")
    mapi_connect(fd)
    try:
        started = time.monotonic()
        assert mapi_get_next_pkt(fd, fid) is None          # not started: nothing buffered
        assert mapi_read_error() == (0, "")
        assert mapi_loop(fd, fid, 10, lambda p: None) == 0  # MAPI: the loop ends at the first NULL
        assert time.monotonic() - started < 0.5
        mapi_start_offline_device(dev)
        packets = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            packet = mapi_get_next_pkt(fd, fid)
            if packet is None:
                if default_finished(dev) and not packets_pending(fd, fid):
                    break
                time.sleep(0.001)
                continue
            packets.append(packet)
        assert as_tuples(packets) == expected(SMALL)
    finally:
        mapi_close_flow(fd)
        mapi_delete_offline_device(dev)


def default_finished(dev: str) -> bool:
    return default_runtime().device(dev).finished.is_set()


def packets_pending(fd: int, fid: int) -> bool:
    return mapi_read_results(fd, fid).value.pending > 0


def test_wait_with_a_timeout_raises_6160() -> None:
    dev = mapi_create_offline_device(str(trace(SMALL)))
    flow = Flow(dev)                      # a flow on a device that is never started
    handle = flow.apply("TO_BUFFER", "WAIT")
    flow.connect()
    try:
        started = time.monotonic()
        code, message = code_of(lambda: bounded(lambda: handle.next_packet(0.3), 5))
        assert code == 6160 and "TO_BUFFER" in message
        assert 0.25 <= time.monotonic() - started < 3
        packet, error = bounded(lambda: (mapi_get_next_pkt(flow.fd, handle.fid, timeout=0.1), mapi_read_error()), 5)
        assert packet is None and error[0] == 6160     # the error is the calling thread's
        code, message = code_of(lambda: handle.next_packet(-1))
        assert code == 7000 and "negative" in message
    finally:
        flow.close()
        mapi_delete_offline_device(dev)


def test_a_waiting_reader_wakes_up_when_the_flow_closes() -> None:
    dev = mapi_create_offline_device(str(trace(SMALL)))
    fd = mapi_create_flow(dev)
    fid = mapi_apply_function(fd, "TO_BUFFER", "WAIT")
    mapi_connect(fd)                      # never started: the reader waits for good
    outcome: list[Any] = []
    reader = threading.Thread(target=lambda: outcome.append(mapi_get_next_pkt(fd, fid)), daemon=True)
    reader.start()
    time.sleep(0.3)
    assert reader.is_alive()              # really waiting
    try:
        started = time.monotonic()
        bounded(lambda: mapi_close_flow(fd), 5)
        reader.join(5)
        assert not reader.is_alive() and outcome == [None]
        assert time.monotonic() - started < 2
    finally:
        mapi_delete_offline_device(dev)
    # the same with mapi_loop on a flow of its own
    dev = mapi_create_offline_device(str(trace(SMALL)))
    fd = mapi_create_flow(dev)
    fid = mapi_apply_function(fd, "TO_BUFFER", "WAIT")
    mapi_connect(fd)
    looper = threading.Thread(target=lambda: outcome.append(mapi_loop(fd, fid, 0, lambda p: None)), daemon=True)
    looper.start()
    time.sleep(0.3)
    assert looper.is_alive()
    bounded(lambda: mapi_delete_offline_device(dev), 5)    # closes the flow
    looper.join(5)
    assert not looper.is_alive() and outcome == [None, 0]


def test_a_waiting_device_thread_wakes_up_when_the_flow_closes() -> None:
    rows = expected(SMALL)
    flow = Flow(trace(SMALL))
    handle = flow.apply("TO_BUFFER", "WAIT", 4096)
    flow.connect()
    first = [handle.next_packet(5) for _ in range(3)]
    wait_until(lambda: handle.read().waits > 0)       # the device thread waits for room
    device = flow.runtime.flow(flow.fd).device
    assert not device.finished.is_set()
    bounded(flow.close, 5)                              # closes the reader side first, then detaches
    assert device.finished.wait(5)
    assert as_tuples(first) == rows[:3]


def test_deleting_a_device_whose_thread_waits_for_a_reader() -> None:
    dev = mapi_create_offline_device(str(trace(SMALL)))
    fd = mapi_create_flow(dev)
    fid = mapi_apply_function(fd, "TO_BUFFER", "WAIT", 4096)
    mapi_connect(fd)
    mapi_start_offline_device(dev)
    wait_until(lambda: mapi_read_results(fd, fid).value.waits > 0)
    assert bounded(lambda: mapi_delete_offline_device(dev), 5) == 0
    assert mapi_get_next_pkt(fd, fid) is None and mapi_read_error()[0] == 6145


def test_a_flow_connected_after_the_trace_ended_gets_none() -> None:
    dev = mapi_create_offline_device(str(trace(SMALL)))
    first = mapi_create_flow(dev)
    mapi_apply_function(first, "PKT_COUNTER")
    mapi_connect(first)
    mapi_start_offline_device(dev)
    try:
        assert default_finished_within(dev, 10)
        late = mapi_create_flow(dev)
        fid = mapi_apply_function(late, "TO_BUFFER", "WAIT")
        mapi_connect(late)
        assert bounded(lambda: mapi_get_next_pkt(late, fid), 5) is None
        assert mapi_read_error() == (0, "")
    finally:
        mapi_delete_offline_device(dev)


def default_finished_within(dev: str, seconds: float) -> bool:
    return default_runtime().device(dev).finished.wait(seconds)


# ---- the ring itself, in live mode (drops) ----------------------------------------------------

def test_live_ring_drops_and_counts_what_does_not_fit() -> None:
    """A live device's ring that nobody reads: the packets that fit are kept, every other one is
    dropped and counted.  Hand calculation: a record is a 24-byte header plus caplen rounded up
    to 8; records are stored back to back from offset 0 until the next one does not fit 4096."""
    from mapi_stdlib.native._buffer import ffi, lib

    rows = expected(SMALL)
    result = ffi.new("tobuf_result_t *")
    device_drops = ffi.new("uint64_t *")
    ring = ffi.gc(lib.tobuf_new(4096, 0, result, 0, int(ffi.cast("uintptr_t", device_drops))), lib.tobuf_free)
    used, fitting = 0, 0
    for _, caplen, _, _, _ in rows:
        if used + 24 + (caplen + 7) // 8 * 8 > 4096:
            break
        used += 24 + (caplen + 7) // 8 * 8
        fitting += 1
    assert 0 < fitting < len(rows)
    offer(lib, ffi, ring, rows)
    assert (result.packets, result.dropped, result.waits) == (fitting, len(rows) - fitting, 0)

    # a reader empties it; what comes then is kept again, in order, bytes intact
    out = ffi.new("unsigned char[]", 4096)
    copied = ffi.new("uint64_t *")
    assert lib.tobuf_read(ring, 0, out, 4096, copied) == lib.TOBUF_RECORDS
    assert copied[0] == used
    assert lib.tobuf_read(ring, 0, out, 4096, copied) == lib.TOBUF_EMPTY
    delivered = []
    offered = 0
    for start in range(fitting, len(rows), 7):          # 7 packets in, then read everything
        offer(lib, ffi, ring, rows[start:start + 7])
        offered += len(rows[start:start + 7])
        while lib.tobuf_read(ring, 0, out, 4096, copied) == lib.TOBUF_RECORDS:
            delivered += records(ffi, out, copied[0])
    assert result.dropped == len(rows) - fitting        # 7 small packets always fit
    assert device_drops[0] == result.dropped            # counted on the device too (mapi_stats)
    assert delivered == [(ts, cap, wire, data) for ts, cap, wire, _, data in rows[fitting:]]


def offer(lib: Any, ffi: Any, ring: Any, rows: list[tuple[int, int, int, int, bytes]]) -> None:
    hdr = ffi.new("mapi_pkthdr_t *")
    for ts, caplen, wlen, _, data in rows:
        hdr.ts, hdr.caplen, hdr.wlen, hdr.linktype = ts, caplen, wlen, 1
        assert lib.tobuf_process(ring, ffi.from_buffer(data), hdr) == 1   # never filters


def records(ffi: Any, out: Any, size: int) -> list[tuple[int, int, int, bytes]]:
    raw = bytes(ffi.buffer(out, size))
    found, offset = [], 0
    while offset < size:
        ts, caplen, wlen = struct.unpack_from("=QII", raw, offset)
        found.append((ts, caplen, wlen, raw[offset + 24:offset + 24 + caplen]))
        offset += 24 + (caplen + 7) // 8 * 8
    return found


# ---- errors -----------------------------------------------------------------------------------------

def test_get_next_pkt_and_loop_error_codes() -> None:
    dev = mapi_create_offline_device(str(trace(SMALL)))
    fd = mapi_create_flow(dev)
    counter = mapi_apply_function(fd, "PKT_COUNTER")
    fid = mapi_apply_function(fd, "TO_BUFFER", "NOWAIT")
    try:
        # not connected yet (MAPI checks it before the callback and the fid)
        assert mapi_get_next_pkt(fd, fid) is None and mapi_read_error()[0] == 6143
        assert mapi_loop(fd, fid, 1, None) == -1 and mapi_read_error()[0] == 6143
        mapi_connect(fd)
        for bad_fd, bad_fid, code in ((0, fid, 6147), (-1, fid, 6147), (fd, 0, 6147), (fd, -3, 6147),
                                      (9999, fid, 6145), (fd, 99, 6147), (fd, counter, 6147)):
            assert mapi_get_next_pkt(bad_fd, bad_fid) is None
            assert mapi_read_error()[0] == code, (bad_fd, bad_fid)
            assert mapi_loop(bad_fd, bad_fid, 1, lambda p: None) == -1
            assert mapi_read_error()[0] == code, (bad_fd, bad_fid)
        assert mapi_loop(fd, fid, 1, None) == -1
        code, message = mapi_read_error()
        assert code == 7004 and "callback" in message
        assert mapi_loop(fd, fid, "3", print) == -1 and mapi_read_error()[0] == 7003
        mapi_get_next_pkt(fd, counter)
        assert "PKT_COUNTER" in mapi_read_error()[1]
    finally:
        mapi_close_flow(fd)
        mapi_delete_offline_device(dev)


@pytest.mark.parametrize(("args", "code", "words"), [
    ((), 7001, "argument 1 (mode)"),
    ((2,), 7001, "argument 1 (mode)"),
    (("SOMETIMES",), 7001, "argument 1 (mode)"),
    ((1.0,), 7001, "argument 1 (mode)"),
    ((0, 100), 7002, "argument 2 (size)"),
    ((0, 2**31), 7002, "argument 2 (size)"),
    ((0, 4096, 1), 7000, "TO_BUFFER takes 2"),
])
def test_argument_errors(args: tuple[Any, ...], code: int, words: str) -> None:
    with Flow(trace(SMALL)) as flow:
        got, message = code_of(lambda: flow.apply("TO_BUFFER", *args))
    assert got == code and words in message and "TO_BUFFER" in message


def test_ring_smaller_than_one_packet_of_the_device() -> None:
    # capinfos -l ndpi-4.2-src--synscan.pcap: snaplen 65535 -> a record of 24 + 65536 bytes
    with Flow(trace("ndpi-4.2-src--synscan.pcap")) as flow:
        code, message = code_of(lambda: flow.apply("TO_BUFFER", "WAIT", 65536))
        assert code == 7002 and "65560" in message and "argument 2 (size)" in message
        flow.apply("TO_BUFFER", "WAIT", 65560)


def test_flow_packets_needs_exactly_one_to_buffer() -> None:
    rows = expected(SMALL)
    with Flow(trace(SMALL)) as flow:
        counter = flow.apply("PKT_COUNTER")
        code, message = code_of(lambda: flow.packets())
        assert code == 6147 and "no TO_BUFFER" in message
        first = flow.apply("TO_BUFFER", "WAIT")
        second = flow.apply("TO_BUFFER", "WAIT")
        assert code_of(lambda: flow.packets(first))[0] == 6143        # not connected
        flow.connect()
        code, message = code_of(lambda: iter(counter))
        assert code == 6147 and "PKT_COUNTER" in message
        code, message = code_of(lambda: flow.packets())
        assert code == 6147 and "name one" in message
        assert as_tuples(list(flow.packets(second))) == rows
        assert as_tuples(list(flow.packets(first.fid))) == rows
        assert first.next_packet() is None


# ---- a live device ------------------------------------------------------------------------------

def open_loopback_flow() -> int:
    """A flow on the loopback interface; skips without the right to capture."""
    require_capabilities("CAP_NET_RAW", purpose="capturing on lo")
    fd = mapi_create_flow("lo")
    if fd < 0:
        code, message = mapi_read_error()
        pytest.fail(f"cannot capture on lo: {code} {message}")
    return fd


def test_live_device_drops_and_counts_when_nobody_reads() -> None:
    """5000 UDP datagrams of 100 bytes to a port of our own on 127.0.0.1, read by nobody, into a
    ring of 262168 bytes.  Hand calculation: each frame is 14 (Ethernet) + 20 (IPv4) + 8 (UDP) +
    100 = 142 bytes, a record 24 + 144 = 168 bytes, so the ring keeps 262168 // 168 = 1560
    packets and 3440 are dropped and counted, in TO_BUFFER's result and in mapi_stats."""
    import socket

    from mapi_core.api.compat import mapi_get_function_info, mapi_stats

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    fd = open_loopback_flow()
    try:
        assert mapi_apply_function(fd, "BPF_FILTER", f"udp and dst port {port}") > 0
        fid = mapi_apply_function(fd, "TO_BUFFER", "NOWAIT", 262168)
        assert mapi_connect(fd) == 0, mapi_read_error()
        drops_before = mapi_stats("lo").function_drops
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(5000):
                sender.sendto(b"x" * 100, ("127.0.0.1", port))
        wait_until(lambda: mapi_get_function_info(fd, fid).pkts >= 5000, 10)
        stats = mapi_read_results(fd, fid).value
        assert (stats.buffered, stats.dropped, stats.waits) == (1560, 3440, 0)
        assert mapi_stats("lo").function_drops - drops_before == 3440
        packets = []
        while (packet := mapi_get_next_pkt(fd, fid)) is not None:     # NOWAIT: None when empty
            packets.append(packet)
        assert len(packets) == 1560 and {(p.caplen, p.wlen, p.linktype) for p in packets} == {(142, 142, 1)}
        assert all(p.data.endswith(b"x" * 100) for p in packets)
        assert [p.ts for p in packets] == sorted(p.ts for p in packets)
    finally:
        mapi_close_flow(fd)
        receiver.close()
