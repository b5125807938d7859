"""STR_SEARCH and REGEXP: payload searches over the captured frame, from its link-layer header.

STR_SEARCH's pattern language (MAPI's, after Snort's ``content``) is parsed here into its
alternatives, which the native code (native/search.c) searches with a vectorised scan or memmem
(one) or an Aho-Corasick automaton (several).  REGEXP hands its pattern to PCRE2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mapi_core.errors import ErrorCode, MapiError
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import Int, String

from mapi_stdlib.native._search import ffi, lib

NATIVE = "mapi_stdlib.native._search"
_ERRBUF = 512
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class PatternError(ValueError):
    """A STR_SEARCH pattern that cannot be parsed; ``code`` is MAPI's error code."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def parse_pattern(pattern: str) -> list[bytes]:
    """The alternatives of a STR_SEARCH pattern, as the bytes to search for.

    * ``|61 62|``: bytes in hexadecimal; spaces inside the pipes are ignored, and the digits must
      pair up into whole bytes.
    * ``\\|`` is a literal pipe and ``\\\\`` a literal backslash; a backslash before any other
      character (or at the end) stands for itself.
    * ``A||B``: A or B.  Empty alternatives are skipped.
    * Other characters stand for their UTF-8 bytes.

    Raises PatternError: 3503 for an unterminated pipe or bad hexadecimal, 3505 when no
    alternative is left (an empty pattern).
    """
    alternatives: list[bytes] = []
    current = bytearray()
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n and pattern[i + 1] in "|\\":
            current += pattern[i + 1].encode()
            i += 2
        elif char == "|" and i + 1 < n and pattern[i + 1] == "|":
            alternatives.append(bytes(current))
            current.clear()
            i += 2
        elif char == "|":
            close = pattern.find("|", i + 1)
            if close < 0:
                raise PatternError(ErrorCode.MDLIB_STRSEARCH_UNTERMINATED_PIPE_ERR,
                                   f"unterminated '|' at character {i} of {pattern!r}")
            current += _hex_bytes(pattern[i + 1:close], i, pattern)
            i = close + 1
        else:
            current += char.encode()
            i += 1
    alternatives.append(bytes(current))
    found = [alternative for alternative in alternatives if alternative]
    if not found:
        raise PatternError(ErrorCode.MDLIB_STRSEARCH_NOT_A_VALID_SEARCH_STRING,
                           f"{pattern!r} has nothing to search for")
    return found


def _hex_bytes(text: str, start: int, pattern: str) -> bytes:
    """The bytes written in hexadecimal between the pipes at ``start`` (spaces ignored)."""
    digits = text.replace(" ", "")
    bad = next((c for c in digits if c not in _HEX_DIGITS), None)
    if bad is not None:
        raise PatternError(ErrorCode.MDLIB_STRSEARCH_UNTERMINATED_PIPE_ERR,
                           f"{bad!r} is not a hexadecimal digit in |{text}| at character {start} of {pattern!r}")
    if len(digits) % 2:
        raise PatternError(ErrorCode.MDLIB_STRSEARCH_UNTERMINATED_PIPE_ERR,
                           f"|{text}| at character {start} of {pattern!r} has an odd number of hexadecimal digits")
    return bytes.fromhex(digits)


class StrSearch:
    """Parses the pattern and checks depth at apply time; builds the searcher at connect."""

    def instance(self, args: Any) -> None:
        try:
            self.alternatives = parse_pattern(args.pattern)
        except PatternError as err:
            raise MapiError(err.code, f"STR_SEARCH: argument 1 (pattern): {err}") from None
        longest = max(self.alternatives, key=len)
        if args.depth and args.depth < len(longest):
            raise MapiError(ErrorCode.MDLIB_STRSEARCH_DEPTH_LESS_THAN_PTRN_ERR, (
                f"STR_SEARCH: argument 3 (depth): {args.depth} is less than the {len(longest)} bytes of "
                f"the alternative {longest!r}"))

    def init(self, args: Any) -> Any:
        lengths = ffi.new("uint32_t[]", [len(a) for a in self.alternatives])
        state = lib.search_str_new(b"".join(self.alternatives), lengths, len(self.alternatives),
                                   args.offset, args.depth)
        if state == ffi.NULL:
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_INIT_FUNCT,
                            f"STR_SEARCH: out of memory building the search for {args.pattern!r}")
        self.state = ffi.gc(state, lib.search_str_free)
        return self.state

    def cleanup(self) -> None:
        state, self.state = getattr(self, "state", None), None
        if state is not None:
            ffi.release(state)


