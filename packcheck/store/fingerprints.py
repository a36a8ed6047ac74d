"""The fingerprint store: every listing image's fingerprint in SQLite, keyed by its content.

Fingerprints are stored keyed by the SHA-256 of the image file's bytes and the
pipeline version, so an unchanged image is never fingerprinted twice (across
runs, processes and data folders) and an edited one always is. To avoid
re-reading every listing image at start-up, a second table remembers each path's
size, modification time and digest; only a file whose size or mtime changed is
hashed again.

Beside each fingerprint the store keeps the arrays the index needs as raw bytes
(tables ``signatures`` and ``features``): reading them is a memory copy, where
unpacking the fingerprint's ``.npz`` costs about a millisecond per image (two
minutes at start-up for 100,000 images). A store written by an older packcheck
gets them on first use. The in-memory index built from it is
:mod:`packcheck.store.index`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from ..core import duplicates as dup, fingerprint as fp_mod, search
from ..core.embedding import EMBEDDING_DIM
from ..core.fingerprint import Fingerprint
from ..core.keypoints import Keypoints
from ..errors import PackcheckError
from ..util.sqlite import check_database_path, transaction

log = logging.getLogger(__name__)

#: Quarter-turns a listing image is fingerprinted at (its embeddings are stored per turn).
TURNS = 4
_CHUNK = 500  # SQLite host parameters per query
_SCAN_FROM = 5_000  # keys from which one table scan beats a lookup per key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fingerprints (
    sha256 TEXT NOT NULL, pipeline INTEGER NOT NULL, core BLOB NOT NULL, keypoints BLOB NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (sha256, pipeline)
);
-- The arrays the index stacks, as raw little-endian bytes. The small ones every
-- start-up reads (hashes (4 turns, 4) uint64, colour_hash (14,) uint8, lab (3,)
-- float32) have a table of their own, so reading them touches ~200 bytes per image;
-- hist (HIST_SIZE,) float32 and embeddings (4 turns, EMBEDDING_DIM) float16 are
-- read whole only for a small catalogue, and by the row for a large one.
CREATE TABLE IF NOT EXISTS signatures (
    sha256 TEXT NOT NULL, pipeline INTEGER NOT NULL, hashes BLOB NOT NULL, colour_hash BLOB NOT NULL,
    lab BLOB NOT NULL, PRIMARY KEY (sha256, pipeline)
);
CREATE TABLE IF NOT EXISTS features (
    sha256 TEXT NOT NULL, pipeline INTEGER NOT NULL, hist BLOB NOT NULL, embeddings BLOB NOT NULL,
    PRIMARY KEY (sha256, pipeline)
);
-- PCA bases of large catalogues (search.CoarseBasis), and each image's coarse vector under one.
CREATE TABLE IF NOT EXISTS bases (
    key TEXT PRIMARY KEY, pipeline INTEGER NOT NULL, fitted_on INTEGER NOT NULL, data BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS coarse (
    sha256 TEXT NOT NULL, basis TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (sha256, basis)
);
-- Each listing image's near-duplicate frame (core.duplicates.Frame: grey, keypoints, background
-- mask) as a compressed .npz, for the photo_is_listing check; keyed by duplicates.FRAME_VERSION.
CREATE TABLE IF NOT EXISTS frames (
    sha256 TEXT NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (sha256, version)
);
"""
_EMPTY_KP = Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), (0, 0))


