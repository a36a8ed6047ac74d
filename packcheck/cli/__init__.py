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
import os
import sys

import click

from .. import __version__
from ..util.text import printable
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
    "supervisors": ("supervisors", "supervisors"),
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
    handler = logging.StreamHandler()
    handler.setFormatter(_PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=max(logging.DEBUG, level), handlers=[handler])


class _PrintableFormatter(logging.Formatter):
    """Log lines with the data in them shown escaped (a station name or file name may hold escape codes)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei) -> str:
        return printable(super().formatException(ei), keep="\n")


def _standard_streams_open() -> None:
    """Put /dev/null on a closed stdin, stdout or stderr (``packcheck audit ... >&- 2>&-``, a daemon).

    With descriptor 2 closed, sys.stderr was None (the audit crashed before its first order,
    exit 3, no CSV), and the next file opened (a report's temporary file, a photo) would
    take number 2 and receive every warning and progress line.
    """
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False, encoding="utf-8", errors="backslashreplace"))


def main() -> None:
    _standard_streams_open()
    cli(prog_name="packcheck")
