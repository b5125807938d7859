"""Large traces: the resident window (engine/residency.c) and shared evaluation of filters.

Traces above 16 MiB are made resident by a helper thread ahead of the parser and released behind
it.  These tests use a generated trace large enough for that, and check the counts against
tcpdump and the process's resident memory against the size of the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from mapi_core.testing import tcpdump_wire_lengths, tool
from mapi_core.tracegen import generate

from mapi_core import Flow


@pytest.fixture(scope="module")
def large_trace(tmp_path_factory):
    """100,000 packets of the generator's mix, about 94 MB."""
    path = tmp_path_factory.mktemp("large") / "mix-100000.pcap"
    generate(str(path), 100_000, seed=3)
    return path


COUNT = textwrap.dedent("""
    import json, sys
    from mapi_core import Flow
    with Flow(sys.argv[1]) as flow:
        flow.apply("BPF_FILTER", sys.argv[2])
        packets, octets = flow.apply("PKT_COUNTER"), flow.apply("BYTE_COUNTER")
        flow.run(timeout=120)
        status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        print(json.dumps({"packets": packets.read(), "bytes": octets.read(),
                          "hwm_kib": int(status["VmHWM"].split()[0])}))
""")


def count_in_process(path, expression: str) -> dict:
    done = subprocess.run([sys.executable, "-c", COUNT, str(path), expression],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_counts_equal_tcpdumps(large_trace):
    # tcpdump -r mix-100000.pcap -w - 'tcp and port 80' | tshark -r - -T fields -e frame.len
    lengths = tcpdump_wire_lengths(large_trace, "tcp and port 80")
    counted = count_in_process(large_trace, "tcp and port 80")
    assert (counted["packets"], counted["bytes"]) == (len(lengths), sum(lengths))


def test_resident_memory_does_not_grow_with_the_file(large_trace):
    """The whole 94 MB file is read; the process's peak resident memory grows by much less,
    because pages are released behind the parser (a baseline run on a tiny trace gives the
    interpreter's own memory)."""
    tiny = large_trace.with_name("tiny.pcap")
    generate(str(tiny), 100, seed=3)
    baseline = count_in_process(tiny, "tcp")["hwm_kib"]
    large = count_in_process(large_trace, "tcp")["hwm_kib"]
    file_kib = large_trace.stat().st_size // 1024
    assert large - baseline < file_kib * 0.75, (baseline, large, file_kib)


def test_closing_while_the_device_waits(large_trace):
    """A slow TO_BUFFER reader makes the device wait in the middle of the file, with the resident
    window's thread running; closing then ends both threads."""
    with Flow(str(large_trace)) as flow:
        buffer = flow.apply("TO_BUFFER", "WAIT", 262144)
        counter = flow.apply("PKT_COUNTER")
        flow.connect()
        first = [buffer.next_packet(timeout=30) for _ in range(20)]
        assert all(packet is not None for packet in first)
        assert counter.read() < 100_000
    # tshark -r mix-100000.pcap -c 1 -T fields -e frame.len  (the first packet's length)
    first_length = int(subprocess.run([tool("tshark"), "-r", str(large_trace), "-c", "1", "-T", "fields",
                                       "-e", "frame.len"], capture_output=True, text=True, check=True).stdout)
    assert first[0].wlen == first_length


def test_many_flows_share_one_evaluation_of_the_same_filter(large_trace):
    """32 flows with the same leading BPF_FILTER, and 8 with another, each equal to tcpdump."""
    from mapi_core.testing import run_device, shared_device_flows

    expressions = ["tcp and port 80"] * 32 + ["udp"] * 8
    with shared_device_flows(large_trace, len(expressions)) as flows:
        handles = []
        for flow, expression in zip(flows, expressions):
            flow.apply("BPF_FILTER", expression)
            handles.append((expression, flow.apply("PKT_COUNTER"), flow.apply("BYTE_COUNTER")))
        run_device(flows, timeout=120)
        for expression in set(expressions):
            lengths = tcpdump_wire_lengths(large_trace, expression)
            for _, packets, octets in (h for h in handles if h[0] == expression):
                assert (packets.read(), octets.read()) == (len(lengths), sum(lengths))
