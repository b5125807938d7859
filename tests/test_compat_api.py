"""MAPI's calls and error codes (MAPI-REFERENCE §1.3, §1.5), as mapi keeps them.

The deliberate differences (api/compat.py): an unknown or invalid flow descriptor is always
6145, errors are kept per thread, extra or missing arguments are errors (7000, 700N),
``mapi_close_flow`` of a bad descriptor sets an error, and results are snapshots.

Expected packet counts come from tcpdump/capinfos (commands beside the numbers, or the oracle
fixture run at test time).
"""

from __future__ import annotations

import threading
import time

import pytest
from mapi_core.testing import trace

from mapi_core import (
    FLOW_ACTIVE,
    FLOW_FINISHED,
    FLOW_INIT,
    MFF_PCAP,
    mapi_apply_function,
    mapi_apply_function_array,
    mapi_close_flow,
    mapi_connect,
    mapi_create_flow,
    mapi_create_offline_device,
    mapi_create_offline_flow,
    mapi_delete_offline_device,
    mapi_get_device_info,
    mapi_get_flow_info,
    mapi_get_function_info,
    mapi_get_libfunct_info,
    mapi_get_library_info,
    mapi_get_next_device_info,
    mapi_get_next_flow_info,
    mapi_get_next_function_info,
    mapi_get_next_libfunct_info,
    mapi_get_next_library_info,
    mapi_read_error,
    mapi_read_results,
    mapi_start_offline_device,
)

TRACEFILE = "mapi-tracefile.pcap"
# capinfos -c mapi-tracefile.pcap                 -> Number of packets: 893
TRACEFILE_PACKETS = 893
# tcpdump --count -r mapi-tracefile.pcap tcp       -> 596 packets
TRACEFILE_TCP = 596
# tcpdump --count -r mapi-tracefile.pcap 'tcp and port 80'  -> 478 packets
TRACEFILE_HTTP = 478


def error_code() -> int:
    return mapi_read_error()[0]


@pytest.fixture
def device():
    """An offline device on mapi-tracefile.pcap (not started)."""
    dev = mapi_create_offline_device(str(trace(TRACEFILE)), MFF_PCAP)
    assert dev is not None, mapi_read_error()
    return dev


@pytest.fixture
def fd(device):
    """A flow (FLOW_INIT) on the device fixture."""
    descriptor = mapi_create_flow(device)
    assert descriptor > 0, mapi_read_error()
    return descriptor


def run_device(device: str, fds: list[int], wait_flows) -> None:
    for descriptor in fds:
        assert mapi_connect(descriptor) == 0, mapi_read_error()
    assert mapi_start_offline_device(device) == 0, mapi_read_error()
    wait_flows(fds)


# ------------------------------------------------------------------------------------------------
# mapi_read_error


def test_read_error_reports_then_clears(fd):
    assert mapi_read_error() == (0, "")
    assert mapi_apply_function(fd, "NO_SUCH_FUNCTION") == -1
    code, message = mapi_read_error()
    assert code == 6144
    assert "Function not found" in message      # MAPI's text for 6144
    assert "NO_SUCH_FUNCTION" in message          # and what was wrong
    assert mapi_read_error() == (0, "")


def test_errors_are_per_thread(fd):
    """A failure in another thread is that thread's error, not this one's."""
    seen = {}

    def other():
        seen["result"] = mapi_connect(999)
        seen["error"] = mapi_read_error()

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    assert seen["result"] == -1 and seen["error"][0] == 6145
    assert mapi_read_error() == (0, "")


# ------------------------------------------------------------------------------------------------
# mapi_apply_function: names


def test_unknown_function(fd):
    assert mapi_apply_function(fd, "NO_SUCH_FUNCTION") == -1
    assert error_code() == 6144


@pytest.mark.parametrize("spec", ["PKT_COUNTER", "stdflib:PKT_COUNTER", "PKT_COUNTER!1", "stdflib:PKT_COUNTER!1"])
def test_function_name_forms_that_resolve(spec, device, fd, wait_flows):
    """``[lib:]NAME[!oid]``: PKT_COUNTER is defined for every device (OID 1) in stdflib."""
    fid = mapi_apply_function(fd, spec)
    assert fid == 1, mapi_read_error()
    info = mapi_get_function_info(fd, fid)
    assert (info.name, info.libname) == ("PKT_COUNTER", "stdflib")
    run_device(device, [fd], wait_flows)
    assert mapi_read_results(fd, fid).value == TRACEFILE_PACKETS


