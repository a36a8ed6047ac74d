"""The ``packcheck`` command line: a thin click layer over the library.

Each command parses its options, calls the library, prints and exits. Library
errors (:class:`~packcheck.errors.PackcheckError`) become one ``Error: ...``
line on stderr and exit code 2; nothing a user typed produces a traceback.

Exit codes, for every command that judges orders::

    0  PASS (everything passed)
    1  FLAG or REVIEW (something needs a person)
    2  ERROR (bad input: the message says which file, row or field)
    3  internal error (a bug; rerun with --debug for the traceback)

Commands live in ``packcheck/cli_*.py`` modules; each has a ``register(group)``
function, so adding a command never means editing this file.
"""
from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
import sys

import click

from . import __version__
from .errors import PackcheckError

EXIT_PASS, EXIT_ATTENTION, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: int = EXIT_ERROR) -> None:
    """Print ``Error: message`` to stderr and exit."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def handle_errors(func):
    """Turn library errors into ``Error: ...`` and exit code 2; bugs into exit code 3."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PackcheckError as e:
            fail(str(e))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # The reader went away (`packcheck ... | head`): not an error of ours.
            sys.stderr.close()
            sys.exit(0)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence
            if click.get_current_context().find_root().params.get("debug"):
                raise
            fail(f"unexpected {type(e).__name__}: {e} (this is a bug; rerun with --debug and report it)",
                 EXIT_INTERNAL)

    return wrapper


def status_exit_code(statuses) -> int:
    """0 when everything passed, 2 when anything is an ERROR, else 1."""
    statuses = [str(s) for s in statuses]
    if "ERROR" in statuses:
        return EXIT_ERROR
    if any(s in ("FLAG", "REVIEW") for s in statuses):
        return EXIT_ATTENTION
    return EXIT_PASS


class _Commands(click.Group):
    """The command group; commands are found in ``packcheck/cli_*.py`` when first needed.

    Registering lazily (not at import time) lets a command module import this one
    without a cycle, in any order.
    """

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from . import __path__ as pkg_path

        for mod in sorted(pkgutil.iter_modules(pkg_path), key=lambda m: m.name):
            if mod.name.startswith("cli_"):
                importlib.import_module(f"{__package__}.{mod.name}").register(self)

    def list_commands(self, ctx):
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._load()
        return super().get_command(ctx, name)


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
