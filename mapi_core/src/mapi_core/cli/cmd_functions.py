"""``mapi functions``: the functions the installed libraries provide."""

from __future__ import annotations

from typing import Any

import click
from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mapi_core.cli._common import MapiGroup, echo_json, json_safe, load_error_records, out, print_load_errors
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.plugins.arguments import Argument
from mapi_core.plugins.manager import Registry
from mapi_core.plugins.resolve import FunctionName, oid_within
from mapi_core.plugins.types import FunctionDef
from mapi_core.runtime import default_runtime

PYTHON_PATH = "Python (slow path)"


def result_kind(definition: FunctionDef) -> str:
    return definition.result.kind if definition.result is not None else "none"


def flags(definition: FunctionDef) -> str:
    names = [flag for flag in ("filters", "modifies") if getattr(definition, flag)]
    return ", ".join(names) or "-"


def argument_record(position: int, argument: Argument) -> dict[str, Any]:
    record = {"position": position, "name": argument.name, "type": argument.describe(),
              "letter": argument.letter, "description": argument.description, "optional": argument.optional}
    if argument.optional:
        record["default"] = json_safe(argument.default)
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


def functions_table(definitions: list[FunctionDef]) -> Table:
    table = Table(title="mapi functions", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("Name", style="bold cyan", no_wrap=True)
    table.add_column("Library", overflow="fold")
    table.add_column("OID", no_wrap=True)
    table.add_column("Args", no_wrap=True)
    table.add_column("Signature", overflow="fold", ratio=1)
    table.add_column("Result", no_wrap=True)
    table.add_column("Impl", no_wrap=True)
    table.add_column("Flags", no_wrap=True)
    for d in definitions:
        library = Text(d.library)
        library.append(f"\n{d.distribution} {d.version}", style="dim")
        table.add_row(d.name, library, d.device_oid, d.argdescr or "-", Text(d.signature or "-"), result_kind(d),
                      "native" if d.native else "Python", flags(d))
    return table


def _library_filter(registry: Registry, library: str | None) -> None:
    if library is not None and registry.library(library) is None and \
            not any(e.library == library for e in registry.errors):
        loaded = ", ".join(lib.name for lib in registry.libraries) or "none"
        raise MapiError(ErrorCode.MAPI_LIBRARY_INFO_ERR, f"no library named {library!r} (loaded: {loaded})")


@click.group(cls=MapiGroup)
def functions() -> None:
    """The functions that can be applied to flows."""


@functions.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--library", metavar="NAME", help="Only the functions of this library.")
def list_functions(as_json: bool, library: str | None) -> None:
    """Lists every function of the installed libraries, and the libraries that failed to load."""
    registry = default_runtime().registry
    _library_filter(registry, library)
    definitions = [f for f in registry.functions if library is None or f.library == library]
    errors = [e for e in registry.errors if library is None or e.library == library]
    if as_json:
        echo_json({"functions": [function_record(d) for d in definitions],
                   "load_errors": load_error_records(errors)})
        return
    console = out()
    if definitions:
        console.print(functions_table(definitions))
    else:
        console.print("No functions are installed.")
    print_load_errors(console, errors)


def matching_definitions(registry: Registry, spec: str) -> list[FunctionDef]:
    """The definitions ``[lib:]NAME[!oid]`` names; raises MapiError 6144 when there is none."""
    try:
        wanted = FunctionName.parse(spec)
    except ValueError as err:
        raise MapiError(ErrorCode.MAPI_FUNCTION_NOT_FOUND, str(err)) from None
    named = registry.function(wanted.name)
    found = [d for d in named
             if (wanted.library is None or d.library == wanted.library)
             and (wanted.oid is None or oid_within(d.device_oid, wanted.oid))]
    if found:
        return found
    if not named:
        loaded = ", ".join(lib.name for lib in registry.libraries) or "none"
        detail = f"no library provides a function {wanted.name} (loaded libraries: {loaded})"
    else:
        there = ", ".join(d.qualified_name for d in named)
        detail = f"{spec} matches no definition (there is {there})"
    raise MapiError(ErrorCode.MAPI_FUNCTION_NOT_FOUND, detail)


def arguments_table(definition: FunctionDef) -> Table:
    table = Table(title="Arguments", title_justify="left", expand=False)
    for column in ("#", "Name", "Type", "MAPI", "Description", "Default"):
        table.add_column(column, overflow="fold")
    for position, argument in enumerate(definition.arguments, start=1):
        default = repr(argument.default) if argument.optional else "(required)"
        table.add_row(str(position), argument.name, Text(argument.describe()), argument.letter,
                      Text(argument.description or "-"), Text(default))
    return table


def details_grid(definition: FunctionDef) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    result = definition.result
    rows = [
        ("Description", definition.description),
        ("Library", f"{definition.library} ({definition.distribution} {definition.version})"),
        ("Device OID", definition.device_oid),
        ("Aliases", ", ".join(definition.aliases) or "-"),
        ("Signature", f"{definition.argdescr or '-'}  ({definition.signature or 'no arguments'})"),
        ("Result", "none" if result is None else
         f"{result.kind}, {f'{result.size} bytes' if result.size else 'sized at apply time'}: "
         f"{result.description or '-'}"),
        ("Implementation", definition.process if definition.native else PYTHON_PATH),
        ("Python class", f"{definition.implementation.__module__}.{definition.implementation.__qualname__}"),
        ("Flags", flags(definition)),
    ]
    for key, value in rows:
        grid.add_row(key, Text(value))   # plain text: descriptions hold brackets rich would eat
    return grid


def definition_panel(definition: FunctionDef) -> Panel:
    parts: list[Any] = [details_grid(definition)]
    if definition.arguments:
        parts.append(arguments_table(definition))
    return Panel(Group(*parts), title=definition.qualified_name, title_align="left", expand=False)


@functions.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def show_function(name: str, as_json: bool) -> None:
    """Describes every definition of the function NAME ([lib:]NAME[!oid])."""
    definitions = matching_definitions(default_runtime().registry, name)
    if as_json:
        echo_json([function_record(d) for d in definitions])
        return
    console = out()
    for definition in definitions:
        console.print(definition_panel(definition))
