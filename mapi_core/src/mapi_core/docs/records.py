"""Everything known about a function definition, as plain values: the one source of the CLI's
JSON output and of the generated reference."""

from __future__ import annotations

from typing import Any

from mapi_core.plugins.arguments import Argument
from mapi_core.plugins.types import FunctionDef

#: How a function without a native ``process`` symbol runs.
PYTHON_PATH = "Python (slow path)"


def _json_value(value: Any) -> Any:
    """``value`` when JSON can hold it as is, else its repr."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def result_kind(definition: FunctionDef) -> str:
    """The kind of the function's result, or ``"none"``."""
    return definition.result.kind if definition.result is not None else "none"


def argument_record(position: int, argument: Argument) -> dict[str, Any]:
    """One argument (``position`` counts from 1), as JSON-ready values."""
    record = {"position": position, "name": argument.name, "type": argument.describe(),
              "letter": argument.letter, "description": argument.description, "optional": argument.optional}
    if argument.optional:
        record["default"] = _json_value(argument.default)
    return record


def function_record(definition: FunctionDef) -> dict[str, Any]:
    """Everything known about a definition, as JSON-ready values."""
    result = definition.result
    return {
        "name": definition.name,
        "qualified_name": definition.qualified_name,
        "aliases": list(definition.aliases),
        "library": definition.library,
        "distribution": definition.distribution,
        "version": definition.version,
        "device_oid": definition.device_oid,
        "argdescr": definition.argdescr,
        "signature": definition.signature,
        "arguments": [argument_record(i, a) for i, a in enumerate(definition.arguments, start=1)],
        "result_kind": result_kind(definition),
        "result": None if result is None else
        {"kind": result.kind, "size": result.size, "description": result.description},
        "native": definition.native,
        "process": definition.process,
        "filters": definition.filters,
        "modifies": definition.modifies,
        "description": definition.description,
    }
