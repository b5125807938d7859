"""STR_SEARCH and REGEXP on shared traces, with tshark as the oracle.

Counts: ``tshark -r FILE -Y FILTER -T fields -e frame.number`` (one line per selected frame),
run at test time.  ``frame`` is the whole captured frame from the link-layer header, which is
what both functions search.

* STR_SEARCH ↔ ``frame contains "..."`` (case-sensitive in Wireshark too) or ``frame contains
  61:62`` for bytes; alternatives ↔ ``||`` of contains.  offset/depth ↔ slices: ``frame[off:]``
  for depth 0; for depth > 0 ``frame[off:depth]``, which Wireshark treats as absent when the frame
  is shorter than off + depth, so those frames are searched through ``frame[off:]``.
* REGEXP ↔ ``frame matches "..."``.  Wireshark's ``matches`` is case-insensitive by default
  (it compiles with PCRE2_CASELESS); ``(?-i)`` at the start of the oracle's pattern turns that
  off, which leaves PCRE2's default options, i.e. what REGEXP uses.  Inside a display-filter
  string a backslash is written twice.
"""

from __future__ import annotations

import random
import struct
import subprocess
from pathlib import Path

import pytest
from mapi_core.api.compat import mapi_create_offline_device, mapi_delete_offline_device, mapi_start_offline_device
from mapi_core.testing import run, tool, trace
from mapi_stdlib.native._search import ffi, lib
from mapi_stdlib.search import parse_pattern

from mapi_core import Flow, MapiError

HTTP = "mapi-http.pcap"                      # Ethernet, full payloads
CAMPUS = "mapi-tracefile.pcap"               # Ethernet, snaplen 96
LOOPBACK = "tcpflow-1.6.1-src--local.pcap"   # DLT_NULL (BSD loopback), SSH
RTSP = "ndpi-4.2-src--rtsp.pcap"             # pcapng, Linux SLL
KXUN = "ndpi-4.2-src--1kxun.pcap"            # pcapng, Ethernet
XSS = "ndpi-4.2-src--WebattackXSS.pcap"      # 9374 packets of HTTP attacks
DPKT_HTTP = "deb-python3-dpkt--http.pcap"
JPEGS = "tcpflow-1.6.1-src--jpegs.cap"
EXE = "ndpi-4.2-src--exe_download.pcap"
RAW_IP = "wireshark-4.0.17-src--http-ooo.pcap"  # LINKTYPE_RAW (IPv4)


def tshark_count(name: str | Path, display_filter: str) -> int:
    path = name if isinstance(name, Path) else trace(name)
    return len(run(tool("tshark"), "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.number")
               .split())


def mapi_count(name: str | Path, *chain: tuple) -> int:
    """Packets passing [each (function, *args) of chain..., PKT_COUNTER] over a trace."""
    path = name if isinstance(name, Path) else trace(name)
    with Flow(path) as flow:
        for function, *args in chain:
            flow.apply(function, *args)
        counter = flow.apply("PKT_COUNTER")
        flow.run(timeout=60)
        return counter.read()


def write_pcap(path: Path, frames: list[bytes]) -> Path:
    """An Ethernet pcap of whole frames."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for number, frame in enumerate(frames):
            out.write(struct.pack("<IIII", 1_700_000_000 + number, 0, len(frame), len(frame)))
            out.write(frame)
    return path


def contains(data: bytes, field: str = "frame") -> str:
    """A display filter true when ``field`` contains the bytes (written in hex: no quoting)."""
    return f"{field} contains {data.hex(':')}"


def any_of(*alternatives: bytes) -> str:
    return " || ".join(f"({contains(a)})" for a in alternatives)


def matches(regex: str) -> str:
    """``frame matches`` with Wireshark's case folding off, the regex quoted as a display-filter string."""
    quoted = ("(?-i)" + regex).replace("\\", "\\\\").replace('"', '\\"')
    return f'frame matches "{quoted}"'


# ------------------------------------------------------------------------------------------------
# STR_SEARCH: counts against tshark

