"""Live devices without capturing: configuration, errors, discovery, statistics.

Nothing here needs privileges (the capture itself is checked against tcpdump in
tests/test_live_capture.py).  Oracles: ``ip -o link`` / ``ip -o addr`` (iproute2) and
``tcpdump -D`` for discovery, ``capinfos`` for packet counts, hand-written TOML files whose
mistakes are known by construction for the configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from mapi_core.cli import cli
from mapi_core.cli.cmd_devices import capture_interfaces
from mapi_core.config import ConfigCache, ConfigError, LiveOptions, load, parse
from mapi_core.devices.stats import count_drops, drop_counter_address
from mapi_core.engine._engine import ffi
from mapi_core.runtime import Runtime, default_runtime
from mapi_core.testing import run, tool, trace

import mapi_core
from mapi_core import MapiError, mapi_read_error, mapi_stats

CAP_NET_RAW = 13
NO_SUCH = "mapinosuch0"   # an interface name nobody has


def _can_capture() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_NET_RAW & 1)
    return False


@pytest.fixture
def runtime():
    runtime = Runtime()
    yield runtime
    runtime.shutdown()


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``write(text)`` makes $MAPI_CONFIG point at a file with that text."""

    def write(text: str) -> Path:
        path = tmp_path / "mapi.toml"
        path.write_text(text)
        monkeypatch.setenv("MAPI_CONFIG", str(path))
        return path

    return write


@pytest.fixture(autouse=True)
def _clean_default_runtime():
    yield
    default_runtime().shutdown()
    mapi_read_error()


# -- configuration -----------------------------------------------------------------------------

EXAMPLE = """\
# defaults of every live device
[live]
snaplen = 1514
buffer_size = "8MiB"

[devices.uplink]
interface = "eth0"
alias = ["wan", "probe0"]
description = "campus uplink"
promisc = false
backend = "pcap"

[devices.lo]
alias = "loop"
"""


def test_a_configuration_names_devices_and_their_options() -> None:
    config = parse(EXAMPLE, "mapi.toml")
    uplink = config.find("wan")
    assert uplink is config.find("probe0") is config.find("eth0") is config.find("uplink")
    assert (uplink.name, uplink.interface, uplink.aliases, uplink.description) == (
        "uplink", "eth0", ("wan", "probe0"), "campus uplink")
    # section, then [live], then the built-in defaults (LiveOptions())
    assert config.options(uplink) == LiveOptions(snaplen=1514, promisc=False, buffer_size=8 * 1024 * 1024,
                                                 backend="pcap", timeout_ms=10, immediate=False)
    loop = config.find("loop")
    assert (loop.name, loop.interface, loop.aliases) == ("lo", "lo", ("loop",))
    assert config.options(loop).promisc is True
    # Python's options win over the file's
    assert config.options(uplink, snaplen=96, buffer_size="512KiB").snaplen == 96
    assert config.options(uplink, buffer_size="512KiB").buffer_size == 512 * 1024
    assert config.find("eth1") is None
    assert config.options(None) == LiveOptions(snaplen=1514, buffer_size=8 * 1024 * 1024)


