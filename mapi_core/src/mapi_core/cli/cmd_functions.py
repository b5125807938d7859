"""``mapi functions``: the functions the installed libraries provide."""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from mapi_core.cli._common import (
    CliError,
    MapiGroup,
    echo_json,
    err,
    load_error_records,
    out,
    print_load_errors,
)
from mapi_core.docs import (
    compare_reference,
    docs_command,
    function_markdown,
    function_record,
    reference_files,
    result_kind,
    write_reference,
)
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.plugins.manager import Registry
from mapi_core.plugins.resolve import FunctionName, oid_within
from mapi_core.plugins.types import FunctionDef
from mapi_core.runtime import default_runtime

#: Where ``mapi functions docs`` writes, relative to the current directory.
DEFAULT_DOCS_FOLDER = Path("docs/functions")


def flags(definition: FunctionDef) -> str:
    names = [flag for flag in ("filters", "modifies") if getattr(definition, flag)]
    return ", ".join(names) or "-"


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


@functions.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the Markdown source instead of rendering it.")
def show_function(name: str, as_json: bool, as_markdown: bool) -> None:
    """Describes every definition of the function NAME ([lib:]NAME[!oid])."""
    if as_json and as_markdown:
        raise click.UsageError("--json and --markdown exclude each other")
    definitions = matching_definitions(default_runtime().registry, name)
    if as_json:
        echo_json([function_record(d) for d in definitions])
        return
    sections = [function_markdown(d) for d in definitions]
    if as_markdown:
        click.echo("\n".join(sections), nl=False)
        return
    from rich.markdown import Markdown  # here, not at the top: it adds ~20 ms to every `mapi` command

    console = out()
    for section in sections:
        console.print(Markdown(section))


def documented_definitions(registry: Registry, libraries: tuple[str, ...]) -> list[FunctionDef]:
    """The definitions of ``libraries`` (all libraries that register functions when empty).

    A named library that is not loaded, failed to load or registers no function is an error."""
    for library in libraries:
        _library_filter(registry, library)
        failure = next((e for e in registry.errors if e.library == library), None)
        if failure is not None:
            raise CliError(f"library {library} failed to load, so it cannot be documented: {failure.error}")
        if not any(f.library == library for f in registry.functions):
            raise CliError(f"library {library} registers no functions")
    wanted = set(libraries)
    return [f for f in registry.functions if not wanted or f.library in wanted]


@functions.command("docs")
@click.option("--output", "-o", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_DOCS_FOLDER, show_default=True, help="The folder of the reference.")
@click.option("--library", "libraries", metavar="NAME", multiple=True,
              help="Document this library (repeatable). Default: every library that registers functions.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit with status 1 if the folder differs from what would be written.")
def docs(folder: Path, libraries: tuple[str, ...], check: bool) -> None:
    """Writes the function reference in Markdown: an index and one page per library."""
    registry = default_runtime().registry
    definitions = documented_definitions(registry, libraries)
    if not libraries:
        print_load_errors(err(), registry.errors)   # their functions are missing from the reference
    files = reference_files(definitions)
    documented = sorted({d.library for d in definitions})
    if check:
        diff = compare_reference(folder, files)
        if diff.clean:
            out().print(f"{folder}: the function reference is up to date ({len(files)} files).")
            return
        lines = [f"{folder}: the function reference is out of date:"]
        lines += [f"  differs: {folder / name}" for name in diff.stale]
        lines += [f"  missing: {folder / name}" for name in diff.missing]
        lines += [f"  extra:   {folder / name}" for name in diff.extra]
        lines.append(f"Regenerate it with: {docs_command(documented, output=str(folder))}")
        raise CliError("\n".join(lines))
    try:
        diff = write_reference(folder, files)
    except OSError as error:
        raise CliError(f"cannot write the function reference to {folder}: {error}") from error
    console = out()
    for label, names in (("created", diff.missing), ("updated", diff.stale), ("removed", diff.extra)):
        for name in names:
            console.print(f"{label} {folder / name}", highlight=False)
    unchanged = len(files) - len(diff.missing) - len(diff.stale)
    console.print(f"{folder}: {len(files)} files for {', '.join(documented)} "
                  f"({len(diff.missing)} created, {len(diff.stale)} updated, {len(diff.extra)} removed, "
                  f"{unchanged} unchanged).")
