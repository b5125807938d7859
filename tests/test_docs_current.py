"""The function reference committed in docs/functions is what the generator writes now for the
standard library, so the documentation never drifts from the registered FunctionDefs."""

from __future__ import annotations

from pathlib import Path

from mapi_core.docs import compare_reference, reference_files

import mapi_core

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "functions"
REGENERATE = ".venv/bin/mapi functions docs --library stdflib --output docs/functions"


def test_committed_function_reference_is_current() -> None:
    definitions = [f for f in mapi_core.default_runtime().registry.functions if f.library == "stdflib"]
    assert definitions, "the standard library registers no functions"
    diff = compare_reference(REFERENCE, reference_files(definitions))
    problems = [f"{kind} {name}" for kind, names in
                (("differs:", diff.stale), ("missing:", diff.missing), ("extra:", diff.extra)) for name in names]
    assert diff.clean, (f"docs/functions is out of date ({'; '.join(problems)}); "
                        f"regenerate it from the repository root with: {REGENERATE}")
