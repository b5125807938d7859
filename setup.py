"""The meta-distribution's dependencies: every library of the workspace, in lockstep.

Built inside the repository, the libraries are taken from their folders (none is on an index);
elsewhere they are plain version pins.
"""

from pathlib import Path

from setuptools import setup

VERSION = "0.1.0"
LIBRARIES = {"mapi-core": "mapi_core", "mapi-stdlib": "mapi_stdlib"}
ROOT = Path(__file__).resolve().parent


def requirement(name: str, folder: str) -> str:
    local = ROOT / folder
    if (local / "pyproject.toml").is_file():
        return f"{name} @ {local.as_uri()}"
    return f"{name}=={VERSION}"


setup(install_requires=[requirement(name, folder) for name, folder in LIBRARIES.items()])
