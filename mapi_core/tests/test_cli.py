"""Tests of the ``mapi`` command line (mapi_core.cli), run through click's CliRunner.

The worm demo's expected values come from independent tools run at test time.  Web traffic (flow
1, a BPF expression): tcpdump counts the packets of the same expression and tshark sums the wire
lengths (frame.len) of the packets an equivalent display filter selects.  Code Red requests (flow
2, the same expression then STR_SEARCH): tcpdump selects the web packets (``-w -``) and tshark
keeps those that contain the request (``frame contains``), as the flow chains its two functions;
tshark alone, with one equivalent display filter, must agree.  A hand-made trace with labelled
packets checks these oracles against the labels.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mapi_core.cli import cli, cmd_functions
from mapi_core.cli.cmd_devices import network_interfaces
from mapi_core.cli.cmd_worm import WEB_FILTER, WORM_SEARCH
from mapi_core.plugins import hookimpl
from mapi_core.plugins.manager import Registry
from mapi_core.runtime import Runtime, default_runtime
from mapi_core.testing import run, tool, trace

from mapi_core import __version__

#: tshark display filters selecting what the BPF expressions select: BPF without the ``vlan``
#: keyword skips 802.1Q frames, tcp[] reads IPv4 only, and ICMP errors quote TCP headers.
TSHARK_WEB = "!vlan && !icmp && !icmpv6 && tcp.dstport == 80"
#: STR_SEARCH's question as tshark asks it: the request anywhere in the captured frame.
TSHARK_REQUEST = 'frame contains "GET /default.ida?"'
TSHARK_WORM = f"{TSHARK_WEB} && {TSHARK_REQUEST}"


def mapi(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="mapi")


# ------------------------------------------------------------------------------------------------
# functions, libraries, devices


def test_version() -> None:
    result = mapi("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_functions_list_table() -> None:
    result = mapi("functions", "list")
    assert result.exit_code == 0, result.output
    for name in ("PKT_COUNTER", "BYTE_COUNTER", "BPF_FILTER", "stdflib", "expression: str", "native"):
        assert name in result.stdout


def test_functions_list_json() -> None:
    result = mapi("functions", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"functions", "load_errors"}
    by_name = {f["name"]: f for f in data["functions"]}
    assert {"PKT_COUNTER", "BYTE_COUNTER", "BPF_FILTER"} <= set(by_name)
    bpf = by_name["BPF_FILTER"]
    assert bpf["argdescr"] == "s"
    assert bpf["signature"] == "expression: str"
    assert bpf["library"] == "stdflib" and bpf["distribution"] == "mapi-stdlib"
    assert bpf["filters"] is True and bpf["modifies"] is False
    assert bpf["result_kind"] == "none" and bpf["native"] is True and bpf["description"]
    assert by_name["PKT_COUNTER"]["result_kind"] == "u64"


def test_functions_list_by_library() -> None:
    data = json.loads(mapi("functions", "list", "--json", "--library", "core").stdout)
    assert data["functions"] == []
    result = mapi("functions", "list", "--library", "no-such-library")
    assert result.exit_code == 1
    assert "mapi: " in result.stderr and "no-such-library" in result.stderr


class _BrokenLibrary:
    @hookimpl
    def mapi_register_functions(self) -> list:
        raise RuntimeError("boom")


def test_load_errors_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry.discover()
    registry.register_library(_BrokenLibrary(), "broken", "broken-dist", "9.9")
    monkeypatch.setattr(cmd_functions, "default_runtime", lambda: Runtime(registry))
    data = json.loads(mapi("functions", "list", "--json").stdout)
    assert [(e["library"], e["distribution"]) for e in data["load_errors"]] == [("broken", "broken-dist")]
    assert "boom" in data["load_errors"][0]["error"]
    table = mapi("functions", "list").stdout
    assert "broken" in table and "boom" in table and "BPF_FILTER" in table


def test_functions_show_known() -> None:
    result = mapi("functions", "show", "BPF_FILTER")
    assert result.exit_code == 0, result.output
    for text in ("stdflib:BPF_FILTER!1", "mapi-stdlib", "expression", "str", "a tcpdump filter expression",
                 "stdlib_bpf_filter", "filters"):
        assert text in result.stdout
    counter = mapi("functions", "show", "stdflib:pkt_counter!1")
    assert counter.exit_code == 0 and "u64" in counter.stdout and "8 bytes" in counter.stdout


def test_functions_show_json() -> None:
    [record] = json.loads(mapi("functions", "show", "--json", "BPF_FILTER").stdout)
    assert record["arguments"] == [{"position": 1, "name": "expression", "type": "str", "letter": "s",
                                    "description": "a tcpdump filter expression", "optional": False}]


@pytest.mark.parametrize("name", ["NO_SUCH_FUNCTION", "BPF_FILTER!1.3", "nolib:BPF_FILTER", "not a name"])
def test_functions_show_unknown(name: str) -> None:
    result = mapi("functions", "show", name)
    assert result.exit_code == 1
    assert result.stderr.startswith("mapi: ") and "6144" in result.stderr
    assert "Traceback" not in result.output


def test_libraries_list() -> None:
    result = mapi("libraries", "list")
    assert result.exit_code == 0, result.output
    assert "core" in result.stdout and "stdflib" in result.stdout and "mapi-stdlib" in result.stdout
    data = json.loads(mapi("libraries", "list", "--json").stdout)
    by_name = {lib["name"]: lib for lib in data["libraries"]}
    assert by_name["core"]["devices"] == ["pcapfile", "nic"]
    assert set(by_name["stdflib"]["functions"]) >= {"PKT_COUNTER", "BYTE_COUNTER", "BPF_FILTER"}
    assert data["load_errors"] == []


def test_devices_list() -> None:
    result = mapi("devices", "list")
    assert result.exit_code == 0, result.output
    assert "pcapfile" in result.stdout and "MFF_PCAP" in result.stdout and "Network interfaces" in result.stdout
    data = json.loads(mapi("devices", "list", "--json").stdout)
    [kind] = [k for k in data["kinds"] if k["name"] == "pcapfile"]
    assert kind["live"] is False and {"code": 0, "name": "MFF_PCAP"} in kind["formats"]
    assert isinstance(data["interfaces"], list)


def test_network_interfaces_without_sysfs(tmp_path: Path) -> None:
    assert network_interfaces(tmp_path / "missing") == []
    (tmp_path / "eth9").mkdir()
    (tmp_path / "eth9" / "mtu").write_text("1500\n")
    assert network_interfaces(tmp_path) == [{"name": "eth9", "operstate": "unknown", "mtu": 1500, "mac": ""}]


# ------------------------------------------------------------------------------------------------
# A hand-made trace: each packet labelled (web, worm) by construction.

CODE_RED = b"GET /default.ida?" + b"X" * 224 + b"%u9090%u6858%ucbd3%u7801 HTTP/1.0\r\n\r\n"


def _ipv4_header(payload_len: int, proto: int, options: bytes = b"") -> bytes:
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + payload_len, 1, 0, 64, proto, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + options
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]


def _tcp(sport: int, dport: int, payload: bytes, options: bytes = b"", flags: int = 0x18) -> bytes:
    doff = 5 + len(options) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, doff << 4, flags, 65535, 0, 0) + options + payload


def _ether(ethertype: int, l3: bytes, vlan: bool = False) -> bytes:
    macs = bytes.fromhex("020000000002020000000001")
    if vlan:
        return macs + struct.pack("!HHH", 0x8100, 7, ethertype) + l3
    return macs + struct.pack("!H", ethertype) + l3


def _v4(l4: bytes, proto: int = 6, options: bytes = b"", vlan: bool = False) -> bytes:
    return _ether(0x0800, _ipv4_header(len(l4), proto, options) + l4, vlan)


def _v6_tcp(l4: bytes) -> bytes:
    header = struct.pack("!IHBB16s16s", 0x60000000, len(l4), 6, 64, bytes(15) + b"\1", bytes(15) + b"\2")
    return _ether(0x86DD, header + l4)


TCP_OPTIONS = bytes.fromhex("0101080a0000000100000002") + b"\x01\x01\x01\x00"  # NOP NOP timestamps, 16 bytes

#: (frame, extra wire bytes not captured, is web, is worm): web = TCP to port 80 (IPv4 or IPv6,
#: no VLAN tag); worm = web and the captured frame contains "GET /default.ida?" anywhere.
LABELLED = [
    (_v4(_tcp(40000, 80, CODE_RED)), 0, True, True),
    (_v4(_tcp(40001, 80, CODE_RED, TCP_OPTIONS)), 0, True, True),
    (_v4(_tcp(40002, 80, CODE_RED), options=b"\x01\x01\x01\x00"), 0, True, True),
    (_v4(_tcp(40003, 80, b"GET /default.idx?" + b"X" * 40)), 0, True, False),
    (_v4(_tcp(40004, 80, b"XGET /default.ida?" + b"X" * 40)), 0, True, True),
    (_v4(_tcp(40005, 8080, CODE_RED)), 0, False, False),
    (_v4(_tcp(80, 40006, CODE_RED)), 0, False, False),
    (_v4(_tcp(40007, 80, b"GET /default.ida")), 0, True, False),
    (_v4(_tcp(40008, 80, b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n")), 0, True, False),
    (_v4(_tcp(40009, 80, b"", flags=0x02)), 0, True, False),
    (_v4(struct.pack("!HHHH", 40010, 80, 8 + len(CODE_RED), 0) + CODE_RED, proto=17), 0, False, False),
    (_v6_tcp(_tcp(40011, 80, CODE_RED)), 0, True, True),
    (_v4(_tcp(40012, 80, CODE_RED), vlan=True), 0, False, False),
    (_v4(_tcp(40013, 80, b"GET /big HTTP/1.1\r\n\r\n")), 1000, True, False),
    (_v4(_tcp(40014, 80, CODE_RED + b"Y" * 600)), 0, True, True),
    # the request inside the payload (a proxy's log line), and split over two segments
    (_v4(_tcp(40015, 80, b"POST /log HTTP/1.0\r\n\r\nline: " + CODE_RED)), 0, True, True),
    (_v4(_tcp(40016, 80, CODE_RED[:9])), 0, True, False),
    (_v4(_tcp(40016, 80, CODE_RED[9:])), 0, True, False),
    # captured up to "GET /d" only (snaplen 60): the request is not in the captured bytes
    (_v4(_tcp(40017, 80, CODE_RED))[:60], len(_v4(_tcp(40017, 80, CODE_RED))) - 60, True, False),
]


def write_pcap(path: Path, packets: list[tuple[bytes, int, bool, bool]]) -> None:
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for number, (frame, uncaptured, _, _) in enumerate(packets):
            out.write(struct.pack("<IIII", 1_700_000_000 + number, 0, len(frame), len(frame) + uncaptured))
            out.write(frame)


def tcpdump_count(path: Path, expression: str) -> int:
    """``tcpdump --count``: the packets the expression selects."""
    return int(run(tool("tcpdump"), "--count", "-r", str(path), expression).split()[0])


def tshark_frames(path: Path, display_filter: str) -> tuple[int, int]:
    """(packets, sum of wire lengths) of the frames tshark selects."""
    lengths = run(tool("tshark"), "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.len").split()
    return len(lengths), sum(map(int, lengths))


def web_then_request(path: Path) -> tuple[int, int]:
    """(packets, sum of wire lengths) of the web packets (tcpdump, WEB_FILTER) that contain the
    Code Red request (tshark, ``frame contains``): flow 2's chain, tool by tool."""
    web = subprocess.run([tool("tcpdump"), "-r", str(path), "-w", "-", WEB_FILTER], check=True,
                         capture_output=True).stdout
    lengths = subprocess.run([tool("tshark"), "-r", "-", "-Y", TSHARK_REQUEST, "-T", "fields", "-e", "frame.len"],
                             input=web, check=True, capture_output=True).stdout.split()
    return len(lengths), sum(map(int, lengths))


