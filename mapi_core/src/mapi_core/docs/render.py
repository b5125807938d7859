"""Rendering function definitions into Markdown through the package's jinja2 templates."""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mapi_core.docs import markdown
from mapi_core.docs.records import PYTHON_PATH, function_record
from mapi_core.plugins.types import FunctionDef

if TYPE_CHECKING:
    import jinja2

#: The index page of a generated reference.
INDEX_FILE = "index.md"


@functools.cache
def environment() -> jinja2.Environment:
    """The jinja2 environment of the reference templates, with the Markdown filters."""
    import jinja2  # here, not at the top: it would add ~15 ms to every `mapi` command

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mapi_core.docs", "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(prose=markdown.prose, paragraphs=markdown.paragraphs, one_line=markdown.one_line,
                       cell=markdown.cell, code=markdown.code, first_sentence=markdown.first_sentence)
    return env


def anchor(definition: FunctionDef) -> str:
    """The anchor of a function on its library's page: its name in lower case, followed by its
    device OID unless that is "1" (a library may define one name for several device types)."""
    name = definition.name.lower()
    return name if definition.device_oid == "1" else f"{name}-{definition.device_oid.replace('.', '-')}"


def library_file(library: str) -> str:
    """The file name of a library's page."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", library) + ".md"


def function_context(definition: FunctionDef) -> dict[str, Any]:
    """What the templates know about a definition: its :func:`function_record` and the values
    only the documentation shows (anchor, resettable, flags, defaults as Python literals)."""
    record = function_record(definition)
    record["anchor"] = anchor(definition)
    record["resettable"] = definition.resettable
    record["flags"] = [flag for flag in ("filters", "modifies", "resettable", "pure") if getattr(definition, flag)]
    record["implementation"] = definition.process if definition.native else PYTHON_PATH
    for argument, argument_record in zip(definition.arguments, record["arguments"]):
        argument_record["default_literal"] = repr(argument.default) if argument.optional else None
    return record


def function_markdown(definition: FunctionDef, level: int = 1) -> str:
    """The Markdown section of one function; its heading has ``level`` (1 is ``#``)."""
    template = environment().get_template("function.md.j2")
    return template.render(function=function_context(definition), level=level)


def _order(definition: FunctionDef) -> tuple[Any, ...]:
    return definition.name, tuple(int(part) for part in definition.device_oid.split(".")), definition.library


def docs_command(libraries: Iterable[str], output: str | None = None) -> str:
    """The ``mapi`` command that writes the reference of ``libraries`` (to ``output``, if given)."""
    words = ["mapi", "functions", "docs"]
    if output is not None:
        words += ["--output", output]
    for library in libraries:
        words += ["--library", library]
    return shlex.join(words)


def reference_files(definitions: Iterable[FunctionDef]) -> dict[str, str]:
    """The reference of ``definitions``: relative file name -> Markdown text.

    One page per library (``<library>.md``, its functions sorted by name and device OID) and an
    index (:data:`INDEX_FILE`) of the libraries and of every function. The text depends only on
    the definitions.
    """
    ordered = sorted(definitions, key=_order)
    libraries = sorted({d.library for d in ordered})
    pages: dict[str, str] = {}
    for library in libraries:
        page = library_file(library)
        if page == INDEX_FILE or page in pages.values():
            raise ValueError(f"the page of library {library!r} would be {page}, which another page uses")
        pages[library] = page
    command = docs_command(libraries)
    env = environment()
    files: dict[str, str] = {}
    library_records = []
    for library in libraries:
        members = [d for d in ordered if d.library == library]
        files[pages[library]] = env.get_template("library.md.j2").render(
            library=library, distribution=members[0].distribution, version=members[0].version,
            functions=[function_context(d) for d in members], index=INDEX_FILE, command=command)
        library_records.append({"name": library, "file": pages[library], "distribution": members[0].distribution,
                                "version": members[0].version, "count": len(members)})
    files[INDEX_FILE] = env.get_template("index.md.j2").render(
        libraries=library_records, functions=[dict(function_context(d), file=pages[d.library]) for d in ordered],
        command=command)
    return dict(sorted(files.items()))