@pytest.mark.parametrize("spec", [
    "nolib:PKT_COUNTER",     # no such library
    "stdflib:NO_SUCH",       # no such function in the library
    "PKT_COUNTER!1.1",       # forced into the DAG subtree: a NIC/file device (1.3) is not inside it
    "PKT_COUNTER!1.3",       # the search stops below the forced OID, and PKT_COUNTER is defined at 1
])
def test_function_name_forms_that_do_not_resolve(spec, fd):
    assert mapi_apply_function(fd, spec) == -1
    assert error_code() == 6144


def test_no_function_name(fd):
    """funct == NULL: 7006 (§1.3)."""
    assert mapi_apply_function(fd, None) == -1
    assert error_code() == 7006


# ------------------------------------------------------------------------------------------------
# mapi_apply_function: arguments


def test_bad_bpf_expression_gives_libpcaps_message(fd, oracle):
    expression = "tcp and and"
    refusal = oracle.compile_error(trace(TRACEFILE), expression)
    assert refusal == "can't parse filter expression: syntax error"  # tcpdump -d -r mapi-tracefile.pcap 'tcp and and'
    assert mapi_apply_function(fd, "BPF_FILTER", expression) == -1
    code, message = mapi_read_error()
    assert code == 1025
    assert refusal in message


@pytest.mark.parametrize(("args", "code"), [
    ((), 7001),                  # the expression is missing
    (("tcp", "udp"), 7000),      # one argument too many
    ((80,), 7001),               # an int where the expression (a string) goes
    (("",), 7001),               # an empty expression
    ((None,), 7001),
])
def test_bpf_filter_argument_errors(args, code, fd):
    assert mapi_apply_function(fd, "BPF_FILTER", *args) == -1
    assert error_code() == code
    info = mapi_get_flow_info(fd)
    assert info.num_functions == 0   # nothing was applied


def test_extra_argument_to_a_function_without_arguments(fd):
    assert mapi_apply_function(fd, "PKT_COUNTER", 1) == -1
    assert error_code() == 7000


def test_apply_function_array(device, fd, wait_flows):
    """Every argument as a string, converted by its argdescr letter; n limits the arguments."""
    assert mapi_apply_function_array(fd, "BPF_FILTER", ["tcp"], 1) == 1, mapi_read_error()
    assert mapi_apply_function_array(fd, "PKT_COUNTER", []) == 2, mapi_read_error()
    assert mapi_apply_function_array(fd, "BPF_FILTER", ["port 80", "ignored"], 1) == 3, mapi_read_error()
    assert mapi_apply_function_array(fd, "PKT_COUNTER", [], 0) == 4, mapi_read_error()
    run_device(device, [fd], wait_flows)
    assert mapi_read_results(fd, 2).value == TRACEFILE_TCP
    assert mapi_read_results(fd, 4).value == TRACEFILE_HTTP


@pytest.mark.parametrize(("args", "n", "code"), [
    (["tcp"], 0, 7001),
    (["tcp", "udp"], None, 7000),
    ([], None, 7001),
])
def test_apply_function_array_errors(args, n, code, fd):
    assert mapi_apply_function_array(fd, "BPF_FILTER", args, n) == -1
    assert error_code() == code


def test_apply_function_array_unknown(fd):
    assert mapi_apply_function_array(fd, "NO_SUCH_FUNCTION", ["x"]) == -1
    assert error_code() == 6144
    assert mapi_apply_function_array(999, "BPF_FILTER", ["tcp"]) == -1
    assert error_code() == 6145


# ------------------------------------------------------------------------------------------------
# Flow life cycle


def test_apply_after_connect(fd):
    assert mapi_connect(fd) == 0
    assert mapi_apply_function(fd, "PKT_COUNTER") == -1
    assert error_code() == 7006


def test_second_connect(fd):
    assert mapi_connect(fd) == 0
    assert mapi_connect(fd) == -1
    assert error_code() == 3081


def test_read_before_connect(fd):
    fid = mapi_apply_function(fd, "PKT_COUNTER")
    assert mapi_read_results(fd, fid) is None
    assert error_code() == 6143


@pytest.mark.parametrize("bad", [0, -1, 999, "3", None, 1.0, True])
def test_unknown_flow_descriptor_is_6145_everywhere(bad, fd):
    """MAPI mixed 6141, 6145 and 6147 for a bad descriptor; mapi always says 6145."""
    calls = [
        lambda: mapi_apply_function(bad, "PKT_COUNTER"),
        lambda: mapi_connect(bad),
        lambda: mapi_read_results(bad, 1),
        lambda: mapi_get_flow_info(bad),
        lambda: mapi_get_function_info(bad, 1),
        lambda: mapi_get_next_function_info(bad, 0),
        lambda: mapi_close_flow(bad),
        lambda: mapi_apply_function_array(bad, "BPF_FILTER", ["tcp"]),
    ]
    for call in calls:
        assert call() in (-1, None)
        assert error_code() == 6145


