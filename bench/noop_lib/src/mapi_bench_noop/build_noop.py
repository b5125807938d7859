"""cffi build script of ``mapi_bench_noop._noop`` (run by setuptools via ``cffi_modules``)."""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent


def mapi_core_include() -> str:
    """Where ``mapi/abi.h`` is: ``mapi_core.get_include()``, else ``$MAPI_CORE_INCLUDE``, else
    the mapi-core source tree of this repository (bench/noop_lib lives two levels below it)."""
    try:
        import mapi_core

        return mapi_core.get_include()
    except (ImportError, AttributeError):
        pass
    configured = os.environ.get("MAPI_CORE_INCLUDE")
    if configured:
        return configured
    for parent in HERE.parents:
        tree = parent / "mapi_core" / "src" / "mapi_core" / "include"
        if (tree / "mapi" / "abi.h").is_file():
            return str(tree)
    raise RuntimeError(
        "mapi/abi.h not found: build with mapi-core installed (--no-build-isolation) or set MAPI_CORE_INCLUDE"
    )


ffibuilder = FFI()
ffibuilder.cdef(
    "int mapi_abi_version(void);\n"
    "typedef struct mapi_pkthdr mapi_pkthdr_t;\n"
    "int noop_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);\n"
)
ffibuilder.set_source(
    "mapi_bench_noop._noop",
    "#include <mapi/abi.h>\nint noop_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);\n",
    sources=[os.path.relpath(HERE / "noop.c")],  # setuptools refuses absolute paths
    include_dirs=[mapi_core_include()],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(HERE.parent), verbose=True)
