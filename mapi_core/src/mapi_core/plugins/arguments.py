"""Typed function arguments, from which MAPI's ``argdescr`` letters are derived.

Each argument type knows its MAPI letter and converts a user's value into what the function's
lifecycle hooks receive, raising :class:`ArgumentError` with a reason when the value is wrong.
The caller turns that into a :class:`~mapi_core.errors.MapiError` with MAPI's positional code
(7001 for the first argument ... 7011 for the sixth) and a message naming function and argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from mapi_core import timestamps

_NO_DEFAULT = object()

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT64_MAX = 2**64 - 1


class ArgumentError(ValueError):
    """A value that an argument type refuses; the message says why."""


def _check_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"expected an integer, got {type(value).__name__} {value!r}")
    return value


@attrs.frozen(kw_only=True)
class Argument:
    """Base of argument types: a name, a description and an optional default.

    An argument with a default may be left out; only trailing arguments may have one.
    """

    letter: ClassVar[str] = "?"
    name: str
    description: str = ""
    default: Any = _NO_DEFAULT

    @property
    def optional(self) -> bool:
        return self.default is not _NO_DEFAULT

    def convert(self, value: Any, resolver: ReferenceResolver) -> Any:
        """Returns the value the hooks receive, or raises ArgumentError."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human-readable form of the type, for listings."""
        return type(self).__name__.lower()


@attrs.frozen(kw_only=True)
class Int(Argument):
    """A 32-bit signed integer (``i``), optionally bounded, optionally with named values."""

    letter: ClassVar[str] = "i"
    minimum: int = INT32_MIN
    maximum: int = INT32_MAX
    choices: Mapping[str, int] | None = None

    def convert(self, value: Any, resolver: ReferenceResolver) -> int:
        if self.choices is not None and isinstance(value, str):
            try:
                return self.choices[value]
            except KeyError:
                raise ArgumentError(f"{value!r} is not one of {', '.join(self.choices)}") from None
        number = _check_int(value)
        if self.choices is not None and number not in self.choices.values():
            names = ", ".join(f"{k}={v}" for k, v in self.choices.items())
            raise ArgumentError(f"{number} is not one of {names}")
        if not self.minimum <= number <= self.maximum:
            raise ArgumentError(f"{number} is outside {self.minimum}..{self.maximum}")
        return number

    def describe(self) -> str:
        if self.choices:
            return "int{" + ",".join(self.choices) + "}"
        if (self.minimum, self.maximum) != (INT32_MIN, INT32_MAX):
            return f"int[{self.minimum}..{self.maximum}]"
        return "int"


@attrs.frozen(kw_only=True)
class UInt64(Argument):
    """An unsigned 64-bit integer (``l``)."""

    letter: ClassVar[str] = "l"
    minimum: int = 0
    maximum: int = UINT64_MAX

    def convert(self, value: Any, resolver: ReferenceResolver) -> int:
        number = _check_int(value)
        if not self.minimum <= number <= self.maximum:
            raise ArgumentError(f"{number} is outside {self.minimum}..{self.maximum}")
        return number

    def describe(self) -> str:
        return "u64"


@attrs.frozen(kw_only=True)
class Char(Argument):
    """A single byte (``c``): a one-character string or an integer 0..255."""

    letter: ClassVar[str] = "c"

    def convert(self, value: Any, resolver: ReferenceResolver) -> int:
        if isinstance(value, (str, bytes)) and len(value) == 1:
            return ord(value)
        number = _check_int(value)
        if not 0 <= number <= 255:
            raise ArgumentError(f"{number} is not a byte (0..255)")
        return number


@attrs.frozen(kw_only=True)
class String(Argument):
    """A string (``s``); empty strings are refused unless ``allow_empty``."""

    letter: ClassVar[str] = "s"
    allow_empty: bool = False
    max_length: int = 65536

    def convert(self, value: Any, resolver: ReferenceResolver) -> str:
        if not isinstance(value, str):
            raise ArgumentError(f"expected a string, got {type(value).__name__} {value!r}")
        if not value and not self.allow_empty:
            raise ArgumentError("must not be empty")
        if len(value) > self.max_length:
            raise ArgumentError(f"is {len(value)} characters long, at most {self.max_length} are allowed")
        if "\0" in value:
            raise ArgumentError("contains a NUL character")
        return value

    def describe(self) -> str:
        return "str"


