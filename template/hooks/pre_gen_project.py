"""Checks the answers before anything is generated; a wrong one stops with a message saying why."""

import re
import sys
from importlib import metadata

LIBRARY_NAME = {{ cookiecutter.library_name | py_string }}
FUNCTION_NAME = {{ cookiecutter.function_name | py_string }}
DESCRIPTION = {{ cookiecutter.description | py_string }}

LIBRARY_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
FUNCTION_PATTERN = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")  # mapi_core.plugins.types.FUNCTION_NAME
MAX_LIBRARY = 40
MAX_FUNCTION = 48
MAX_DESCRIPTION = 200


def library_problems(name: str) -> list[str]:
    if not LIBRARY_PATTERN.fullmatch(name):
        return [f"library_name {name!r} must start with a lowercase letter and hold only lowercase letters, "
                "digits and single '-' or '_' between them (e.g. 'portcount' or 'dns-stats')"]
    problems = []
    if len(name) > MAX_LIBRARY:
        problems.append(f"library_name {name!r} is longer than {MAX_LIBRARY} characters")
    entry_point = name.replace("-", "_")
    for installed in metadata.entry_points(group="mapi"):
        if installed.name.replace("-", "_") == entry_point:
            owner = installed.dist.name if installed.dist else "an installed distribution"
            problems.append(f"library_name {name!r}: {owner} already registers a mapi library named "
                            f"{installed.name!r}; pick another name")
    return problems


def function_problems(name: str) -> list[str]:
    if not FUNCTION_PATTERN.fullmatch(name):
        return [f"function_name {name!r} must be UPPER_SNAKE_CASE: an uppercase letter, then uppercase "
                "letters and digits, words joined by single '_' (e.g. PORT_COUNTER)"]
    if len(name) > MAX_FUNCTION:
        return [f"function_name {name!r} is longer than {MAX_FUNCTION} characters"]
    try:
        from mapi_core.runtime import default_runtime
    except ImportError:
        print(f"note: mapi-core is not installed where cookiecutter runs ({sys.executable}), so {name} was not "
              "checked against the installed functions", file=sys.stderr)
        return []
    taken = default_runtime().registry.function(name)
    return [f"function_name {name!r} is already provided by {', '.join(d.qualified_name for d in taken)} "
            f"({taken[0].distribution}); pick another name"] if taken else []


def description_problems(text: str) -> list[str]:
    if not text.strip():
        return ["description is empty: say in one line what the function does"]
    if len(text) > MAX_DESCRIPTION:
        return [f"description is {len(text)} characters long; keep it to one line of at most {MAX_DESCRIPTION}"]
    if any(ord(char) < 0x20 for char in text):
        return ["description holds a control character (a line break or tab); keep it to one line"]
    return []


def main() -> int:
    problems = library_problems(LIBRARY_NAME) + function_problems(FUNCTION_NAME) + description_problems(DESCRIPTION)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
