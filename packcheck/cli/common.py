"""What the commands share: exit codes, error handling, the data-folder options, how a verdict is shown."""
from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core.thresholds import SIGNALS, load_thresholds
from ..core.verdict import Status, Verdict
from ..errors import PackcheckError
from ..util.text import printable, printable_json

if TYPE_CHECKING:
    from ..apps.checker import Checker

EXIT_PASS, EXIT_ATTENTION, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: int = EXIT_ERROR) -> None:
    """Print ``Error: message`` to stderr (data in it shown escaped: :func:`printable`) and exit."""
    click.echo(f"Error: {printable(message)}", err=True)
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


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange that also refuses nan and inf (``nan < 0.1`` is False: FloatRange lets it by)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


def warn_if_more_workers_than_cores(workers: int | None) -> None:
    """One ``Warning:`` line when ``--workers`` asks for more processes than this machine has cores."""
    try:
        cores = len(os.sched_getaffinity(0))  # what this process may use (a container's limit)
    except AttributeError:
        cores = os.cpu_count() or 1
    if workers and workers > cores:
        click.echo(f"Warning: --workers {workers} is more than the {cores} CPU core{'s' if cores != 1 else ''} "
                   "this process may use: the run will not be faster, and each worker holds about 200 MB "
                   f"(--workers {cores} or leave it out)", err=True)


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM (``kill PID``, a service stopping) acts like Ctrl-C: the command stops cleanly,
    keeping what it wrote (journal, evidence), its worker processes shut down, exit code 130."""

    def on_term(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (a test runner's worker): leave it as it is
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def status_exit_code(statuses) -> int:
    """0 when everything passed, 2 when anything is an ERROR, else 1."""
    statuses = [str(s) for s in statuses]
    if "ERROR" in statuses:
        return EXIT_ERROR
    if any(s in ("FLAG", "REVIEW") for s in statuses):
        return EXIT_ATTENTION
    return EXIT_PASS



def warn_if_stale(th) -> None:
    """One line on stderr when the thresholds were fitted at another pipeline version than this code's."""
    from ..core.fingerprint import PIPELINE_VERSION

    message = th.stale(PIPELINE_VERSION)
    if message:
        click.echo(f"Warning: {printable(message)}", err=True)


def data_options(func):
    """--data, --thresholds, --signals and --cache, for every command that reads a data folder."""

    @click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                  help="The data folder (catalogue.csv, orders.csv, ...).")
    @click.option("--thresholds", "thresholds_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Thresholds TOML from 'packcheck calibrate' (default: the shipped one).")
    @click.option("--signals", help=f"Comma-separated signals to fuse, a subset of {','.join(SIGNALS)} "
                                    "(default: as the thresholds file says).")
    @click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Listing index file (default: DATA/.packcheck-cache/index.sqlite, or the user's "
                       "cache folder when DATA is read-only).")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def load_checker(data_dir: Path, thresholds_path: Path | None, signals: str | None, cache_path: Path | None,
                 *, workers: int = 1, quiet: bool = False) -> Checker:
    """Open a data folder for checking, with a progress line while new listing images are indexed."""
    from ..apps.checker import Checker

    th = load_thresholds(thresholds_path)
    if signals:
        th = th.with_signals([s.strip() for s in signals.split(",") if s.strip()])

    def progress(done: int, total: int) -> None:
        if not quiet and sys.stderr.isatty():
            click.echo(f"\rindexing listing images {done}/{total}", err=True, nl=done == total)

    return Checker.open(data_dir, thresholds=th, cache=cache_path or True, workers=workers, progress=progress)


#: Terminal colours: FLAG red, ERROR magenta (ERROR is purple on the kiosk, report and sheet too).
_COLOURS = {Status.PASS: "green", Status.REVIEW: "yellow", Status.FLAG: "red", Status.ERROR: "magenta"}
_INDENT = " " * 20


def render_verdict(v: Verdict, *, verbose: bool = False, big: bool = False, root: Path | None = None) -> str:
    """A verdict for people: the status first and unmistakable, then the reasons in plain words.

    Each check that did not pass gets a line, and under a scored one the two limits it
    was held against (REVIEW and FLAG) and, for a colour, the colours in CIE L*a*b*.
    A check with nothing to judge (no packed record) is marked ``-`` and says so,
    never PASS. ``root``: paths inside this data folder are shown relative to it.
    An ERROR's message is not part of it: ``packcheck check`` prints it once, as
    its ``Error:`` line on stderr (the station, which has no such line, passes ``big``).
    """
    from ..apps.present import colours_text, judged, limits_unsaid, public_paths

    def text(message: str) -> str:  # shown escaped (see printable), paths relative to the data folder
        return printable(public_paths(message, root) if root is not None else message)

    colour = _COLOURS[v.status]
    # Every text from the data (order id, titles and SKUs in the messages) is shown escaped:
    # an escape sequence in a title must not redraw a FLAG as a PASS.
    order_id = printable(v.order_id)
    if big:
        banner = f"  {v.status.value}  ".center(40, " ")
        head = click.style(banner, fg="white", bg=colour, bold=True)
        lines = ["", head, click.style(f"order {order_id}", bold=True)]
    else:
        lines = [click.style(f"{v.status.value}", fg=colour, bold=True) + f"  order {order_id}"]
    if v.status is Status.ERROR:
        if big:
            lines.append(f"  {text(v.message)}")
        return "\n".join(lines)
    for c in v.checks:
        if c.status is Status.PASS and not verbose:
            continue
        mark = (click.style(c.status.value.ljust(6), fg=_COLOURS[c.status]) if judged(c) else "-".ljust(6))
        lines.append(f"  {mark} {c.check:10s} {text(c.message)}")
        extra = [limits_unsaid(c)] + ([colours_text(c)] if c.check == "variant" and c.status is not Status.PASS else [])
        lines += [f"{_INDENT}{printable(e)}" for e in extra if e and (verbose or c.status is not Status.PASS)]
    if v.status is Status.PASS and not verbose:
        lines.append("  " + "; ".join(text(c.message) for c in v.checks if c.check in ("item", "components", "weight")))
    if verbose:
        skipped = v.meta is not None and v.meta.stages_run and "embedding" not in v.meta.stages_run
        lines.append("  timings: " + ", ".join(
            "embedding not needed" if k == "embedding" and skipped else f"{k} {1000 * t:.0f} ms" for k, t in v.timings)
                     + f" (total {1000 * v.seconds:.0f} ms)")
        lines.append(f"  thresholds: {printable(v.thresholds_version)}")
    return "\n".join(lines)


def dump_json(obj) -> str:
    """JSON for stdout: readable Unicode, but nothing a terminal would act on (:func:`printable_json`)."""
    return printable_json(obj)