def default_cache_path(data_dir: Path) -> Path:
    """Where a data folder's index lives unless told otherwise.

    ``DATA/.packcheck-cache/index.sqlite``; when that folder cannot be written (a
    read-only data folder, a share mounted read-only), the user's cache folder
    (``$XDG_CACHE_HOME/packcheck/``, else ``~/.cache/packcheck/``) instead, with a
    warning, one file per data folder. Neither writable: a PackcheckError that
    suggests ``--cache``.
    """
    beside = Path(data_dir) / ".packcheck-cache" / "index.sqlite"
    problem = _unwritable(beside)
    if problem is None:
        return beside
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "packcheck"
    key = hashlib.sha256(os.path.realpath(data_dir).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    fallback = base / f"index-{key}.sqlite"
    if _unwritable(fallback) is not None:
        raise PackcheckError(f"cannot write the listing index in {beside.parent} ({problem}) nor in {base}; "
                             "give --cache a file in a folder you can write to")
    if (str(data_dir), str(fallback)) not in _WARNED:
        _WARNED.add((str(data_dir), str(fallback)))
        log.warning("the data folder cannot hold its listing index (%s: %s); using %s instead "
                    "(give --cache to choose)", beside.parent, problem, fallback)
    return fallback


_WARNED: set[tuple[str, str]] = set()


def _unwritable(path: Path) -> str | None:
    """Why an SQLite file cannot be written at ``path`` (its folder created if need be), or None."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite needs to create its -wal and -shm files beside the database: try for real.
        with tempfile.TemporaryFile(dir=path.parent):
            pass
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            return f"{path.name} is read-only"
    except OSError as e:
        return e.strerror or str(e)
    return None


def to_blobs(fp: Fingerprint) -> tuple[bytes, bytes]:
    """Two blobs: everything but the keypoints, and the keypoints (loaded lazily)."""
    core = dataclasses.replace(fp, keypoints=_EMPTY_KP).to_bytes()
    buf = io.BytesIO()
    np.savez(buf, points=fp.keypoints.points, desc=fp.keypoints.descriptors,
             size=np.array(fp.keypoints.size, np.int32))
    return core, buf.getvalue()


def _kp_from_bytes(data: bytes) -> Keypoints:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return Keypoints(z["points"], z["desc"], tuple(int(v) for v in z["size"]))


def _array_rows(digest: str, fp: Fingerprint) -> tuple[tuple, tuple]:
    """A listing fingerprint's ``signatures`` and ``features`` rows. The values are exactly
    those the fingerprint's own bytes hold (embeddings are stored as float16 there too)."""
    emb = fp.embeddings if len(fp.embeddings) else np.zeros((TURNS, EMBEDDING_DIM), np.float32)
    if emb.shape != (TURNS, EMBEDDING_DIM):
        raise ValueError(f"a listing fingerprint has ({TURNS}, {EMBEDDING_DIM}) embeddings, got {emb.shape}")
    key = (digest, fp_mod.PIPELINE_VERSION)
    return ((*key, np.ascontiguousarray(fp.hashes, np.uint64).tobytes(),
             np.ascontiguousarray(fp.colour_hashes[0], np.uint8).tobytes(),
             np.ascontiguousarray(fp.labs[0], np.float32).tobytes()),
            (*key, np.ascontiguousarray(fp.hists[0], np.float32).tobytes(),
             np.ascontiguousarray(emb, np.float16).tobytes()))


def chunks(items: list, size: int = _CHUNK):
    """``items`` in slices of ``size`` (SQLite takes a few hundred host parameters per query)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


class FingerprintStore:
    """The SQLite file behind the index. Safe to share between processes (WAL, busy timeout)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._local = threading.local()
        try:
            if path is not None:
                check_database_path(path, what="the listing index")
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            with self._conn() as c:
                c.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise PackcheckError(f"cannot open the listing index {path} ({getattr(e, 'strerror', None) or e}); "
                                 "give --cache a file in a folder you can write to") from None

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

    def _select(self, table: str, columns: str, key: str, keys: list, **where) -> list[tuple]:
        """Rows ``(key, *columns)`` of ``table`` whose ``key`` is one of ``keys`` and whose
        other columns equal ``where``. Many keys are found by one scan of the table, which
        beats a B-tree lookup per key from a few thousand keys on."""
        cond = "".join(f" AND {c}=?" for c in where)
        params = tuple(where.values())
        sql = f"SELECT {key}, {columns} FROM {table} WHERE 1{cond}"
        if len(keys) >= _SCAN_FROM:
            wanted = set(keys)
            return [r for r in self._conn().execute(sql, params) if r[0] in wanted]
        out = []
        for chunk in chunks(sorted(set(keys))):
            out.extend(self._conn().execute(f"{sql} AND {key} IN ({','.join('?' * len(chunk))})",
                                            (*params, *chunk)))
        return out

    # -- files: path -> content digest ---------------------------------------------
    def digest(self, path: Path) -> str:
        """The SHA-256 of a file's bytes, from the cache when size and mtime are unchanged."""
        return self.digests([path])[0]

    def digests(self, paths: list) -> list[str]:
        """:meth:`digest` of many files, with one query per few hundred files.

        Raises the ``OSError`` of the first file that cannot be read; its ``filename`` names it.
        """
        keys = [os.fspath(p) for p in paths]
        known = {r[0]: r[1:] for r in self._select("files", "size, mtime_ns, sha256", "path", keys)}
        out, changed = [], []
        for key in keys:
            st = os.stat(key)
            row = known.get(key)
            if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
                out.append(row[2])
                continue
            with open(key, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            known[key] = (st.st_size, st.st_mtime_ns, digest)
            changed.append((key, st.st_size, st.st_mtime_ns, digest))
            out.append(digest)
        if changed:
            with self._transaction() as c:
                c.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", changed)
        return out

    def _transaction(self):
        return transaction(self._conn())

    # -- fingerprints ----------------------------------------------------------------
    def has(self, digests: Iterable[str]) -> set[str]:
        return {r[0] for r in self._select("fingerprints", "pipeline", "sha256", list(digests),
                                           pipeline=fp_mod.PIPELINE_VERSION)}

    def put(self, digest: str, core: bytes, kp: bytes, *, fingerprint: Fingerprint | None = None) -> None:
        """Store one listing image's fingerprint (``fingerprint``: the same, unpacked, if at hand)."""
        self.put_many([(digest, core, kp, fingerprint)])

    def put_many(self, items: Iterable[tuple[str, bytes, bytes, Fingerprint | None]]) -> None:
        """Store many fingerprints ``(digest, core, kp, fingerprint or None)`` in one transaction."""
        now = time.time()
        fps, sigs, feats = [], [], []
        for digest, core, kp, fp in items:
            fp = fp if fp is not None else Fingerprint.from_bytes(core)
            fps.append((digest, fp_mod.PIPELINE_VERSION, core, kp, now))
            sig, feat = _array_rows(digest, fp)
            sigs.append(sig)
            feats.append(feat)
        with self._transaction() as c:
            c.executemany("INSERT OR REPLACE INTO fingerprints VALUES (?,?,?,?,?)", fps)
            self._put_arrays(c, sigs, feats)

    @staticmethod
    def _put_arrays(c: sqlite3.Connection, sigs: list, feats: list) -> None:
        c.executemany("INSERT OR REPLACE INTO signatures VALUES (?,?,?,?,?)", sigs)
        c.executemany("INSERT OR REPLACE INTO features VALUES (?,?,?,?)", feats)

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

    # -- the arrays, as raw bytes ----------------------------------------------------
    def signatures(self, digests: list[str]) -> dict[str, tuple[bytes, bytes, bytes]]:
        """digest -> (hashes, colour_hash, lab) blobs, for the digests that have them."""
        return {r[0]: r[1:] for r in self._select("signatures", "hashes, colour_hash, lab", "sha256", digests,
                                                  pipeline=fp_mod.PIPELINE_VERSION)}

    def features(self, digests: list[str]) -> dict[str, tuple[bytes, bytes]]:
        """digest -> (hist, embeddings) blobs."""
        return {r[0]: r[1:] for r in self._select("features", "hist, embeddings", "sha256", digests,
                                                  pipeline=fp_mod.PIPELINE_VERSION)}

    def backfill(self, digests: list[str]) -> None:
        """Write the array rows of fingerprints an older packcheck stored without them (once per image)."""
        if digests:
            log.info("unpacking %d stored fingerprint(s) once", len(digests))
        for chunk in chunks(sorted(set(digests))):
            rows = [_array_rows(d, self.core(d)) for d in chunk]
            with self._transaction() as c:
                self._put_arrays(c, [r[0] for r in rows], [r[1] for r in rows])

    # -- listing frames (the photo_is_listing check) --------------------------------
    def has_frames(self, digests: Iterable[str]) -> set[str]:
        return {r[0] for r in self._select("frames", "version", "sha256", list(digests),
                                           version=dup.FRAME_VERSION)}

    def frame(self, digest: str) -> dup.Frame | None:
        """The listing image's stored :class:`~packcheck.core.duplicates.Frame`, None if it has none."""
        row = self._conn().execute("SELECT data FROM frames WHERE sha256=? AND version=?",
                                   (digest, dup.FRAME_VERSION)).fetchone()
        return dup.frame_from_bytes(row[0]) if row else None

    def put_frames(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Store listing frames ``(digest, frame_to_bytes blob)`` in one transaction."""
        with self._transaction() as c:
            c.executemany("INSERT OR REPLACE INTO frames VALUES (?,?,?)",
                          [(d, dup.FRAME_VERSION, blob) for d, blob in items])

    # -- coarse bases and vectors (large catalogues) --------------------------------
    def latest_basis(self) -> search.CoarseBasis | None:
        row = self._conn().execute("SELECT data FROM bases WHERE pipeline=? ORDER BY created DESC LIMIT 1",
                                   (fp_mod.PIPELINE_VERSION,)).fetchone()
        return search.CoarseBasis.from_bytes(row[0]) if row else None

    def put_basis(self, basis: search.CoarseBasis) -> None:
        self._conn().execute("INSERT OR REPLACE INTO bases VALUES (?,?,?,?,?)",
                             (basis.key, fp_mod.PIPELINE_VERSION, basis.fitted_on, basis.to_bytes(), time.time()))

    def coarse_vectors(self, key: str, digests: list[str]) -> dict[str, bytes]:
        return dict(self._select("coarse", "vector", "sha256", digests, basis=key))

    def put_coarse(self, key: str, items: list[tuple[str, bytes]]) -> None:
        with self._transaction() as c:
            c.executemany("INSERT OR REPLACE INTO coarse VALUES (?,?,?)", [(d, key, v) for d, v in items])
