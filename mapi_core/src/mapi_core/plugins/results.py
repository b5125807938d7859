"""Result specifications: how many bytes of result memory a function needs and how to read them.

The engine writes results in host byte order into the flow's result memory; readers take a
consistent snapshot of those bytes and the spec decodes them into a typed Python value.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import attrs


@attrs.frozen
class ResultSpec:
    """``size`` bytes (0: the function's ``instance`` hook decides), decoded by ``decode``."""

    kind: str
    size: int
    decode: Callable[[bytes], Any] = attrs.field(eq=False, repr=False)
    description: str = ""


def _unpack(fmt: str) -> Callable[[bytes], Any]:
    layout = struct.Struct("=" + fmt)
    return lambda raw: layout.unpack_from(raw)[0]


U64 = ResultSpec("u64", 8, _unpack("Q"), "an unsigned 64-bit counter")
I32 = ResultSpec("int", 4, _unpack("i"), "a 32-bit integer")
U32 = ResultSpec("u32", 4, _unpack("I"), "an unsigned 32-bit integer")
TIMESTAMP = ResultSpec("ts", 8, _unpack("Q"), "a 32.32 timestamp")


def raw(size: int, description: str = "") -> ResultSpec:
    """A result returned as bytes (``size`` 0: sized by the function at apply time)."""
    return ResultSpec("bytes", size, bytes, description)
