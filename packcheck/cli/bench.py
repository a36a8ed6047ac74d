"""``packcheck bench``: benchmarks that print ratios measured in one run."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..util.fsio import atomic_write
from ..util.text import printable
from .common import CONTEXT, handle_errors


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
    from ..tooling.bench import accuracy as acc

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
    click.echo(printable(text, keep="\n"))
    if json_out:
        atomic_write(json_out, lambda f: f.write(json.dumps(report, indent=2)))



@bench.command("speed", context_settings=CONTEXT)
@click.option("--photo", "photos", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Photo to measure (repeatable; default: generated 12 MP and 2 MP JPEGs and the sample photos).")
@click.option("--data", "data_dir", default="sample_data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Data folder whose orders are checked.")
@click.option("--repeat", type=click.IntRange(min=1), default=7, show_default=True,
              help="Repetitions per operation and photo (medians are reported).")
@click.option("--catalogue-size", type=click.IntRange(min=0), default=100_000, show_default=True,
              help="Synthetic listing images for the large-catalogue part (0: skip it).")
@click.option("--queries", type=click.IntRange(min=1), default=50, show_default=True,
              help="Synthetic photos looked up in the large catalogue.")
@click.option("--exact-queries", type=click.IntRange(min=0), default=20, show_default=True,
              help="Of those, compared with the exact path (loads every full embedding: 2 GB at 100,000).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results here.")
@handle_errors
def speed(photos, data_dir, repeat, catalogue_size, queries, exact_queries, json_out):
    """Check cost against decoding the photo, and nearest-SKU lookup in a large catalogue.

    Measures in one process, interleaved, medians over --repeat runs, with one
    thread and with the default threads: full cv2.imread, reduced decodes
    (1/8 is the floor), the naive imagehash pipeline (full decode) and the
    careful one (Image.draft 1/8 decode), packcheck's hash and colour stage
    with its decode, and packcheck's whole check of an order (per stage), on
    a 12 MP, a 2 MP and the demo's photos; prints the ratios with issue #19's
    targets (check/floor, check/full_decode, check/careful, check/naive). Then writes a synthetic catalogue of --catalogue-size listing
    images and measures start-up, memory and lookups in a fresh process.

    \b
    Examples:
        packcheck bench speed --json speed.json
        packcheck bench speed --photo IMG_0001.jpg --catalogue-size 0 --repeat 15
    """
    from ..tooling.bench.speed import format_report, run

    try:
        report = run(data_dir=data_dir, photos=list(photos) or None, repeat=repeat,
                     catalogue_size=catalogue_size, queries=queries, exact_queries=exact_queries,
                     progress=progress_line)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    emit(format_report(report), report, json_out)


@bench.command("station", context_settings=CONTEXT)
@click.option("--data", "data_dir", default="sample_data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Data folder whose first order is used.")
@click.option("--order", "order_id", help="Use this order (default: the first with a readable photo).")
@click.option("--runs", type=click.IntRange(min=1), default=15, show_default=True, help="Measured runs.")
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True, help="Runs not counted.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results here.")
@handle_errors
def station(data_dir, order_id, runs, warmup, json_out):
    """Scan-to-verdict timings per stage for a 12 MP photo, in one long-lived process.

    Writes a 4000x3000 phone-like JPEG (an order's photo upscaled, with sensor
    noise) into a watched folder after each scan and reports the median ms of
    each stage from the file being complete to the verdict being recorded,
    beside a full cv2.imread of the same file measured in the same run.

    \b
    Example:
        packcheck bench station --data sample_data --runs 15 --json station-bench.json
    """
    from ..tooling.bench.station import format_report, run

    try:
        report = run(data_dir, runs=runs, warmup=warmup, order_id=order_id,
                     progress=lambda done, total: progress_line("run", done, total))
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    emit(format_report(report), report, json_out)


@bench.command("fleet", context_settings=CONTEXT)
@click.option("--stations", type=click.IntRange(min=1), default=10, show_default=True,
              help="Simulated stations (one process each).")
@click.option("--checks", type=click.IntRange(min=1), default=1000, show_default=True, help="Checks per station.")
@click.option("--restart-at", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Restart the database when this share of the checks is made.")
@click.option("--no-restart", is_flag=True, help="Do not restart the database.")
@click.option("--down", "down_s", type=click.FloatRange(min=0.0), default=3.0, show_default=True,
              help="Seconds the database stays down.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results here.")
@handle_errors
def fleet(stations, checks, restart_at, no_restart, down_s, json_out):
    """N stations recording into one PostgreSQL evidence store; the database restarted mid-run.

    Starts a throwaway, durable PostgreSQL (initdb in a temporary folder; needs
    Debian's postgresql package), runs each station as a process recording
    checks with real photos (../shared/realdata, else generated), and reports
    records written (= checks made), duplicates, the chain verified with the
    site key, and p50/p95 ms to record a verdict. Stations spool what they
    cannot record while the database is down and replay it after.

    \b
    Example:
        packcheck bench fleet --stations 10 --checks 1000 --json fleet-bench.json
    """
    from ..tooling.bench.fleet import format_report, run

    try:
        report = run(stations=stations, checks=checks, restart_at=None if no_restart else restart_at,
                     down_s=down_s, progress=lambda done, total: progress_line("check", done, total))
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None
    emit(format_report(report), report, json_out)


@bench.command("audit", context_settings=CONTEXT)
@click.option("--data", "sample", type=click.Path(file_okay=False, path_type=Path), default=Path("sample_data"),
              show_default=True, help="The demo data folder the synthetic orders are drawn from.")
@click.option("--orders", "order_counts", type=click.IntRange(min=1), multiple=True,
              help="Synthetic orders per run (repeatable; default 200).")
@click.option("--workers", type=click.IntRange(min=1), multiple=True,
              help="Worker counts to measure (repeatable; default 1 and 2).")
@click.option("--naive-orders", type=click.IntRange(min=1), default=30, show_default=True,
              help="Orders timed in each imagehash loop (naive and careful).")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the 12 MP photos and data folders go (default: a temporary folder, removed after).")
@click.option("--photo-size", default="4000x3000", show_default=True, metavar="WxH",
              help="Size the sample photos are re-encoded at (the #19 targets are set on 12 MP; smaller photos "
                   "make a long memory-growth run shorter).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results here.")
@handle_errors
def audit_bench(sample, order_counts, workers, naive_orders, work_dir, photo_size, json_out):
    """Orders/s and peak memory of 'packcheck audit' on 12 MP photos, against imagehash loops.

    Builds N synthetic orders over the demo data (sample photos re-encoded once
    as 4000x3000 JPEGs), audits them in a fresh process per (N, workers), and
    times two Pillow + imagehash loops in the same run: the naive one (full
    decode, listing images hashed per order) and the careful one (Image.draft
    1/8 decode, listing hashes cached). Prints time per order against both,
    2 workers against 1 and peak memory of the largest N against the smallest,
    with issue #19's targets. Not a test: it prints what this machine does.

    \b
    Examples:
        packcheck bench audit
        packcheck bench audit --orders 40 --workers 1 --workers 2 --naive-orders 40
        packcheck bench audit --orders 1000 --orders 20000 --workers 2 --photo-size 640x480 --json mem.json
    """
    import shutil
    import tempfile

    from ..tooling.bench.audit import format_table, run
    from ..errors import PackcheckError

    if not (sample / "orders.csv").exists():
        raise PackcheckError(f"{sample} has no orders.csv; give the demo data folder with --data")
    try:
        size = tuple(int(v) for v in photo_size.lower().split("x"))
        if len(size) != 2 or min(size) < 64:
            raise ValueError
    except ValueError:
        raise PackcheckError(f"--photo-size {photo_size!r} is not WIDTHxHEIGHT with both at least 64, "
                             "e.g. 4000x3000") from None
    tmp = None
    if work_dir is None:
        tmp = tempfile.mkdtemp(prefix="packcheck-bench-")
        work_dir = Path(tmp)
    try:
        result = run(sample.resolve(), order_counts=list(order_counts) or [200], workers=list(workers) or [1, 2],
                     naive_orders=naive_orders, work=work_dir.resolve(), photo_size=size,
                     echo=lambda m: click.echo(m, err=True))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    emit(format_table(result), result, json_out)


@bench.command("scenes", context_settings=CONTEXT)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write manifest.csv, iconic/ and photos/ into.")
@click.option("--products", default=12, show_default=True, type=click.IntRange(1, 12),
              help="Products (at most 12).")
@click.option("--variants", default=3, show_default=True, type=click.IntRange(1),
              help="Colour variants per product (at most 3 with every product; see the error otherwise).")
@click.option("--photos", default=6, show_default=True, type=click.IntRange(1),
              help="Packing photos per variant.")
@click.option("--seed", default=0, show_default=True, help="Seed: the same seed writes the same set.")
@handle_errors
def scenes(out_dir, products, variants, photos, seed):
    """Generate the synthetic packing-station benchmark set (deterministic).

    \b
    Example:
        packcheck bench scenes --out scenes/
        packcheck bench accuracy --manifest scenes/manifest.csv
    """
    import time
    from ..tooling.synth import list_products, list_variants, make_scene_manifest

    chosen = list_products()[:products]
    fewest = min(chosen, key=lambda p: len(list_variants(p)))
    if variants > len(list_variants(fewest)):
        raise click.BadParameter(
            f"{variants} is more than the {len(list_variants(fewest))} colour variants of '{fewest}' "
            f"(with --products {products} at most {len(list_variants(fewest))})", param_hint="--variants")
    t = time.perf_counter()
    path = make_scene_manifest(out_dir, n_products=products, n_variants=variants,
                               photos_per_class=photos, seed=seed)
    click.echo(f"wrote {path} ({products * variants} classes, {products * variants * photos} photos) "
               f"in {time.perf_counter() - t:.0f} s")


@bench.command("duplicates", context_settings=CONTEXT)
@click.option("--manifest", "manifests", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="manifest.csv (class_id,class_name,coarse_class,kind,path); repeatable.")
@click.option("--same-bench", default=36, show_default=True, type=click.IntRange(min=0),
              help="Generated products photographed several times at one station each (0: none).")
@click.option("--shots", default=3, show_default=True, type=click.IntRange(min=2),
              help="Photos per product at its station.")
@click.option("--copies", default=120, show_default=True, type=click.IntRange(min=1),
              help="Photos and listing images copied per kind of copy.")
@click.option("--seed", default=0, show_default=True, help="Seed of the copies and the generated scenes.")
@click.option("--thresholds", "thresholds_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Thresholds TOML (default: the shipped one).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the results here.")
@handle_errors
def duplicates(manifests, same_bench, shots, copies, seed, thresholds_path, json_out):
    """photo_reused and photo_is_listing: false rate on genuine photos, detection rate on copies.

    Genuine: every pair of photos of one class (pairs of two 'reference' images
    apart), generated photos of one product at one bench, every photo against its
    own listing image. Copies: re-encoded (JPEG 50-95), resized (0.5x-1.5x),
    cropped (up to 10%), all three, and listing images photographed on a screen
    (listing copies are also reported per set).

    \b
    Example:
        packcheck bench duplicates --manifest ../shared/realdata/grocerystore/manifest.csv \\
            --manifest ../shared/realdata/grocerystore/manifest_reference.csv --manifest scenes/manifest.csv
    """
    from ..tooling.bench.duplicates import format_report, run

    report = run(list(manifests), same_bench=same_bench, shots=shots, copies=copies, seed=seed,
                 thresholds_path=thresholds_path, progress=progress_line)
    emit(format_report(report), report, json_out)


@bench.command("printed", context_settings=dict(CONTEXT, ignore_unknown_options=True, allow_extra_args=True),
               add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@handle_errors
def printed(args):
    """Generate the printed-products proxy set (phone photos of box-like covers; deterministic).

    Options are the generator's own (run with -h to list them): --out DIR,
    --products, --photos, --refs, --seed, --size WxH, --backgrounds DIR.

    \b
    Example (the set #13 was measured on; set1 with --seed 1):
        packcheck bench printed --out printed/set0 --products 100 --photos 4 --refs 2 --seed 0 \\
            --backgrounds ../shared/realdata/grocerystore
        packcheck bench accuracy --manifest printed/set0/manifest.csv
    """
    from ..tooling import printed as gen

    try:
        click.echo(gen.main(list(args)))
    except SystemExit as e:  # argparse: -h, or a bad option (it printed why)
        if e.code:
            raise click.exceptions.Exit(2) from None
