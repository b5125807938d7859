"""Tests of the function reference generated from the registered FunctionDefs (``mapi functions
show``, ``mapi functions docs``), run through click's CliRunner.

Every expected value comes from the FunctionDef itself. The Markdown is read back with
markdown-it-py, a CommonMark parser with GitHub's tables, so a test sees what a reader of the
rendered page sees: the text of each heading, list item, table cell and paragraph, and whether
anything turned into emphasis, a link or HTML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result
from mapi_core.cli import cli, cmd_functions
from mapi_core.plugins import FunctionDef, arguments, hookimpl, results
from mapi_core.plugins.manager import Registry
from mapi_core.runtime import Runtime, default_runtime
from markdown_it import MarkdownIt
from markdown_it.token import Token

PARSER = MarkdownIt("commonmark").enable("table").enable("strikethrough")
PLAIN_INLINE = {"text", "code_inline", "softbreak", "hardbreak"}


def mapi(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="mapi")


def shown(spec: str) -> str:
    result = mapi("functions", "show", "--markdown", spec)
    assert result.exit_code == 0, result.output
    return result.stdout


# ------------------------------------------------------------------------------------------------
# Reading Markdown back


def text_of(inline: Token, code_marks: bool = False) -> str:
    """What a reader sees of an inline token; with ``code_marks``, code spans keep their backticks."""
    parts = []
    for child in inline.children or ():
        if child.type == "text":
            parts.append(child.content)
        elif child.type == "code_inline":
            parts.append(f"{child.markup}{child.content}{child.markup}" if code_marks else child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def markup_of(inline: Token) -> set[str]:
    """The kinds of markup (emphasis, links, HTML...) in an inline token."""
    return {child.type for child in inline.children or () if child.type not in PLAIN_INLINE}


@attrs.frozen
class Block:
    kind: str                                   # heading, item, paragraph, anchor, html or table
    inline: Token | None = None
    level: int = 0
    rows: tuple[tuple[Token, ...], ...] = ()   # tables: the header row, then the body rows

    @property
    def text(self) -> str:
        assert self.inline is not None
        return text_of(self.inline)


def blocks(markdown: str) -> list[Block]:
    tokens = PARSER.parse(markdown)
    found: list[Block] = []
    rows: list[tuple[Token, ...]] = []
    row: list[Token] | None = None
    in_item = 0
    for previous, token in zip([None, *tokens], tokens):
        if token.type == "list_item_open":
            in_item += 1
        elif token.type == "list_item_close":
            in_item -= 1
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            rows.append(tuple(row or ()))
            row = None
        elif token.type == "table_close":
            found.append(Block("table", rows=tuple(rows)))
            rows = []
        elif token.type == "html_block":
            found.append(Block("html", token))
        elif token.type == "inline":
            if previous.type == "heading_open":
                found.append(Block("heading", token, level=int(previous.tag[1:])))
            elif row is not None:
                row.append(token)
            elif all(child.type == "html_inline" for child in token.children or ()):
                found.append(Block("anchor", token))    # <a id="..."></a> before a library page's section
            else:
                found.append(Block("item" if in_item else "paragraph", token))
    return found


def section(found: list[Block], title: str) -> list[Block]:
    """The blocks under the heading ``title``, up to the next heading."""
    start = next(i for i, b in enumerate(found) if b.kind == "heading" and b.text == title)
    end = next((i for i in range(start + 1, len(found)) if found[i].kind == "heading"), len(found))
    return found[start + 1:end]


def items(found: list[Block]) -> dict[str, str]:
    """The list items written as "Label: value"."""
    pairs = (block.text.partition(": ") for block in found if block.kind == "item")
    return {label: value for label, _, value in pairs}


def flat(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------------
# What the FunctionDef says


def expected_items(definition: FunctionDef) -> dict[str, str]:
    result = definition.result
    if result is None:
        result_text = "none"
    else:
        size = f"{result.size} bytes" if result.size else "sized at apply time"
        result_text = f"{result.kind}, {size}" + (f": {flat(result.description)}" if result.description else "")
    flag_names = [name for name in ("filters", "modifies", "resettable", "pure") if getattr(definition, name)]
    return {
        "Qualified name": f"{definition.library}:{definition.name}!{definition.device_oid}",
        "Aliases": ", ".join(definition.aliases) or "none",
        "Library": f"{definition.library} ({definition.distribution} {definition.version})",
        "Device OID": definition.device_oid,
        "MAPI arguments": "".join(a.letter for a in definition.arguments) or "none",
        "Signature": f"{definition.name}({definition.signature})",
        "Result": result_text,
        "Per-packet code": f"native, {definition.process}" if definition.process else "Python (slow path)",
        "Flags": ", ".join(flag_names) or "none",
    }


def expected_rows(definition: FunctionDef) -> list[list[str]]:
    return [[str(position), a.name, a.describe(), a.letter, flat(a.description) or "-",
             repr(a.default) if a.optional else "required"]
            for position, a in enumerate(definition.arguments, start=1)]


def check_function(found: list[Block], definition: FunctionDef, level: int) -> None:
    """``found`` (a function's blocks, from its heading on) shows everything ``definition`` holds."""
    assert (found[0].kind, found[0].level, found[0].text) == ("heading", level, definition.name)
    assert items(section(found, definition.name)) == expected_items(definition)
    [arguments_block] = section(found, "Arguments")
    if definition.arguments:
        assert arguments_block.kind == "table"
        header, *body = arguments_block.rows
        assert [text_of(cell) for cell in header] == ["#", "Name", "Type", "MAPI", "Description", "Default"]
        assert [[text_of(cell, code_marks=i == 4) for i, cell in enumerate(row)] for row in body] == \
            expected_rows(definition)
    else:
        assert arguments_block.text == "None."
    description = [block for block in section(found, "Description") if block.kind != "anchor"]
    assert all(block.kind == "paragraph" and not markup_of(block.inline) - {"code_inline"} for block in description)
    shown_text = " ".join(text_of(block.inline, code_marks=True) for block in description)
    assert flat(shown_text) == flat(definition.description)


def registered() -> list[FunctionDef]:
    return list(default_runtime().registry.functions)


# ------------------------------------------------------------------------------------------------
# mapi functions show


@pytest.mark.parametrize("definition", registered(), ids=lambda d: d.qualified_name)
def test_show_markdown_holds_the_definition(definition: FunctionDef) -> None:
    check_function(blocks(shown(definition.qualified_name)), definition, level=1)


def test_show_renders_the_same_text() -> None:
    [definition] = default_runtime().registry.function("PKT_COUNTER")
    result = mapi("functions", "show", definition.qualified_name)
    assert result.exit_code == 0, result.output
    assert "**" not in result.stdout and "|--" not in result.stdout   # rendered, not Markdown source
    for text in (definition.name, definition.qualified_name, definition.result.description,
                 flat(definition.description)[:40]):
        assert text in result.stdout


def test_show_json_and_markdown_exclude_each_other() -> None:
    result = mapi("functions", "show", "--json", "--markdown", "PKT_COUNTER")
    assert result.exit_code == 2 and "exclude" in result.stderr


class _Choice(arguments.String):
    """An argument type whose name holds a pipe, as THRESHOLD's does."""

    def describe(self) -> str:
        return "str|int"


class _Prototype:
    def process(self, packet: Any, header: Any) -> int:
        return 1


AWKWARD_DESCRIPTION = (
    "First line | with a pipe; the 2*x-th and y**2 packets, <b>not HTML</b>, [not](a link), &amp; "
    "$not math$, snake_case and _not emphasis_, \\ a backslash, `a|b` and `x*y*z` code.\n"
    "- not a list item\n"
    "1. not a numbered item either\n"
    "# not a heading\n"
    "> not a quote\n"
    "\n"
    "    not code (indented)\n"
    "==="
)


def awkward_definition() -> FunctionDef:
    return FunctionDef(
        name="AWKWARD",
        description=AWKWARD_DESCRIPTION,
        implementation=_Prototype,
        arguments=(
            _Choice(name="mode", description="one | two\nthree, *four* [five]"),
            arguments.String(name="pattern", description="`a|b` | c", default="x|y"),
        ),
        result=results.raw(16, "left | right\nsecond line"),
        device_oid="1.3",
        modifies=True,
        aliases=("ODD",),
    )


class _AwkwardLibrary:
    @hookimpl
    def mapi_register_functions(self) -> list[FunctionDef]:
        return [awkward_definition()]


@pytest.fixture
def awkward_registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The installed libraries and "awkwardlib", whose one function has Markdown-like text."""
    registry = Registry.discover()
    assert registry.register_library(_AwkwardLibrary(), "awkwardlib", "awkward-dist", "1.2") is not None
    monkeypatch.setattr(cmd_functions, "default_runtime", lambda: Runtime(registry))
    return registry


def test_text_that_looks_like_markdown_is_shown_as_written(awkward_registry: Registry) -> None:
    [definition] = [f for f in awkward_registry.functions if f.library == "awkwardlib"]
    found = blocks(shown("awkwardlib:AWKWARD"))
    check_function(found, definition, level=1)
    assert not [block for block in found if block.kind in ("html", "anchor")]
    for block in found:
        allowed = {"code_inline", "strong_open", "strong_close"} if block.kind == "item" else {"code_inline"}
        for inline in [block.inline] if block.inline is not None else [c for row in block.rows for c in row]:
            assert markup_of(inline) <= allowed, text_of(inline)


def test_pipes_and_newlines_stay_inside_table_cells(awkward_registry: Registry) -> None:
    markdown = shown("awkwardlib:AWKWARD")
    table_lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + 2    # header, delimiter, one line per argument
    [table] = [block for block in blocks(markdown) if block.kind == "table"]
    assert [len(row) for row in table.rows] == [6, 6, 6]
    mode, pattern = table.rows[1:]
    assert text_of(mode[2]) == "str|int"
    assert text_of(mode[4]) == "one | two three, *four* [five]"
    assert text_of(pattern[4], code_marks=True) == "`a|b` | c"
    assert text_of(pattern[5]) == "'x|y'"


# ------------------------------------------------------------------------------------------------
# mapi functions docs


def generate(folder: Path, *libraries: str, check: bool = False) -> Result:
    args = ["functions", "docs", "--output", str(folder)]
    for library in libraries:
        args += ["--library", library]
    return mapi(*args, *(["--check"] if check else []))


def test_docs_pages_hold_every_function(tmp_path: Path, awkward_registry: Registry) -> None:
    result = generate(tmp_path)
    assert result.exit_code == 0, result.output
    with_functions = sorted({f.library for f in awkward_registry.functions})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["index.md", *(f"{lib}.md" for lib in with_functions)])
    for library in with_functions:
        found = blocks((tmp_path / f"{library}.md").read_text(encoding="utf-8"))
        headings = [i for i, block in enumerate(found) if block.kind == "heading" and block.level == 2]
        definitions = sorted((f for f in awkward_registry.functions if f.library == library),
                             key=lambda f: (f.name, [int(p) for p in f.device_oid.split(".")]))
        assert [found[i].text for i in headings] == [d.name for d in definitions]
        for start, end, definition in zip(headings, [*headings[1:], len(found)], definitions):
            check_function(found[start:end], definition, level=2)


def anchors(page: str) -> dict[str, str]:
    """The explicit anchors of a page (``<a id="...">``) and the heading that follows each."""
    found = {}
    for match in re.finditer(r'^<a id="([^"]+)"></a>\n#+ (.*)$', page, re.MULTILINE):
        found[match.group(1)] = match.group(2)
    return found


def test_docs_index_links_every_function_to_its_section(tmp_path: Path, awkward_registry: Registry) -> None:
    assert generate(tmp_path).exit_code == 0
    index = blocks((tmp_path / "index.md").read_text(encoding="utf-8"))
    libraries_table, functions_table = [block for block in index if block.kind == "table"]
    libraries = {text_of(row[0]): [text_of(cell) for cell in row[1:]] for row in libraries_table.rows[1:]}
    assert libraries["awkwardlib"] == ["awkward-dist", "1.2", "1"]
    stdflib = awkward_registry.library("stdflib")
    assert libraries["stdflib"] == [stdflib.distribution, stdflib.version, str(len(stdflib.functions))]
    rows = functions_table.rows[1:]
    assert sorted((text_of(r[0]), text_of(r[1]), text_of(r[2])) for r in rows) == \
        sorted((f.name, f.library, f.device_oid) for f in awkward_registry.functions)
    for row in rows:
        definition = next(f for f in awkward_registry.functions
                          if (f.name, f.library, f.device_oid) == tuple(text_of(c) for c in row[:3]))
        [link] = [child for child in row[0].children if child.type == "link_open"]
        page, _, anchor = link.attrs["href"].partition("#")
        assert anchors((tmp_path / page).read_text(encoding="utf-8"))[anchor] == definition.name
        summary = text_of(row[3], code_marks=True)
        assert summary and flat(definition.description).startswith(summary)


def test_docs_check_names_what_differs(tmp_path: Path) -> None:
    folder = tmp_path / "functions"
    assert generate(folder, "stdflib").exit_code == 0
    (folder / "notes.md").write_text("# Hand-written notes\n", encoding="utf-8")   # not generated: ignored
    check = generate(folder, "stdflib", check=True)
    assert check.exit_code == 0, check.output

    page = folder / "stdflib.md"
    page.write_text(page.read_text(encoding="utf-8").replace("PKT_COUNTER", "PKT_COUNTR"), encoding="utf-8")
    (folder / "index.md").unlink()
    (folder / "old.md").write_bytes(page.read_bytes())   # a page of a library no longer documented
    check = generate(folder, "stdflib", check=True)
    assert check.exit_code == 1
    lines = check.stderr.splitlines()
    assert f"  differs: {page}" in lines
    assert f"  missing: {folder / 'index.md'}" in lines
    assert f"  extra:   {folder / 'old.md'}" in lines
    assert "notes.md" not in check.stderr
    assert lines[-1] == f"Regenerate it with: mapi functions docs --output {folder} --library stdflib"

    assert generate(folder, "stdflib").exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["index.md", "notes.md", "stdflib.md"]
    assert generate(folder, "stdflib", check=True).exit_code == 0


def test_docs_output_does_not_depend_on_the_folder(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "deeper" / "b"
    assert generate(first, "stdflib").exit_code == 0
    assert generate(second, "stdflib").exit_code == 0
    for name in ("index.md", "stdflib.md"):
        text = (first / name).read_bytes()
        assert text == (second / name).read_bytes()
        assert str(tmp_path).encode() not in text


@pytest.mark.parametrize(("library", "message"), [
    ("core", "registers no functions"),
    ("no-such-library", "no-such-library"),
])
def test_docs_refuses_a_library_without_functions(tmp_path: Path, library: str, message: str) -> None:
    result = generate(tmp_path / "out", library)
    assert result.exit_code == 1
    assert result.stderr.startswith("mapi: ") and message in result.stderr
    assert not (tmp_path / "out").exists()