def oracle(path: Path) -> dict[str, dict[str, int]]:
    """The worm report's counters as tcpdump and tshark see them (the two ways must agree)."""
    packets = tcpdump_count(path, WEB_FILTER)
    tshark_packets, octets = tshark_frames(path, TSHARK_WEB)
    assert tshark_packets == packets, f"tshark filter {TSHARK_WEB!r} and tcpdump {WEB_FILTER!r} disagree"
    worm = web_then_request(path)
    assert tshark_frames(path, TSHARK_WORM) == worm, f"tshark filter {TSHARK_WORM!r} and tcpdump + tshark disagree"
    return {"web": {"packets": packets, "bytes": octets}, "worm": {"packets": worm[0], "bytes": worm[1]}}


def worm_json(path: Path) -> dict:
    open_before = len(default_runtime().devices())
    result = mapi("worm", "--json", str(path))
    assert result.exit_code == 0, result.output
    assert len(default_runtime().devices()) == open_before, "the worm command left a device open"
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def labelled_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "labelled.pcap"
    write_pcap(path, LABELLED)
    return path


def test_worm_oracles_select_the_labelled_packets(labelled_trace: Path) -> None:
    """Checks the web expression (tcpdump) and the request search (tcpdump + tshark) against the labels."""
    assert WORM_SEARCH == "GET /default.ida?"
    assert tcpdump_count(labelled_trace, WEB_FILTER) == sum(web for _, _, web, _ in LABELLED)
    assert web_then_request(labelled_trace)[0] == sum(worm for _, _, _, worm in LABELLED)


