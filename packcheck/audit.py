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
  the same :class:`~packcheck.checker.Checker`.

The CSV is safe to open in a spreadsheet: a text cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``
(plain numbers such as ``-1.25`` are left alone).
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2

from .checker import Checker
from .core import checks
from .core.records import Catalogue, Order
from .core.thresholds import load_thresholds
from .core.verdict import REASONS, Status, Verdict, error_verdict
from .errors import PackcheckError
from .store import dataset
from .store.fingerprints import default_cache_path
from .util.fsio import atomic_write, sweep_temp_files
from .util.pool import spawn_pool

log = logging.getLogger(__name__)

#: Columns of the result CSV, in order.
COLUMNS = (
    "order_id", "status", "reasons", "message", "skus",
    "item_score", "item_limit", "variant_score", "variant_limit", "nearest_sku",
    "expected_components", "packed_components", "missing_components", "extra_components",
    "photo", "photo_sha256", "station", "first_row", "seconds", "thresholds_version",
)
#: Reason codes the audit adds to :data:`packcheck.core.verdict.REASONS`.
AUDIT_REASONS = {
    "check_failed": "the check stopped with an unexpected error (a bug): the message has the details",
    "worker_crashed": "the check crashed its worker process twice (a bug): the message has the details",
}
STATUS_ORDER = ("PASS", "REVIEW", "FLAG", "ERROR")
#: Orders in flight per worker: enough to keep every worker busy, few enough to keep memory flat.
IN_FLIGHT_PER_WORKER = 4
#: The journal is committed (fsync) at most this often; a crash loses at most this much work, never a row.
COMMIT_EVERY_S = 1.0
#: How long to try reaching a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT_S = 20
_JOURNAL_VERSION = "1"
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def reason_text(code: str) -> str:
    """A reason code in plain words."""
    return REASONS.get(code) or AUDIT_REASONS.get(code) or code


