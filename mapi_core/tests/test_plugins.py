"""The plugin contract, tested as a user meets it: real distributions on sys.path, discovered
through the ``mapi`` entry-point group (pytester style: each test writes a small library)."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
from mapi_core.plugins import FunctionDef, arguments
from mapi_core.plugins.manager import Registry
from mapi_core.plugins.resolve import FunctionName, oid_within, resolve
from mapi_core.testing import tcpdump_wire_lengths, trace

from mapi_core import Flow, MapiError, Runtime


def write_library(site: Path, dist: str, module: str, source: str, version: str = "1.0") -> None:
    """A minimal installed distribution: its module and a dist-info with a ``mapi`` entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[mapi]\n{module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("plug_")]:
        del sys.modules[name]


PYTHON_COUNTER = """
    from mapi_core.plugins import FunctionDef, hookimpl, results

    class Counter:
        def init(self, result):
            self.view = result.view().cast("Q")

        def process(self, packet, header):
            self.view[0] += 1
            return 1

    @hookimpl
    def mapi_register_functions():
        yield FunctionDef(name="{name}", description="counts in Python", implementation=Counter,
                          result=results.U64)
"""


def test_a_library_registers_with_its_provenance(site: Path) -> None:
    write_library(site, "plug-alpha", "plug_alpha", PYTHON_COUNTER.format(name="PY_COUNT"), version="2.5")
    registry = Registry.discover()
    [definition] = registry.function("PY_COUNT")
    assert (definition.library, definition.distribution, definition.version) == ("plug_alpha", "plug-alpha", "2.5")
    assert not definition.native
    assert registry.library("plug_alpha").functions == ("PY_COUNT",)


def test_a_broken_library_is_reported_and_skipped(site: Path) -> None:
    write_library(site, "plug-broken", "plug_broken", "import no_such_module_anywhere\n")
    write_library(site, "plug-good", "plug_good", PYTHON_COUNTER.format(name="GOOD_COUNT"))
    registry = Registry.discover()
    [error] = [e for e in registry.errors if e.library == "plug_broken"]
    assert error.distribution == "plug-broken"
    assert "no_such_module_anywhere" in error.error
    assert registry.function("GOOD_COUNT")
    assert registry.function("PKT_COUNTER"), "the installed libraries still load"


def test_a_hook_that_raises_is_reported(site: Path) -> None:
    write_library(site, "plug-raises", "plug_raises", """
        from mapi_core.plugins import hookimpl

        @hookimpl
        def mapi_register_functions():
            raise RuntimeError("cannot find my tables")
    """)
    registry = Registry.discover()
    [error] = [e for e in registry.errors if e.library == "plug_raises"]
    assert "cannot find my tables" in error.error


def test_a_lifecycle_hook_with_a_wrong_argument_is_a_load_error_naming_the_library(site: Path) -> None:
    write_library(site, "plug-typo", "plug_typo", """
        from mapi_core.plugins import FunctionDef, hookimpl

        class Typo:
            def init(self, args, devise):   # misspelt: the spec says device
                return None

            def process(self, packet, header):
                return 1

        @hookimpl
        def mapi_register_functions():
            yield FunctionDef(name="TYPO", description="", implementation=Typo)
    """)
    registry = Registry.discover()
    [error] = [e for e in registry.errors if e.library == "plug_typo"]
    assert "TYPO" in error.error and "devise" in error.error
    assert not registry.function("TYPO")


def test_a_duplicate_function_is_an_error_naming_both_libraries(site: Path) -> None:
    write_library(site, "plug-dup", "plug_dup", PYTHON_COUNTER.format(name="PKT_COUNTER"))
    registry = Registry.discover()
    [error] = [e for e in registry.errors if "duplicate function PKT_COUNTER" in e.error]
    assert "stdflib (mapi-stdlib" in error.error and "plug_dup (plug-dup" in error.error
    [kept] = registry.function("PKT_COUNTER")   # the first library in load order keeps it
    assert {kept.library, error.library} == {"stdflib", "plug_dup"}


def test_definitions_are_checked_when_declared() -> None:
    with pytest.raises(ValueError, match="UPPER_SNAKE"):
        FunctionDef(name="pktCounter", description="", implementation=object)
    with pytest.raises(ValueError, match="dotted numbers"):
        FunctionDef(name="X", description="", implementation=object, device_oid="1.a")
    with pytest.raises(ValueError, match="follows one that has"):
        FunctionDef(name="X", description="", implementation=object,
                    arguments=(arguments.Int(name="a", default=1), arguments.Int(name="b")))
    definition = FunctionDef(name="X", description="", implementation=object, arguments=(
        arguments.String(name="s"), arguments.Int(name="i"), arguments.UInt64(name="l"),
        arguments.Char(name="c"), arguments.FlowRef(name="r"), arguments.FunctionRef(name="f"),
        arguments.OutputFile(name="w")))
    # MAPI's argument letters (MAPI-REFERENCE §1.4)
    assert definition.argdescr == "silcrfw"


class _Impl:
    pass


def _def(name: str, oid: str, library: str) -> FunctionDef:
    return FunctionDef(name=name, description="", implementation=_Impl, device_oid=oid, library=library)


