"""The audit's journal: every row of a run in SQLite beside the output, as results arrive.

A run killed at any moment (kill -9, power cut) and started again with
``resume=True`` checks only the orders not yet in the journal. The journal
remembers a fingerprint of the input (orders, catalogue, components, packed,
thresholds) and refuses to resume a different one; an exclusive ``flock`` keeps
two audits from writing one output at once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Iterator

from ...errors import OutputError, PackcheckError
from ...store import dataset
from ...util.fsio import check_output_path, open_regular, write_error

log = logging.getLogger(__name__)

#: The journal is committed (fsync) at most this often; a crash loses at most this much work, never a row.
COMMIT_EVERY_S = 1.0
_JOURNAL_VERSION = "1"
#: The files SQLite keeps beside a database in WAL mode (and in rollback mode).
_SIDE_FILES = ("-wal", "-shm", "-journal")


def journal_path(out: Path) -> Path:
    """The journal that belongs to an output file: ``results.csv`` -> ``results.csv.journal``."""
    out = Path(out)
    return out.with_name(out.name + ".journal")


def input_fingerprint(config, thresholds_version: str) -> str:
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
        except OSError as e:
            raise write_error(self.path, e, "the audit journal") from None
        # The lock is on our own descriptor of the journal (flock, which SQLite's POSIX
        # locks do not touch); it is closed only after the database. Opened without
        # following a symlink, and SQLite's side files are checked the same way, so a
        # link planted at the journal's (predictable) name cannot redirect its writes.
        self._check_side_files()
        fd = open_regular(self.path, what="the audit journal")
        self._lock = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise PackcheckError(f"another audit is writing to {self.path} right now; "
                                 "wait for it to finish or choose another --out") from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        except sqlite3.Error as e:
            self._lock.close()
            raise self._error(e, resume=resume) from None
        try:
            self._check_same_file()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self._check_side_files()
            if not resume:
                old = self.db.execute("SELECT name FROM sqlite_master WHERE name='rows'").fetchone()
                if old and self.db.execute("SELECT count(*) FROM rows").fetchone()[0]:
                    log.warning("starting over: the earlier run's rows in %s are discarded "
                                "(pass --resume to continue a run instead)", self.path)
                self.db.executescript("DROP TABLE IF EXISTS rows; DROP TABLE IF EXISTS meta;")
            self.db.executescript(self._SCHEMA)
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
        except (sqlite3.Error, PackcheckError) as e:
            error = e if isinstance(e, PackcheckError) else self._error(e, resume=resume)
            self.db.close()
            self._lock.close()
            raise error from None
        self.resumed = bool(meta)
        if meta and (meta.get("version") != _JOURNAL_VERSION or meta.get("input") != fingerprint):
            self.close()
            raise PackcheckError(
                f"{self.path} belongs to a run over other input (orders, catalogue, components, packed or "
                "thresholds changed since); run again without --resume to start over")
        try:
            if not meta:
                self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                    [("version", _JOURNAL_VERSION), ("input", fingerprint)])
            self.db.execute("BEGIN")
        except sqlite3.Error as e:
            error = self._error(e, resume=resume)
            self.db.close()
            self._lock.close()
            raise error from None
        self._last_commit = time.monotonic()

    def _check_side_files(self) -> None:
        """Refuse a symlink or special file where SQLite will write the journal's side files."""
        for suffix in _SIDE_FILES:
            side = self.path.with_name(self.path.name + suffix)
            if side.is_symlink():
                raise OutputError(f"{side} is a symbolic link; packcheck does not write through one: "
                                  "remove it (it is the audit journal's own file) and run again")
            check_output_path(side, what="the audit journal's file")

    def _check_same_file(self) -> None:
        """The file SQLite opened is the one we opened and locked (not swapped for a link meanwhile)."""
        try:
            st = os.lstat(self.path)
        except OSError:
            st = None
        mine = os.fstat(self._lock.fileno())
        if st is None or not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino):
            raise OutputError(f"{self.path} was replaced while the audit opened it (by a link or another "
                              "file); check who else writes in that folder, then run again")

    def _error(self, e: sqlite3.Error, *, resume: bool) -> PackcheckError:
        """What to tell the user when the journal cannot be opened or written."""
        name = getattr(e, "sqlite_errorname", "")
        if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            return PackcheckError(f"{self.path} is not an audit journal ({e}); delete it or choose another --out")
        kept = (" The journal is kept: once that is fixed, run the same command with --resume and the "
                "orders already in it are not checked again." if resume or self._has_rows() else "")
        if name in ("SQLITE_FULL", "SQLITE_IOERR") or "disk is full" in str(e):
            return OutputError(f"cannot write the audit journal {self.path} ({e}): the disk is full or failing; "
                               f"free some space on it or choose an --out on another disk.{kept}")
        return OutputError(f"cannot write the audit journal {self.path} ({e}); check that the folder is "
                           f"writable and has space, or choose another --out.{kept}")

    def _has_rows(self) -> bool:
        try:
            return bool(getattr(self, "db", None) and self.db.execute("SELECT count(*) FROM rows").fetchone()[0])
        except sqlite3.Error:
            return False

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM rows").fetchone()[0]

    def status_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM rows GROUP BY status"))

    def has(self, order_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM rows WHERE order_id=?", (order_id,)).fetchone() is not None

    def add(self, seq: int, row: dict, extra: dict) -> None:
        try:
            self.db.execute("INSERT OR REPLACE INTO rows VALUES (?,?,?,?,?)",
                            (seq, row["order_id"], row["status"], json.dumps(row), json.dumps(extra)))
        except sqlite3.Error as e:
            raise self._error(e, resume=True) from None
        if time.monotonic() - self._last_commit >= COMMIT_EVERY_S:
            self.commit()

    def commit(self) -> None:
        try:
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")
        except sqlite3.Error as e:
            raise self._error(e, resume=True) from None
        self._last_commit = time.monotonic()

    def get(self, order_id: str) -> tuple[int, dict, dict] | None:
        """(seq, row, extra) of one order, for a later pass over the run that changes it (:meth:`add`)."""
        got = self.db.execute("SELECT seq, row, extra FROM rows WHERE order_id=?", (order_id,)).fetchone()
        return (got[0], json.loads(got[1]), json.loads(got[2])) if got else None

    def rows(self, where: str = "", params=()) -> Iterator[tuple[dict, dict]]:
        """(row, extra) in input order, streamed from disk."""
        cur = self.db.cursor()
        for row, extra in cur.execute(f"SELECT row, extra FROM rows {where} ORDER BY seq", params):
            yield json.loads(row), json.loads(extra)

    def close(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("COMMIT")
        except sqlite3.Error as e:
            log.warning("the last rows of %s could not be committed (%s); --resume checks them again", self.path, e)
        finally:
            self.db.close()
            self._lock.close()
