"""cffi build script of ``{{ cookiecutter.__package }}.native._functions`` (setup.py runs it).

To rebuild in place while developing: ``python src/{{ cookiecutter.__package }}/native/build_native.py``
(or ``pip install -e .`` again).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
MODULE = "{{ cookiecutter.__package }}.native._functions"


def mapi_core_include() -> str:
    """The folder holding mapi-core's ``mapi/abi.h``.

    mapi-core cannot be a build requirement (it is on no package index), so it is looked for:
    in ``$MAPI_CORE_INCLUDE``; in this build's own environment (``--no-build-isolation``); and in
    the environment pip installs into, which pip's isolated build shares the interpreter of
    (``python -E`` ignores the isolation's ``PYTHONPATH``).
    """
    configured = os.environ.get("MAPI_CORE_INCLUDE")
    if configured:
        return configured
    spec = importlib.util.find_spec("mapi_core")
    if spec is not None and spec.submodule_search_locations:
        return str(Path(spec.submodule_search_locations[0]) / "include")
    probe = ("import importlib.util as u; s = u.find_spec('mapi_core'); "
             "print(s.submodule_search_locations[0] if s else '')")
    found = subprocess.run([sys.executable, "-E", "-c", probe], capture_output=True, text=True).stdout.strip()
    if found:
        return str(Path(found) / "include")
    raise RuntimeError("mapi-core's headers were not found: install mapi-core first "
                       "(pip install mapi-core), or set MAPI_CORE_INCLUDE to the folder holding mapi/abi.h")


def abi_declarations(include: str) -> str:
    """The part of mapi/abi.h that cffi must see (mapi_pkthdr_t...), between its @cdef markers."""
    text = (Path(include) / "mapi" / "abi.h").read_text()
    region = re.search(r"@cdef-begin[^\n]*\n(.*?)/\* @cdef-end \*/", text, re.S)
    if region is None:
        raise RuntimeError(f"{include}/mapi/abi.h has no @cdef-begin/@cdef-end region")
    return region[1]


def builder() -> FFI:
    include = mapi_core_include()
    built = FFI()
    built.cdef(abi_declarations(include) + (HERE / "functions.h").read_text())
    built.set_source(
        MODULE,
        '#include <mapi/abi.h>\n#include "functions.h"\n',
        sources=[os.path.relpath(HERE / "functions.c")],  # setuptools refuses absolute paths
        include_dirs=[include, str(HERE)],
        extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    )
    return built


ffi = builder()

if __name__ == "__main__":
    os.chdir(HERE.parents[1])        # src/: cffi compiles there, sources are relative to it
    builder().compile(tmpdir=".", target="_functions.abi3.so")   # the file an editable install imports
    print(f"built {MODULE}")
