"""cffi build script of ``mapi_stdlib.native._stdlib`` (run by setuptools via ``cffi_modules``)."""

from __future__ import annotations

import importlib.util
import os
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

ffibuilder = FFI()
ffibuilder.cdef((HERE / "functions.h").read_text())
ffibuilder.set_source(
    "mapi_stdlib.native._stdlib",
    '#include <mapi/abi.h>\n#include "functions.h"\n',
    sources=[os.path.relpath(HERE / "functions.c")],  # setuptools refuses absolute paths
    include_dirs=[INCLUDE, str(HERE)],
    libraries=["pcap"],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)