def test_unknown_function_id(fd):
    fid = mapi_apply_function(fd, "PKT_COUNTER")
    assert mapi_connect(fd) == 0
    assert mapi_read_results(fd, fid + 1) is None
    assert error_code() == 6147
    assert mapi_get_function_info(fd, fid + 1) is None
    assert error_code() == 6147
    assert mapi_get_function_info(fd, 0) is None       # fid <= 0: 6147 (§1.3)
    assert error_code() == 6147
    assert mapi_read_results(fd, 0) is None            # fid <= 0: 6145 in mapi_read_results (§1.3)
    assert error_code() == 6145


def test_reading_a_function_without_results(fd):
    fid = mapi_apply_function(fd, "BPF_FILTER", "tcp")
    assert mapi_connect(fd) == 0
    assert mapi_read_results(fd, fid) is None
    assert error_code() == 6146


def test_read_results_value_ts_size(device, fd, wait_flows):
    fid = mapi_apply_function(fd, "BYTE_COUNTER")
    run_device(device, [fd], wait_flows)
    before = time.time_ns() // 1000
    result = mapi_read_results(fd, fid)
    after = time.time_ns() // 1000
    # capinfos -d mapi-tracefile.pcap  -> Data size: 283464 bytes
    assert result.value == 283464
    assert result.size == 8
    assert before - 1000 <= result.ts <= after + 1000    # µs since the epoch, the time of the read


def test_close_flow(fd):
    assert mapi_close_flow(fd) == 0
    assert mapi_get_flow_info(fd) is None
    assert error_code() == 6145
    assert mapi_close_flow(fd) == -1
    assert error_code() == 6145


def test_create_offline_flow(wait_flows, oracle):
    """MAPI 1.x's mapi_create_offline_flow: reading starts at connect; closing frees the device."""
    path = trace("mapi-www.pcap")
    fd = mapi_create_offline_flow(str(path))
    assert fd > 0, mapi_read_error()
    fid = mapi_apply_function(fd, "PKT_COUNTER")
    assert mapi_connect(fd) == 0
    wait_flows([fd])
    assert mapi_read_results(fd, fid).value == oracle.capinfos_packets(path)   # capinfos -c: 10
    devid = mapi_get_flow_info(fd).devid
    assert mapi_get_device_info(devid) is not None
    assert mapi_close_flow(fd) == 0
    assert mapi_get_device_info(devid) is None
    assert error_code() == 6157


# ------------------------------------------------------------------------------------------------
# Devices


def test_create_offline_device_missing_file(tmp_path):
    missing = tmp_path / "missing.pcap"
    assert mapi_create_offline_device(str(missing)) is None
    code, message = mapi_read_error()
    assert code == 6155
    assert str(missing) in message


def test_device_name_and_negative_id(device, fd):
    assert device.startswith(str(trace(TRACEFILE)) + "@")
    number = int(device.rpartition("@")[2])
    info = mapi_get_flow_info(fd)
    assert info.device == device
    assert info.devid == -number < 0
    dev_info = mapi_get_device_info(info.devid)
    assert (dev_info.id, dev_info.device) == (info.devid, device)
    assert dev_info.alias == "No alias"


@pytest.mark.parametrize("call", [mapi_start_offline_device, mapi_delete_offline_device])
@pytest.mark.parametrize("name", ["nope.pcap@424242", "", "eth0"])
def test_unknown_device(call, name):
    assert call(name) == -1
    assert error_code() == 3202


def test_create_flow_on_a_missing_interface():
    """An interface name opens a live device on the first flow: a missing one is 1026 with the
    reason (live capture itself: tests/test_live_capture.py)."""
    assert mapi_create_flow("mapinosuch0") == -1
    code, message = mapi_read_error()
    assert code == 1026
    assert "mapinosuch0: no such device" in message


def test_create_flow_without_device():
    assert mapi_create_flow(None) == -1
    assert error_code() == 6157


def test_delete_offline_device_closes_its_flows(device):
    fds = [mapi_create_flow(device) for _ in range(3)]
    fid = mapi_apply_function(fds[0], "PKT_COUNTER")
    assert mapi_connect(fds[0]) == 0
    assert mapi_start_offline_device(device) == 0
    assert mapi_delete_offline_device(device) == 0
    for descriptor in fds:
        assert mapi_get_flow_info(descriptor) is None
        assert error_code() == 6145
    assert mapi_read_results(fds[0], fid) is None
    assert error_code() == 6145
    assert mapi_create_flow(device) == -1
    assert error_code() == 3200
    assert mapi_delete_offline_device(device) == -1
    assert error_code() == 3202


def test_get_device_info_unknown():
    assert mapi_get_device_info(424242) is None
    assert error_code() == 6157