@attrs.frozen(kw_only=True)
class Time(Argument):
    """A time string (``s`` in MAPI): ``"10s"``, ``"+1.5ms"``; converted to a TimeSpec."""

    letter: ClassVar[str] = "s"

    def convert(self, value: Any, resolver: ReferenceResolver) -> timestamps.TimeSpec:
        if not isinstance(value, str):
            raise ArgumentError(f"expected a time string such as '10s', got {type(value).__name__} {value!r}")
        try:
            return timestamps.parse_time(value)
        except ValueError as err:
            raise ArgumentError(str(err)) from None

    def describe(self) -> str:
        return "time"


@attrs.frozen(kw_only=True)
class FlowRef(Argument):
    """A reference to a flow (``r``): its descriptor or a Flow object."""

    letter: ClassVar[str] = "r"

    def convert(self, value: Any, resolver: ReferenceResolver) -> Any:
        return resolver.flow(value)

    def describe(self) -> str:
        return "flow"


@attrs.frozen(kw_only=True)
class FunctionRef(Argument):
    """A reference to a function (``f``) of the flow named by the preceding FlowRef."""

    letter: ClassVar[str] = "f"

    def convert(self, value: Any, resolver: ReferenceResolver) -> Any:
        return resolver.function(value)

    def describe(self) -> str:
        return "function"


@attrs.frozen(kw_only=True)
class FunctionRefList(Argument):
    """A list of function references (``S``): MAPI's ``"fid@fd,fid@fd,..."`` string, or a
    sequence of function handles or (fd, fid) pairs.  Converted to a tuple of functions."""

    letter: ClassVar[str] = "S"

    def convert(self, value: Any, resolver: ReferenceResolver) -> tuple[Any, ...]:
        if isinstance(value, str):
            pairs = []
            for item in value.split(","):
                fid, at, fd = item.strip().partition("@")
                if not at or not fid.strip().isdigit() or not fd.strip().isdigit():
                    raise ArgumentError(f"{item.strip()!r} is not 'fid@fd' (in {value!r})")
                pairs.append((int(fd), int(fid)))
        elif isinstance(value, (list, tuple)):
            pairs = [(getattr(item, "fd", None), getattr(item, "fid", None)) if hasattr(item, "fid") else item
                     for item in value]
        else:
            raise ArgumentError(f"expected 'fid@fd,fid@fd,...' or a list of function handles, got {value!r}")
        if not pairs:
            raise ArgumentError("names no function")
        functions = []
        for pair in pairs:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ArgumentError(f"{pair!r} is neither a function handle nor an (fd, fid) pair")
            resolver.flow(pair[0])
            functions.append(resolver.function(pair[1]))
        return tuple(functions)

    def describe(self) -> str:
        return "functions"


@attrs.frozen(kw_only=True)
class OutputFile(Argument):
    """A file for writing (``w``): a path, created or truncated with mode 0600 at apply time."""

    letter: ClassVar[str] = "w"

    def convert(self, value: Any, resolver: ReferenceResolver) -> Any:
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise ArgumentError(f"expected a file name, got {value!r}")
        try:
            fd = os.open(value, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as err:
            raise ArgumentError(f"cannot open {os.fspath(value)!r} for writing: {err.strerror}") from None
        return os.fdopen(fd, "wb")

    def describe(self) -> str:
        return "file"


class ReferenceResolver:
    """Resolves flow and function references while arguments are converted.

    The runtime provides one per apply; a FunctionRef is resolved within the flow that the
    FlowRef just before it named.
    """

    def flow(self, value: Any) -> Any:  # pragma: no cover - interface
        raise ArgumentError("flow references are not available here")

    def function(self, value: Any) -> Any:  # pragma: no cover - interface
        raise ArgumentError("function references are not available here")


def argdescr(arguments: tuple[Argument, ...]) -> str:
    """MAPI's argument descriptor string, e.g. ``"sii"``."""
    return "".join(argument.letter for argument in arguments)


def signature(arguments: tuple[Argument, ...]) -> str:
    """A readable signature, e.g. ``"pattern: str, offset: int = 0"``."""
    parts = []
    for argument in arguments:
        text = f"{argument.name}: {argument.describe()}"
        if argument.optional:
            text += f" = {argument.default!r}"
        parts.append(text)
    return ", ".join(parts)
