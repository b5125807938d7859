"""A folder that holds a generated reference: comparing it with what the generator produces, and
bringing it up to date.

Only Markdown files that carry :data:`GENERATED_MARKER` count as generated, so a hand-written
file in the same folder is neither reported nor removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

#: The start of the first line of every generated page (see the templates).
GENERATED_MARKER = "<!-- Generated from the registered function definitions by "


@attrs.frozen
class ReferenceDiff:
    """How a folder differs from a reference: file names, sorted."""

    stale: tuple[str, ...] = ()
    """Files whose text differs."""
    missing: tuple[str, ...] = ()
    """Files the reference has and the folder has not."""
    extra: tuple[str, ...] = ()
    """Generated files in the folder that the reference no longer has."""

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None


def _generated_files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {path.name for path in folder.glob("*.md")
            if path.is_file() and (_read(path) or "").startswith(GENERATED_MARKER)}


def compare_reference(folder: Path, files: Mapping[str, str]) -> ReferenceDiff:
    """How ``folder`` differs from ``files`` (file name -> text), byte for byte."""
    stale, missing = [], []
    for name, text in files.items():
        current = _read(folder / name)
        if current is None:
            missing.append(name)
        elif current != text:
            stale.append(name)
    extra = _generated_files(folder) - set(files)
    return ReferenceDiff(tuple(sorted(stale)), tuple(sorted(missing)), tuple(sorted(extra)))


def write_reference(folder: Path, files: Mapping[str, str]) -> ReferenceDiff:
    """Brings ``folder`` up to date with ``files``: writes the stale and missing files, removes the
    extra ones, and leaves the others untouched. Returns what it changed."""
    diff = compare_reference(folder, files)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*diff.stale, *diff.missing):
        (folder / name).write_bytes(files[name].encode("utf-8"))
    for name in diff.extra:
        (folder / name).unlink()
    return diff
