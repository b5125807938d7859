"""MAPI's function names ``"[lib:]NAME[!oid]"`` and their resolution by device OID.

Device types form a tree of dotted OIDs (``1`` any device, ``1.1`` DAG, ``1.1.1`` DAG with
DSM, ``1.3`` NIC ...).  A definition applies to a device when its OID is a prefix of the
device's, compared component by component (MAPI cut characters, so ``1.10`` looked like a child
of ``1.1``).  The most specific applicable definition wins; among equals, the first registered.
``!oid`` restricts the search to definitions at or below that OID.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from mapi_core.plugins.types import FunctionDef

_NAME = re.compile(r"(?:(?P<library>[\w.-]+):)?(?P<name>[A-Za-z][A-Za-z0-9_]*)(?:!(?P<oid>\d+(?:\.\d+)*))?")


def oid_parts(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.split("."))


def oid_within(child: str, ancestor: str) -> bool:
    """True when ``child`` is ``ancestor`` or below it in the device-type tree."""
    c, a = oid_parts(child), oid_parts(ancestor)
    return c[: len(a)] == a


@attrs.frozen
class FunctionName:
    """A parsed function reference."""

    name: str
    library: str | None = None
    oid: str | None = None

    @classmethod
    def parse(cls, spec: str) -> FunctionName:
        if not isinstance(spec, str):
            raise ValueError(f"a function name must be a string, not {type(spec).__name__}")
        match = _NAME.fullmatch(spec.strip())
        if match is None:
            raise ValueError(f"{spec!r} is not a function name of the form [lib:]NAME[!oid]")
        return cls(match["name"].upper(), match["library"], match["oid"])


def resolve(definitions: Iterable[FunctionDef], wanted: FunctionName, device_oid: str) -> FunctionDef | None:
    best: FunctionDef | None = None
    for definition in definitions:
        if wanted.name != definition.name and wanted.name not in definition.aliases:
            continue
        if wanted.library is not None and definition.library != wanted.library:
            continue
        if not oid_within(device_oid, definition.device_oid):
            continue
        if wanted.oid is not None and not (
            oid_within(definition.device_oid, wanted.oid) and oid_within(device_oid, wanted.oid)
        ):
            continue
        if best is None or len(oid_parts(definition.device_oid)) > len(oid_parts(best.device_oid)):
            best = definition
    return best
