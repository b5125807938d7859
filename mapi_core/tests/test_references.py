"""Functions that read other functions' results (mapi_core.references), and blocking reads
(mapi_core.reading), through a small Python library registered by the test.

PEEK copies, on every packet, the u64 result of the function it references into its own result,
reading it through the ``mapi_result_ref_t`` that ``bind`` fills, exactly as native readers do.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
from mapi_core.plugins.manager import Registry
from mapi_core.testing import tcpdump_wire_lengths, trace

from mapi_core import MapiError, Runtime

LIBRARY = """
    from mapi_core.engine._engine import ffi
    from mapi_core.plugins import FunctionDef, hookimpl
    from mapi_core.plugins.arguments import FlowRef, FunctionRef, Int
    from mapi_core.plugins.results import U64
    from mapi_core import references

    class Peek:
        def instance(self, args, device):
            references.check_source("PEEK", args.function, 2, device=device, reset=bool(args.reset))

        def init(self, args, device, result):
            self.ref = ffi.new("mapi_result_ref_t *")
            self.binding = references.bind(args.function, self.ref, device=device, reset=bool(args.reset))
            self.out = ffi.cast("uint64_t *", result.address)
            self.seen = []

        def process(self, packet, header):
            self.out[0] = ffi.cast("uint64_t *", self.ref.data)[0]
            self.seen.append(self.out[0])
            return 1

        def cleanup(self):
            self.binding.release()

    class WaitAbove:
        def client_init(self, args):
            self.bound = args.bound

        def client_read_result(self, raw, reader):
            ready = reader.wait_for(lambda raw: int.from_bytes(raw[:8], "little") > self.bound)
            return None if ready is None else int.from_bytes(ready[:8], "little")

        def process(self, packet, header):
            return 1

    @hookimpl
    def mapi_register_functions():
        yield FunctionDef(name="PEEK", description="", implementation=Peek, result=U64,
                          arguments=(FlowRef(name="flow"), FunctionRef(name="function"),
                                     Int(name="reset", default=0)))
        yield FunctionDef(name="WAIT_ABOVE", description="", implementation=WaitAbove, result=U64,
                          arguments=(Int(name="bound"),))