STR_CASES = [
    # trace, STR_SEARCH arguments, the equivalent display filter
    (HTTP, ("GET",), 'frame contains "GET"'),
    (HTTP, ("get",), 'frame contains "get"'),   # case-sensitive: no lowercase request
    (CAMPUS, ("HTTP/1.1",), 'frame contains "HTTP/1.1"'),   # snaplen 96: only captured bytes count
    (CAMPUS, ("|0d 0a|",), "frame contains 0d:0a"),
    (CAMPUS, ("|00 50|",), "frame contains 00:50"),
    (HTTP, ("HTTP/1.|31 20|200 OK",), 'frame contains "HTTP/1.1 200 OK"'),
    (HTTP, ("|4854|TP/1.1 |3230 30|",), 'frame contains "HTTP/1.1 200"'),
    # alternatives (Aho-Corasick), empty ones skipped
    (DPKT_HTTP, ("GET||POST||HTTP/1.0",), any_of(b"GET", b"POST", b"HTTP/1.0")),
    (HTTP, ("||Accept-Encoding||||Content-Type: image||",), any_of(b"Accept-Encoding", b"Content-Type: image")),
    (CAMPUS, ("|16 03 01|||USER ||+OK",), any_of(b"\x16\x03\x01", b"USER ", b"+OK")),
    (XSS, ("<script>||%3Cscript%3E||alert(||onerror=",),
     any_of(b"<script>", b"%3Cscript%3E", b"alert(", b"onerror=")),
    # escapes: a literal pipe, four literal pipes (not alternatives), literal backslashes
    (DPKT_HTTP, ('sep">\\|</span>',), contains(b'sep">|</span>')),
    (JPEGS, ("\\|\\|\\|\\|",), contains(b"||||")),
    (KXUN, ("\\\\MAILSLOT\\\\BROWSE",), contains(b"\\MAILSLOT\\BROWSE")),
    (EXE, ("Software\\Microsoft",), contains(b"Software\\Microsoft")),   # a lone backslash stands for itself
    (EXE, ("|5c|Microsoft||ZZZ\\|",), any_of(b"\\Microsoft", b"ZZZ|")),
    # link types: the search starts at the link-layer header, whatever it is
    (LOOPBACK, ("SSH-2.0-",), 'frame contains "SSH-2.0-"'),
    (LOOPBACK, ("|02 00 00 00|", 0, 4), "frame[0:4] == 02:00:00:00"),   # DLT_NULL's AF_INET, host order
    (RTSP, ("RTSP/1.0 200 OK",), 'frame contains "RTSP/1.0 200 OK"'),
    (RTSP, ("DESCRIBE||SETUP||PLAY",), any_of(b"DESCRIBE", b"SETUP", b"PLAY")),
    (RAW_IP, ("|45 00|", 0, 2), "frame[0:2] == 45:00"),
    (KXUN, ("HTTP/1.1 200||HTTP/1.0 200",), any_of(b"HTTP/1.1 200", b"HTTP/1.0 200")),
    # offset and depth
    (HTTP, ("GET", 54), 'frame[54:] contains "GET"'),
    (HTTP, ("GET", 55), 'frame[55:] contains "GET"'),
    (HTTP, ("GET", 54, 3), 'frame[54:3] contains "GET"'),
    (HTTP, ("GET", 53, 3), 'frame[53:3] contains "GET"'),
    (CAMPUS, ("HTTP", 54, 30), 'frame[54:30] contains "HTTP" || (frame.cap_len < 84 && frame[54:] contains "HTTP")'),
    (CAMPUS, ("|00 00|", 80, 100),
     "frame[80:100] contains 00:00 || (frame.cap_len < 180 && frame[80:] contains 00:00)"),
    (CAMPUS, ("HTTP", 200), 'frame[200:] contains "HTTP"'),   # beyond the 96 captured bytes
    (RTSP, ("RTSP||Cseq: ", 60, 60),
     '(frame[60:60] contains "RTSP" || frame[60:60] contains "Cseq: ") || (frame.cap_len < 120 && '
     '(frame[60:] contains "RTSP" || frame[60:] contains "Cseq: "))'),
    (KXUN, ("|c0 a8|", 26, 4), "frame[26:4] contains c0:a8"),   # IPv4 source address of untagged Ethernet
]


@pytest.mark.parametrize(("name", "args", "display_filter"), STR_CASES,
                         ids=[f"{c[0][:14]}-{c[1]!r}" for c in STR_CASES])
def test_str_search_counts_as_tshark(name: str, args: tuple, display_filter: str) -> None:
    assert mapi_count(name, ("STR_SEARCH", *args)) == tshark_count(name, display_filter)


