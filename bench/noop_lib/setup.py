"""Builds the cffi extension ``mapi_bench_noop._noop``; everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["src/mapi_bench_noop/build_noop.py:ffibuilder"])
