"""The nightly batch audit: every order of a data folder checked, one result row each, nothing lost.

:func:`run_audit` streams the orders (:func:`~packcheck.store.dataset.iter_orders`),
checks them on an *engine* (this process, a local process pool, or a Dask
cluster) and records one row per order in a *journal*, an SQLite file next to
the output, as results arrive. When every order is in the journal, the result
CSV (and the HTML report) are written from it in input order, each to a
temporary name and then renamed, so a reader never sees half a file.

Guarantees:

* **One row per distinct order, always.** An order with bad rows, a missing or
  corrupt photo, an unknown SKU, or a check that raised an unexpected exception
  (a bug) or crashed its worker process gets an ERROR row whose message says
  why; the run goes on.
* **Resumable.** A run killed at any moment (kill -9, power cut) and started
  again with ``resume=True`` checks only the orders not yet in the journal. The
  journal remembers a fingerprint of the input (orders, catalogue, components,
  packed, thresholds) and refuses to resume a different one.
* **Flat memory.** Orders are streamed, at most a few per worker are in flight,
  and rows go to disk as they come; no verdicts are kept.
* **Same rows on every engine.** Serial, process pool and Dask give the same
  rows (the ``seconds`` column aside): each worker uses one OpenCV thread and
  the same :class:`~packcheck.apps.checker.Checker`.

The CSV is safe to open in a spreadsheet: a text cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``
(plain numbers such as ``-1.25`` are left alone).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from ...errors import OutputError, PackcheckError
from ...store import dataset
from ...store.fingerprints import default_cache_path
from ...util.fsio import atomic_write, check_output_path, same_file, sweep_temp_files
from . import frame
from .engines import CheckerSpec, engine
from .journal import Journal, input_fingerprint, journal_path
from .rows import reason_text, write_csv

log = logging.getLogger(__name__)

STATUS_ORDER = ("PASS", "REVIEW", "FLAG", "ERROR")


@dataclass(frozen=True)
class AuditConfig:
    """What to audit and where the results go (the options of ``packcheck audit``)."""

    data_dir: Path
    out: Path
    orders_file: Path | None = None
    html: Path | None = None
    workers: int | None = None  # None: one per CPU core
    resume: bool = False
    engine: str = "local"  # "local" or "dask"
    scheduler: str | None = None  # Dask scheduler address, for engine="dask"
    thresholds: Path | None = None
    signals: tuple[str, ...] | None = None
    cache: Path | None = None
    json: Path | None = None  # the summary as JSON, written at the end like the CSV
    # The stations' evidence store (a SQLite file or a PostgreSQL URL), read only: photos already used
    # for another order there are photo_reused; the HTML report lists its overrides and its stations.
    db: str | Path | None = None
    photos_dir: Path | None = None  # the photo folder of a PostgreSQL store

    @property
    def journal(self) -> Path:
        return journal_path(self.out)

    def spec(self) -> CheckerSpec:
        return CheckerSpec(root=str(Path(self.data_dir).resolve()),
                           thresholds=str(self.thresholds) if self.thresholds else None,
                           signals=tuple(self.signals) if self.signals else None,
                           cache=str(Path(self.cache).resolve()) if self.cache else None)


@dataclass
class AuditSummary:
    """Counts and timings of a finished audit (what the CLI prints)."""

    orders: int
    checked: int  # by this run (the rest came from the journal of an interrupted run)
    statuses: dict[str, int]
    reasons: dict[str, int]
    stage_seconds: dict[str, float]  # summed over the orders, from the verdict timings
    check_seconds: float  # summed per-order wall time in the workers
    wall_seconds: float
    workers: int
    engine: str
    out: Path
    html: Path | None
    per_sku: pd.DataFrame | None = None  # frame.summary_by(..., "sku"): orders per SKU and status
    per_station: pd.DataFrame | None = None
    #: Orders whose photos were fingerprinted, and of them those the cascade judged without the embedding.
    fingerprinted: int = 0
    without_embedding: int = 0

    @property
    def resumed(self) -> int:
        return self.orders - self.checked

    @property
    def exit_code(self) -> int:
        """0 when every order passed; 1 when any order was flagged, needs review or could not be checked."""
        return 0 if self.statuses.get("PASS", 0) == self.orders else 1

    @property
    def slowest_stage(self) -> tuple[str, float] | None:
        """(stage, share of the summed stage time)."""
        total = sum(self.stage_seconds.values())
        if not total:
            return None
        stage = max(self.stage_seconds, key=self.stage_seconds.get)
        return stage, self.stage_seconds[stage] / total

    def to_dict(self) -> dict:
        return {
            "orders": self.orders, "checked": self.checked, "resumed": self.resumed,
            "statuses": self.statuses, "reasons": self.reasons,
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "check_seconds": round(self.check_seconds, 3), "wall_seconds": round(self.wall_seconds, 3),
            "fingerprinted": self.fingerprinted, "without_embedding": self.without_embedding,
            "workers": self.workers, "engine": self.engine, "out": str(self.out),
            "html": str(self.html) if self.html else None, "exit_code": self.exit_code,
        }


def check_outputs(config: AuditConfig) -> None:
    """Refuse, before any work, outputs that cannot be written or would destroy something.

    Each of ``--out``, ``--html`` and ``--json`` must be a file name (not a folder, a
    device or a pipe), all three different, and none of them the journal or an input
    (orders, catalogue, components, packed, thresholds, listing index).
    """
    outputs = [(opt, Path(p)) for opt, p in (("--out", config.out), ("--html", config.html),
                                              ("--json", config.json)) if p is not None]
    for opt, path in outputs:
        check_output_path(path, what=opt, replace_database=False)
    for i, (opt, path) in enumerate(outputs):
        for other_opt, other in outputs[:i]:
            if same_file(path, other):
                raise OutputError(f"{other_opt} and {opt} are the same file ({path}); give each its own name")
    root = Path(config.data_dir)
    inputs = [("the audit journal", config.journal),
              ("the orders file", Path(config.orders_file) if config.orders_file else root / dataset.ORDERS),
              ("the catalogue", root / dataset.CATALOGUE), ("the components file", root / dataset.COMPONENTS),
              ("the packed file", root / dataset.PACKED)]
    inputs += [("the thresholds file", Path(config.thresholds))] if config.thresholds else []
    inputs += [("the listing index", Path(config.cache))] if config.cache else []
    for opt, path in outputs:
        for what, other in inputs:
            if same_file(path, other):
                raise OutputError(f"{opt} {path} is {what}; writing it would destroy it: choose another name")


def _count_orders(config: AuditConfig) -> int:
    """Distinct order ids in the orders file (header problems raise here, before any work)."""
    ids = {rec["order_id"] for _, rec in dataset.iter_order_rows(config.data_dir, config.orders_file)}
    return len(ids)


#: Journal rows turned into a DataFrame at a time while summarising (memory stays flat).
SUMMARY_CHUNK = 20_000


def summarise(journal: Journal, *, checked: int, wall_seconds: float, workers: int, engine: str,
              out: Path, html: Path | None) -> AuditSummary:
    """Counts per status, reason, SKU and station (:func:`~packcheck.apps.audit.frame.summary_by`) and
    stage times, in one pass over the journal, a chunk of rows at a time."""
    stages: Counter = Counter()
    tables: dict[str, pd.DataFrame | None] = dict.fromkeys(("status", "reason", "sku", "station"))
    check_seconds = 0.0
    n = fingerprinted = without_embedding = 0
    chunk: list[dict] = []

    def count_chunk() -> None:
        df = frame.to_frame(chunk)
        for key in tables:
            tables[key] = frame.add_summaries(tables[key], frame.summary_by(df, key))
        chunk.clear()

    for row, extra in journal.rows():
        n += 1
        stages.update(extra.get("timings", {}))
        ran = extra.get("stages_run") or []
        fingerprinted += bool(ran)
        without_embedding += bool(ran) and "embedding" not in ran
        check_seconds += float(row["seconds"] or 0)
        chunk.append({k: row[k] for k in ("order_id", "status", "reasons", "skus", "station")})
        if len(chunk) >= SUMMARY_CHUNK:
            count_chunk()
    count_chunk()
    by_status = tables["status"]["orders"]
    # Most common first, ties in order of first appearance.
    reasons = sorted(tables["reason"]["orders"].items(), key=lambda kv: -kv[1])
    return AuditSummary(
        orders=n, checked=checked, statuses={s: int(by_status.get(s, 0)) for s in STATUS_ORDER},
        reasons={r: int(c) for r, c in reasons}, stage_seconds=dict(stages), check_seconds=check_seconds,
        wall_seconds=wall_seconds, workers=workers, engine=engine, out=out, html=html,
        per_sku=tables["sku"].sort_index(), per_station=tables["station"].sort_index(),
        fingerprinted=fingerprinted, without_embedding=without_embedding,
    )


def run_audit(config: AuditConfig, *, progress: Callable[[int, int, dict], None] | None = None) -> AuditSummary:
    """Audit every order of a data folder; write the result CSV (and the HTML report).

    Parameters
    ----------
    config : what to audit, where to write, how many workers, which engine.
    progress : called as ``progress(done, total, status_counts)`` after each order
        (``done`` counts orders resumed from the journal too).

    Returns
    -------
    AuditSummary

    Raises
    ------
    PackcheckError
        When the input itself is unusable (a missing column, an unreadable
        catalogue, a journal of another input with ``resume``); a single bad
        order never raises.

    Examples
    --------
    >>> summary = run_audit(AuditConfig(data_dir=Path("sample_data"), out=Path("out/results.csv")))  # doctest: +SKIP
    >>> summary.statuses  # doctest: +SKIP
    {'PASS': 41, 'REVIEW': 3, 'FLAG': 4, 'ERROR': 2}
    """
    t0 = time.perf_counter()
    if config.engine not in ("local", "dask"):
        raise PackcheckError(f"unknown engine '{config.engine}'; choose local or dask")
    if config.engine == "dask" and not config.scheduler:
        raise PackcheckError("the dask engine needs a scheduler address (--scheduler tcp://HOST:8786)")
    check_outputs(config)
    workers = max(1, config.workers or os.cpu_count() or 1)
    history = _read_history(config) if config.db else None  # a wrong --db fails before the work
    spec = config.spec()
    if spec.cache is None:  # decided once, here: the workers must not each fall back and warn
        spec = dataclasses.replace(spec, cache=str(default_cache_path(Path(spec.root))))
    # Index new listing images once, here, so the workers only read the cache.
    checker = spec.open(workers=workers)
    total = _count_orders(config)  # header problems of the orders file raise here, before any work
    version = checker.thresholds.version
    journal = Journal(config.journal, input_fingerprint(config, version), resume=config.resume)
    try:
        counts = Counter(journal.status_counts())
        done_before = len(journal)
        if journal.resumed:
            log.info("resuming: %d of %d orders already done", done_before, total)
        if progress:
            progress(done_before, total, dict(counts))
        todo = ((seq, order) for seq, order in enumerate(dataset.iter_orders(
            checker.root, checker.catalogue, orders_file=config.orders_file, packed=checker.packed))
            if not (journal.resumed and journal.has(order.order_id)))
        checked = 0
        with engine(config, spec, checker, workers, todo) as results:
            for seq, order, (row, extra) in results:
                journal.add(seq, row, extra)
                checked += 1
                counts[row["status"]] += 1
                if progress:
                    progress(done_before + checked, total, dict(counts))
        mark_reused_photos(journal, checker, history.store if history else None)
        journal.commit()
        if len(journal) != total:
            # One row per distinct order id, always: a count that disagrees means the
            # orders file changed under the run (or a bug); never report fewer silently.
            raise PackcheckError(
                f"the orders file has {total} distinct orders but {len(journal)} were checked; it changed "
                "while the audit ran? Run the same command again with --resume once it is complete")
        summary = summarise(journal, checked=checked, wall_seconds=time.perf_counter() - t0, workers=workers,
                            engine=config.engine, out=Path(config.out), html=config.html)
        _write_out(config.out, lambda f: write_csv(f, (row for row, _ in journal.rows())))
        if config.html:
            from .. import report

            _write_out(config.html, lambda f: report.write_report(
                f, rows=lambda status: journal.rows("WHERE status=?", (status,)), summary=summary,
                catalogue=checker.catalogue, root=checker.root, reason_text=reason_text,
                overrides=history.overrides if history else None, stations=history.stations if history else None,
                db_name=history.name if history else ""))
    finally:
        journal.close()
        if history:
            history.close()
    summary.wall_seconds = time.perf_counter() - t0
    if config.json:
        _write_out(config.json, lambda f: f.write(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False,
                                                             default=str) + "\n"))
    return summary


def mark_reused_photos(journal: Journal, checker, store=None) -> int:
    """``photo_reused`` on the orders of this run whose photos repeat another order's (re-encoded,
    resized or cropped); both orders of a pair go to REVIEW, each naming the other. With ``store`` (the
    stations' :class:`~packcheck.apps.evidence.store.EvidenceStore`, searched by the station's own
    look-up, :class:`~packcheck.apps.duplicates.PhotoHistory`), also the orders whose photo was already used for another order at any station: REVIEW
    naming that order, its check and its station. Returns how many rows changed. Runs after every order
    is in the journal, so every engine gives the same rows."""
    from ...core import duplicates as dup
    from ...core.imaging import load_image
    from ..duplicates import PhotoHistory, find_reuse_in_run

    photos, rows = [], {}
    for row, extra in journal.rows():
        paths = [p for p in row["photo"].split(";") if p]
        shas = [s for s in row["photo_sha256"].split(";") if s]
        for path, sha, sig in zip(paths, shas, extra.get("photo_hashes") or []):
            if sig:
                photos.append((row["order_id"], path, sha, dup.PhotoSignature.from_list(sig)))
    def frame(path: str, sha: str) -> dup.Frame:
        recent = checker.copies.recent(sha)  # judged lately in this process (one worker): still in memory
        return recent.frame if recent is not None else dup.frame_of(load_image(checker.root / path).rgb)

    found = find_reuse_in_run(photos, frame, checker.thresholds.duplicates)
    if store is not None:
        history = PhotoHistory(lambda after: store.photo_signatures(after_check=after), store.photo_bytes,
                               checker.thresholds.duplicates)
        for order_id, result in _reuse_in_history(photos, history, checker.root):
            if all(r.details.other != result.details.other for r in found.get(order_id, ())):
                found.setdefault(order_id, []).append(result)
    if not found:
        return 0
    changed = 0
    for order_id, results in found.items():
        seq, row, extra = journal.get(order_id)
        if "photo_reused" in row["reasons"].split(";") or row["status"] == "ERROR":
            continue  # already marked (a resumed run), or not judged at all
        message = "; ".join(r.message for r in results)
        row["message"] = message if row["status"] == "PASS" else f"{row['message']}; {message}"
        row["status"] = "REVIEW" if row["status"] == "PASS" else row["status"]
        row["reasons"] = ";".join([r for r in row["reasons"].split(";") if r] + ["photo_reused"])
        extra["checks"] = extra.get("checks", []) + [
            {"check": r.check, "status": str(r.status), "reason": r.reason, "message": r.message, "value": r.value,
             "flag_below": None, "review_below": None, "sku": None, "other_order": r.details.other}
            for r in results]
        journal.add(seq, row, extra)
        changed += 1
    return changed


def _reuse_in_history(photos, history, root: Path):
    """(order id, ``photo_reused`` result) for each photo of this run already used for another order in
    the evidence store (the station's look-up, :meth:`~packcheck.apps.duplicates.PhotoHistory.reuse`)."""
    from ...core.imaging import load_image
    from ..duplicates import RecentPhoto

    for order_id, path, sha, sig in photos:
        try:
            hit = history.reuse(order_id, sha, RecentPhoto(sig, lambda p=path: load_image(root / p).rgb))
        except PackcheckError as e:  # the photo vanished since its check: that order's row stands as judged
            log.warning("photo %s of %s not compared with the stored photos: %s", path, order_id, e)
            continue
        if hit is not None:
            yield order_id, hit


@dataclass
class _History:
    """What the audit reads from the stations' evidence store (opened read-only, kept open for the look-ups)."""

    store: object
    name: str
    overrides: dict
    stations: list

    def close(self) -> None:
        self.store.close()


def _read_history(config: AuditConfig) -> _History:
    """The evidence store of ``config.db``, read only: its overrides by order (report.station_overrides), its
    per-station summary (evidence.fleet.station_summaries); kept open for its photo hashes."""
    from .. import report
    from ..evidence.fleet import station_summaries
    from ..evidence.store import EvidenceStore

    store = EvidenceStore.open(config.db, create=False, read_only=True, photos_dir=config.photos_dir)
    try:
        return _History(store, store.name, report.station_overrides(store.history()), station_summaries(store))
    except BaseException:
        store.close()
        raise


def _write_out(path: Path, write: Callable) -> None:
    sweep_temp_files(Path(path).parent)  # what a killed run was writing
    try:
        atomic_write(path, write)
    except OutputError as e:
        raise OutputError(f"{e}; every result is kept in the journal: once fixed, run the same command "
                          "again with --resume (nothing is checked twice)") from None