def test_str_search_selects_something() -> None:
    """Guards the cases above against all being vacuous zeros."""
    assert tshark_count(HTTP, 'frame contains "GET"') == 2
    assert tshark_count(XSS, any_of(b"<script>", b"%3Cscript%3E", b"alert(", b"onerror=")) > 100


ENDING = [
    # STR_SEARCH arguments, the equivalent display filter
    (("GET /default.ida?",), 'frame contains "GET /default.ida?"'),
    (("GET /default.ida?||zzzz",), 'frame contains "GET /default.ida?"'),
    (("|3f|",), "frame contains 3f"),
    (("|3f|||zz",), "frame contains 3f"),
    (("GET /default.ida?", 16, 17), 'frame[16:17] == "GET /default.ida?"'),
    (("GET /default.ida?||zz", 16, 17), 'frame[16:17] == "GET /default.ida?"'),
]


@pytest.mark.parametrize(("args", "display_filter"), ENDING)
def test_a_match_that_ends_the_packet(tmp_path: Path, args: tuple, display_filter: str) -> None:
    ether = bytes.fromhex("020000000002020000000001") + b"\x88\xb5"   # local experimental EtherType
    path = write_pcap(tmp_path / "ends.pcap", [ether + b"xx" + b"GET /default.ida?", ether + b"GET /default.ida",
                                               ether + b"GET /default.ida?", ether + b"?"])
    # two frames end with the request, one is a byte short of it
    assert tshark_count(path, 'frame[-17:] == "GET /default.ida?"') == 2
    assert mapi_count(path, ("STR_SEARCH", *args)) == tshark_count(path, display_filter)


def test_crlf_crlf_ending_real_frames() -> None:
    # mapi-http.pcap: 4 frames hold CRLF CRLF, 3 of them as their last 4 bytes.
    assert tshark_count(HTTP, "frame[-4:] == 0d:0a:0d:0a") == 3
    assert mapi_count(HTTP, ("STR_SEARCH", "|0d 0a 0d 0a|")) == tshark_count(HTTP, "frame contains 0d:0a:0d:0a")


def test_an_alternative_longer_than_the_region_does_not_stop_the_others() -> None:
    """MAPI's quirk: with an alternative longer than the searchable region, the others were not
    tried.  mapi-tracefile.pcap has snaplen 96, so a 200-byte alternative never fits."""
    long = "X" * 200
    expected = tshark_count(CAMPUS, 'frame contains "HTTP"')
    assert expected > 0
    assert mapi_count(CAMPUS, ("STR_SEARCH", f"{long}||HTTP")) == expected
    assert mapi_count(CAMPUS, ("STR_SEARCH", f"HTTP||{long}")) == expected
    # depth 60 from offset 40 leaves at most 56 bytes of a 96-byte capture
    assert mapi_count(CAMPUS, ("STR_SEARCH", "HTTP||" + "Y" * 58, 40, 60)) == tshark_count(
        CAMPUS, 'frame[40:60] contains "HTTP" || (frame.cap_len < 100 && frame[40:] contains "HTTP")')


def test_one_hundred_alternatives() -> None:
    """The automaton with 100 alternatives, many sharing prefixes, against 100 ``contains`` in tshark."""
    words = [b"<script", b"alert(", b"%3Cscript", b"javascript:", b"onerror", b"onload", b"document.cookie",
             b"HTTP/1.1 200", b"HTTP/1.1 404", b"Content-Length: 0\r\n"]
    words += [f"/index{i:02d}.html".encode() for i in range(90)]
    assert len(set(words)) == 100
    pattern = "||".join(w.decode().replace("\\", "\\\\").replace("|", "\\|") for w in words)
    assert mapi_count(XSS, ("STR_SEARCH", pattern)) == tshark_count(XSS, any_of(*words))