def test_worm_on_labelled_trace(labelled_trace: Path) -> None:
    report = worm_json(labelled_trace)
    expected = oracle(labelled_trace)
    assert {"web": report["web"], "worm": report["worm"]} == expected
    assert report["packets"] == len(LABELLED)
    table = mapi("worm", str(labelled_trace)).stdout
    assert "Code Red" in table and f"{expected['worm']['bytes']:,}" in table
    share = 100 * expected["worm"]["packets"] / expected["web"]["packets"]
    assert f"{share:.2f} %" in table


def test_worm_on_generated_trace(tmp_path: Path) -> None:
    tracegen = pytest.importorskip("mapi_core.tracegen")
    path = tmp_path / "generated.pcap"
    tracegen.generate(path, 3000, seed=5, worm_fraction=0.5)
    expected = oracle(path)
    assert expected["worm"]["packets"] > 0, "the generated trace should hold Code Red requests"
    report = worm_json(path)
    assert {"web": report["web"], "worm": report["worm"]} == expected
    assert report["packets"] == 3000


def test_worm_on_shared_trace() -> None:
    path = trace("mapi-tracefile.pcap")
    report = worm_json(path)
    assert report["web"]["packets"] == tcpdump_count(path, WEB_FILTER)
    assert {"web": report["web"], "worm": report["worm"]} == oracle(path)


