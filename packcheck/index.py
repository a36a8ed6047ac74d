"""The listing index: every listing image's fingerprint, computed once, kept on disk.

Fingerprints are stored in SQLite keyed by the SHA-256 of the image file's bytes
and the pipeline version, so an unchanged image is never fingerprinted twice
(across runs, processes and data folders) and an edited one always is. To avoid
re-reading every listing image at start-up, a second table remembers each path's
size, modification time and digest; only a file whose size or mtime changed is
hashed again.

In memory the catalogue becomes a few stacked arrays (embeddings, colour
histograms, hashes), so comparing a photo with every listing image is a handful
of vectorised operations. Keypoint descriptors are the bulk of the data and are
only needed for a shortlist, so they are read lazily, per image.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from . import fingerprint as fp_mod
from .errors import ImageError, PackcheckError
from .fingerprint import Fingerprint
from .imaging import load_image
from .keypoints import Keypoints

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fingerprints (
    sha256 TEXT NOT NULL, pipeline INTEGER NOT NULL, core BLOB NOT NULL, keypoints BLOB NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (sha256, pipeline)
);
"""
_EMPTY_KP = Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), (0, 0))


def default_cache_path(data_dir: Path) -> Path:
    """Where a data folder's index lives unless told otherwise."""
    return Path(data_dir) / ".packcheck-cache" / "index.sqlite"


def _split(fp: Fingerprint) -> tuple[bytes, bytes]:
    """Two blobs: everything but the keypoints (loaded at start-up), and the keypoints (loaded lazily)."""
    core = dataclasses.replace(fp, keypoints=_EMPTY_KP).to_bytes()
    buf = io.BytesIO()
    np.savez(buf, points=fp.keypoints.points, desc=fp.keypoints.descriptors,
             size=np.array(fp.keypoints.size, np.int32))
    return core, buf.getvalue()


def _kp_from_bytes(data: bytes) -> Keypoints:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return Keypoints(z["points"], z["desc"], tuple(int(v) for v in z["size"]))


def fingerprint_file(path: str) -> tuple[str, bytes, bytes]:
    """Fingerprint one listing image file: (sha256, core blob, keypoint blob). Runs in workers."""
    image = load_image(path)
    core, kp = _split(fp_mod.fingerprint_listing(image))
    return image.sha256, core, kp


class FingerprintStore:
    """The SQLite file behind the index. Safe to share between processes (WAL, busy timeout)."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            target = str(self.path) if self.path is not None else ":memory:"
            conn = sqlite3.connect(target, timeout=60, isolation_level=None)
            if self.path is not None:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._local.conn = conn
        return conn

    def digest(self, path: Path) -> str:
        """The SHA-256 of a file's bytes, from the cache when size and mtime are unchanged."""
        st = path.stat()
        key = str(path)
        row = self._conn().execute("SELECT size, mtime_ns, sha256 FROM files WHERE path=?", (key,)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return row[2]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self._conn().execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?)",
                             (key, st.st_size, st.st_mtime_ns, digest))
        return digest

    def has(self, digests: Iterable[str]) -> set[str]:
        digests = list(digests)
        found = set()
        for i in range(0, len(digests), 500):
            chunk = digests[i:i + 500]
            q = f"SELECT sha256 FROM fingerprints WHERE pipeline=? AND sha256 IN ({','.join('?' * len(chunk))})"
            found.update(r[0] for r in self._conn().execute(q, (fp_mod.PIPELINE_VERSION, *chunk)))
        return found

    def put(self, digest: str, core: bytes, kp: bytes) -> None:
        self._conn().execute("INSERT OR REPLACE INTO fingerprints VALUES (?,?,?,?,?)",
                             (digest, fp_mod.PIPELINE_VERSION, core, kp, time.time()))

    def core(self, digest: str) -> Fingerprint:
        row = self._conn().execute("SELECT core FROM fingerprints WHERE sha256=? AND pipeline=?",
                                   (digest, fp_mod.PIPELINE_VERSION)).fetchone()
        if row is None:
            raise KeyError(digest)
        return Fingerprint.from_bytes(row[0])

    def keypoints(self, digest: str) -> Keypoints:
        row = self._conn().execute("SELECT keypoints FROM fingerprints WHERE sha256=? AND pipeline=?",
                                   (digest, fp_mod.PIPELINE_VERSION)).fetchone()
        return _kp_from_bytes(row[0]) if row else _EMPTY_KP


