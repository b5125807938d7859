"""Live capture, checked against tcpdump on the same interface at the same time.

Each test makes its own network namespace with a veth pair (removed in a finally), replays a
shared trace with ``tcpreplay`` into one end, and captures the other end with mapi (both
backends, AF_PACKET and libpcap, each in its own process inside the namespace) and with
``tcpdump -w`` (same filter).  Expected values: the packets tcpdump wrote, read back with
``capinfos`` (count, bytes) and ``tshark`` (per packet: time, captured and wire length), their
bytes from tcpdump's file; and the trace itself (``tcpdump --count -r TRACE FILTER``).

Needs root (CAP_NET_ADMIN for the namespace, CAP_NET_RAW for capture) and tcpreplay, tcpdump,
tshark, capinfos.  Without them the tests skip, saying what is missing; under CI (``CI`` set)
they fail instead.  Every process is bounded in time, every loop in count.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from mapi_core.constants import DEVICE_DELETED
from mapi_core.errors import MapiError
from mapi_core.plugins import FunctionDef, hookimpl
from mapi_core.plugins.manager import Registry
from mapi_core.runtime import Runtime
from mapi_core.testing import epoch_to_ts32, require_capabilities, tool, trace, tshark_fields, veth_namespace

from mapi_core import packets

STEP_TIMEOUT = 60        # seconds: any one process of a test
REPLAY_PPS = 4000        # fixed replay rate: no drop is expected at this rate, so counts must match
RECORD_LIMIT = 5000      # packets a capture records one by one (the traces below are smaller)


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"live capture tests cannot run: {what} (CI must provide it)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A fresh namespace with veth0 <-> veth1 up (MTU 9000, IPv6 off so the kernel sends
    nothing of its own); removed at the end whatever happens."""
    if not sys.platform.startswith("linux"):
        _missing("network namespaces exist on Linux only")
    require_capabilities("CAP_NET_ADMIN", "CAP_NET_RAW", purpose="a network namespace with live capture")
    if shutil.which("ip") is None:
        _missing("the ip command (iproute2) is not installed")
    try:
        with veth_namespace("mapi-test", STEP_TIMEOUT) as name:
            yield name
    except subprocess.CalledProcessError as err:
        if "netns" in err.cmd and "add" in err.cmd:
            _missing(f"cannot create a network namespace: {err.stderr.strip()}")
        raise


# A capture with mapi in the namespace: a flow [BPF_FILTER] PKT_COUNTER BYTE_COUNTER RECORD on
# veth1; RECORD (a Python function, the engine's slow path) keeps each packet's header and a hash
# of its bytes.  It prints "ready" once connected, waits for a line on stdin, prints JSON.
CAPTURE = textwrap.dedent("""
    import hashlib, json, sys, types
    from mapi_core.plugins import FunctionDef, hookimpl
    from mapi_core.plugins.manager import Registry
    from mapi_core.runtime import Runtime

    interface, backend, expression, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    packets = []

    class Record:
        def process(self, packet, header):
            if len(packets) < limit:
                packets.append([header.ts, header.caplen, header.wlen, header.linktype,
                                hashlib.sha1(bytes(packet)).hexdigest()])
            return 1

    library = types.ModuleType("record_library")
    library.mapi_register_functions = hookimpl(
        lambda: [FunctionDef(name="RECORD", description="records packets", implementation=Record)])
    registry = Registry.discover()
    registry.register_library(library, "record")
    runtime = Runtime(registry)
    name = runtime.open_live_device(interface, backend=backend, snaplen=262144, buffer_size="8MiB")
    fd = runtime.create_flow(name)
    if expression:
        runtime.apply_function(fd, "BPF_FILTER", [expression])
    count = runtime.apply_function(fd, "PKT_COUNTER", [])
    size = runtime.apply_function(fd, "BYTE_COUNTER", [])
    runtime.apply_function(fd, "RECORD", [])
    runtime.connect(fd)
    print("ready", flush=True)
    sys.stdin.readline()
    stats = runtime.stats(name)
    device = runtime.device(name)
    print(json.dumps({"count": runtime.read_result(fd, count).value, "bytes": runtime.read_result(fd, size).value,
                      "packets": packets, "backend": stats.backend, "ps_recv": stats.ps_recv,
                      "ps_drop": stats.ps_drop, "processed": stats.processed, "linktype": device.linktype,
                      "error": device.error}))
    runtime.close_live_device(name)
""")


