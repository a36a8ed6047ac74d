"""Worker process pools that fill the cores without oversubscribing them.

Every pool in packcheck (listing index, audit, accuracy benchmark, calibration)
runs one worker per core. Each worker must then use one OpenCV thread and one
BLAS thread: with numpy's default of one BLAS thread per core, two workers on
two cores ran four threads, and the accuracy benchmark's scoring took 2.5x as
long (43.8 s vs 17.4 s on 225 photos x 64 classes).
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

#: Read by numpy's BLAS (OpenBLAS, MKL) and OpenMP when a process starts.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def spawn_pool(workers: int, *, initializer=None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ``spawn`` process pool whose workers use one BLAS and one OpenCV thread each.

    spawn, not fork: a forked child inherits OpenCV's thread-pool locks mid-use and
    can hang. The BLAS setting must be in the environment before a worker imports
    numpy, so it is set here, in this process's environment (where it is not set
    already: a user's own setting wins), and stays set for later pools.
    """
    for var in _THREAD_VARS:
        os.environ.setdefault(var, "1")
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_start, initargs=(initializer, initargs))


def _worker_start(initializer, initargs) -> None:
    import cv2

    cv2.setNumThreads(1)
    if initializer is not None:
        initializer(*initargs)
