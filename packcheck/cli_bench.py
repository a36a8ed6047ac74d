"""``packcheck bench``: benchmarks that print ratios measured in one run."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .cli import CONTEXT, handle_errors


@click.group(context_settings=CONTEXT)
def bench():
    """Benchmarks: accuracy on real photos, speed, audit throughput.

    \b
    Examples:
        packcheck bench accuracy --manifest ../shared/realdata/grocerystore/manifest.csv
    """


@bench.command(context_settings=CONTEXT)
@click.option("--manifest", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="manifest.csv: class_id,class_name,coarse_class,kind,path (kind: iconic or photo).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the results here.")
@click.option("--thresholds", "thresholds_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Thresholds TOML (default: the shipped one).")
@click.option("--workers", type=int, default=None, help="Processes (default: all cores).")
@click.option("--ablation", is_flag=True,
              help="Also score each signal alone and the fusion without the embedding (about 4x slower).")
@handle_errors
def accuracy(manifest, json_out, thresholds_path, workers, ablation):
    """Item and variant checks vs imagehash pHash on a labelled manifest.

    Pairs: each photo against its own class's iconic image (genuine), against
    the other classes of its coarse class (lookalike) and of other coarse
    classes (wrong item). Prints AUCs, flag rates at 1% and 5% false flags,
    rank-1, each check alone, and (with --ablation) each signal alone.

    \b
    Example:
        packcheck bench accuracy --manifest ../shared/realdata/grocerystore/manifest.csv --json acc.json
        packcheck bench accuracy --manifest scenes/manifest.csv --ablation
    """
    from .bench import accuracy as acc

    report = acc.run(manifest, thresholds_path=thresholds_path, workers=workers, ablate=ablation,
                     progress=lambda done, total: progress_line("scoring photos", done, total))
    emit(acc.format_report(report), report, json_out)


def progress_line(what: str, done: int, total: int) -> None:
    """Progress of a benchmark on stderr: a live counter on a terminal, one line per finished part otherwise."""
    if sys.stderr.isatty():
        click.echo(f"\r{what} {done}/{total}", err=True, nl=done == total)
    elif done == total:
        click.echo(f"{what} {done}/{total} done", err=True)


def emit(text: str, report: dict, json_out: Path | None) -> None:
    """Print a benchmark's table and, when asked, write its results as JSON."""
    click.echo(text)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2))


def register(group: click.Group) -> None:
    """Add ``bench`` and every ``packcheck/bench/<name>.py`` that offers a ``cli_command()``."""
    import importlib
    import pkgutil

    from . import bench as bench_pkg

    for mod in sorted(pkgutil.iter_modules(bench_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{bench_pkg.__name__}.{mod.name}")
        if hasattr(module, "cli_command"):
            bench.add_command(module.cli_command())
    group.add_command(bench)