class Capture:
    """One mapi capture process in the namespace."""

    def __init__(self, ns: str, backend: str, expression: str, interface: str = "veth1") -> None:
        self.backend = backend
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", CAPTURE, interface, backend, expression,
             str(RECORD_LIMIT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        line = _readline(self.proc.stdout, STEP_TIMEOUT)
        if line.strip() != "ready":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=STEP_TIMEOUT)
            pytest.fail(f"mapi ({self.backend}) did not start capturing: {line!r} {err}")

    def finish(self) -> dict:
        out, err = self.proc.communicate("stop\n", timeout=STEP_TIMEOUT)
        assert self.proc.returncode == 0, f"mapi ({self.backend}) failed: {err}"
        return json.loads(out)


_pending: dict[int, bytes] = {}


def _readline(stream, timeout: float) -> str:
    """A line from a child's pipe, waiting at most ``timeout`` seconds ("" if none came).  Reads
    the descriptor itself (a buffered readline could swallow lines that select() then misses)."""
    import selectors

    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in _pending.get(fd, b""):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return ""
            chunk = os.read(fd, 4096)
            if not chunk:
                return _pending.pop(fd, b"").decode(errors="replace")
            _pending[fd] = _pending.get(fd, b"") + chunk
    line, _, rest = _pending.pop(fd).partition(b"\n")
    _pending[fd] = rest
    return line.decode(errors="replace") + "\n"


