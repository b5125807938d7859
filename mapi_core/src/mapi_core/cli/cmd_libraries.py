"""``mapi libraries``: the installed function libraries."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from mapi_core.cli._common import MapiGroup, echo_json, load_error_records, out, print_load_errors
from mapi_core.plugins.types import LibraryInfo
from mapi_core.runtime import default_runtime


def library_record(library: LibraryInfo) -> dict[str, Any]:
    return {"name": library.name, "distribution": library.distribution, "version": library.version,
            "module": library.module, "functions": list(library.functions), "devices": list(library.devices)}


def libraries_table(libraries: list[LibraryInfo]) -> Table:
    table = Table(title="mapi libraries", title_justify="left")
    table.add_column("Name", style="bold cyan", no_wrap=True)
    table.add_column("Distribution", no_wrap=True)
    table.add_column("Version", no_wrap=True)
    table.add_column("Module", overflow="fold")
    table.add_column("Functions", justify="right")
    table.add_column("Devices", justify="right")
    for library in libraries:
        table.add_row(library.name, library.distribution, library.version, library.module,
                      str(len(library.functions)), str(len(library.devices)))
    return table


@click.group(cls=MapiGroup)
def libraries() -> None:
    """The function libraries found through the ``mapi`` entry points."""


@libraries.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_libraries(as_json: bool) -> None:
    """Lists the loaded libraries and those that failed to load."""
    registry = default_runtime().registry
    if as_json:
        echo_json({"libraries": [library_record(lib) for lib in registry.libraries],
                   "load_errors": load_error_records(registry.errors)})
        return
    console = out()
    if registry.libraries:
        console.print(libraries_table(registry.libraries))
    else:
        console.print("No libraries are installed.")
    print_load_errors(console, registry.errors)