# (file text, line, what the message must name): each text has one mistake, made on purpose
BAD_FILES = [
    ("[live]\nsnaplen = 0\n", 2, "[live] snaplen: must be from 1 to 262144"),
    ("[live]\nsnaplen = 262145\n", 2, "[live] snaplen"),
    ("[live]\nsnaplen = \"96\"\n", 2, "[live] snaplen: must be an integer"),
    ("[live]\npromisc = 1\n", 2, "[live] promisc: must be true or false"),
    ("[live]\n\nbackend = \"dpdk\"\n", 3, "[live] backend: must be one of 'auto', 'afpacket', 'pcap'"),
    ("[live]\nbuffer_size = \"4 parsecs\"\n", 2, "[live] buffer_size: must be a number of bytes"),
    ("[live]\nbuffer_size = 1024\n", 2, "[live] buffer_size: must be from 65536"),
    ("[live]\ntimeout_ms = -5\n", 2, "[live] timeout_ms"),
    ("[live]\nfanout = 70000\n", 2, "[live] fanout: must be from 0 to 65535"),
    ("[live]\nsnaplenn = 96\n", 2, "[live] snaplenn: unknown key"),
    ("# comment\n[drivers]\n", 2, "drivers: unknown section"),
    ("[devices.a]\ninterface = \"eth0\"\n\n[devices.b]\ninterface = \"eth0\"\n", 5,
     "[devices.b] interface: interface 'eth0' is already captured by [devices.a]"),
    ("[devices.a]\nalias = \"b\"\n[devices.b]\n", 3, "[devices.b]: the name 'b' is already used by [devices.a]"),
    ("[devices.a]\nalias = [\"x/y\"]\n", 2, "[devices.a] alias: each alias must be a non-empty name"),
    ("[devices.a]\nalias = 7\n", 2, "[devices.a] alias: must be a name or a list of names"),
    ("[devices.\"a:b\"]\n", 1, "[devices.a:b]: device name must be a non-empty name"),
    ("[devices.a]\ninterface = \"\"\n", 2, "[devices.a] interface"),
    ("[devices.a]\n[devices.a.sub]\nx = 1\n", 2, "[devices.a] sub: unknown key"),
    ("[devices]\na = 1\n", 2, "[devices] a: must be a table"),
    ("[live]\nsnaplen = \n", 2, "not valid TOML"),
]


@pytest.mark.parametrize(("text", "line", "named"), BAD_FILES)
def test_a_mistake_in_the_configuration_names_file_line_and_key(tmp_path: Path, text: str, line: int,
                                                                 named: str) -> None:
    path = tmp_path / "mapi.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.code == 6141
    assert f"{path}:{line}" in str(caught.value)
    assert named in str(caught.value)


