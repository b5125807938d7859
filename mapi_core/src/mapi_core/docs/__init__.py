"""The function reference, generated from the registered ``FunctionDef``s.

``mapi functions show NAME`` prints :func:`function_markdown`; ``mapi functions docs`` writes
:func:`reference_files` to a folder (``docs/functions`` in the repository) or, with ``--check``,
compares the folder with it through :func:`compare_reference`.
"""

from mapi_core.docs.folder import GENERATED_MARKER, ReferenceDiff, compare_reference, write_reference
from mapi_core.docs.records import PYTHON_PATH, argument_record, function_record, result_kind
from mapi_core.docs.render import (
    INDEX_FILE,
    anchor,
    docs_command,
    function_context,
    function_markdown,
    library_file,
    reference_files,
)

__all__ = [
    "GENERATED_MARKER",
    "INDEX_FILE",
    "PYTHON_PATH",
    "ReferenceDiff",
    "anchor",
    "argument_record",
    "compare_reference",
    "docs_command",
    "function_context",
    "function_markdown",
    "function_record",
    "library_file",
    "reference_files",
    "result_kind",
    "write_reference",
]
