"""{{ cookiecutter.function_name }} on a trace, checked against tcpdump.

The expected values come from an independent tool, never from {{ cookiecutter.function_name }} itself: tcpdump's
``portrange`` filter (libpcap's BPF) selects the packets, tshark lists their wire lengths.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mapi_core import Flow
from mapi_core.errors import MapiError
from mapi_core.runtime import default_runtime
from mapi_core.testing import tcpdump_wire_lengths

from {{ cookiecutter.__package }}.functions import {{ cookiecutter.__result_class }}, parse_ports

SAMPLE = Path(__file__).parent / "data" / "sample.pcap"


def count(ports: str, trace: Path = SAMPLE) -> {{ cookiecutter.__result_class }}:
    with Flow(str(trace)) as flow:
        result = flow.apply("{{ cookiecutter.function_name }}", ports)
        flow.run()
        return result.read()


def test_is_registered_as_a_native_function():
    (definition,) = default_runtime().registry.function("{{ cookiecutter.function_name }}")
    assert definition.library == "{{ cookiecutter.__entry_point }}"
    assert definition.distribution == "{{ cookiecutter.__dist }}"
    assert definition.native
    assert definition.argdescr == "s"


# tcpdump -r tests/data/sample.pcap -w - 'portrange P or (vlan and portrange P)' \
#     | tshark -r - -T fields -e frame.len        -> the count of lines and their sum
@pytest.mark.parametrize(("ports", "packets", "wire_bytes"), [
    ("53", 72, 9095),
    ("443", 106, 61071),
    ("1024-65535", 288, 117131),
])
def test_counts_the_packets_tcpdump_selects(ports, packets, wire_bytes):
    assert count(ports) == {{ cookiecutter.__result_class }}(packets=packets, bytes=wire_bytes)


@pytest.mark.parametrize("ports", ["80", "123", "0-1023", "20000-40000", "0-65535", "9"])
def test_agrees_with_tcpdump_on_any_range(ports):
    """Runs the oracle now (skipped when tcpdump or tshark is missing; a failure under CI)."""
    low, high = parse_ports(ports)
    expression = f"portrange {low}-{high} or (vlan and portrange {low}-{high})"
    lengths = tcpdump_wire_lengths(SAMPLE, expression)
    assert count(ports) == {{ cookiecutter.__result_class }}(packets=len(lengths), bytes=sum(lengths))


def test_passes_every_packet_on():
    """It counts and never drops: a second one behind it sees the same packets."""
    with Flow(str(SAMPLE)) as flow:
        first = flow.apply("{{ cookiecutter.function_name }}", "53")
        second = flow.apply("{{ cookiecutter.function_name }}", "53")
        flow.run()
        assert first.read() == second.read() == {{ cookiecutter.__result_class }}(packets=72, bytes=9095)


@pytest.mark.parametrize(("ports", "reason"), [
    ("http", "is not a port"),
    ("70000", "ports are 0..65535"),
    ("443-80", "low end is above its high end"),
    ("1-2-3", "is not a port"),
])
def test_refuses_bad_ports_naming_the_argument(ports, reason):
    with Flow(str(SAMPLE)) as flow, pytest.raises(MapiError) as raised:
        flow.apply("{{ cookiecutter.function_name }}", ports)
    assert raised.value.code == 7001
    assert "{{ cookiecutter.function_name }}: argument 1 (ports)" in str(raised.value)
    assert reason in str(raised.value)
