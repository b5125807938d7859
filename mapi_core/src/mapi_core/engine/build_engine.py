"""cffi build script of the engine extension ``mapi_core.engine._engine``.

Run by setuptools through ``cffi_modules`` in ``setup.py``; the C code lives beside it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cffi import FFI

ENGINE_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = ENGINE_DIR.parent / "include"


def _declarations(header: Path) -> str:
    """What cffi's cdef can read of a C header: no preprocessor lines but integer #defines."""
    lines = []
    for line in header.read_text().splitlines():
        if line.startswith("#") and not re.match(r"#define\s+\w+\s+\d+\s*$", line):
            continue
        lines.append(line)
    return "\n".join(lines)


def _abi_declarations() -> str:
    """The region of mapi/abi.h marked for cffi (the packet header and process signature)."""
    text = (INCLUDE_DIR / "mapi" / "abi.h").read_text()
    match = re.search(r"@cdef-begin[^\n]*\n(.*?)/\* @cdef-end \*/", text, re.DOTALL)
    if match is None:
        raise RuntimeError("mapi/abi.h lost its @cdef-begin/@cdef-end markers")
    return "#define MAPI_ABI_VERSION " + re.search(r"#define MAPI_ABI_VERSION (\d+)", text)[1] + "\n" + match[1]


ffibuilder = FFI()
ffibuilder.cdef(
    _abi_declarations()
    + _declarations(ENGINE_DIR / "batch.h")
    + _declarations(ENGINE_DIR / "reader.h")
    + _declarations(ENGINE_DIR / "live.h")
    + (ENGINE_DIR / "engine.h").read_text()
    # The trampoline through which the engine runs a pure-Python process() (the slow path);
    # its state is a cffi handle to the Python function instance.
    + 'extern "Python" int mapi_python_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);\n'
)
ffibuilder.set_source(
    "mapi_core.engine._engine",
    '#include <mapi/abi.h>\n#include "batch.h"\n#include "reader.h"\n#include "live.h"\n#include "engine.h"\n',
    # setuptools refuses absolute source paths
    sources=[os.path.relpath(ENGINE_DIR / name) for name in ("engine.c", "reader.c", "residency.c", "live.c")],
    include_dirs=[str(INCLUDE_DIR), str(ENGINE_DIR)],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    libraries=["pthread", "pcap"],
)
