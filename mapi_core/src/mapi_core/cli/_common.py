"""What every ``mapi`` command shares: consoles, error reporting and JSON output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mapi_core.errors import MapiError
from mapi_core.plugins.types import LoadError


class CliError(click.ClickException):
    """An error the user should read: printed as ``mapi: <message>``, exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"mapi: {self.format_message()}", err=True)


class MapiGroup(click.Group):
    """A command group that reports MapiError as ``mapi: <message>`` instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MapiError as err:
            raise CliError(str(err)) from err


#: Width of tables written to a file or pipe (rich would use 80 columns) unless COLUMNS says otherwise.
PIPE_WIDTH = 120


def out() -> Console:
    """A console on standard output (resolved at print time, so test runners can capture it)."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def err() -> Console:
    """A console on standard error, for progress and warnings."""
    return Console(stderr=True, highlight=False)


def echo_json(data: Any) -> None:
    """Prints ``data`` as indented JSON; values JSON cannot hold are printed with repr."""
    click.echo(json.dumps(data, indent=2, default=repr, ensure_ascii=False))


def load_error_records(errors: Iterable[LoadError]) -> list[dict[str, str]]:
    return [{"library": e.library, "distribution": e.distribution, "version": e.version, "error": e.error}
            for e in errors]


def print_load_errors(console: Console, errors: list[LoadError]) -> None:
    """The libraries that failed to load, as a red table (nothing when there are none)."""
    if not errors:
        return
    table = Table(title="Libraries that failed to load", style="red", title_style="bold red",
                  header_style="bold red")
    table.add_column("Library", style="red", no_wrap=True)
    table.add_column("Distribution", style="red")
    table.add_column("Error", style="red", overflow="fold")
    for error in errors:
        table.add_row(error.library, f"{error.distribution} {error.version}", error.error)
    console.print(table)