def test_several_searches_in_one_flow_and_in_two_flows() -> None:
    """Two STR_SEARCH on one flow must both match; two flows on one device each see their own."""
    assert mapi_count(CAMPUS, ("STR_SEARCH", "HTTP"), ("STR_SEARCH", "|0d 0a|")) == tshark_count(
        CAMPUS, 'frame contains "HTTP" && frame contains 0d:0a')
    device = mapi_create_offline_device(str(trace(CAMPUS)))
    assert device is not None
    flows = [Flow(device), Flow(device)]
    try:
        counters = []
        for flow, pattern in zip(flows, ("HTTP", "|0d 0a|")):
            flow.apply("STR_SEARCH", pattern)
            counters.append(flow.apply("PKT_COUNTER"))
            flow.connect()
        mapi_start_offline_device(device)
        for flow in flows:
            flow.wait(60)
        assert [c.read() for c in counters] == [tshark_count(CAMPUS, 'frame contains "HTTP"'),
                                                 tshark_count(CAMPUS, "frame contains 0d:0a")]
    finally:
        for flow in flows:
            flow.close()
        mapi_delete_offline_device(device)


def test_no_match_straddles_two_packets(tmp_path: Path) -> None:
    ether = bytes.fromhex("020000000002020000000001") + b"\x88\xb5"   # local experimental EtherType
    path = write_pcap(tmp_path / "split.pcap", [ether + b"xxGET /defa", ether + b"ult.ida?xx",
                                                ether + b"GET /default.ida?"])
    expected = tshark_count(path, 'frame contains "GET /default.ida?"')
    assert expected == 1
    assert mapi_count(path, ("STR_SEARCH", "GET /default.ida?")) == expected
    assert mapi_count(path, ("STR_SEARCH", "GET /default.ida?||zzzz")) == expected


def test_empty_trace_passes_nothing() -> None:
    assert mapi_count("wireshark-4.0.17-src--empty.pcap", ("STR_SEARCH", "a||b")) == 0


# ------------------------------------------------------------------------------------------------
# STR_SEARCH: the pattern language, and the automaton against Python's own substring search


@pytest.mark.parametrize(("pattern", "alternatives"), [
    ("abc", [b"abc"]),
    ("|61 62|c", [b"abc"]),
    ("|6162 63|", [b"abc"]),
    ("a|0d0a|b", [b"a\r\nb"]),
    ("A||B||CD", [b"A", b"B", b"CD"]),
    ("||A||||B||", [b"A", b"B"]),
    ("a\\|b", [b"a|b"]),
    ("a\\\\b", [b"a\\b"]),
    ("a\\\\||b", [b"a\\", b"b"]),
    ("a\\b", [b"a\\b"]),
    ("ab\\", [b"ab\\"]),
    ("|41||||42|", [b"A", b"B"]),   # hex, separator, hex
    ("|41||42|", [b"AB"]),
    ("caf\u00e9", [b"caf\xc3\xa9"]),
])
def test_pattern_syntax(pattern: str, alternatives: list[bytes]) -> None:
    assert parse_pattern(pattern) == alternatives


def _search(alternatives: list[bytes], data: bytes, offset: int = 0, depth: int = 0, simd: bool = True) -> bool:
    lengths = ffi.new("uint32_t[]", [len(a) for a in alternatives])
    state = ffi.gc(lib.search_str_new(b"".join(alternatives), lengths, len(alternatives), offset, depth),
                   lib.search_str_free)
    lib.search_str_use_simd(state, simd)
    header = ffi.new("mapi_pkthdr_t *", {"caplen": len(data), "wlen": len(data)})
    return bool(lib.search_str_process(state, ffi.from_buffer(bytearray(data or b"\0")), header))


