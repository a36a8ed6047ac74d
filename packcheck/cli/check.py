"""``packcheck check``: one order, now."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..util.text import printable
from .common import CONTEXT, data_options, dump_json, handle_errors, load_checker, render_verdict, status_exit_code, warn_if_stale


@click.command(context_settings=CONTEXT)
@click.argument("order_id")
@data_options
@click.option("--photo", "photos", multiple=True, type=click.Path(path_type=Path),
              help="Check this photo (repeatable) instead of the one orders.csv names.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON (paths relative to --data).")
@click.option("-v", "--verbose", is_flag=True, help="Show every check and the per-stage timings.")
@handle_errors
def check(order_id, data_dir, thresholds_path, signals, cache_path, photos, as_json, verbose):
    """Check ORDER_ID: do its photos show what was ordered?

    Prints the status, then each check that did not pass with the limits it was
    held against (REVIEW and FLAG) and any colour in CIE L*a*b*. An order that
    cannot be checked (ERROR) prints one 'Error: ...' line on stderr and nothing
    on stdout; with --json the verdict goes to stdout, paths relative to --data.

    Exit code 0 for PASS, 1 for FLAG or REVIEW, 2 for ERROR (bad input).

    \b
    Examples:
        packcheck check ORD-1001 --data sample_data
        packcheck check ORD-1001 --data sample_data --photo bench/IMG_2211.jpg --json
    """
    from ..apps.present import public_paths

    checker = load_checker(data_dir, thresholds_path, signals, cache_path)
    verdict = checker.check_id(order_id, photos=list(photos) if photos else None)
    if as_json:
        click.echo(dump_json(public_paths(verdict.to_dict(), checker.root)))
    elif verdict.error:
        click.echo(f"Error: {printable(public_paths(verdict.error, checker.root))}", err=True)
    else:
        click.echo(render_verdict(verdict, verbose=verbose, root=checker.root))
    warn_if_stale(checker.thresholds)
    sys.exit(status_exit_code([verdict.status]))
