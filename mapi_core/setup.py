"""Builds the engine's cffi extension; everything else is declared in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["src/mapi_core/engine/build_engine.py:ffibuilder"])