@pytest.mark.parametrize("simd", [True, False], ids=["simd-where-available", "scalar"])
def test_searcher_against_python_substring_search(simd: bool) -> None:
    """Random alternatives over small alphabets (many shared prefixes and suffixes, so many failure
    links) against ``bytes.__contains__`` on the same region; packets long enough for several
    32-byte blocks of the AVX2 scans, and their tails."""
    rng = random.Random(2024)
    for _ in range(1000):
        alphabet = bytes(rng.sample(range(256), rng.choice([2, 3, 4, 16, 256])))
        alternatives = [bytes(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(rng.choice([1, 1, 3, 12]))]
        offset, depth = rng.choice([0, 0, 1, 5]), rng.choice([0, 0, 3, 10, 40, 100])
        for _ in range(8):
            data = bytes(rng.choices(alphabet, k=rng.choice([rng.randint(0, 40), rng.randint(0, 200)])))
            if rng.random() < 0.5:   # plant one alternative somewhere, often near the end
                planted = rng.choice(alternatives)
                at = rng.choice([len(data), rng.randint(0, len(data))])
                data = data[:at] + planted + data[at:]
            region = data[offset:offset + depth] if depth else data[offset:]
            assert _search(alternatives, data, offset, depth, simd) == any(a in region for a in alternatives), (
                alternatives, data, offset, depth)


def test_automaton_is_compact() -> None:
    """Bytes absent from every alternative share one class; accepting states get no row."""
    lengths = ffi.new("uint32_t[]", [3, 3])
    state = ffi.gc(lib.search_str_new(b"abcabd", lengths, 2, 0, 0), lib.search_str_free)
    # classes: other, a, b, c, d; states: root, a, ab (abc and abd accept)
    assert (lib.search_str_classes(state), lib.search_str_states(state)) == (5, 3)
    every_byte = bytes(range(256))
    lengths = ffi.new("uint32_t[]", [256, 1])
    state = ffi.gc(lib.search_str_new(every_byte + b"x", lengths, 2, 0, 0), lib.search_str_free)
    assert lib.search_str_classes(state) == 256
    assert _search([every_byte, b"x"], b"\xff" * 10 + b"x")
    assert _search([every_byte, b"\xfe\xff"], b"\x00" + every_byte)
    assert not _search([every_byte, b"\xfe\xfe"], every_byte[:-1] + b"\x00")


# ------------------------------------------------------------------------------------------------
# STR_SEARCH: errors


def apply_error(function: str, *args: object) -> MapiError:
    with Flow(trace("mapi-www.pcap")) as flow, pytest.raises(MapiError) as caught:
        flow.apply(function, *args)
    return caught.value


@pytest.mark.parametrize(("args", "code", "words"), [
    (("|61 62",), 3503, ["pattern", "unterminated", "character 0"]),
    (("ab|61",), 3503, ["pattern", "unterminated", "character 2"]),
    (("a||b||c|",), 3503, ["pattern", "unterminated"]),
    (("|6g|",), 3503, ["pattern", "'g'", "hexadecimal"]),
    (("|616|",), 3503, ["pattern", "odd number"]),
    (("|61\\|62|",), 3503, ["pattern", "'\\\\'"]),
    (("abcdef", 0, 5), 3504, ["depth", "5", "6 bytes"]),
    (("ab||abcdef", 0, 5), 3504, ["depth", "abcdef"]),    # every alternative must fit in depth
    (("",), 3505, ["pattern"]),
    (("||",), 3505, ["pattern"]),
    (("||||||",), 3505, ["pattern"]),
    (("abc", -1), 7002, ["offset", "-1"]),
    (("abc", 0, -1), 7003, ["depth", "-1"]),
    (("abc", 2**31), 7002, ["offset"]),
    (("abc", 0, 2**31), 7003, ["depth"]),
    (("abc", "4"), 7002, ["offset", "integer"]),
    (("abc", 0, 1.5), 7003, ["depth", "integer"]),
    ((5,), 7001, ["pattern", "string"]),
    ((b"abc",), 7001, ["pattern", "string"]),
    (("a\0b",), 7001, ["pattern", "NUL"]),
    (("a" * 70000,), 7001, ["pattern", "at most 65536"]),
    ((), 7001, ["pattern", "missing"]),
    (("abc", 0, 0, 0), 7000, ["3 argument"]),
], ids=lambda value: repr(value)[:30] if isinstance(value, tuple) else None)
def test_str_search_errors(args: tuple, code: int, words: list[str]) -> None:
    error = apply_error("STR_SEARCH", *args)
    assert error.code == code
    assert "STR_SEARCH" in str(error)
    for word in words:
        assert word in str(error)


def test_depth_equal_to_the_longest_alternative_is_accepted() -> None:
    assert mapi_count(HTTP, ("STR_SEARCH", "GE||GET", 54, 3)) == tshark_count(HTTP, 'frame[54:3] contains "GE"')


# ------------------------------------------------------------------------------------------------
# REGEXP

REGEXP_CASES = [
    (HTTP, r"HTTP/1\.[01] [0-9]{3} "),
    (HTTP, r"^GET"),                          # anchored at the link header: never
    (HTTP, r"^\x00"),                         # frames whose destination MAC starts with 00
    (HTTP, r"\r\n\r\n$"),                     # a match that ends the packet
    (HTTP, r"Host: [a-z0-9.]+\r\nUser-Agent"),
    (HTTP, r"get"),                           # case-sensitive
    (HTTP, r"(?i)get"),
    (CAMPUS, r"(GET|POST) /[^ ]* HTTP"),     # snaplen 96: only captured bytes
    (CAMPUS, r"\x00\x50[\x00-\xff]{2}"),
    (CAMPUS, r"HTTP/1\.[01] (200|304) .*"),
    (LOOPBACK, r"^\x02\x00\x00\x00\x45"),     # DLT_NULL header then IPv4
    (LOOPBACK, r"SSH-2\.0-OpenSSH_[0-9.]+"),
    (RTSP, r"RTSP/1\.0 200 OK\r\nServer: VLC/[0-9.]+"),
    (RTSP, r"^\x00\x00\x00\x01"),             # SLL: packet type 0 (to us), ARPHRD 1 (Ethernet)
    (KXUN, r"\\MAILSLOT\\BROWSE"),
    (KXUN, r"Host: [a-z0-9.-]+\.com"),
    (XSS, r"name=%3Cscript%3E[a-z.]+%28%27[^ ]*%3C%2Fscript%3E"),
    (XSS, r"(?s)GET .*%3C"),
    (RAW_IP, r"^E\x00"),
    (EXE, r"MZ\x90\x00"),
]


@pytest.mark.parametrize(("name", "regex"), REGEXP_CASES, ids=[f"{c[0][:14]}-{c[1]}" for c in REGEXP_CASES])
def test_regexp_counts_as_tshark(name: str, regex: str) -> None:
    assert mapi_count(name, ("REGEXP", regex)) == tshark_count(name, matches(regex))


def test_regexp_cases_select_something() -> None:
    assert tshark_count(HTTP, matches(r"HTTP/1\.[01] [0-9]{3} ")) > 0
    assert tshark_count(LOOPBACK, matches(r"^\x02\x00\x00\x00\x45")) > 0
    # Wireshark's own default folds case: this is why the oracle says (?-i)
    assert tshark_count(HTTP, 'frame matches "get"') == tshark_count(HTTP, matches("(?i)get")) > 0


def test_regexp_after_str_search() -> None:
    expected = tshark_count(XSS, 'frame contains "GET " && ' + matches(r"console\.log%28%27[0-9a-f]+"))
    assert expected > 0
    assert mapi_count(XSS, ("STR_SEARCH", "GET "), ("REGEXP", r"console\.log%28%27[0-9a-f]+")) == expected


def test_regexp_runs_jit_compiled() -> None:
    errbuf = ffi.new("char[]", 64)
    state = ffi.gc(lib.search_regexp_new(b"GET", 3, errbuf, 64), lib.search_regexp_free)
    if not lib.search_regexp_jit(state):
        pytest.skip("this PCRE2 has no JIT for this machine")
    assert mapi_count(HTTP, ("REGEXP", "GET")) == tshark_count(HTTP, matches("GET"))


@pytest.mark.parametrize("regex", ["(", "[z-a]", "a{2,1}", "ab\\"])
def test_regexp_compile_error_is_7000_with_pcre2s_message(regex: str) -> None:
    # tshark compiles the same pattern with PCRE2 and prints "Regex compilation error: MESSAGE."
    done = run_failing(tool("tshark"), "-r", str(trace("mapi-www.pcap")), "-Y", matches(regex))
    message = done.split("Regex compilation error: ", 1)[1].strip().rstrip(".")
    error = apply_error("REGEXP", regex)
    assert error.code == 7000
    assert "REGEXP" in str(error) and "pattern" in str(error)
    assert message in str(error) and "at offset" in str(error)


def run_failing(*argv: str) -> str:
    """The standard error of a command that must fail."""
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode != 0
    return done.stderr


@pytest.mark.parametrize(("args", "code", "words"), [
    (("",), 7001, ["pattern", "empty"]),
    ((7,), 7001, ["pattern", "string"]),
    ((), 7001, ["pattern", "missing"]),
    (("a", "b"), 7000, ["1 argument"]),
])
def test_regexp_argument_errors(args: tuple, code: int, words: list[str]) -> None:
    error = apply_error("REGEXP", *args)
    assert error.code == code
    assert "REGEXP" in str(error)
    for word in words:
        assert word in str(error)
