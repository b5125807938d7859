"""{{ cookiecutter.function_name }}: the Python side of the function (definition, arguments, lifecycle, result).

The per-packet work is ``{{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }}_process`` in native/functions.c.  Everything
here runs at apply, connect, read and close time, never per packet.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from typing import Any

from mapi_core.errors import invalid_argument
from mapi_core.native import extension
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import String
from mapi_core.plugins.results import ResultSpec

NATIVE = "{{ cookiecutter.__package }}.native._functions"
DESCRIPTION = {{ cookiecutter.description | py_string }}

_RESULT = struct.Struct("=QQ")   # host order, standard sizes: as C writes it


@dataclasses.dataclass(frozen=True)
class {{ cookiecutter.__result_class }}:
    """What a read of {{ cookiecutter.function_name }} returns."""

    packets: int
    bytes: int

    @classmethod
    def decode(cls, raw: bytes) -> {{ cookiecutter.__result_class }}:
        return cls(*_RESULT.unpack_from(raw))


RESULT = ResultSpec("{{ cookiecutter.__function_lower }}", _RESULT.size, {{ cookiecutter.__result_class }}.decode,
                    "packets and wire bytes with a port in the range")


def parse_ports(text: str) -> tuple[int, int]:
    """``"53"`` -> (53, 53); ``"1024-65535"`` -> (1024, 65535).  Raises ValueError saying what is wrong."""
    low, dash, high = text.strip().partition("-")
    try:
        ports = (int(low), int(high) if dash else int(low))
    except ValueError:
        raise ValueError(f"{text!r} is not a port (N) or a port range (LOW-HIGH)") from None
    if not all(0 <= port <= 65535 for port in ports):
        raise ValueError(f"{text!r}: ports are 0..65535")
    if ports[0] > ports[1]:
        raise ValueError(f"{text!r}: the range's low end is above its high end")
    return ports


class {{ cookiecutter.function_name | camel_case }}:
    """One applied {{ cookiecutter.function_name }}, from apply to close (hooks of mapi_core.plugins.hookspecs.LifecycleSpecs)."""

    def instance(self, args: Any) -> None:
        """Apply time: check the arguments beyond their declared types; take no resources yet."""
        try:
            self.ports = parse_ports(args.ports)
        except ValueError as err:
            raise invalid_argument("{{ cookiecutter.function_name }}", 1, "ports", str(err)) from None

    def init(self, result: Any) -> Any:
        """Connect time: the native state, pointing at this function's (zeroed) result memory."""
        native = extension(NATIVE)     # loads when a flow first connects, refused if built for another ABI
        self.state = native.ffi.new("struct {{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }} *")   # owned here until cleanup
        self.state.low, self.state.high = self.ports
        self.state.result = native.ffi.cast("struct {{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }}_result *", result.address)
        return self.state

    def cleanup(self) -> None:
        """Close time, after the flow has left its device: process() will not run again."""
        self.state = None


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="{{ cookiecutter.function_name }}",
        description=DESCRIPTION,
        implementation={{ cookiecutter.function_name | camel_case }},
        arguments=(
            String(name="ports", description="a port (N) or a range (LOW-HIGH), matched against the TCP, UDP or "
                                             "SCTP source and destination port, like tcpdump's portrange"),
        ),
        result=RESULT,
        resettable=True,           # zeroed result memory is the initial state
        process=f"{NATIVE}:{{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }}_process",
    )
