"""``python -m mapi_core.cli``: the ``mapi`` command."""

from mapi_core.cli import main

main()
