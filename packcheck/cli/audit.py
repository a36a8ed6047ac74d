"""``packcheck audit``: every order of a data folder, one result row each, a report, nothing lost."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..util.text import printable
from .common import (
    CONTEXT, EXIT_ATTENTION, EXIT_PASS, data_options, handle_errors, sigterm_as_interrupt, warn_if_more_workers_than_cores,
    warn_if_stale,
)
from .db import db_options

#: Seconds between progress lines when stderr is not a terminal (cron, CI logs).
LOG_EVERY_S = 30.0


class Progress:
    """A tqdm bar on a terminal; a plain line every ``every`` seconds (and at the end) otherwise."""

    def __init__(self, *, tty: bool, every: float = LOG_EVERY_S, stream=None):
        self.tty, self.every, self.stream = tty, every, stream or sys.stderr
        self.bar = None
        self.start = time.monotonic()
        self.last = None  # time of the last line
        self.first_done = None

    def __call__(self, done: int, total: int, counts: dict) -> None:
        if self.first_done is None:
            self.first_done = done  # resumed orders do not count towards the rate
        if self.tty:
            self._bar(done, total, counts)
            return
        now = time.monotonic()
        if self.last is None or now - self.last >= self.every or done == total:
            self.last = now
            self.stream.write(self.line(done, total, counts, now - self.start) + "\n")
            self.stream.flush()

    def _bar(self, done, total, counts) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=done, unit="order", file=self.stream, dynamic_ncols=True,
                            smoothing=0.05)
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix({k: v for k, v in counts.items() if k != "PASS" and v}, refresh=False)
        if done == total:
            self.close()

    def line(self, done: int, total: int, counts: dict, elapsed: float) -> str:
        rate = (done - self.first_done) / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else None
        eta = "?" if left is None else time.strftime("%H:%M:%S", time.gmtime(left))
        tally = ", ".join(f"{k} {counts.get(k, 0)}" for k in ("FLAG", "REVIEW", "ERROR"))
        pct = 100 * done / total if total else 100.0
        return f"audit: {done}/{total} orders ({pct:.0f}%), {rate:.2f} orders/s, time left {eta}; {tally}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@click.command(context_settings=CONTEXT)
@data_options
@click.option("--orders", "orders_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Orders CSV to audit instead of DATA/orders.csv (photo paths stay relative to DATA).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Result CSV, one row per order (written atomically when the run ends; a folder, "
                   "device or pipe there is refused, as is the same file as --html or --json).")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report here.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes checking orders in parallel (default: one per CPU core; more than the cores warns).")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run with the same --out: orders already checked are kept.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where orders are checked: this machine's process pool, or a Dask cluster.")
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address for --engine dask (tcp://HOST:8786).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the summary as JSON here.")
@db_options("The stations' evidence store, read only: an order whose photo was already used for another "
            "order at any station is photo_reused (REVIEW naming that order and station); the --html report "
            "lists every override recorded in it (shipped without evidence, no code checked: marked) and "
            "the per-station summary of 'history --stations'.", required=False)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@handle_errors
def audit(data_dir, thresholds_path, signals, cache_path, orders_file, out, html_out, workers, resume, engine,
          scheduler, json_out, db_path, photos_dir, quiet):
    """Check every order of a data folder; write one result row per order.

    An order that cannot be checked (missing or corrupt photo, unknown SKU, bad
    row) gets an ERROR row saying why; the run goes on. Results go to a journal
    (OUT.journal) as they come, so a run that was killed continues with --resume;
    OUT and the report are written atomically at the end. SIGTERM stops a run
    as Ctrl-C does (the journal is kept for --resume).

    Exit code 0 when every order passed, 1 when any order was flagged, needs
    review or could not be checked (ERROR rows), 2 when the input itself is
    unusable (a missing column, an unreadable catalogue).

    \b
    Examples:
        packcheck audit --data sample_data --out out/results.csv --html out/report.html
        packcheck audit --data shop --out r.csv --html report.html --db evidence.sqlite
        packcheck audit --data shop --out r.csv --db postgresql://office@db.lan/evidence \\
            --photos-dir /mnt/evidence-photos
        packcheck audit --data /mnt/day --orders /mnt/day/orders-0612.csv --out r.csv --workers 8 --resume
        packcheck audit --data /shared/day --out r.csv --engine dask --scheduler tcp://10.0.0.5:8786
    """
    from ..apps.audit.run import AuditConfig, run_audit

    if scheduler and engine != "dask":
        raise click.UsageError("--scheduler is only used with --engine dask")
    if engine == "dask" and not scheduler:
        raise click.UsageError("--engine dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
    config = AuditConfig(
        data_dir=data_dir, out=out, orders_file=orders_file, html=html_out, workers=workers, resume=resume,
        engine=engine, scheduler=scheduler, thresholds=thresholds_path, cache=cache_path, json=json_out, db=db_path,
        photos_dir=photos_dir,
        signals=tuple(s.strip() for s in signals.split(",") if s.strip()) if signals else None,
    )
    warn_if_more_workers_than_cores(workers if engine == "local" else None)
    progress = None if quiet else Progress(tty=sys.stderr.isatty())
    try:
        with sigterm_as_interrupt():
            summary = run_audit(config, progress=progress)
    finally:
        if progress:
            progress.close()
    click.echo(format_summary(summary))
    from ..core.thresholds import load_thresholds

    warn_if_stale(load_thresholds(thresholds_path))
    sys.exit(EXIT_PASS if summary.exit_code == 0 else EXIT_ATTENTION)


def format_summary(s) -> str:
    """The summary people read at the end of a run (of an :class:`~packcheck.apps.audit.run.AuditSummary`)."""
    from ..apps.audit.rows import reason_text
    from ..apps.audit.run import STATUS_ORDER

    rate = s.checked / s.wall_seconds if s.wall_seconds else 0.0
    lines = [f"audited {s.orders} orders in {s.wall_seconds:.1f} s ({rate:.2f} orders/s, "
             f"{s.workers} worker{'s' if s.workers != 1 else ''}, {s.engine} engine)"
             + (f"; {s.resumed} resumed from the journal" if s.resumed else "")]
    for st in STATUS_ORDER:
        lines.append(f"  {st:<7}{s.statuses.get(st, 0):>7}")
    if s.reasons:
        lines.append("reasons:")
        width = max(len(r) for r in s.reasons)
        for r, n in s.reasons.items():
            lines.append(f"  {r:<{width}} {n:>6}  {reason_text(r)}")
    slow = s.slowest_stage
    if slow and s.orders:
        stage, share = slow
        lines.append(f"slowest stage: {stage} ({100 * share:.0f}% of check time, "
                     f"{1000 * s.stage_seconds[stage] / s.orders:.0f} ms per order)")
    if s.without_embedding:
        lines.append(f"embedding not needed for {s.without_embedding} of {s.fingerprinted} orders judged from "
                     "photos (clear PASSes: the cascade decided without it)")
    lines.append(f"results: {s.out}")
    if s.html:
        lines.append(f"report:  {s.html}")
    return printable("\n".join(lines), keep="\n")
