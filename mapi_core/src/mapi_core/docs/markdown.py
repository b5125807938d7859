"""Plain text into Markdown that shows it as written.

Descriptions in ``FunctionDef``s are plain text in which backticks mark code. These helpers keep
those code spans and escape every other character that CommonMark or GitHub's Markdown would
interpret (emphasis, links, HTML, entities, math, block markers at the start of a line), so a
description such as ``2*value-th ... xoshiro256**`` is not turned into italics.
"""

from __future__ import annotations

import re

# A run of backticks, the shortest content, and a closing run of the same length (CommonMark's rule).
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_ALWAYS_ESCAPED = set("\\*[~$`")
# "<" that could open an HTML tag, comment or autolink ("<=" and "<<" cannot).
_TAG_START = re.compile(r"<[A-Za-z/!?]")
# What opens a block when it starts a line: headings, quotes, list items, setext underlines.
_BLOCK_START = re.compile(r"(?:[#>+=-]|\d{1,9}[.)](?=\s|$))")
_LINE_BREAK = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "cf"}


def _escape_plain(text: str) -> str:
    """Escapes text that holds no code span."""
    out = []
    for i, char in enumerate(text):
        if char in _ALWAYS_ESCAPED:
            out.append("\\" + char)
        elif char == "_":
            # Between two letters or digits an underscore can neither open nor close emphasis.
            inside_word = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
            out.append("_" if inside_word else "\\_")
        elif (char == "&" and _ENTITY.match(text, i)) or (char == "<" and _TAG_START.match(text, i)):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def prose(text: str) -> str:
    """Inline Markdown showing ``text`` as written, its backtick code spans kept as code.

    Newlines are kept, except inside code spans (where Markdown reads them as spaces anyway).
    """
    parts = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        parts.append(_escape_plain(text[position:span.start()]))
        parts.append(span.group(0).replace("\n", " "))
        position = span.end()
    parts.append(_escape_plain(text[position:]))
    return "".join(parts)


def _escape_block_start(line: str) -> str:
    match = _BLOCK_START.match(line)
    if match is None:
        return line
    marker = match.group(0)
    # "1." is escaped as "1\.": a backslash before a digit would be shown.
    escaped = marker[:-1] + "\\" + marker[-1] if marker[0].isdigit() else "\\" + marker
    return escaped + line[match.end():]


def paragraphs(text: str) -> str:
    """Block Markdown for a description: blank lines separate paragraphs, other line breaks are
    kept as soft breaks, and nothing at the start of a line opens a list, heading or code block."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip().replace("\r\n", "\n")):
        lines = [line.strip() for line in prose(block.strip()).split("\n")]
        blocks.append("\n".join(_escape_block_start(line) for line in lines))
    return "\n\n".join(blocks)


def one_line(markdown: str) -> str:
    """Inline Markdown on a single line: each line break becomes a space, as Markdown shows it.

    Other runs of spaces are kept: inside a code span they are shown."""
    return _LINE_BREAK.sub(" ", markdown).strip()


def cell(markdown: str) -> str:
    """Inline Markdown made safe inside a table cell: one line, every ``|`` escaped.

    GitHub's tables (and markdown-it's) take ``\\|`` as a pipe inside the cell, code spans included.
    """
    return one_line(markdown).replace("|", "\\|")


def code(text: str) -> str:
    """A code span showing ``text`` exactly, whatever backticks it holds."""
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = text.startswith("`") or text.endswith("`") or (
        text.startswith(" ") and text.endswith(" ") and text.strip() != "")
    return f"{fence} {text} {fence}" if padded else f"{fence}{text}{fence}"


def first_sentence(text: str) -> str:
    """The first sentence of a description, on one line (all of it when there is no sentence end).

    A sentence ends at ``.``, ``!`` or ``?`` followed by a space or the end, except after an
    abbreviation such as "e.g." and inside parentheses or a code span.
    """
    flat = one_line(text)
    for end in _SENTENCE_END.finditer(flat):
        head = flat[:end.end()]
        last_word = head.split()[-1].lstrip("([\"'").rstrip(".!?").lower()
        if last_word in _ABBREVIATIONS:
            continue
        if head.count("`") % 2 == 0 and head.count("(") == head.count(")"):
            return head
    return flat