@contextlib.contextmanager
def tcpdump(ns: str, expression: str, output: Path, interface: str = "veth1",
            linktype: str | None = None) -> Iterator[subprocess.Popen]:
    """``tcpdump -i veth1 -w OUTPUT --immediate-mode --time-stamp-precision=nano -s 262144 -B 8192
    [-y LINKTYPE] EXPR`` in the namespace, stopped with SIGINT (it then writes everything it has)."""
    argv = ["ip", "netns", "exec", ns, tool("tcpdump"), "-i", interface, "-w", str(output), "--immediate-mode",
            "--time-stamp-precision=nano", "-s", "262144", "-B", "8192", "-n"]
    argv += ["-y", linktype] if linktype else []
    argv += [expression] if expression else []
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = []
        while len(lines) < 5 and not any(f"listening on {interface}" in line for line in lines):
            lines.append(_readline(proc.stderr, STEP_TIMEOUT))   # "data link type ..." may come first
            if not lines[-1]:
                break
        assert f"listening on {interface}" in lines[-1], f"tcpdump did not start: {lines!r}"
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def replay(ns: str, path: Path) -> str:
    """``tcpreplay -i veth0 --pps=4000 TRACE`` in the namespace; returns its report."""
    done = subprocess.run(["ip", "netns", "exec", ns, tool("tcpreplay"), "-i", "veth0", f"--pps={REPLAY_PPS}",
                           str(path)], check=False, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    assert done.returncode == 0, done.stderr
    failed = re.search(r"Failed packets:\s+(\d+)", done.stdout)
    assert failed is not None and failed[1] == "0", done.stdout
    return done.stdout


def pcap_bytes(path: Path) -> list[bytes]:
    """The frames of a pcap file (tcpdump's output), in order: the 24-byte file header, then
    16-byte record headers (ts_sec, ts_frac, caplen, wlen) each followed by caplen bytes."""
    data = path.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    frames, offset = [], 24
    while offset + 16 <= len(data):
        caplen = struct.unpack_from(endian + "I", data, offset + 8)[0]
        frames.append(data[offset + 16:offset + 16 + caplen])
        offset += 16 + caplen
    return frames


def expected_count(path: Path, expression: str) -> int:
    """``tcpdump --count -r TRACE EXPR``: the packets of the trace the filter selects."""
    done = subprocess.run([tool("tcpdump"), "--count", "-r", str(path)] + ([expression] if expression else []),
                          check=False, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    found = re.search(r"^(\d+) packets?$", done.stdout + done.stderr, re.MULTILINE)
    assert found is not None, done.stderr
    return int(found[1])


def tcpdump_packets(dump: Path, linktype: int) -> list[list]:
    """What tcpdump wrote, per packet, as RECORD lists it: time in 32.32 (from tshark's
    frame.time_epoch, exactly), captured length, wire length, link type, SHA-1 of the bytes."""
    rows = tshark_fields(dump, "frame.time_epoch", "frame.cap_len", "frame.len")
    frames = pcap_bytes(dump)
    assert len(rows) == len(frames)
    return [[epoch_to_ts32(epoch), int(cap), int(wire), linktype, hashlib.sha1(frame).hexdigest()]
            for (epoch, cap, wire), frame in zip(rows, frames)]


def capinfos_totals(dump: Path) -> tuple[int, int]:
    """``capinfos -c -d -M FILE``: number of packets, data size (the sum of wire lengths)."""
    info = subprocess.run([tool("capinfos"), "-c", "-d", "-M", str(dump)], check=True, capture_output=True,
                          text=True, timeout=STEP_TIMEOUT).stdout
    return int(re.search(r"Number of packets:\s+(\d+)", info)[1]), int(re.search(r"Data size:\s+(\d+)", info)[1])


def check_capture(result: dict, backend: str, dump: Path, linktype: int, reached: int) -> None:
    """mapi's capture against tcpdump's file: counters, statistics, then packet by packet."""
    count, size = capinfos_totals(dump)
    assert result["error"] == "", result["error"]
    assert result["backend"] == backend
    assert result["linktype"] == linktype
    assert (result["count"], result["bytes"]) == (count, size), backend
    # statistics: every packet reached the capture and the engine, none was dropped
    assert (result["ps_recv"], result["processed"], result["ps_drop"]) == (reached, reached, 0), backend
    expected = tcpdump_packets(dump, linktype)
    assert len(result["packets"]) == len(expected), backend
    for number, (got, want) in enumerate(zip(result["packets"], expected), start=1):
        # same time (the kernel stamps a packet once for every capture), lengths and bytes
        assert got == want, f"{backend}, packet {number}: mapi {got}, tcpdump {want}"


def run_captures(ns: str, path: Path, expression: str, dumps: dict[str, tuple[Path, str | None]],
                 interface: str = "veth1") -> dict[str, dict]:
    """Both mapi backends and a tcpdump per entry of ``dumps`` ({name: (file, -y linktype)}) on
    ``interface`` while the trace is replayed; returns each backend's JSON report."""
    captures = [Capture(ns, backend, expression, interface) for backend in ("afpacket", "pcap")]
    try:
        for capture in captures:
            capture.wait_ready()
        with contextlib.ExitStack() as stack:
            for output, linktype in dumps.values():
                stack.enter_context(tcpdump(ns, expression, output, interface, linktype))
            report = replay(ns, path)
            time.sleep(0.5)   # > every capture's delivery delay (10 ms blocks, tcpdump immediate)
        results = {capture.backend: capture.finish() for capture in captures}
    finally:
        for capture in captures:
            if capture.proc.poll() is None:
                capture.proc.kill()
                capture.proc.wait()
    results["replay"] = report
    return results


CASES = [
    # trace, filter: Ethernet with 802.3/LLC frames cut at 96 bytes; 802.1Q (the kernel takes the
    # tag out, the capture puts it back); IPv6 with jumbo frames; many small SYNs; JPEGs over HTTP.
    ("mapi-tracefile.pcap", ""),
    ("mapi-tracefile.pcap", "tcp and port 80"),
    ("ndpi-4.2-src--ajp.pcap", "vlan and tcp"),
    ("ndpi-4.2-src--http_ipv6.pcap", "ip6"),
    ("ndpi-4.2-src--synscan.pcap", "tcp[tcpflags] & tcp-syn != 0"),
    ("tcpflow-1.6.1-src--jpegs.cap", "tcp"),
]


@pytest.mark.parametrize(("name", "expression"), CASES)
def test_mapi_captures_what_tcpdump_captures(netns: str, tmp_path: Path, name: str, expression: str) -> None:
    path = trace(name)
    dump = tmp_path / "tcpdump.pcap"
    results = run_captures(netns, path, expression, {"tcpdump": (dump, None)})
    assert capinfos_totals(dump)[0] == expected_count(path, expression), results["replay"]
    for backend in ("afpacket", "pcap"):
        # tcpdump: "link-type EN10MB (Ethernet)" on veth1
        check_capture(results[backend], backend, dump, 1, expected_count(path, ""))


def test_the_any_device_captures_cooked_headers_like_tcpdump(netns: str, tmp_path: Path) -> None:
    """``any``: every interface of the namespace, so each packet twice (going out of veth0, coming
    into veth1), behind a Linux "cooked" header, LINUX_SLL (113) in both backends (libpcap's
    default for ``any``).  tcpdump itself would pick LINUX_SLL2: ``-y LINUX_SLL`` asks for the
    same header."""
    path = trace("deb-python3-dpkt--dns_icmp.pcap")
    dump = tmp_path / "sll.pcap"
    results = run_captures(netns, path, "udp", {"sll": (dump, "LINUX_SLL")}, "any")
    assert capinfos_totals(dump)[0] == 2 * expected_count(path, "udp"), results["replay"]
    for backend in ("afpacket", "pcap"):
        check_capture(results[backend], backend, dump, 113, 2 * expected_count(path, ""))


# -- the lifecycle of a live device, in this process, on the loopback interface -------------------

@pytest.fixture
def can_capture() -> None:
    require_capabilities("CAP_NET_RAW", purpose="live capture")


def _recording_runtime() -> tuple[Runtime, list]:
    """A runtime whose registry has RECORD (as in CAPTURE): (runtime, the list it fills)."""
    packets: list = []

    class Record:
        def process(self, packet, header):
            if len(packets) < RECORD_LIMIT:
                packets.append((header.caplen, header.wlen, header.linktype, header.ifindex))
            return 1

    library = types.ModuleType("record_library")
    library.mapi_register_functions = hookimpl(
        lambda: [FunctionDef(name="RECORD", description="records packets", implementation=Record)])
    registry = Registry.discover()
    registry.register_library(library, "record")
    return Runtime(registry), packets


def _send_udp(port: int, count: int, payload: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(count):
            sender.sendto(b"m" * payload, ("127.0.0.1", port))


def _wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("backend", ["afpacket", "pcap"])
def test_a_live_device_from_the_configuration_lives_with_its_flows(can_capture, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   backend: str) -> None:
    """A configured alias opens the interface on the first flow with the configured options,
    capture starts at connect, wait() refuses, statistics exist while a flow uses the device,
    and closing the last flow closes the device, promptly."""
    config = tmp_path / "mapi.toml"
    config.write_text(f'[devices.loop]\ninterface = "lo"\nalias = "loopback0"\nsnaplen = 64\nbackend = "{backend}"\n')
    monkeypatch.setenv("MAPI_CONFIG", str(config))
    runtime, packets = _recording_runtime()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
            receiver.bind(("127.0.0.1", 0))   # a port of our own: the filter sees only our packets
            port = receiver.getsockname()[1]
            first = runtime.create_flow("loopback0")
            device = runtime.flow(first).device
            assert (device.name, device.interface, device.backend, device.snaplen, device.oid) == (
                "loop", "lo", backend, 64, "1.3")
            assert device.alias == "loopback0"
            second = runtime.create_flow("lo")         # the same device, through its interface
            assert runtime.flow(second).device is device
            runtime.apply_function(first, "BPF_FILTER", [f"udp and dst port {port}"])
            counted = runtime.apply_function(first, "PKT_COUNTER", [])
            size = runtime.apply_function(first, "BYTE_COUNTER", [])
            runtime.apply_function(first, "RECORD", [])
            _send_udp(port, 5, 100)                    # before connect: not captured
            runtime.connect(first)
            with pytest.raises(MapiError) as caught:
                runtime.wait(first, 1)
            assert caught.value.code == 7009 and "does not end" in str(caught.value)
            _send_udp(port, 20, 100)
            assert _wait_until(lambda: runtime.read_result(first, counted).value >= 20)
            time.sleep(0.1)
            # each: Ethernet 14 + IPv4 20 + UDP 8 + 100 bytes = 142 on the wire, 64 kept (snaplen)
            assert runtime.read_result(first, counted).value == 20
            assert runtime.read_result(first, size).value == 20 * 142
            assert packets == [(64, 142, 1, socket.if_nametoindex("lo"))] * 20
            stats = runtime.stats("loopback0")
            assert stats.backend == backend and stats.processed >= 20 and stats.ps_drop == 0
            assert stats.ps_recv >= stats.processed
            runtime.close_flow(first)
            assert runtime.stats("loop").dev == "loop"   # the second flow keeps it open
            started = time.monotonic()
            runtime.close_flow(second)
            assert time.monotonic() - started < 2.0, "closing the last flow must stop the capture promptly"
            with pytest.raises(MapiError) as caught:
                runtime.stats("loop")
            assert caught.value.code == 8004
            assert runtime.devices() == [] and device.status == DEVICE_DELETED
    finally:
        runtime.shutdown()


def test_an_explicitly_opened_device_stays_open_until_closed(can_capture) -> None:
    runtime = Runtime()
    try:
        name = runtime.open_live_device("lo", snaplen=128, promisc=False, buffer_size="1MiB", immediate=True)
        assert name == "lo"
        device = runtime.device(name)
        assert device.snaplen == 128 and device.held
        with pytest.raises(MapiError) as caught:
            runtime.open_live_device("lo", snaplen=96)   # options cannot change while it is open
        assert caught.value.code == 7000
        fd = runtime.create_flow(name)
        runtime.connect(fd)
        runtime.close_flow(fd)
        assert runtime.stats(name).dev == "lo"        # still open
        runtime.close_live_device(name)
        assert runtime.devices() == []
        with pytest.raises(MapiError) as caught:
            runtime.close_live_device(name)
        assert caught.value.code == 3202
    finally:
        runtime.shutdown()


def test_nothing_is_dropped_without_being_counted(can_capture) -> None:
    """A slow reader on a live device: TO_BUFFER drops what its ring cannot hold, counts it, and
    mapi_stats reports it; buffered + dropped = every packet that reached it (200, sent here to a
    port of our own)."""
    runtime = Runtime()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
            receiver.bind(("127.0.0.1", 0))
            port = receiver.getsockname()[1]
            name = runtime.open_live_device("lo", snaplen=128)
            fd = runtime.create_flow(name)
            runtime.apply_function(fd, "BPF_FILTER", [f"udp and dst port {port}"])
            counted = runtime.apply_function(fd, "PKT_COUNTER", [])
            buffer = runtime.apply_function(fd, "TO_BUFFER", [1, 4096])   # NOWAIT, a 4 KiB ring: ~27 packets
            runtime.connect(fd)
            _send_udp(port, 200, 100)
            assert _wait_until(lambda: runtime.read_result(fd, counted).value >= 200)
            time.sleep(0.1)
            assert runtime.read_result(fd, counted).value == 200
            held = runtime.read_result(fd, buffer).value
            stats = runtime.stats(name)
            assert held.dropped > 0 and held.buffered + held.dropped == 200
            assert stats.function_drops == held.dropped and stats.dropped >= held.dropped
            read = 0   # NOWAIT: None once the ring is empty
            while read <= 200 and packets.next_packet(runtime, fd, buffer, 1.0) is not None:
                read += 1
            assert read == held.buffered
    finally:
        runtime.shutdown()


# Flow(INTERFACE, workers=2) in the namespace: two worker processes in one PACKET_FANOUT group.
PARALLEL = textwrap.dedent("""
    import json, sys
    from mapi_core import Flow

    interface, expression = sys.argv[1], sys.argv[2]
    with Flow(interface, workers=2, snaplen=262144, buffer_size="8MiB") as flow:
        if expression:
            flow.apply("BPF_FILTER", expression)
        packets, octets = flow.apply("PKT_COUNTER"), flow.apply("BYTE_COUNTER")
        flow.connect()
        print("ready", flush=True)
        sys.stdin.readline()
        print(json.dumps({"packets": packets.read(), "bytes": octets.read(), "parts": packets.parts()}))
""")


@pytest.mark.parametrize(("name", "expression"), [("ndpi-4.2-src--synscan.pcap", ""),
                                                   ("mapi-tracefile.pcap", "tcp")])
def test_workers_share_a_live_interface_by_flow(netns: str, name: str, expression: str) -> None:
    """The kernel hands each flow to one of the two workers; merged, they count what tcpdump
    selects in the replayed trace, and each worker had some of it."""
    path = trace(name)
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", PARALLEL, "veth1", expression],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = _readline(proc.stdout, STEP_TIMEOUT)
        assert line.strip() == "ready", f"{line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        replay(netns, path)
        time.sleep(0.5)   # > the workers' delivery delay (10 ms blocks)
        out, err = proc.communicate("stop\n", timeout=STEP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    result = json.loads(out)
    # tcpdump -r TRACE -w - EXPR | tshark -r - -T fields -e frame.cap_len: tcpreplay sends the
    # captured bytes, so a replayed frame's length on the wire is its captured length
    selected = subprocess.run([tool("tcpdump"), "-r", str(path), "-w", "-", *([expression] if expression else [])],
                              check=True, capture_output=True).stdout
    lengths = [int(n) for n in subprocess.run([tool("tshark"), "-r", "-", "-T", "fields", "-e", "frame.cap_len"],
                                              input=selected, check=True, capture_output=True).stdout.split()]
    assert (result["packets"], result["bytes"]) == (len(lengths), sum(lengths))
    assert sum(result["parts"]) == len(lengths) and all(part > 0 for part in result["parts"]), result