class Regexp:
    """Compiles the pattern at apply time (to report errors) and again at connect."""

    def instance(self, args: Any) -> None:
        lib.search_regexp_free(_compile(args.pattern))

    def init(self, args: Any) -> Any:
        self.state = ffi.gc(_compile(args.pattern), lib.search_regexp_free)
        return self.state

    def cleanup(self) -> None:
        state, self.state = getattr(self, "state", None), None
        if state is not None:
            ffi.release(state)


def _compile(pattern: str) -> Any:
    """PCRE2's compiled pattern (native state); a compile error is 7000 with PCRE2's message."""
    errbuf = ffi.new("char[]", _ERRBUF)
    encoded = pattern.encode()
    state = lib.search_regexp_new(encoded, len(encoded), errbuf, _ERRBUF)
    if state == ffi.NULL:
        reason = ffi.string(errbuf).decode(errors="replace")
        raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT, f"REGEXP: argument 1 (pattern) {pattern!r}: {reason}")
    return state


STR_SEARCH_DESCRIPTION = """\
Passes the packets whose captured bytes contain the pattern. The search covers the captured \
frame from its link-layer header: from byte `offset` (0 = the first byte of the link header), \
at most `depth` bytes (0 = to the end of the capture); a match must lie wholly inside that region. \
Case-sensitive. Pattern syntax (Snort-like): `|61 62|` = bytes in hexadecimal (spaces inside the \
pipes ignored), `\\|` = a literal pipe, `\\\\` = a literal backslash (a backslash before anything \
else stands for itself), `A||B` = A or B (any number of alternatives; empty ones are skipped); \
other characters stand for their UTF-8 bytes. One alternative is searched with an AVX2 scan \
(where the CPU has AVX2; else glibc's memmem), several with an Aho-Corasick automaton built at \
connect (behind an AVX2 scan for candidate positions). No result to read. \
Errors: unterminated pipe or bad hexadecimal 3503; depth (when not 0) less than the length of an \
alternative 3504 (every alternative must fit in depth, as MAPI required of its one pattern); \
nothing to search for (empty pattern, or only empty alternatives) 3505; offset < 0 7002; \
depth < 0 7003. \
Fixed vs MAPI: an alternative longer than a packet's searchable region no longer stops the \
search for the other alternatives (each alternative that fits is tried); no verdict is cached \
per packet number as MAPI did: every STR_SEARCH searches every packet that reaches it with its own \
pattern and region."""

REGEXP_DESCRIPTION = """\
Passes the packets whose captured bytes match a PCRE2 regular expression (8-bit, default \
options: case-sensitive, `.` does not match a newline, no UTF), searched over the whole \
captured frame from its link-layer header; binary-safe (a NUL byte in the packet does not end \
the subject). Compiled at apply time (a compile error is 7000 with PCRE2's message and the \
offset in the pattern) and JIT-compiled where PCRE2 has a JIT for the machine. A packet on which \
PCRE2 hits its match limit counts as not matching. No result to read. \
Differences from MAPI: PCRE2 replaces PCRE1 (no longer maintained), the pattern is \
JIT-compiled, and the match data is allocated once at connect."""


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="STR_SEARCH",
        description=STR_SEARCH_DESCRIPTION,
        implementation=StrSearch,
        arguments=(
            String(name="pattern", allow_empty=True, description="what to search for (Snort-like syntax)"),
            Int(name="offset", minimum=0, default=0, description="first byte searched, from the link header"),
            Int(name="depth", minimum=0, default=0, description="bytes searched from offset; 0 = to the end"),
        ),
        filters=True,
        pure=True,
        process=f"{NATIVE}:search_str_process",
    )
    yield FunctionDef(
        name="REGEXP",
        description=REGEXP_DESCRIPTION,
        implementation=Regexp,
        arguments=(String(name="pattern", description="a PCRE2 regular expression"),),
        filters=True,
        pure=True,
        process=f"{NATIVE}:search_regexp_process",
    )