"""

TRACE = "mapi-tracefile.pcap"
# tcpdump -r mapi-tracefile.pcap -w - udp | tshark -r - -T fields -e frame.len | wc -l  -> 110
UDP_PACKETS = 110


@pytest.fixture
def runtime():
    namespace: dict = {}
    exec(textwrap.dedent(LIBRARY), namespace)
    library = type(sys)("peek_library")
    library.__dict__.update(namespace)
    registry = Registry.discover()
    registry.register_library(library, "peek")
    runtime = Runtime(registry)
    yield runtime
    runtime.shutdown()


def _count_udp(runtime: Runtime, device: str) -> tuple[int, int]:
    fd = runtime.create_flow(device)
    runtime.apply_function(fd, "BPF_FILTER", ("udp",))
    return fd, runtime.apply_function(fd, "PKT_COUNTER", ())


def test_a_function_reads_a_counter_of_another_flow_on_the_same_device(runtime: Runtime) -> None:
    path = trace(TRACE)
    assert len(tcpdump_wire_lengths(path, "udp")) == UDP_PACKETS
    device = runtime.create_offline_device(path)
    counting, counter = _count_udp(runtime, device)
    reader = runtime.create_flow(device)
    peek = runtime.apply_function(reader, "PEEK", (counting, counter))
    runtime.connect(counting)
    runtime.connect(reader)
    runtime.start_offline_device(device)
    runtime.wait(reader, timeout=30)
    # The counting flow was created first, so it runs first on every packet: PEEK ends on its total.
    assert runtime.read_result(reader, peek).value == UDP_PACKETS


def test_a_flow_reading_another_sees_its_value_at_the_same_packet(runtime: Runtime) -> None:
    """The device runs packet by packet across flows while one reads another (not batch by
    batch), so the reader, filtering like the counter, sees 1, 2, ... 110 and nothing else."""
    device = runtime.create_offline_device(trace(TRACE))
    counting, counter = _count_udp(runtime, device)
    reader = runtime.create_flow(device)
    runtime.apply_function(reader, "BPF_FILTER", ("udp",))
    peek = runtime.apply_function(reader, "PEEK", (counting, counter))
    runtime.connect(counting)
    runtime.connect(reader)
    runtime.start_offline_device(device)
    runtime.wait(reader, timeout=30)
    assert runtime.flow(reader).function(peek).implementation.seen == list(range(1, UDP_PACKETS + 1))


def test_the_read_memory_outlives_the_flow_it_belongs_to(runtime: Runtime) -> None:
    path = trace(TRACE)
    device = runtime.create_offline_device(path)
    counting, counter = _count_udp(runtime, device)
    reader = runtime.create_flow(device)
    peek = runtime.apply_function(reader, "PEEK", (counting, counter))
    runtime.connect(counting)
    runtime.connect(reader)
    runtime.start_offline_device(device)
    runtime.wait(reader, timeout=30)
    binding_ref = runtime.flow(reader).function(peek).implementation.ref
    runtime.close_flow(counting)
    # Still mapped and still holding the final count: the reader keeps the memory alive.
    from mapi_core.engine._engine import ffi
    assert ffi.cast("uint64_t *", binding_ref.data)[0] == UDP_PACKETS
    runtime.close_flow(reader)


def test_reading_a_flow_on_another_device_goes_through_snapshots(runtime: Runtime) -> None:
    path = trace(TRACE)
    first = runtime.create_offline_device(path)
    second = runtime.create_offline_device(path)
    counting, counter = _count_udp(runtime, first)
    reader = runtime.create_flow(second)
    runtime.apply_function(reader, "PEEK", (counting, counter))
    runtime.connect(counting)
    runtime.connect(reader)
    flags = runtime.flow(reader).functions[0].implementation.ref.flags
    assert flags == 0          # neither MAPI_REF_SAME_DEVICE nor MAPI_REF_RESET


def test_bad_references_fail_at_apply_with_the_arguments_code(runtime: Runtime) -> None:
    path = trace(TRACE)
    device = runtime.create_offline_device(path)
    other = runtime.create_offline_device(path)
    fd = runtime.create_flow(device)
    runtime.apply_function(fd, "BPF_FILTER", ("udp",))
    counter = runtime.apply_function(fd, "PKT_COUNTER", ())
    reader = runtime.create_flow(device)
    with pytest.raises(MapiError) as caught:
        runtime.apply_function(reader, "PEEK", (fd, 1))           # BPF_FILTER has no result
    assert caught.value.code == 7002 and "BPF_FILTER" in str(caught.value) and "no result" in str(caught.value)
    with pytest.raises(MapiError) as caught:
        runtime.apply_function(reader, "PEEK", (fd, 9))           # no such function
    assert caught.value.code == 7002 and "no function 9" in str(caught.value)
    with pytest.raises(MapiError) as caught:
        runtime.apply_function(reader, "PEEK", (999, 1))          # no such flow
    assert caught.value.code == 7001 and "no flow 999" in str(caught.value)
    elsewhere = runtime.create_flow(other)
    with pytest.raises(MapiError) as caught:                      # reset across devices would race
        runtime.apply_function(elsewhere, "PEEK", (fd, counter, 1))
    assert caught.value.code == 7002 and "another device" in str(caught.value)


def test_the_flow_read_from_must_be_connected_first(runtime: Runtime) -> None:
    device = runtime.create_offline_device(trace(TRACE))
    counting, counter = _count_udp(runtime, device)
    reader = runtime.create_flow(device)
    runtime.apply_function(reader, "PEEK", (counting, counter))
    with pytest.raises(MapiError) as caught:
        runtime.connect(reader)
    assert f"connect flow {counting} before" in str(caught.value)


def test_a_blocking_read_times_out_and_ends_with_the_flow(runtime: Runtime) -> None:
    device = runtime.create_offline_device(trace(TRACE))
    fd, counter = _count_udp(runtime, device)
    waiting = runtime.apply_function(fd, "WAIT_ABOVE", (10**9,))
    runtime.connect(fd)
    with pytest.raises(MapiError) as caught:                       # the device has not started
        runtime.read_result(fd, waiting, timeout=0.05)
    assert caught.value.code == 6160
    runtime.start_offline_device(device)
    assert runtime.read_result(fd, waiting, timeout=30).value is None   # the trace ended below the bound
    with pytest.raises(MapiError):
        runtime.read_result(fd, waiting, timeout=-1)