def test_get_next_device_info_iterates_offline_devices():
    path = str(trace("mapi-www.pcap"))
    devs = [mapi_create_offline_device(path) for _ in range(3)]
    seen = []
    devid = -(10**9)
    while (info := mapi_get_next_device_info(devid)) is not None:
        seen.append(info)
        devid = info.id
    assert error_code() == 6157
    offline = [info for info in seen if info.id < 0]
    assert sorted(info.device for info in offline) == sorted(devs)
    assert [info.id for info in seen] == sorted(info.id for info in seen)   # smallest id first
    for info in offline:
        assert info.id == -int(info.device.rpartition("@")[2])
        assert info.name == "pcapfile"


# ------------------------------------------------------------------------------------------------
# Flow and function information


def test_flow_info_through_the_life_cycle(device, fd, wait_flows):
    info = mapi_get_flow_info(fd)
    assert info.fd == fd
    assert info.device == device
    assert info.num_functions == 0
    assert info.status == FLOW_INIT
    assert info.devid < 0
    mapi_apply_function(fd, "BPF_FILTER", "tcp")
    mapi_apply_function(fd, "PKT_COUNTER")
    assert mapi_get_flow_info(fd).num_functions == 2
    before = time.time()
    assert mapi_connect(fd) == 0
    info = mapi_get_flow_info(fd)
    assert info.status == FLOW_ACTIVE          # connected, device not started yet
    assert before - 1 <= info.start <= time.time() + 1
    assert mapi_start_offline_device(device) == 0
    wait_flows([fd])
    info = mapi_get_flow_info(fd)
    assert info.status == FLOW_FINISHED
    assert info.num_functions == 2
    assert mapi_read_results(fd, 2).value == TRACEFILE_TCP


def test_get_next_flow_info_iterates(device):
    fds = [mapi_create_flow(device) for _ in range(4)]
    assert mapi_close_flow(fds[1]) == 0
    seen = []
    current = 0
    while (info := mapi_get_next_flow_info(current)) is not None:
        seen.append(info.fd)
        current = info.fd
    assert error_code() == 6149
    assert seen == [fds[0], fds[2], fds[3]]
    assert mapi_get_next_flow_info(-5).fd == fds[0]          # negative counts as 0 (§1.3)


def test_function_info_and_iteration(fd):
    chain = [("PKT_COUNTER",), ("BPF_FILTER", "tcp"), ("BYTE_COUNTER",)]
    fids = [mapi_apply_function(fd, *call) for call in chain]
    assert fids == [1, 2, 3]
    info = mapi_get_function_info(fd, 2)
    assert (info.fid, info.name, info.libname) == (2, "BPF_FILTER", "stdflib")
    assert (info.pkts, info.passed_pkts) == (0, 0)
    assert mapi_get_function_info(fd, 1).result_size == 8
    names = []
    current = 0
    while (info := mapi_get_next_function_info(fd, current)) is not None:
        names.append((info.fid, info.name))
        current = info.fid
    assert error_code() == 6150
    assert names == [(1, "PKT_COUNTER"), (2, "BPF_FILTER"), (3, "BYTE_COUNTER")]


# ------------------------------------------------------------------------------------------------
# Libraries


def _libraries():
    found = []
    current = -1
    while (info := mapi_get_next_library_info(current)) is not None:
        found.append(info)
        current = info.id
    assert error_code() == 6159
    return found


def test_library_info():
    libraries = {info.libname: info for info in _libraries()}
    assert "core" in libraries and "stdflib" in libraries
    for number, info in enumerate(_libraries()):
        assert mapi_get_library_info(number) == info
    stdflib = libraries["stdflib"]
    assert stdflib.distribution == "mapi-stdlib"
    functions = []
    current = -1
    while (f := mapi_get_next_libfunct_info(stdflib.id, current)) is not None:
        functions.append(f)
        current += 1
    assert error_code() == 6159
    # MAPI's functs was one short (the last function was not counted); ours counts them all.
    assert stdflib.functs == len(functions)
    by_name = {f.name: f for f in functions}
    assert {"PKT_COUNTER", "BYTE_COUNTER", "BPF_FILTER"} <= set(by_name)
    assert by_name["BPF_FILTER"].argdescr == "s"
    assert by_name["PKT_COUNTER"].argdescr == ""
    assert by_name["BYTE_COUNTER"].argdescr == ""
    assert by_name["BPF_FILTER"].devtype == "1"
    for number, f in enumerate(functions):
        assert mapi_get_libfunct_info(stdflib.id, number) == f


def test_library_info_out_of_range():
    count = len(_libraries())
    assert mapi_get_library_info(count) is None
    assert error_code() == 6159
    assert mapi_get_library_info(-1) is None
    assert error_code() == 6159
