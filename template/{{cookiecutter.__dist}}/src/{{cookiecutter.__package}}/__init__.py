"""{{ cookiecutter.__dist }}: a mapi function library providing {{ cookiecutter.function_name }}."""

__version__ = "0.1.0"
