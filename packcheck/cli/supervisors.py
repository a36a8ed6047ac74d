"""``packcheck supervisors``: who may override a station's verdict, and their codes."""
from __future__ import annotations

from pathlib import Path

import click

from .common import CONTEXT, handle_errors

_FILE = click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
                     help="The supervisors file (default: $PACKCHECK_SUPERVISORS, else "
                          "~/.config/packcheck/supervisors.json). Keep it outside the data folder.")


def _path(path: Path | None) -> Path:
    from ..apps.supervisors import default_path

    return path or default_path()


def _subcommand(name: str | None = None):
    """A subcommand of ``supervisors`` with the --file option and the CLI's error handling."""
    def wrap(func):
        return supervisors.command(name=name, context_settings=CONTEXT)(_FILE(handle_errors(func)))
    return wrap


@click.group(context_settings=CONTEXT)
def supervisors():
    """Manage the supervisors who may let a box ship that was not a PASS (station '!ok').

    The file holds each supervisor's name and a salted scrypt hash of their PIN or
    badge code (never the code), readable by its owner only (mode 0600). The
    station asks for the code at every override and refuses, and records, a wrong one.

    \b
    Examples:
        packcheck supervisors add maria
        packcheck supervisors list --file /etc/packcheck/supervisors.json
        packcheck station --data shop --db evidence.sqlite --photo-dir incoming --supervisors /etc/packcheck/supervisors.json
    """


@_subcommand()
@click.argument("name")
def add(name, path):
    """Add supervisor NAME (or give NAME a new code): asks for the code twice, without echo.

    \b
    Examples:
        packcheck supervisors add maria
        packcheck supervisors add SUP-7 --file /etc/packcheck/supervisors.json
    """
    from ..apps.evidence.store import utc_now
    from ..apps.supervisors import add_supervisor, check_name

    path = _path(path)
    name = check_name(name)
    code = click.prompt(f"code (PIN or badge) for {name}", hide_input=True, confirmation_prompt=True, err=True)
    new = add_supervisor(path, name, code, now=utc_now())
    click.echo(f"{'added' if new else 'new code for'} supervisor {name} in {path} (mode 0600)")


@_subcommand()
@click.argument("name")
def remove(name, path):
    """Remove supervisor NAME.

    \b
    Example:
        packcheck supervisors remove maria
    """
    from ..apps.supervisors import remove_supervisor

    path = _path(path)
    remove_supervisor(path, name)
    click.echo(f"removed supervisor {name} from {path}")


@_subcommand("list")
def list_(path):
    """List the supervisors (names only).

    \b
    Example:
        packcheck supervisors list
    """
    from ..apps.supervisors import Supervisors

    path = _path(path)
    names = Supervisors.load(path).names()
    click.echo("\n".join(names) if names else f"no supervisors in {path}")
