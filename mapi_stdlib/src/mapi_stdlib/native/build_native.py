"""cffi build script of ``mapi_stdlib.native._stdlib`` (run by setuptools via ``cffi_modules``)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent


def mapi_core_include() -> str:
    """The directory of mapi-core's ``mapi/abi.h``, looked for in this order:

    1. ``$MAPI_CORE_INCLUDE``;
    2. a ``mapi_core`` importable by this build (``--no-build-isolation``);
    3. a mapi-core source tree beside this library (the repository's workspace);
    4. the ``mapi_core`` of the environment pip installs into: pip's isolated build runs the
       same interpreter, so asking it with ``-E`` (no PYTHONPATH, no isolation) finds it.
    """
    configured = os.environ.get("MAPI_CORE_INCLUDE")
    if configured:
        return configured
    spec = importlib.util.find_spec("mapi_core")
    if spec is not None and spec.submodule_search_locations:
        return str(Path(spec.submodule_search_locations[0]) / "include")
    for parent in HERE.parents:
        workspace = parent / "mapi_core" / "src" / "mapi_core" / "include"
        if (workspace / "mapi" / "abi.h").is_file():
            return str(workspace)
    probe = ("import importlib.util as u; s = u.find_spec('mapi_core'); "
             "print(s.submodule_search_locations[0] if s else '')")
    found = subprocess.run([sys.executable, "-E", "-c", probe], capture_output=True, text=True).stdout.strip()
    if found:
        return str(Path(found) / "include")
    raise RuntimeError("mapi-core's headers were not found: install mapi-core first, or set MAPI_CORE_INCLUDE "
                       "to the directory that holds mapi/abi.h")


INCLUDE = mapi_core_include()

#: The library's cffi extensions, one per family of functions: module -> (C sources, libraries).
#: Each module's declarations are in the .h file named like its first source.
EXTENSIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "_stdlib": (("functions.c", "bpf_vm.c"), ("pcap",)),   # PKT_COUNTER, BYTE_COUNTER, BPF_FILTER
    "_search": (("search.c",), ("pcre2-8",)),        # STR_SEARCH, REGEXP
    "_sampling": (("sampling.c",), ()),              # SAMPLE, HASHSAMP, STARTSTOP, SYNC, THRESHOLD
    "_values": (("values.c",), ()),                  # PKT_INFO, PROTINFO, GAP, HASH, BINOP
    "_stats": (("stats.c",), ("m",)),                # STAT, DIST, BUCKET, BURST, TOP
    "_res2file": (("res2file.c",), ()),              # RES2FILE
    "_cooking": (("cooking.c",), ()),                # COOKING
    "_output": (("output.c",), ()),                  # TO_FILE
    "_buffer": (("buffer.c",), ()),                  # TO_BUFFER
}


def builder(module: str) -> FFI:
    """The cffi builder of ``mapi_stdlib.native.<module>``."""
    sources, libraries = EXTENSIONS[module]
    header = Path(sources[0]).with_suffix(".h").name
    ffi = FFI()
    ffi.cdef(_abi_declarations() + (HERE / header).read_text())
    ffi.set_source(
        f"mapi_stdlib.native.{module}",
        f'#include <mapi/abi.h>\n#include "{header}"\n',
        sources=[os.path.relpath(HERE / source) for source in sources],  # setuptools refuses absolute paths
        include_dirs=[INCLUDE, str(HERE)],
        libraries=list(libraries),
        extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    )
    return ffi


def _abi_declarations() -> str:
    """The types of mapi/abi.h that the extensions' declarations use (the @cdef region)."""
    text = (Path(INCLUDE) / "mapi" / "abi.h").read_text()
    match = re.search(r"@cdef-begin[^\n]*\n(.*?)/\* @cdef-end \*/", text, re.S)
    if match is None:
        raise RuntimeError(f"{INCLUDE}/mapi/abi.h lost its @cdef-begin/@cdef-end markers")
    return match[1]


# setup.py names these (cffi_modules = ["...build_native.py:stdlib_ffi", ...]).
for _module in EXTENSIONS:
    globals()[f"{_module.lstrip('_')}_ffi"] = builder(_module)


if __name__ == "__main__":
    # Development: rebuild some extensions in place, e.g. `python build_native.py _search`
    # (an editable install imports them from src/).
    os.chdir(HERE.parents[1])   # cffi compiles inside tmpdir; sources are relative to it
    for _module in sys.argv[1:] or EXTENSIONS:
        # the name an editable install uses, so the two never shadow each other
        builder(_module).compile(tmpdir=".", target=f"{_module}.abi3.so", verbose=False)
        print(f"built mapi_stdlib.native.{_module}")