def test_the_most_specific_device_oid_wins_by_components() -> None:
    definitions = [_def("BPF_FILTER", "1", "stdflib"), _def("BPF_FILTER", "1.1", "dagflib"),
                   _def("BPF_FILTER", "1.1.1", "dsm")]
    chosen = {oid: resolve(definitions, FunctionName.parse("BPF_FILTER"), oid).library
              for oid in ("1.3", "1.1", "1.1.1", "1.1.2", "1.10", "1.1.10")}
    # "1.10" is not below "1.1": MAPI compared characters and got this wrong.
    assert chosen == {"1.3": "stdflib", "1.1": "dagflib", "1.1.1": "dsm", "1.1.2": "dagflib",
                      "1.10": "stdflib", "1.1.10": "dagflib"}
    assert resolve(definitions, FunctionName.parse("stdflib:BPF_FILTER"), "1.1.1").library == "stdflib"
    assert resolve(definitions, FunctionName.parse("BPF_FILTER!1.1"), "1.1.1").library == "dsm"
    assert resolve(definitions, FunctionName.parse("BPF_FILTER!1.1"), "1.3") is None
    assert oid_within("1.1.1", "1") and not oid_within("1", "1.1")


def test_function_names_parse_as_mapi_wrote_them() -> None:
    assert FunctionName.parse("stdflib:BYTE_COUNTER!1.3") == FunctionName("BYTE_COUNTER", "stdflib", "1.3")
    assert FunctionName.parse("pkt_counter") == FunctionName("PKT_COUNTER")
    with pytest.raises(ValueError):
        FunctionName.parse("BAD NAME")


def test_the_python_slow_path_counts_like_tcpdump(tmp_path: Path) -> None:
    """A pure-Python process() runs through the engine's trampoline, after a native filter."""
    path = trace("mapi-tracefile.pcap")
    namespace: dict = {}
    exec(textwrap.dedent(PYTHON_COUNTER.format(name="PY_COUNT")), namespace)
    library = type(sys)("py_count_library")
    library.__dict__.update(namespace)
    registry = Registry.discover()
    registry.register_library(library, "pycount")
    runtime = Runtime(registry)
    try:
        with Flow(path, runtime=runtime) as flow:
            flow.apply("BPF_FILTER", "udp")
            counted = flow.apply("PY_COUNT")
            flow.run()
            expected = len(tcpdump_wire_lengths(path, "udp"))
            # tcpdump -r mapi-tracefile.pcap -w - udp | tshark -r - -T fields -e frame.len | wc -l  -> 110
            assert expected == 110
            assert counted.read() == expected
    finally:
        runtime.shutdown()


def test_a_modifying_function_works_on_a_copy(tmp_path: Path) -> None:
    """A function that rewrites packets in one flow must not change what another flow sees."""
    path = trace("mapi-tracefile.pcap")
    source = """
        from mapi_core.plugins import FunctionDef, hookimpl

        class Scramble:
            def process(self, packet, header):
                packet[12:14] = b"\\x12\\x34"    # the Ethernet type: no longer IPv4 or ARP
                return 1

        @hookimpl
        def mapi_register_functions():
            yield FunctionDef(name="SCRAMBLE", description="", implementation=Scramble, modifies=True)
    """
    namespace: dict = {}
    exec(textwrap.dedent(source), namespace)
    library = type(sys)("scramble_library")
    library.__dict__.update(namespace)
    registry = Registry.discover()
    registry.register_library(library, "scramble")
    runtime = Runtime(registry)
    # tcpdump -r mapi-tracefile.pcap -w - ip | tshark -r - -T fields -e frame.len | wc -l  -> 770
    expected_ip = len(tcpdump_wire_lengths(path, "ip"))
    assert expected_ip == 770
    try:
        device = runtime.create_offline_device(path)
        scrambled, plain = runtime.create_flow(device), runtime.create_flow(device)
        runtime.apply_function(scrambled, "SCRAMBLE", ())
        runtime.apply_function(scrambled, "BPF_FILTER", ("ip",))
        after_scramble = runtime.apply_function(scrambled, "PKT_COUNTER", ())
        runtime.apply_function(plain, "BPF_FILTER", ("ip",))
        untouched = runtime.apply_function(plain, "PKT_COUNTER", ())
        runtime.connect(scrambled)
        runtime.connect(plain)
        runtime.start_offline_device(device)
        runtime.wait(plain, timeout=30)
        assert runtime.read_result(scrambled, after_scramble).value == 0
        assert runtime.read_result(plain, untouched).value == expected_ip
    finally:
        runtime.shutdown()


def test_arguments_are_validated_with_mapi_codes() -> None:
    path = trace("mapi-www.pcap")
    with Flow(path) as flow:
        with pytest.raises(MapiError) as missing:
            flow.apply("BPF_FILTER")
        assert missing.value.code == 7001 and "expression" in str(missing.value)
        with pytest.raises(MapiError) as wrong_type:
            flow.apply("BPF_FILTER", 80)
        assert wrong_type.value.code == 7001 and "string" in str(wrong_type.value)
        with pytest.raises(MapiError) as extra:
            flow.apply("PKT_COUNTER", 1)
        assert extra.value.code == 7000 and "PKT_COUNTER takes 0" in str(extra.value)
        with pytest.raises(MapiError) as bad_bpf:
            flow.apply("BPF_FILTER", "tcp and prot 80")
        assert bad_bpf.value.code == 1025 and "syntax error" in str(bad_bpf.value)
