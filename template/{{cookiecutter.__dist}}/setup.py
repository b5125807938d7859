"""Builds the library's cffi extension (see src/{{ cookiecutter.__package }}/native/build_native.py)."""

from setuptools import setup

setup(cffi_modules=["src/{{ cookiecutter.__package }}/native/build_native.py:ffi"])
