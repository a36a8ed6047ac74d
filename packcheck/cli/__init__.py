"""The ``packcheck`` command line: a thin click layer over the library, and the only user of click.

Each command parses its options, calls the library, prints and exits. Library
errors (:class:`~packcheck.errors.PackcheckError`) become one ``Error: ...``
line on stderr and exit code 2; nothing a user typed produces a traceback.

Exit codes, for every command that judges orders::

    0  PASS (everything passed)
    1  FLAG or REVIEW (something needs a person)
    2  ERROR (bad input: the message says which file, row or field)
    3  internal error (a bug; rerun with --debug for the traceback)

Every command is in :data:`COMMANDS`; a command's module is imported only when
that command runs or help lists it, so ``packcheck check`` never imports the
benchmarks or the calibration tool.
"""
from __future__ import annotations

import importlib
import logging

import click

from .. import __version__
from .common import CONTEXT

#: Every command of ``packcheck``: name -> (module in packcheck.cli, function). Add a command here.
COMMANDS = {
    "check": ("check", "check"),
    "enrol": ("enrol", "enrol"),
    "audit": ("audit", "audit"),
    "station": ("station", "station"),
    "evidence": ("evidence", "evidence"),
    "history": ("evidence", "history"),
    "keys": ("evidence", "keys"),
    "db": ("db", "db"),
    "calibrate": ("calibrate", "calibrate"),
    "bench": ("bench", "bench"),
}


class _Commands(click.Group):
    """The command group: the commands of :data:`COMMANDS`, each imported when first needed."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)


@click.group(cls=_Commands, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug logs).")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def cli(verbose: int, debug: bool) -> None:
    """packcheck: stop "item not as described" parcels before the box is sealed.

    Compares packing-station photos with the listing images of the ordered SKUs
    (wrong item, wrong variant, lookalike), checks kit components, and keeps the
    evidence.

    \b
    Examples:
        packcheck check ORD-1001 --data sample_data
        packcheck audit --data sample_data --out results.csv --html report.html
        packcheck station --data sample_data --db evidence.sqlite --photo-dir incoming/
        packcheck bench accuracy --manifest ../shared/realdata/grocerystore/manifest.csv
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(logging.DEBUG, level), format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    cli(prog_name="packcheck")
