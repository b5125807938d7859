"""Builds the library's cffi extensions (one per family of functions, see build_native.py)."""

from setuptools import setup

BUILD = "src/mapi_stdlib/native/build_native.py"
MODULES = ("stdlib", "search", "sampling", "values", "stats", "res2file", "cooking", "output", "buffer")

setup(cffi_modules=[f"{BUILD}:{module}_ffi" for module in MODULES])
