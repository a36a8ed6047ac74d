"""``packcheck calibrate``: fit the thresholds file to a shop's own labelled photos."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..errors import PackcheckError
from ..util.text import printable
from .common import CONTEXT, handle_errors


def _command_line(ctx: click.Context) -> str:
    """The command as it could be typed again (options in a fixed order, defaults left out)."""
    words = ["packcheck", "calibrate"]
    for p in ctx.command.params:
        if not isinstance(p, click.Option) or p.name in ("help",):
            continue
        value = ctx.params.get(p.name)
        if value is None or value is False or value == () or (value == p.default and p.name != "target"):
            continue
        opt = max(p.opts, key=len)
        for v in (value if isinstance(value, tuple) else (value,)):
            words += [opt] if v is True else [opt, str(v)]
    return shlex.join(words)


def _check_folds(ctx, param, value: int) -> int:
    if value == 1:
        raise click.BadParameter("1 fold holds nothing out; give 2 or more, or 0 to skip cross-validation")
    return value


@click.command(context_settings=CONTEXT)
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False, path_type=Path),
              help="labels.csv: photo,sku,label (label: match, wrong_item or wrong_variant); "
                   "photo paths relative to the CSV. Needs --data.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The data folder whose catalogue.csv the SKUs of --labels belong to.")
@click.option("--manifest", "manifest_paths", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A benchmark manifest instead (class_id,class_name,coarse_class,kind,path): pairs built "
                   "as 'packcheck bench accuracy' builds them. Repeat for several photo sets: each is scored "
                   "against its own catalogue, and the target is held on each set.")
@click.option("--target-false-flag", "target", type=float, default=0.01, show_default=True,
              help="Largest share of genuine pairs the verdict may FLAG.")
@click.option("--review-rate", type=float, default=None,
              help="Largest share of genuine pairs sent to REVIEW or FLAG [default: 5 x target, at most 0.5].")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the thresholds TOML here.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report (plots beside it in <name>_plots/).")
@click.option("--folds", type=click.IntRange(min=0), default=5, show_default=True, callback=_check_folds,
              help="Cross-validation folds, grouped by product: a product's photos are never on both sides "
                   "(2 or more; 0 skips cross-validation).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the folds and the bootstrap.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes (default: all cores).")
@click.option("--thresholds", "thresholds_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Base thresholds: weights and settings kept, scores computed with them "
                   "(default: the shipped file).")
@click.option("--keep-normalisation", is_flag=True,
              help="Score with the base file's normalisation statistics instead of re-estimating them.")
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Listing index file (default: DATA/.packcheck-cache/index.sqlite with --data, "
                   "a temporary one with --manifest).")
@handle_errors
def calibrate(labels_path, data_dir, manifest_paths, target, review_rate, out_path, report_path, folds, seed,
              workers, thresholds_path, keep_normalisation, cache_path):
    """Choose the item and variant limits for a false-flag target, from labelled pairs.

    Scores every labelled photo/listing pair with packcheck's own checks, picks
    the limits that flag at most --target-false-flag of the genuine pairs while
    flagging as many wrong items and wrong variants as possible, measures them
    (bootstrap intervals, cross-validation by photo) and writes a thresholds
    file for --thresholds of the other commands.

    \b
    Examples:
        packcheck calibrate --labels labels.csv --data sample_data --out thresholds.toml
        packcheck calibrate --manifest ../shared/realdata/grocerystore/manifest.csv \\
            --target-false-flag 0.05 --out thresholds.toml --report calibration.html
    """
    if bool(manifest_paths) == (labels_path is not None):
        raise click.UsageError("give either --labels (with --data) or --manifest")
    if labels_path is not None and data_dir is None:
        raise click.UsageError("--labels needs --data, the folder whose catalogue.csv the SKUs belong to")
    if manifest_paths and data_dir is not None:
        raise click.UsageError("--data goes with --labels, not with --manifest")
    from packcheck.tooling.calibration import calibrate as cal

    command = _command_line(click.get_current_context())
    if folds == 0:
        click.echo("Warning: --folds 0: cross-validation is skipped; the report has no held-out rates", err=True)

    def progress(done, total):
        if sys.stderr.isatty():
            click.echo(f"\rscoring photos {done}/{total}", err=True, nl=done == total)

    if manifest_paths:
        if cache_path is not None and len(manifest_paths) > 1:
            raise click.UsageError("--cache names one index; leave it out with several --manifest")
        inputs = [cal.read_manifest_pairs(m, cache=cache_path) for m in manifest_paths]
    else:
        from ..store.fingerprints import default_cache_path

        inputs = cal.read_labels(labels_path, data_dir, cache=cache_path or default_cache_path(data_dir))
    result = cal.calibrate(inputs, target=target, review_rate=review_rate, folds=folds, seed=seed, workers=workers,
                           thresholds_path=thresholds_path,
                           normalisation="keep" if keep_normalisation else "estimate",
                           command=command, progress=progress)
    try:
        cal.write_thresholds(result, out_path)
    except OSError as e:
        raise PackcheckError(f"cannot write {out_path} ({e.strerror or e}); check the folder exists and is "
                             "writable") from None
    click.echo(printable(cal.format_summary(result), keep="\n"))
    click.echo(printable(f"\nwrote {out_path} (version {result.version})", keep="\n"))
    if report_path is not None:
        from packcheck.tooling.calibration import report

        try:
            report.write_report(result, report_path)
        except OSError as e:
            raise PackcheckError(f"cannot write {report_path} ({e.strerror or e})") from None
        click.echo(printable(f"wrote {report_path}"))

