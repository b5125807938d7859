"""mapi-stdlib: MAPI's standard function library (stdflib), native."""

__version__ = "0.1.0"