@dataclass
class ListingIndex:
    """Stacked fingerprints of a set of listing images, plus who each image belongs to.

    Row ``i`` of every array is listing image ``i``; ``owners[i]`` is its SKU (or
    class id in a benchmark manifest).
    """

    owners: list[str]
    digests: list[str]
    paths: list[str]
    embeddings: np.ndarray  # (N, 4 turns, 1280) float32, unit rows
    hists: np.ndarray  # (N, HIST_SIZE)
    labs: np.ndarray  # (N, 3)
    colour_hashes: np.ndarray  # (N, 14) uint8
    hashes: np.ndarray  # (N, 4 rotations, 4 hashes) uint64
    store: FingerprintStore

    def __post_init__(self):
        self._kp_cache: dict[int, Keypoints] = {}
        self._rows_of: dict[str, list[int]] = {}
        for i, o in enumerate(self.owners):
            self._rows_of.setdefault(o, []).append(i)
        self.sqrt_hists = np.sqrt(np.clip(self.hists, 0, None)).astype(np.float32)

    def __len__(self) -> int:
        return len(self.owners)

    def rows_of(self, owner: str) -> list[int]:
        return self._rows_of.get(owner, [])

    def keypoints(self, row: int) -> Keypoints:
        kp = self._kp_cache.get(row)
        if kp is None:
            kp = self.store.keypoints(self.digests[row])
            if len(self._kp_cache) > 20_000:
                self._kp_cache.clear()
            self._kp_cache[row] = kp
        return kp


def build_index(
    entries: list[tuple[str, Path]],
    *,
    cache: Path | None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ListingIndex:
    """Index listing images ``(owner, path)``: fingerprint what the cache lacks, load the rest.

    Parameters
    ----------
    entries : (owner, image path) pairs; an owner (SKU) may have several images.
    cache : SQLite file for fingerprints (None: in memory, gone at exit).
    workers : processes used to fingerprint new images.
    progress : called as ``progress(done, total)`` while new images are fingerprinted.

    Raises
    ------
    ImageError naming the listing image that cannot be read.
    """
    store = FingerprintStore(cache)
    digests = []
    for owner, path in entries:
        try:
            digests.append(store.digest(Path(path)))
        except OSError as e:
            raise ImageError(f"listing image {path} of '{owner}' cannot be read ({e.strerror or e})") from None
    have = store.has(digests)
    todo = {}
    for (owner, path), d in zip(entries, digests):
        if d not in have and d not in todo:
            todo[d] = (owner, str(path))
    if todo:
        log.info("fingerprinting %d new listing image(s)", len(todo))
        _fingerprint_all(store, todo, workers, progress)
    cores = [store.core(d) for d in digests]
    dim = 1280
    emb = np.stack([c.embeddings if len(c.embeddings) else np.zeros((4, dim), np.float32) for c in cores]) \
        if cores else np.zeros((0, 4, dim), np.float32)
    return ListingIndex(
        owners=[o for o, _ in entries],
        digests=digests,
        paths=[str(p) for _, p in entries],
        embeddings=np.ascontiguousarray(emb, np.float32),
        hists=np.stack([c.hists[0] for c in cores]) if cores else np.zeros((0, 1)),
        labs=np.stack([c.labs[0] for c in cores]) if cores else np.zeros((0, 3)),
        colour_hashes=np.stack([c.colour_hashes[0] for c in cores]) if cores else np.zeros((0, 14), np.uint8),
        hashes=np.stack([c.hashes for c in cores]) if cores else np.zeros((0, 4, 4), np.uint64),
        store=store,
    )


def _fingerprint_all(store: FingerprintStore, todo: dict, workers: int, progress) -> None:
    items = list(todo.items())
    total = len(items)

    def fail(owner, path, e):
        raise ImageError(f"listing image {path} of '{owner}': {e}") from None

    if workers <= 1 or total < 4:
        for n, (digest, (owner, path)) in enumerate(items, 1):
            try:
                got, core, kp = fingerprint_file(path)
            except PackcheckError as e:
                fail(owner, path, e)
            store.put(digest, core, kp)
            if progress:
                progress(n, total)
        return
    # spawn, not fork: a forked child inherits OpenCV's thread pool locks mid-use and can hang.
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [(d, o, p, pool.submit(fingerprint_file, p)) for d, (o, p) in items]
        for n, (digest, owner, path, fut) in enumerate(futures, 1):
            try:
                _, core, kp = fut.result()
            except PackcheckError as e:
                fail(owner, path, e)
            store.put(digest, core, kp)
            if progress:
                progress(n, total)


def _worker_init() -> None:
    # One OpenCV thread per worker process: the processes are the parallelism.
    import cv2

    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
