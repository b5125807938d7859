"""The ``mapi`` command: functions, libraries and devices of this installation, and the seed's
applications (worm detection, TCP analysis)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import click
from rich.logging import RichHandler

from mapi_core import __version__
from mapi_core.cli._common import CliError, MapiGroup, err
from mapi_core.cli.cmd_devices import devices
from mapi_core.cli.cmd_dump import dump
from mapi_core.cli.cmd_functions import functions
from mapi_core.cli.cmd_libraries import libraries
from mapi_core.cli.cmd_tcpanalyze import tcpanalyze
from mapi_core.cli.cmd_worm import worm

__all__ = ["CliError", "cli", "main"]


@click.group(cls=MapiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mapi", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Also print mapi's log messages on standard error.")
def cli(verbose: bool) -> None:
    """mapi: passive network monitoring, re-creating MAPI (the Monitoring API)."""
    configure_logging(verbose)


def configure_logging(verbose: bool) -> None:
    """The commands report warnings and errors themselves; the log is shown only with --verbose."""
    logger = logging.getLogger("mapi_core")
    for handler in [h for h in logger.handlers if getattr(h, "mapi_cli", False)]:
        logger.removeHandler(handler)
    # A NullHandler keeps logging's "last resort" from printing again what the commands report.
    handler = RichHandler(console=err(), show_path=False) if verbose else logging.NullHandler()
    handler.mapi_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.INFO)


cli.add_command(functions)
cli.add_command(libraries)
cli.add_command(devices)
cli.add_command(worm)
cli.add_command(tcpanalyze)
cli.add_command(dump)


def main(args: Sequence[str] | None = None) -> None:
    """The console script's entry point."""
    cli.main(args=list(args) if args is not None else None, prog_name="mapi")
