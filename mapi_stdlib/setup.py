"""Builds the library's cffi extension; everything else is declared in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["src/mapi_stdlib/native/build_native.py:ffibuilder"])
