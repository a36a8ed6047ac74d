"""Where orders are checked: in this process, on a local process pool, or on a Dask cluster.

Each engine takes ``(seq, order)`` pairs and yields ``(seq, order, (row, extra))``
in completion order, with at most :data:`IN_FLIGHT_PER_WORKER` orders per
worker in flight (memory stays flat). Every worker opens its own
:class:`~packcheck.apps.checker.Checker` from a picklable :class:`CheckerSpec`
and uses one OpenCV thread, so every engine gives the same rows. The pool
survives a worker crash: the orders in flight are retried one at a time, and
the one that kills a worker twice gets an ERROR row.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2

from ...core.records import Order
from ...core.thresholds import load_thresholds
from ...errors import PackcheckError
from ...store.fingerprints import default_cache_path
from ...util.pool import spawn_pool
from ..checker import Checker
from .rows import audit_order, failure_row

log = logging.getLogger(__name__)

#: Orders in flight per worker: enough to keep every worker busy, few enough to keep memory flat.
IN_FLIGHT_PER_WORKER = 4
#: How long to try reaching a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT_S = 20


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


@contextlib.contextmanager
def engine(config, spec: CheckerSpec, checker: Checker, workers: int, todo) -> Iterator:
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