def test_where_the_configuration_is_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAPI_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    user = tmp_path / "mapi" / "mapi.toml"
    user.parent.mkdir()
    user.write_text("[devices.mine]\ninterface = \"lo\"\n")
    assert load().path == user and load().find("mine") is not None
    explicit = tmp_path / "other.toml"
    explicit.write_text("[devices.other]\ninterface = \"lo\"\n")
    monkeypatch.setenv("MAPI_CONFIG", str(explicit))
    assert load().path == explicit and load().find("mine") is None
    monkeypatch.setenv("MAPI_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="MAPI_CONFIG names .*absent.toml"):
        load()


def test_the_configuration_is_read_again_when_it_changes(config_file) -> None:
    path = config_file("[devices.a]\ninterface = \"lo\"\n")
    cache = ConfigCache()
    assert cache.get().find("a") is not None
    path.write_text("[devices.b]\ninterface = \"lo\"\n")
    os.utime(path, ns=(1, 1))   # a different modification time, however fast this runs
    assert cache.get().find("a") is None and cache.get().find("b") is not None


def test_a_broken_configuration_fails_create_flow_with_the_reason(config_file) -> None:
    path = config_file("[live]\nsnaplen = \"big\"\n")
    assert mapi_core.mapi_create_flow("lo") == -1
    code, message = mapi_read_error()
    assert code == 6141 and f"{path}:2" in message and "snaplen" in message


@pytest.mark.parametrize(("options", "named"), [
    ({"snaplen": 0}, "snaplen"), ({"snaplen": 1.5}, "snaplen"), ({"backend": "dpdk"}, "backend"),
    ({"buffer_size": "lots"}, "buffer_size"), ({"promisc": "yes"}, "promisc"), ({"timeout_ms": 0}, "timeout_ms"),
    ({"fanout": -1}, "fanout"), ({"fanout": "7"}, "fanout"),
])
def test_wrong_options_from_python_are_7000_naming_the_option(runtime: Runtime, options: dict, named: str) -> None:
    with pytest.raises(MapiError) as caught:
        runtime.open_live_device("lo", **options)
    assert caught.value.code == 7000 and named in str(caught.value)


# -- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["auto", "afpacket", "pcap"])
def test_a_missing_interface_is_1026_no_such_device(runtime: Runtime, backend: str) -> None:
    with pytest.raises(MapiError) as caught:
        runtime.open_live_device(NO_SUCH, backend=backend)
    assert caught.value.code == 1026
    if backend == "pcap" and not _can_capture():
        # unprivileged, libpcap cannot even look: its socket() is refused first
        assert f"{NO_SUCH}: no such device" in str(caught.value) or "not permitted" in str(caught.value)
    else:
        assert f"{NO_SUCH}: no such device" in str(caught.value)


def test_mapi_create_flow_on_a_missing_interface(config_file) -> None:
    # a configured alias leads to its interface: the error names the interface that is missing
    config_file(f"[devices.probe]\ninterface = \"{NO_SUCH}\"\nalias = \"wan\"\n")
    for name in (NO_SUCH, "probe", "wan"):
        assert mapi_core.mapi_create_flow(name) == -1
        code, message = mapi_read_error()
        assert code == 1026 and f"{NO_SUCH}: no such device" in message, message
    assert default_runtime().devices() == [] and default_runtime().flows() == []


@pytest.mark.parametrize(("name", "code"), [("/no/such/trace.pcap", 3200), ("trace.pcap@9", 3200),
                                            ("probe1:eth0", 3200), ("", 3200), (None, 6157), (7, 6157)])
def test_names_that_cannot_be_interfaces(name: object, code: int) -> None:
    assert mapi_core.mapi_create_flow(name) == -1
    assert mapi_read_error()[0] == code


def test_capturing_without_permission_is_1026_saying_why() -> None:
    """Without CAP_NET_RAW (dropped from the bounding set when we have it, as root) both backends
    refuse with the reason."""
    script = ("from mapi_core.runtime import Runtime\n"
              "from mapi_core.errors import MapiError\n"
              "for backend in ('afpacket', 'pcap'):\n"
              "    try:\n"
              "        Runtime().open_live_device('lo', backend=backend)\n"
              "        print(backend, 'opened')\n"
              "    except MapiError as err:\n"
              "        print(backend, err.code, err.detail)\n")
    argv = [sys.executable, "-c", script]
    if _can_capture():
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            pytest.skip("cannot drop CAP_NET_RAW here (needs root and setpriv)")
        argv = ["setpriv", "--bounding-set", "-net_raw", *argv]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    assert len(output) == 2
    for line in output:
        _backend, code, reason = line.split(" ", 2)
        assert code == "1026", line
        assert reason.startswith("lo: operation not permitted: capturing needs root or CAP_NET_RAW"), line


# -- discovery ---------------------------------------------------------------------------------

#: ``ip -o link``'s "link/TYPE" words and the LINKTYPE_ a capture gives them (pcap-linktype(7))
IP_LINK_TYPES = {"ether": 1, "loopback": 1, "none": 101, "ieee802.11/radiotap": 127, "ieee802.11": 105}


def _ip_links() -> dict[str, str]:
    """``ip -o link``: {interface: link type word}."""
    links = {}
    for line in run(tool("ip"), "-o", "link").splitlines():
        found = re.match(r"\d+:\s+([^:@\s]+)(?:@\S+)?:.*?\blink/(\S+)", line)
        if found:
            links[found[1]] = found[2]
    return links


def _ip_addresses() -> dict[str, set[str]]:
    """``ip -o addr``: {interface: {"192.0.2.2/24", "fe80::1/64", ...}}."""
    addresses: dict[str, set[str]] = {}
    for line in run(tool("ip"), "-o", "addr").splitlines():
        found = re.match(r"\d+:\s+(\S+)\s+inet6?\s+(\S+)", line)
        if found:
            addresses.setdefault(found[1], set()).add(found[2])
    return addresses


def _tcpdump_devices() -> dict[str, list[str]]:
    """``tcpdump -D``: {device: its flags}, e.g. "1.eth0 [Up, Running, Connected]"."""
    devices = {}
    for line in run(tool("tcpdump"), "-D").splitlines():
        found = re.match(r"\d+\.(\S+)(?: \(.*\))? \[(.*)\]$", line)
        if found:
            devices[found[1]] = [] if found[2] == "none" else found[2].split(", ")
    return devices


def test_discovery_lists_what_ip_and_tcpdump_list() -> None:
    interfaces = {i["name"]: i for i in capture_interfaces()}
    links, listed = _ip_links(), _tcpdump_devices()
    assert set(interfaces) == set(links) | set(listed)
    for name, flags in listed.items():
        assert interfaces[name]["flags"] == flags, name
    for name, kind in links.items():
        assert interfaces[name]["backend"] == "afpacket"
        if kind in IP_LINK_TYPES:
            assert interfaces[name]["linktype"] == IP_LINK_TYPES[kind], name
    for name, addresses in _ip_addresses().items():
        assert set(interfaces[name]["addresses"]) == addresses, name
    assert interfaces["lo"]["linktype_name"] == "EN10MB (1)"


def test_mapi_devices_list_shows_interfaces_and_configured_devices(config_file) -> None:
    config_file("[devices.uplink]\ninterface = \"lo\"\nalias = \"wan\"\nsnaplen = 96\n")
    result = CliRunner().invoke(cli, ["devices", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {(k["name"], k["live"]) for k in data["kinds"]} >= {("pcapfile", False), ("nic", True)}
    assert data["configured"] == [{"name": "uplink", "interface": "lo", "aliases": ["wan"], "description": "",
                                   "driver": "nic", "options": {"snaplen": 96}}]
    assert {i["name"] for i in data["interfaces"]} >= set(_ip_links())
    table = CliRunner().invoke(cli, ["devices", "list"])
    assert table.exit_code == 0 and "uplink" in table.stdout and "wan" in table.stdout
    assert "Network interfaces" in table.stdout and "EN10MB" in table.stdout


def test_mapi_devices_list_reports_a_broken_configuration(config_file) -> None:
    path = config_file("[live]\nbackend = \"dpdk\"\n")
    result = CliRunner().invoke(cli, ["devices", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert f"{path}:2" in data["config_error"] and "backend" in data["config_error"]
    assert data["interfaces"]


# -- statistics ---------------------------------------------------------------------------------

def test_mapi_stats_of_an_offline_device_counts_the_packets_read() -> None:
    path = trace("mapi-tracefile.pcap")
    # capinfos -c -M mapi-tracefile.pcap -> "Number of packets:   893"
    packets = int(re.search(r"Number of packets:\s+(\d+)", run(tool("capinfos"), "-c", "-M", str(path)))[1])
    device = mapi_core.mapi_create_offline_device(path)
    fd = mapi_core.mapi_create_flow(device)
    assert mapi_core.mapi_connect(fd) == 0
    before = mapi_stats(device)
    assert (before.ps_recv, before.processed) == (0, 0)
    assert mapi_core.mapi_start_offline_device(device) == 0
    default_runtime().wait(fd, 60)
    stats = mapi_stats(device)
    assert (stats.dev, stats.backend, stats.hostname) == (device, "offline", "localhost")
    assert (stats.ps_recv, stats.processed) == (packets, packets)
    assert (stats.ps_drop, stats.ps_ifdrop, stats.function_drops, stats.engine_drops, stats.dropped) == (0, 0, 0, 0, 0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.ps_recv = 0


def test_functions_count_their_drops_on_the_device() -> None:
    """The counter functions share: Python's count_drops and a native atomic add through the
    address (here done through cffi, as a process() would in C)."""
    device_name = mapi_core.mapi_create_offline_device(trace("mapi-www.pcap"))
    device = default_runtime().device(device_name)
    count_drops(device, 3)
    counter = ffi.cast("uint64_t *", drop_counter_address(device))
    counter[0] += 2
    stats = mapi_stats(device_name)
    assert (stats.function_drops, stats.engine_drops, stats.dropped) == (5, 0, 5)


@pytest.mark.parametrize(("name", "code"), [(None, 6157), (42, 6157), ("lo", 8004), (NO_SUCH, 8004),
                                            ("/no/such.pcap@3", 8004)])
def test_mapi_stats_errors(name: object, code: int) -> None:
    """MAPI: no device name 6157; a device that is not open (no flow uses it) or unknown 8004."""
    assert mapi_stats(name) is None
    got, message = mapi_read_error()
    assert got == code, message


def test_a_fanout_group_needs_the_afpacket_backend(runtime: Runtime) -> None:
    """Checked before the interface is opened, so no privilege is needed to see it."""
    with pytest.raises(MapiError) as caught:
        runtime.open_live_device("lo", backend="pcap", fanout=7)
    assert "a fanout group (1..65535) needs the afpacket backend" in str(caught.value)