def test_worm_errors_are_one_line(tmp_path: Path) -> None:
    missing = mapi("worm", str(tmp_path / "missing.pcap"))
    assert missing.exit_code == 1
    assert missing.stderr.startswith("mapi: [6155]") and "missing.pcap" in missing.stderr
    not_a_trace = tmp_path / "notes.txt"
    not_a_trace.write_text("hello, this is not a pcap file\n")
    damaged = mapi("worm", str(not_a_trace))
    assert damaged.exit_code == 1 and damaged.stderr.startswith("mapi: ")
    assert "Traceback" not in missing.output + damaged.output


def test_worm_on_truncated_trace_warns(labelled_trace: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.pcap"
    path.write_bytes(labelled_trace.read_bytes()[:-100])  # the last packet loses its end
    # tcpdump counts every complete packet, then fails on the truncated one: not run with check.
    done = subprocess.run([tool("tcpdump"), "--count", "-r", str(path), WEB_FILTER], capture_output=True, text=True)
    assert "truncated" in done.stderr
    result = mapi("worm", "--json", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: ") and "truncated" in result.stderr
    assert json.loads(result.stdout)["web"]["packets"] == int(done.stdout.split()[0])


def test_worm_on_damaged_trace_fails(labelled_trace: Path, tmp_path: Path) -> None:
    data = bytearray(labelled_trace.read_bytes())
    struct.pack_into("<I", data, 24 + 8, 0x7FFFFFFF)  # the first record's captured length
    path = tmp_path / "damaged.pcap"
    path.write_bytes(data)
    result = mapi("worm", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("mapi: [6158]") and "damaged" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
