"""TO_FILE on real traces: the files it writes, read back by tshark, capinfos, tcpdump and editcap.

Oracles:

* the input trace itself: a copy in the input's own format and byte order must be the same bytes
  (``cmp IN OUT``);
* ``editcap -F pcap|nsecpcap IN OUT``: Wireshark's own conversion, byte for byte;
* ``tcpdump -r IN -w OUT EXPR``: libpcap's filtered copy, byte for byte, for BPF_FILTER + TO_FILE;
* ``tshark -r F -T fields -e frame.encap_type -e frame.len -e frame.cap_len -e frame.time_epoch``
  and ``tshark -r F -x`` (every byte of every frame) of input and output;
* ``capinfos``: file type, packet count, encapsulation, snaplen (file header or per interface);
* times by hand: tshark's epoch of the input as 32.32 (floor, as the reader converts), then the
  fraction rounded to the nearest µs or ns with Fraction (the documented conversion).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from fractions import Fraction
from math import floor
from pathlib import Path

import pytest
from mapi_core.api import compat
from mapi_core.testing import epoch_to_ts32, require_capabilities, run, tool, trace, tshark_fields

from mapi_core import MFF_PCAP, MFF_PCAP_NS, MFF_PCAPNG, MFF_RAW, Flow, MapiError

FIELDS = ("frame.encap_type", "frame.len", "frame.cap_len", "frame.time_epoch")
PER_SECOND = {MFF_PCAP: 10**6, MFF_RAW: 10**6, MFF_PCAP_NS: 10**9, MFF_PCAPNG: 10**9}
FILE_TYPE = {MFF_PCAP: "pcap", MFF_RAW: "pcap", MFF_PCAP_NS: "nsecpcap", MFF_PCAPNG: "pcapng"}


# ---- helpers -----------------------------------------------------------------------------------

def write(path: Path, file_format: object, out: Path, *before: tuple[object, ...], limit: int = 0) -> tuple[object, int]:
    """Runs ``before`` functions, TO_FILE and a PKT_COUNTER behind it; (TO_FILE's status, count)."""
    with Flow(path) as flow:
        for name, *args in before:
            flow.apply(name, *args)
        writer = flow.apply("TO_FILE", file_format, str(out), limit)
        counter = flow.apply("PKT_COUNTER")
        flow.run(timeout=60)
        return writer.read(), counter.read()


def frames(path: Path) -> list[tuple[str, int, int, int]]:
    """(encapsulation, wire length, captured length, time in ns) of every frame, by tshark."""
    return [(encap, int(wlen), int(cap), nanoseconds(epoch))
            for encap, wlen, cap, epoch in tshark_fields(path, *FIELDS)]


def nanoseconds(epoch: str) -> int:
    seconds, _, fraction = epoch.partition(".")
    return int(seconds) * 10**9 + int(fraction.ljust(9, "0")[:9])


def written_time(epoch: str, per_second: int) -> int:
    """The time, in ns, that TO_FILE writes for a packet tshark shows at ``epoch`` in the input:
    the reader's 32.32 value (floor), its fraction rounded to the nearest 1/per_second (half up)."""
    ts = epoch_to_ts32(epoch)
    units = floor(Fraction((ts & 0xFFFFFFFF) * per_second, 2**32) + Fraction(1, 2))
    return (ts >> 32) * 10**9 + units * (10**9 // per_second)


def expected_frames(path: Path, file_format: int) -> list[tuple[str, int, int, int]]:
    return [(encap, int(wlen), int(cap), written_time(epoch, PER_SECOND[file_format]))
            for encap, wlen, cap, epoch in tshark_fields(path, *FIELDS)]


def frame_bytes(path: Path) -> str:
    """Digest of ``tshark -r F -x``: every byte of every frame, in order."""
    return hashlib.sha256(run(tool("tshark"), "-r", str(path), "-x").encode()).hexdigest()


def capinfos(path: Path) -> str:
    return run(tool("capinfos"), "-t", "-c", "-E", "-l", "-M", str(path))


def capinfos_field(text: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}:\s*(.*)$", text, re.MULTILINE)
    assert match, f"capinfos printed no {label!r}:\n{text}"
    return match[1].strip()


def interfaces(path: Path) -> list[tuple[str, int]]:
    """(encapsulation, capture length) of each pcapng interface, from ``capinfos``."""
    text = run(tool("capinfos"), str(path))
    encaps = re.findall(r"^\s+Encapsulation = (.*)$", text, re.MULTILINE)
    lengths = [int(n) for n in re.findall(r"^\s+Capture length = (\d+)$", text, re.MULTILINE)]
    assert len(encaps) == len(lengths), text
    return list(zip(encaps, lengths))


def tcpdump_count(path: Path) -> int:
    """``tcpdump -r F --count``: libpcap reads the whole file."""
    result = subprocess.run([tool("tcpdump"), "-r", str(path), "--count"], capture_output=True, text=True,
                            check=True, timeout=60)
    match = re.search(r"(\d+) packets?", result.stdout + result.stderr)
    assert match, result
    return int(match[1])


# ---- copies --------------------------------------------------------------------------------------

SAME_FORMAT = [
    ("mapi-tracefile.pcap", MFF_PCAP),                       # Ethernet, snaplen 96, times out of order
    ("pypi-pcapy-ng--96pings.pcap", MFF_PCAP),               # big-endian file
    ("tcpflow-1.6.1-src--local.pcap", MFF_RAW),              # DLT_NULL; MFF_RAW writes pcap as in MAPI
    ("wireshark-4.0.17-src--http-ooo.pcap", MFF_PCAP),       # raw IPv4
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcap", MFF_PCAP_NS),
    ("wireshark-4.0.17-src--empty.pcap", MFF_PCAP),          # no packet: the header alone
]


@pytest.mark.parametrize(("name", "file_format"), SAME_FORMAT)
def test_a_copy_in_the_inputs_format_is_the_input_file(name: str, file_format: int, tmp_path: Path) -> None:
    # The oracle is the input file: same header, same records, same times, same byte order.
    path = trace(name)
    out = tmp_path / "copy.pcap"
    status, passed = write(path, file_format, out)
    packets = int(capinfos_field(capinfos(path), "Number of packets"))
    assert out.read_bytes() == path.read_bytes()
    assert (status.state, status.packets, status.write_errors, status.skipped) == (11, packets, 0, 0)
    assert status.bytes == sum(cap for _, _, cap, _ in frames(path))
    assert passed == packets                              # TO_FILE passes every packet on


CONVERSIONS = [
    ("mapi-tracefile.pcap", MFF_PCAP_NS, "nsecpcap"),
    ("wireshark-4.0.17-src--dhcp-nanosecond.pcap", MFF_PCAP, "pcap"),   # ns rounded to µs
    ("ndpi-4.2-src--rtsp.pcap", MFF_PCAP, "pcap"),                       # pcapng (Linux SLL) to pcap
    ("ndpi-4.2-src--rtsp.pcap", MFF_PCAP_NS, "nsecpcap"),
    ("ndpi-4.2-src--1kxun.pcap", MFF_PCAP, "pcap"),                      # pcapng (Ethernet) to pcap
    ("tcpflow-1.6.1-src--local.pcap", MFF_PCAP_NS, "nsecpcap"),
]


@pytest.mark.parametrize(("name", "file_format", "editcap_format"), CONVERSIONS)
def test_conversions_are_editcaps(name: str, file_format: int, editcap_format: str, tmp_path: Path) -> None:
    path = trace(name)
    out, reference = tmp_path / "mapi.pcap", tmp_path / "editcap.pcap"
    run(tool("editcap"), "-F", editcap_format, str(path), str(reference))
    write(path, file_format, out)
    assert out.read_bytes() == reference.read_bytes()


def test_a_pcapng_interfaces_snaplen_is_kept_where_editcap_writes_its_default(tmp_path: Path) -> None:
    # dhcp-nanosecond.pcapng's interface says 65535 (capinfos: "Capture length = 65535"); editcap
    # writes 262144 into a pcap header from it, TO_FILE the interface's own value.  Everything
    # else (the rest of the header, every record) is editcap's.
    path = trace("wireshark-4.0.17-src--dhcp-nanosecond.pcapng")
    out, reference = tmp_path / "mapi.pcap", tmp_path / "editcap.pcap"
    run(tool("editcap"), "-F", "pcap", str(path), str(reference))
    write(path, MFF_PCAP, out)
    ours, theirs = out.read_bytes(), reference.read_bytes()
    assert ours[:16] == theirs[:16] and ours[20:] == theirs[20:]
    ((_, snaplen),) = interfaces(path)
    assert int.from_bytes(ours[16:20], "little") == snaplen == 65535
    assert capinfos_field(capinfos(out), "Packet size limit") == "file hdr: 65535 bytes"


# ---- every format, packet by packet ----------------------------------------------------------------

TRACES = [
    "mapi-tracefile.pcap",                                  # µs pcap, snaplen 96
    "wireshark-4.0.17-src--dhcp-nanosecond.pcap",           # ns pcap
    "wireshark-4.0.17-src--dhcp-nanosecond.pcapng",         # ns pcapng
    "wireshark-4.0.17-src--logistics_multicast.pcapng",     # µs pcapng
    "tcpflow-1.6.1-src--local.pcap",                        # DLT_NULL
    "ndpi-4.2-src--rtsp.pcap",                              # Linux SLL, pcapng
    "pypi-pcapy-ng--96pings.pcap",                          # big-endian, snaplen 96
]


@pytest.mark.parametrize("file_format", [MFF_PCAP, MFF_PCAP_NS, MFF_PCAPNG], ids=["pcap", "pcap-ns", "pcapng"])
@pytest.mark.parametrize("name", TRACES)
def test_every_packet_is_written_with_its_lengths_bytes_and_time(name: str, file_format: int, tmp_path: Path) -> None:
    path = trace(name)
    out = tmp_path / "out"
    status, _ = write(path, file_format, out)
    written = frames(out)
    assert written == expected_frames(path, file_format)
    assert frame_bytes(out) == frame_bytes(path)
    assert (status.packets, status.write_errors, status.skipped) == (len(written), 0, 0)
    assert status.bytes == sum(cap for _, _, cap, _ in written)
    info, source = capinfos(out), capinfos(path)
    assert capinfos_field(info, "File type") == FILE_TYPE[file_format]
    assert capinfos_field(info, "Number of packets") == capinfos_field(source, "Number of packets")
    assert capinfos_field(info, "File encapsulation") == capinfos_field(source, "File encapsulation")
    # One interface (a pcap header, or one IDB) with the input's link type and snaplen.
    assert interfaces(out) == interfaces(path)
    assert tcpdump_count(out) == len(written)          # libpcap reads it too


@pytest.mark.parametrize("name", ["mapi-tracefile.pcap", "tcpflow-1.6.1-src--local.pcap"])
def test_a_us_trace_keeps_its_exact_times_in_every_format(name: str, tmp_path: Path) -> None:
    # The reader floors µs to 32.32; the writer rounds to nearest: the µs come back unchanged,
    # as µs in pcap and as µs * 1000 in ns pcap and pcapng.
    path = trace(name)
    times = [nanoseconds(epoch) for (epoch,) in tshark_fields(path, "frame.time_epoch")]
    assert all(t % 1000 == 0 for t in times)
    for file_format in (MFF_PCAP, MFF_PCAP_NS, MFF_PCAPNG):
        out = tmp_path / f"out{file_format}"
        write(path, file_format, out)
        assert [nanoseconds(epoch) for (epoch,) in tshark_fields(out, "frame.time_epoch")] == times


@pytest.mark.parametrize(("shift_ns", "carry_us"), [(123, 0), (499, 0), (500, 0), (501, 1), (999, 1)])
def test_ns_times_are_rounded_to_the_nearest_us(shift_ns: int, carry_us: int, tmp_path: Path) -> None:
    # editcap -F nsecpcap -t 0.000000NNN shifts every time of a µs trace by NNN ns.  Written as
    # µs pcap, a time t + NNN ns comes back as t for NNN < 500 and t + 1 µs above; exactly 500 is
    # below the half once the reader has floored it to 2^-32 s units (written_time, by Fraction).
    path = trace("mapi-tracefile.pcap")
    shifted, out = tmp_path / "shifted.pcap", tmp_path / "us.pcap"
    run(tool("editcap"), "-F", "nsecpcap", "-t", f"0.{shift_ns:09d}", str(path), str(shifted))
    original = [nanoseconds(epoch) for (epoch,) in tshark_fields(path, "frame.time_epoch")]
    source = [epoch for (epoch,) in tshark_fields(shifted, "frame.time_epoch")]
    assert [nanoseconds(epoch) for epoch in source] == [t + shift_ns for t in original]
    write(shifted, MFF_PCAP, out)
    written = [nanoseconds(epoch) for (epoch,) in tshark_fields(out, "frame.time_epoch")]
    assert written == [t + carry_us * 1000 for t in original]
    assert written == [written_time(epoch, 10**6) for epoch in source]
    # ns pcap and pcapng keep the shifted times exactly.
    for file_format in (MFF_PCAP_NS, MFF_PCAPNG):
        copy = tmp_path / f"copy{file_format}"
        write(shifted, file_format, copy)
        assert [nanoseconds(epoch) for (epoch,) in tshark_fields(copy, "frame.time_epoch")] == \
            [t + shift_ns for t in original]


def test_a_packet_longer_than_the_writers_buffer(tmp_path: Path) -> None:
    # text2pcap writes a frame of 262144 bytes (the largest libpcap reads for Ethernet) between
    # two small ones: its record is longer than TO_FILE's 256 KiB buffer and goes straight to
    # the file, after what is buffered.  The input is a hex dump made here; the trace is text2pcap's.
    small = bytes.fromhex("ffffffffffff020000000001" "88b5") + b"first" * 10
    big = bytes.fromhex("ffffffffffff020000000001" "88b5") + bytes(range(256)) * 1024
    big = big[:262144]
    dump = tmp_path / "frames.txt"
    with dump.open("w") as text:
        for frame in (small, big, small):
            for offset in range(0, len(frame), 16):
                text.write(f"{offset:06x} {frame[offset:offset + 16].hex(' ')}\n")
    path = tmp_path / "big.pcap"
    run(tool("text2pcap"), "-q", "-F", "pcap", str(dump), str(path))
    assert [int(length) for (length,) in tshark_fields(path, "frame.len")] == [len(small), len(big), len(small)]
    for file_format in (MFF_PCAP, MFF_PCAP_NS, MFF_PCAPNG):
        out = tmp_path / f"out{file_format}"
        status, _ = write(path, file_format, out)
        assert (status.packets, status.bytes, status.write_errors) == (3, 2 * len(small) + len(big), 0)
        assert frames(out) == expected_frames(path, file_format)
        assert frame_bytes(out) == frame_bytes(path)


# ---- several link types ---------------------------------------------------------------------------

@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A pcapng with three interfaces (Ethernet snaplen 96, DLT_NULL 4096, Linux SLL 262144),
    merged by time by ``mergecap -F pcapng``."""
    path = tmp_path / "mixed.pcapng"
    run(tool("mergecap"), "-F", "pcapng", "-w", str(path), str(trace("mapi-www.pcap")),
        str(trace("tcpflow-1.6.1-src--local.pcap")), str(trace("ndpi-4.2-src--rtsp.pcap")))
    return path


def test_pcapng_gets_one_interface_per_link_type(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.pcapng"
    status, _ = write(mixed, MFF_PCAPNG, out)
    source = frames(mixed)
    assert frames(out) == source
    assert frame_bytes(out) == frame_bytes(mixed)
    assert (status.packets, status.skipped) == (len(source), 0)
    # One interface per link type, numbered in the order their first packets come; snaplen: the
    # device's (the first input interface's, 96), raised to the longest packet where one is longer.
    wtap = {"1": "Ethernet (1 - ether)", "15": "NULL/Loopback (15 - null)",
            "25": "Linux cooked-mode capture v1 (25 - linux-sll)"}   # tshark -G ... frame.encap_type
    order = list(dict.fromkeys(encap for encap, _, _, _ in source))
    longest = {encap: max(cap for e, _, cap, _ in source if e == encap) for encap in order}
    assert interfaces(out) == [(wtap[encap], max(96, longest[encap])) for encap in order]
    # (libpcap reads no pcapng whose interfaces differ in link type, mergecap's input included.)


def test_pcap_holds_the_devices_link_type_and_skips_the_others(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.pcap"
    status, passed = write(mixed, MFF_PCAP, out)
    source = frames(mixed)
    ethernet = [row for row in source if row[0] == "1"]     # the first interface's (mapi-www.pcap)
    assert frames(out) == ethernet
    assert (status.packets, status.skipped, passed) == (len(ethernet), len(source) - len(ethernet), len(source))
    assert capinfos_field(capinfos(out), "Packet size limit") == "file hdr: 96 bytes"


# ---- with a filter, a limit, errors ------------------------------------------------------------------

BPF_CASES = [
    ("mapi-tracefile.pcap", "tcp port 80"),
    ("mapi-tracefile.pcap", "udp or icmp or arp"),
    ("ndpi-4.2-src--rtsp.pcap", "tcp port 8554 and greater 200"),
    ("tcpflow-1.6.1-src--local.pcap", "tcp[tcpflags] & tcp-push != 0"),
    ("ndpi-4.2-src--http_ipv6.pcap", "ip6 and tcp"),
]


@pytest.mark.parametrize(("name", "expression"), BPF_CASES)
def test_filtered_copies_are_tcpdumps(name: str, expression: str, tmp_path: Path) -> None:
    path = trace(name)
    out, reference = tmp_path / "mapi.pcap", tmp_path / "tcpdump.pcap"
    subprocess.run([tool("tcpdump"), "-r", str(path), "-w", str(reference), expression], check=True,
                   capture_output=True, timeout=60)
    status, passed = write(path, MFF_PCAP, out, ("BPF_FILTER", expression))
    assert out.read_bytes() == reference.read_bytes()
    assert status.packets == passed == tcpdump_count(reference) > 0


@pytest.mark.parametrize("limit", [1, 10, 892, 893, 894])
def test_the_packet_limit(limit: int, tmp_path: Path) -> None:
    # mapi-tracefile.pcap has 893 packets (capinfos -c).
    path = trace("mapi-tracefile.pcap")
    out = tmp_path / "head.pcap"
    status, passed = write(path, MFF_PCAP, out, limit=limit)
    total = int(capinfos_field(capinfos(path), "Number of packets"))
    assert total == 893
    assert frames(out) == frames(path)[:limit]
    assert status.packets == min(limit, total)
    assert status.state == (0 if limit <= total else 11)
    assert status.limit_reached == (limit <= total)
    assert passed == total                               # packets beyond the limit still pass on
    # The first `limit` packets are editcap's "-r" selection of packets 1-limit.
    reference = tmp_path / "editcap.pcap"
    run(tool("editcap"), "-F", "pcap", "-r", str(path), str(reference), f"1-{limit}")
    assert out.read_bytes() == reference.read_bytes()


def test_the_file_is_complete_once_the_limit_is_reached(tmp_path: Path) -> None:
    # Read while the flow is still open: the limit flushed the file.
    path = trace("ndpi-4.2-src--WebattackXSS.pcap")
    out = tmp_path / "head.pcap"
    with Flow(path) as flow:
        writer = flow.apply("TO_FILE", MFF_PCAPNG, str(out), 25)
        flow.run(timeout=60)
        assert writer.read().limit_reached
        assert frames(out) == expected_frames(path, MFF_PCAPNG)[:25]


def test_a_full_disk_is_counted_not_fatal() -> None:
    # /dev/full refuses every write: nothing reaches it, so every packet is a write error.
    path = trace("ndpi-4.2-src--WebattackXSS.pcap")        # 9374 packets, about 6.7 MB
    total = int(capinfos_field(capinfos(path), "Number of packets"))
    status, passed = write(path, MFF_PCAP, Path("/dev/full"))
    assert passed == total                               # every packet went on through the flow
    assert (status.packets, status.bytes, status.write_errors, status.skipped) == (0, 0, total, 0)


def test_a_disk_that_fills_up_keeps_the_packets_that_fit(tmp_path: Path) -> None:
    # A 1 MiB tmpfs (mount needs root): the file holds the packets that fit (whole records only;
    # tshark reads them all back), and status says exactly how many: written + lost = every packet.
    require_capabilities("CAP_SYS_ADMIN", purpose="mounting a small tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=False, capture_output=True,
                             text=True, timeout=30)
    if mounted.returncode:
        reason = f"mounting a 1 MiB tmpfs needs root (CAP_SYS_ADMIN): {mounted.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        path = trace("ndpi-4.2-src--WebattackXSS.pcap")
        out = mount / "out.pcap"
        status, passed = write(path, MFF_PCAP, out)
        total = int(capinfos_field(capinfos(path), "Number of packets"))
        assert status.packets + status.write_errors == total == passed
        assert 0 < status.packets < total
        # The file was cut back to its last whole record: tshark reads exactly what status says.
        assert len(frames(out)) == status.packets
        assert status.bytes == sum(cap for _, _, cap, _ in frames(out))
        assert frames(out) == frames(path)[:status.packets]
    finally:
        subprocess.run(["umount", str(mount)], check=True, timeout=30)


def test_the_same_run_writes_the_same_file(tmp_path: Path) -> None:
    path = trace("ndpi-4.2-src--1kxun.pcap")
    first, second = tmp_path / "a.pcapng", tmp_path / "b.pcapng"
    write(path, MFF_PCAPNG, first)
    write(path, MFF_PCAPNG, second)
    assert first.read_bytes() == second.read_bytes()


def test_through_mapis_own_calls(tmp_path: Path) -> None:
    # mapidump's sequence: create_offline_device, TO_FILE(MFF_RAW...), connect, start, read.
    path = trace("mapi-www.pcap")
    out = tmp_path / "dump.pcap"
    dev = compat.mapi_create_offline_device(str(path), MFF_PCAP)
    fd = compat.mapi_create_flow(dev)
    fid = compat.mapi_apply_function(fd, "TO_FILE", MFF_RAW, str(out), 4)
    assert compat.mapi_connect(fd) == 0
    assert compat.mapi_read_results(fd, fid).value.state == 11
    compat.mapi_start_offline_device(dev)
    compat.default_runtime().flow(fd).device.finished.wait(60)
    result = compat.mapi_read_results(fd, fid)
    assert (result.value.state, result.value.packets) == (0, 4)
    compat.mapi_close_flow(fd)
    compat.mapi_delete_offline_device(dev)
    assert frames(out) == frames(path)[:4]


def apply_error(path: Path, *args: object) -> MapiError:
    with Flow(path) as flow, pytest.raises(MapiError) as caught:
        flow.apply("TO_FILE", *args)
    assert "TO_FILE" in str(caught.value)
    return caught.value


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_argument_errors(tmp_path: Path) -> None:
    path = trace("mapi-www.pcap")
    out = str(tmp_path / "x.pcap")
    before = open_descriptors()
    cases = [
        ((2, out, 0), 7006, "argument 1 (format)"),                 # MFF_DAG_ERF: not a TO_FILE format
        ((99, out, 0), 7006, "99"),
        ((-1, out, 0), 7006, "argument 1 (format)"),
        (("MFF_ERF", out, 0), 7006, "MFF_ERF"),
        ((1.5, out, 0), 7001, "argument 1 (format)"),
        ((None, out, 0), 7001, "argument 1 (format)"),
        ((MFF_PCAP, str(tmp_path / "missing" / "x.pcap"), 0), 7002, "argument 2 (file)"),
        ((MFF_PCAP, "", 0), 7002, "argument 2 (file)"),
        ((MFF_PCAP, 5, 0), 7002, "argument 2 (file)"),
        ((MFF_PCAP, out, -1), 7003, "argument 3 (max_packets)"),
        ((MFF_PCAP, out, 2**64), 7003, "argument 3 (max_packets)"),
        ((MFF_PCAP, out, "10"), 7003, "argument 3 (max_packets)"),
        ((MFF_PCAP,), 7002, "argument 2 (file) is missing"),
        ((MFF_PCAP, out, 0, 1), 7000, "takes 3 argument"),
    ]
    for args, code, text in cases:
        err = apply_error(path, *args)
        assert err.code == code, (args, err)
        assert text in str(err), (args, err)
    assert open_descriptors() == before                     # every file opened for a refused apply is closed


def test_the_format_by_name_and_the_default_limit(tmp_path: Path) -> None:
    path = trace("mapi-www.pcap")
    out = tmp_path / "named.pcapng"
    with Flow(path) as flow:
        writer = flow.apply("TO_FILE", "mff_pcapng", str(out))
        flow.run(timeout=60)
        assert writer.read().packets == 10                 # capinfos -c mapi-www.pcap: 10
    assert capinfos_field(capinfos(out), "File type") == "pcapng"
