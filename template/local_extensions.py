"""Jinja filters of the template: literals that stay valid whatever the answers contain."""

from __future__ import annotations

from cookiecutter.utils import simple_filter


@simple_filter
def camel_case(name: str) -> str:
    """PORT_COUNTER -> PortCounter."""
    return "".join(part.capitalize() for part in name.split("_"))


@simple_filter
def py_string(text: str) -> str:
    """A Python string literal holding ``text`` exactly."""
    return repr(text)


@simple_filter
def toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` exactly (quotes, backslashes and controls escaped)."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
