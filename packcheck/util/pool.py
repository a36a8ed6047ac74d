"""Worker process pools that fill the cores without oversubscribing them.

Every pool in packcheck (listing index, audit, accuracy benchmark, calibration)
runs one worker per core. Each worker must then use one OpenCV thread and one
BLAS thread: with numpy's default of one BLAS thread per core, two workers on
two cores ran four threads, and the accuracy benchmark's scoring took 2.5x as
long (43.8 s vs 17.4 s on 225 photos x 64 classes).

The BLAS setting must be in a worker's environment before it imports numpy. It
is put there while the worker process is started and taken out again at once:
the host process's environment is left as it was.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

#: Read by numpy's BLAS (OpenBLAS, MKL) and OpenMP when a process starts.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class _OneThreadProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker whose environment says one BLAS/OpenMP thread (unless the user set a number)."""

    def start(self) -> None:
        added = [var for var in _THREAD_VARS if var not in os.environ]
        for var in added:
            os.environ[var] = "1"
        try:
            super().start()  # the child's environment is copied from this one now
        finally:
            for var in added:
                os.environ.pop(var, None)


class _OneThreadContext(multiprocessing.context.SpawnContext):
    Process = _OneThreadProcess


def spawn_pool(workers: int, *, initializer=None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ``spawn`` process pool whose workers use one BLAS and one OpenCV thread each, and die with
    the process that made them.

    spawn, not fork: a forked child inherits OpenCV's thread-pool locks mid-use and
    can hang. A user's own BLAS thread setting in the environment wins.

    A worker outliving its parent (killed with SIGKILL, or crashed) would hold
    about 180 MB, and keep multiprocessing's resource tracker alive, for good. On
    Linux the kernel kills each worker when its parent dies (``PR_SET_PDEATHSIG``);
    everywhere a watchdog thread in each worker ends it once its parent is gone.
    (Linux sends that signal when the *thread* that started the worker ends: make
    and use a pool from a thread that outlives it, as every packcheck pool does.)
    """
    return ProcessPoolExecutor(max_workers=workers, mp_context=_OneThreadContext(),
                               initializer=_worker_start, initargs=(os.getpid(), initializer, initargs))


#: How often a worker's watchdog looks whether its parent is still there.
WATCHDOG_S = 1.0
#: prctl option: the signal the kernel sends this process when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def _worker_start(parent: int, initializer, initargs) -> None:
    import cv2

    _die_with_parent(parent)
    cv2.setNumThreads(1)
    if initializer is not None:
        initializer(*initargs)


def _die_with_parent(parent: int) -> None:
    """End this worker process when ``parent`` (the pool's owner) is gone."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watchdog below still works
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_S)
        os._exit(1)

    threading.Thread(target=watch, name="packcheck-parent-watchdog", daemon=True).start()