def spreadsheet_safe(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula, by prefixing ``'``.

    Examples
    --------
    >>> spreadsheet_safe('=HYPERLINK("http://x")'), spreadsheet_safe("-1.25"), spreadsheet_safe("ok")
    ('\\'=HYPERLINK("http://x")', '-1.25', 'ok')
    """
    if value and value[0] in "=+-@\t\r" and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class CheckerSpec:
    """How to open the :class:`Checker`: picklable, so each worker process opens its own."""

    root: str
    thresholds: str | None = None
    signals: tuple[str, ...] | None = None
    cache: str | None = None

    def open(self, *, workers: int = 1) -> Checker:
        th = load_thresholds(self.thresholds)
        if self.signals:
            th = th.with_signals(list(self.signals))
        cache = Path(self.cache) if self.cache else default_cache_path(Path(self.root))
        return Checker.open(self.root, thresholds=th, cache=cache, workers=workers)


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

    @property
    def journal(self) -> Path:
        return journal_path(self.out)

    def spec(self) -> CheckerSpec:
        return CheckerSpec(root=str(Path(self.data_dir).resolve()),
                           thresholds=str(self.thresholds) if self.thresholds else None,
                           signals=tuple(self.signals) if self.signals else None,
                           cache=str(Path(self.cache).resolve()) if self.cache else None)


def journal_path(out: Path) -> Path:
    """The journal that belongs to an output file: ``results.csv`` -> ``results.csv.journal``."""
    out = Path(out)
    return out.with_name(out.name + ".journal")


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
    per_sku: dict[str, dict[str, int]] = field(default_factory=dict)
    per_station: dict[str, dict[str, int]] = field(default_factory=dict)

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
            "workers": self.workers, "engine": self.engine, "out": str(self.out),
            "html": str(self.html) if self.html else None, "exit_code": self.exit_code,
        }


# ---------------------------------------------------------------- one order -> one row
def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _rel(path: str | Path, root: Path) -> str:
    p = Path(path)
    try:
        return str(p.relative_to(root))
    except ValueError:
        try:
            return str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            return str(p)


def result_row(verdict: Verdict, order: Order, *, root: Path, catalogue: Catalogue,
               seconds: float) -> tuple[dict, dict]:
    """The CSV row of one order's verdict, and the extra facts the HTML report shows.

    Both are plain JSON-able dicts (they travel from worker processes and are
    kept in the journal).
    """
    items = [c for c in verdict.checks if c.check == "item"]
    variants = [c for c in verdict.checks if c.check == "variant"]
    worst_item = min(items, key=lambda c: c.value) if items else None
    worst_variant = min(variants, key=lambda c: c.value) if variants else None
    comp = verdict.check("components")
    if comp is not None:
        expected, packed = comp.detail("expected", ""), comp.detail("packed", "")
        missing, extra_c = comp.detail("missing", ""), comp.detail("extra", "")
    else:  # not judged (ERROR): still say what the order needs
        known = [line for line in order.lines if line.sku in catalogue.items]
        expected = ", ".join(f"{c} x{n}" for c, n in checks.expected_components(catalogue, known).items())
        packed = "not recorded" if order.packed is None else ", ".join(f"{c} x{n}" for c, n in order.packed)
        missing = extra_c = ""
    photos = [_rel(p, root) for p in (verdict.photo_paths or order.photos)]
    row = {
        "order_id": order.order_id,
        "status": str(verdict.status),
        "reasons": ";".join(verdict.reasons),
        "message": verdict.message,
        "skus": ";".join(order.skus),
        "item_score": _num(worst_item.value) if worst_item else "",
        "item_limit": _num(worst_item.review_below) if worst_item else "",
        "variant_score": _num(worst_variant.value) if worst_variant else "",
        "variant_limit": _num(worst_variant.review_below) if worst_variant else "",
        "nearest_sku": (worst_item.detail("nearest_sku") or "") if worst_item else "",
        "expected_components": expected,
        "packed_components": packed,
        "missing_components": missing,
        "extra_components": extra_c,
        "photo": ";".join(photos),
        "photo_sha256": ";".join(verdict.photos),
        "station": order.station or "",
        "first_row": str(order.first_row),
        "seconds": f"{seconds:.3f}",
        "thresholds_version": verdict.thresholds_version,
    }
    extra = {
        "checks": [
            {"check": c.check, "status": str(c.status), "reason": c.reason, "message": c.message,
             "value": c.value, "flag_below": c.flag_below, "review_below": c.review_below, "sku": c.sku}
            for c in verdict.checks
        ],
        "timings": {k: round(v, 6) for k, v in verdict.timings},
    }
    if worst_item is not None:
        own, near = worst_item.detail("own_fused"), worst_item.detail("nearest_fused")
        near_image = worst_item.detail("nearest_image")
        extra.update(
            item_sku=worst_item.sku,
            listing_image=_rel(worst_item.detail("listing_image"), root),
            nearest_image=_rel(near_image, root) if near_image else None,
            looks_like=bool(worst_item.status is not Status.PASS and near is not None and own is not None
                            and near > own),
        )
    if worst_variant is not None:
        extra.update({k: worst_variant.detail(k) for k in
                      ("nearest_sibling", "ordered_lab", "sibling_lab", "found_lab")})
        extra["variant_sku"] = worst_variant.sku
    return row, json.loads(json.dumps(extra, default=_plain))


def _plain(v):
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"{type(v).__name__} is not JSON-able")


def audit_order(checker: Checker, order: Order) -> tuple[dict, dict]:
    """Check one order and turn the verdict into a row; never raises.

    An unexpected exception (a bug, not bad input) becomes an ERROR row whose
    message names the exception, so one order cannot stop a night's audit.
    """
    t = time.perf_counter()
    # OpenCV's k-means and RANSAC draw from a per-thread RNG that every call
    # advances; locate.py seeds it before its own calls, and seeding it here too
    # (0 is OpenCV's start state) keeps any other user in the pipeline from making
    # a row depend on which orders this process checked before.
    cv2.setRNGSeed(0)
    try:
        verdict = checker.check(order)
    except Exception as e:  # noqa: BLE001 - the row records it
        log.exception("order %s: the check failed", order.order_id)
        verdict = error_verdict(order.order_id, "check_failed",
                                f"the check failed unexpectedly ({type(e).__name__}: {e}); "
                                "this is a bug, please report it with this order's photo",
                                thresholds_version=checker.thresholds.version,
                                photo_paths=[str(p) for p in order.photos])
    seconds = time.perf_counter() - t
    try:
        return result_row(verdict, order, root=checker.root, catalogue=checker.catalogue, seconds=seconds)
    except Exception as e:  # noqa: BLE001
        log.exception("order %s: the result row could not be built", order.order_id)
        return failure_row(order, "check_failed", f"the result could not be recorded ({type(e).__name__}: {e}); "
                           "this is a bug, please report it", root=checker.root,
                           thresholds_version=checker.thresholds.version)


def failure_row(order: Order, reason: str, message: str, *, root: Path,
                thresholds_version: str) -> tuple[dict, dict]:
    """An ERROR row built from the order alone (when the check itself could not run)."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(order_id=order.order_id, status="ERROR", reasons=reason, message=message,
               skus=";".join(order.skus), station=order.station or "", first_row=str(order.first_row),
               photo=";".join(_rel(p, root) for p in order.photos), thresholds_version=thresholds_version)
    return row, {"checks": [], "timings": {}}


# ---------------------------------------------------------------- workers
_WORKER: dict = {}
_WORKER_LOCK = threading.Lock()


def _one_thread() -> None:
    # The worker processes are the parallelism; OpenCV's own thread pool would
    # only make them fight over the cores (and scores must not depend on it).
    cv2.setNumThreads(1)


def _worker_checker(spec: CheckerSpec) -> Checker:
    """The Checker of this process for ``spec``, opened once."""
    with _WORKER_LOCK:
        checker = _WORKER.get(spec)
        if checker is None:
            _one_thread()
            _WORKER.clear()
            checker = _WORKER[spec] = spec.open()
        return checker


def _work(spec: CheckerSpec, order: Order, version: str) -> tuple[dict, dict]:
    """The per-order task of the process pool and of Dask."""
    try:
        checker = _worker_checker(spec)
    except Exception as e:  # noqa: BLE001 - the data folder changed under us, or a bug
        return failure_row(order, "check_failed", f"the worker could not open the data folder ({e})",
                           root=Path(spec.root), thresholds_version=version)
    return audit_order(checker, order)


Result = tuple[int, Order, tuple[dict, dict]]


def _serial(checker: Checker, orders: Iterable[tuple[int, Order]]) -> Iterator[Result]:
    for seq, order in orders:
        yield seq, order, audit_order(checker, order)


class _Pool:
    """A process pool that survives a worker crash: the orders in flight are retried one by one."""

    def __init__(self, spec: CheckerSpec, workers: int, thresholds_version: str):
        self.spec, self.workers, self.version = spec, workers, thresholds_version
        self.pool = self._start()

    def _failed(self, order: Order, reason: str, message: str) -> tuple[dict, dict]:
        return failure_row(order, reason, message, root=Path(self.spec.root), thresholds_version=self.version)

    def _start(self) -> ProcessPoolExecutor:
        # spawn (the parent holds threads: progress bar, SQLite, an OpenCV pool), one
        # OpenCV and one BLAS thread per worker: the workers already fill the cores.
        return spawn_pool(self.workers)

    def _restart(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = self._start()

    def run(self, orders: Iterable[tuple[int, Order]]) -> Iterator[Result]:
        inflight: dict = {}
        limit = self.workers * IN_FLIGHT_PER_WORKER
        try:
            for seq, order in orders:
                while len(inflight) >= limit:
                    yield from self._collect(inflight, FIRST_COMPLETED)
                inflight[self.pool.submit(_work, self.spec, order, self.version)] = (seq, order)
            while inflight:
                yield from self._collect(inflight, FIRST_COMPLETED)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _collect(self, inflight: dict, how) -> Iterator[Result]:
        done, _ = wait(list(inflight), return_when=how)
        broken = []
        for fut in done:
            seq, order = inflight.pop(fut)
            try:
                yield seq, order, fut.result()
            except BrokenProcessPool:
                broken.append((seq, order))
            except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be pickled
                yield seq, order, self._failed(order, "check_failed", f"the worker failed ({type(e).__name__}: {e})")
        if broken:
            # Every order in flight fails with the pool; only one of them killed it.
            broken += list(inflight.values())
            inflight.clear()
            yield from self._isolate(sorted(broken, key=lambda x: x[0]))

    def _isolate(self, suspects: list[tuple[int, Order]]) -> Iterator[Result]:
        log.warning("a worker process died; re-checking %d order(s) one at a time", len(suspects))
        self._restart()
        for seq, order in suspects:
            try:
                yield seq, order, self.pool.submit(_work, self.spec, order, self.version).result()
            except BrokenProcessPool as e:
                self._restart()
                yield seq, order, self._failed(
                    order, "worker_crashed",
                    f"checking this order crashed the worker process twice ({e or 'process died'}); "
                    "check its photo in an image viewer and report it")


def _dask(spec: CheckerSpec, scheduler: str, orders: Iterable[tuple[int, Order]],
          thresholds_version: str) -> Iterator[Result]:
    """Run the per-order task on a Dask cluster, a bounded number of orders in flight."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise PackcheckError("the dask engine needs Dask; install it with: pip install 'packcheck[dask]'") from None
    try:
        client = Client(scheduler, timeout=f"{DASK_CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise PackcheckError(f"cannot reach the Dask scheduler at {scheduler} ({e}); "
                             "check the address (tcp://HOST:8786) and that the scheduler is running") from None
    run_id = uuid.uuid4().hex[:8]
    try:
        limit = max(1, sum(client.nthreads().values())) * IN_FLIGHT_PER_WORKER
        pending = as_completed(loop=client.loop)
        meta: dict = {}

        def collect(fut) -> Result:
            seq, order = meta.pop(fut.key)
            try:
                return seq, order, fut.result()
            except Exception as e:  # noqa: BLE001 - KilledWorker, lost connection ...
                return seq, order, failure_row(order, "worker_crashed",
                                               f"the Dask task failed ({type(e).__name__}: {e})",
                                               root=Path(spec.root), thresholds_version=thresholds_version)
            finally:
                fut.release()

        for seq, order in orders:
            while pending.count() >= limit:
                yield collect(next(pending))
            fut = client.submit(_work, spec, order, thresholds_version, pure=False,
                                key=f"packcheck-audit-{run_id}-{seq}")
            meta[fut.key] = (seq, order)
            pending.add(fut)
        for fut in pending:
            yield collect(fut)
    finally:
        client.close()


# ---------------------------------------------------------------- the journal
def input_fingerprint(config: AuditConfig, thresholds_version: str) -> str:
    """What a journal's rows depend on: the CSVs' bytes and the thresholds."""
    h = hashlib.sha256()
    root = Path(config.data_dir)
    files = [Path(config.orders_file) if config.orders_file else root / dataset.ORDERS,
             root / dataset.CATALOGUE, root / dataset.COMPONENTS, root / dataset.PACKED]
    for path in files:
        h.update(str(path.name).encode() + b"\0")
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except FileNotFoundError:
            h.update(b"<absent>")
        h.update(b"\0")
    h.update(thresholds_version.encode())
    return h.hexdigest()


class Journal:
    """The rows of a run so far, in an SQLite file next to the output.

    Rows are committed at most every :data:`COMMIT_EVERY_S` seconds with
    ``synchronous=FULL``: a crash loses only rows not yet committed, and those
    orders are simply checked again on resume. An exclusive ``flock`` on the
    file keeps two audits from writing the same output at once.
    """

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS rows (
        seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
        row TEXT NOT NULL, extra TEXT NOT NULL
    );
    """

    def __init__(self, path: Path, fingerprint: str, *, resume: bool):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The lock is on our own descriptor of the journal (flock, which SQLite's
            # POSIX locks do not touch); it is closed only after the database.
            self._lock = open(self.path, "ab")
        except OSError as e:
            raise PackcheckError(f"cannot write the audit journal {self.path} ({e.strerror or e}); "
                                 "choose an --out in a folder you can write to") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise PackcheckError(f"another audit is writing to {self.path} right now; "
                                 "wait for it to finish or choose another --out") from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            if not resume:
                old = self.db.execute("SELECT name FROM sqlite_master WHERE name='rows'").fetchone()
                if old and self.db.execute("SELECT count(*) FROM rows").fetchone()[0]:
                    log.warning("starting over: the earlier run's rows in %s are discarded "
                                "(pass --resume to continue a run instead)", self.path)
                self.db.executescript("DROP TABLE IF EXISTS rows; DROP TABLE IF EXISTS meta;")
            self.db.executescript(self._SCHEMA)
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as e:
            self._lock.close()
            raise PackcheckError(f"{self.path} is not an audit journal ({e}); delete it or choose another --out") \
                from None
        self.resumed = bool(meta)
        if meta and (meta.get("version") != _JOURNAL_VERSION or meta.get("input") != fingerprint):
            self.close()
            raise PackcheckError(
                f"{self.path} belongs to a run over other input (orders, catalogue, components, packed or "
                "thresholds changed since); run again without --resume to start over")
        if not meta:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                [("version", _JOURNAL_VERSION), ("input", fingerprint)])
        self.db.execute("BEGIN")
        self._last_commit = time.monotonic()

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM rows").fetchone()[0]

    def status_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM rows GROUP BY status"))

    def has(self, order_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM rows WHERE order_id=?", (order_id,)).fetchone() is not None

    def add(self, seq: int, row: dict, extra: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO rows VALUES (?,?,?,?,?)",
                        (seq, row["order_id"], row["status"], json.dumps(row), json.dumps(extra)))
        if time.monotonic() - self._last_commit >= COMMIT_EVERY_S:
            self.commit()

    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")
        self._last_commit = time.monotonic()

    def rows(self, where: str = "", params=()) -> Iterator[tuple[dict, dict]]:
        """(row, extra) in input order, streamed from disk."""
        cur = self.db.cursor()
        for row, extra in cur.execute(f"SELECT row, extra FROM rows {where} ORDER BY seq", params):
            yield json.loads(row), json.loads(extra)

    def close(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        self.db.close()
        self._lock.close()


# ---------------------------------------------------------------- the result file
def write_csv(f, rows: Iterable[dict]) -> None:
    """The result rows as spreadsheet-safe CSV (UTF-8 with a BOM, so spreadsheets read it as UTF-8)."""
    f.write("\ufeff")
    w = csv.writer(f, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in rows:
        w.writerow([spreadsheet_safe(str(row.get(c, ""))) for c in COLUMNS])


# ---------------------------------------------------------------- the run
def _count_orders(config: AuditConfig) -> int:
    """Distinct order ids in the orders file (header problems raise here, before any work)."""
    ids = {rec["order_id"] for _, rec in dataset.iter_order_rows(config.data_dir, config.orders_file)}
    return len(ids)


def summarise(journal: Journal, *, checked: int, wall_seconds: float, workers: int, engine: str,
              out: Path, html: Path | None) -> AuditSummary:
    """Counts per status, reason, SKU and station, and stage times, in one pass over the journal."""
    statuses: Counter = Counter()
    reasons: Counter = Counter()
    stages: Counter = Counter()
    per_sku: dict[str, Counter] = {}
    per_station: dict[str, Counter] = {}
    check_seconds = 0.0
    n = 0
    for row, extra in journal.rows():
        n += 1
        status = row["status"]
        statuses[status] += 1
        reasons.update(r for r in row["reasons"].split(";") if r)
        stages.update(extra.get("timings", {}))
        check_seconds += float(row["seconds"] or 0)
        for sku in dict.fromkeys(s for s in row["skus"].split(";") if s):
            per_sku.setdefault(sku, Counter())[status] += 1
        if row["station"]:
            per_station.setdefault(row["station"], Counter())[status] += 1
    return AuditSummary(
        orders=n, checked=checked, statuses={s: statuses[s] for s in STATUS_ORDER},
        reasons=dict(reasons.most_common()), stage_seconds=dict(stages), check_seconds=check_seconds,
        wall_seconds=wall_seconds, workers=workers, engine=engine, out=out, html=html,
        per_sku={k: dict(v) for k, v in sorted(per_sku.items())},
        per_station={k: dict(v) for k, v in sorted(per_station.items())},
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
    workers = max(1, config.workers or os.cpu_count() or 1)
    spec = config.spec()
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
        with _engine(config, spec, checker, workers, todo) as results:
            for seq, order, (row, extra) in results:
                journal.add(seq, row, extra)
                checked += 1
                counts[row["status"]] += 1
                if progress:
                    progress(done_before + checked, total, dict(counts))
        journal.commit()
        summary = summarise(journal, checked=checked, wall_seconds=time.perf_counter() - t0, workers=workers,
                            engine=config.engine, out=Path(config.out), html=config.html)
        _write_out(config.out, lambda f: write_csv(f, (row for row, _ in journal.rows())))
        if config.html:
            from . import report

            _write_out(config.html, lambda f: report.write_report(
                f, rows=lambda status: journal.rows("WHERE status=?", (status,)), summary=summary,
                catalogue=checker.catalogue, root=checker.root, reason_text=reason_text))
    finally:
        journal.close()
    summary.wall_seconds = time.perf_counter() - t0
    return summary


def _write_out(path: Path, write: Callable) -> None:
    try:
        sweep_temp_files(Path(path).parent)  # what a killed run was writing
        atomic_write(path, write)
    except OSError as e:
        raise PackcheckError(f"cannot write {path} ({e.strerror or e}); every result is kept in the journal: "
                             "free some space or fix the folder, then run again with --resume") from None


@contextlib.contextmanager
def _engine(config: AuditConfig, spec: CheckerSpec, checker: Checker, workers: int, todo) -> Iterator:
    """The results of the chosen engine, as (seq, order, (row, extra)) in completion order."""
    version = checker.thresholds.version
    if config.engine == "dask":
        results = _dask(spec, config.scheduler, todo, version)
    elif workers > 1:
        results = _Pool(spec, workers, version).run(todo)
    else:
        results = _serial(checker, todo)
    threads = cv2.getNumThreads()
    if config.engine == "local" and workers == 1:
        _one_thread()  # the same single-threaded arithmetic as the workers
    try:
        yield results
    finally:
        results.close()  # stops the pool or the Dask client even when the caller fails
        cv2.setNumThreads(threads)


def format_summary(s: AuditSummary) -> str:
    """The summary people read at the end of a run."""
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
    lines.append(f"results: {s.out}")
    if s.html:
        lines.append(f"report:  {s.html}")
    return "\n".join(lines)
