"""The two databases the evidence store runs on: SQLite (one station, zero configuration) and PostgreSQL
(a warehouse of stations, one shared store).

:class:`~packcheck.apps.evidence.store.EvidenceStore` writes its SQL once, with ``?`` parameters and
the schema's ``{serial}`` / ``{bytes}`` type names; a backend turns that into its own dialect, owns
the connection, the write transaction (and the lock that serialises appends to the evidence chain),
the schema version and a consistent read snapshot for verification. Nothing else differs, so the
rows, and therefore the chain hashes and signatures, are the same on both.

PostgreSQL needs the ``postgres`` extra (psycopg 3): ``pip install 'packcheck[postgres]'``.
"""
from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

from ...errors import PackcheckError

#: How long a writer waits for another station's transaction before giving up.
BUSY_TIMEOUT_MS = 30_000
#: Key of the PostgreSQL advisory lock that serialises appends to the evidence chain (one chain per
#: database: one site). Any 64-bit number no other application on the server uses.
CHAIN_LOCK_KEY = 0x7061636B63686B31  # "packchk1"
#: The environment variable a station, ``history`` and ``evidence`` read when ``--db`` is not given.
DB_ENV = "PACKCHECK_DB"


class DatabaseUnavailable(PackcheckError):
    """The evidence database cannot be reached (server down, restarted, network); nothing was written."""


def is_url(target: str | os.PathLike) -> bool:
    """True for a PostgreSQL URL (``postgresql://`` or ``postgres://``), False for a SQLite file path."""
    return isinstance(target, str) and target.split("://", 1)[0].lower() in ("postgresql", "postgres")


def redact(url: str) -> str:
    """The URL without its password, for messages and bundles.

    >>> redact("postgresql://ana:secret@db.lan:5432/evidence")
    'postgresql://ana@db.lan:5432/evidence'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class SqliteBackend:
    """One SQLite file: WAL journal, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` writes (which also
    serialise chain appends: one writer at a time per file)."""

    kind = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, *, read_only: bool = False):
        self.path = path
        self.where = str(path)
        self.read_only = read_only
        self.conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro" if read_only else path,
                                    timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                    check_same_thread=False, uri=read_only)
        self.lock = threading.RLock()

    def setup(self) -> None:
        c = self.conn
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if self.read_only:
            return  # a reader (the audit's look-ups) sets nothing in the file
        # Switching to WAL needs a moment of exclusive access; another process
        # opening the same new database at the same instant can make it fail once.
        for attempt in range(50):
            try:
                mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == 49:
                    raise
                time.sleep(0.05)
        if str(mode).lower() != "wal":
            import logging

            logging.getLogger(__name__).warning("evidence database %s is in %s journal mode, not WAL",
                                                self.path, mode)
        # FULL: a committed check survives a power cut, not only a process crash.
        c.execute("PRAGMA synchronous = FULL")
        c.execute("PRAGMA foreign_keys = ON")

    @staticmethod
    def ddl(statement: str) -> str:
        return statement.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", bytes="BLOB")

    def execute(self, sql: str, args=()):
        return self.conn.execute(sql, tuple(args))

    def executemany(self, sql: str, rows) -> None:
        self.conn.executemany(sql, rows)

    @contextlib.contextmanager
    def write(self) -> Iterator["SqliteBackend"]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock up front, so writers queue, never fork the chain."""
        from ...util.sqlite import transaction

        with transaction(self.conn, lock=self.lock):
            yield self

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self.conn.execute(f"PRAGMA user_version = {int(version)}")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator["SqliteBackend"]:
        """A read-only connection holding one snapshot (rows another station adds meanwhile are not half seen)."""
        reader = SqliteBackend.__new__(SqliteBackend)
        reader.path, reader.where, reader.lock = self.path, self.where, threading.RLock()
        reader.conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True,
                                      timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            reader.conn.execute("BEGIN")
            yield reader
            reader.conn.execute("COMMIT")
        finally:
            reader.conn.close()

    def handed_out_id(self, table: str) -> int | None:
        """The highest id SQLite ever handed out in ``table`` (transactional, so a deleted tail shows)."""
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        return int(row[0]) if row else None

    def reset_ids(self, table: str) -> None:
        """After rows were copied in with their ids: nothing to do (AUTOINCREMENT follows the largest id)."""

    def close(self) -> None:
        with self.lock:
            self.conn.close()


_PARAM = re.compile(r"\?")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


class PostgresBackend:
    """One PostgreSQL database shared by every station of a site.

    Autocommit connection; writes are ``BEGIN`` ... ``COMMIT`` holding a transaction-level advisory
    lock (:data:`CHAIN_LOCK_KEY`), so appends from any number of stations are serialised and the chain
    never forks. A connection lost to a server restart is opened again at the next statement.
    """

    kind = "postgresql"

    def __init__(self, url: str, *, read_only: bool = False):
        try:
            import psycopg
        except ImportError:
            raise PackcheckError("a PostgreSQL evidence store needs psycopg: pip install 'packcheck[postgres]'") \
                from None
        self._psycopg = psycopg
        self.errors = (psycopg.Error,)
        self.url = url
        self.where = redact(url)
        self.path = None
        self.lock = threading.RLock()
        self.conn = None
        # A reader's sessions refuse every write, on each reconnection too.
        self._options = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        self._connect()

    def _connect(self):
        psycopg = self._psycopg
        try:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10, **self._options)
        except psycopg.OperationalError as e:
            raise DatabaseUnavailable(f"cannot reach the evidence database {self.where} ({_first_line(e)}); "
                                      "check the server is running and the --db URL") from None

    def _live(self):
        if self.conn is None or self.conn.closed or self.conn.broken:
            self._connect()
        return self.conn

    def setup(self) -> None:
        pass

    @staticmethod
    def ddl(statement: str) -> str:
        return statement.format(serial="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", bytes="BYTEA")

    @staticmethod
    def sql(text: str) -> str:
        return _PARAM.sub("%s", text.replace("%", "%%"))

    def _run(self, fn):
        try:
            return fn(self._live())
        except self._psycopg.OperationalError as e:
            conn = self.conn
            if conn is not None and (conn.closed or conn.broken):
                raise DatabaseUnavailable(f"lost the evidence database {self.where} ({_first_line(e)}); "
                                          "nothing was written; it is tried again at the next check") from None
            raise

    def execute(self, sql: str, args=()):
        return self._run(lambda c: c.execute(self.sql(sql), tuple(args)))

    def executemany(self, sql: str, rows) -> None:
        rows = list(rows)
        if rows:
            # One statement per row, not psycopg's executemany: that runs in libpq's pipeline mode,
            # and a server lost mid-pipeline raised "cannot exit pipeline mode while busy" on a
            # connection not yet marked broken, which escaped the unavailability path (bench fleet
            # through a restart, 1 run in 3). The rows are a check's few photo hashes.
            text = self.sql(sql)
            self._run(lambda c: [c.execute(text, tuple(r)) for r in rows])

    @contextlib.contextmanager
    def write(self) -> Iterator["PostgresBackend"]:
        with self.lock:
            self.execute("BEGIN")
            try:
                self.execute("SELECT pg_advisory_xact_lock(?)", (CHAIN_LOCK_KEY,))
                yield self
                self.execute("COMMIT")
            except BaseException:
                conn = self.conn
                if conn is not None and not conn.closed and not conn.broken:
                    conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        if self.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
            has_checks = self.execute("SELECT to_regclass('checks')").fetchone()[0] is not None
            if has_checks:
                raise PackcheckError(f"{self.where} has a 'checks' table but no packcheck schema_migrations; "
                                     "give an empty database to packcheck")
            return 0
        return int(self.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        """PostgreSQL keeps the version only in ``schema_migrations`` (written by the migration itself)."""

    @contextlib.contextmanager
    def snapshot(self) -> Iterator["PostgresBackend"]:
        """A second connection in one ``REPEATABLE READ READ ONLY`` transaction (stations keep writing)."""
        reader = PostgresBackend(self.url)
        try:
            reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield reader
            reader.execute("COMMIT")
        finally:
            reader.close()

    def handed_out_id(self, table: str) -> int | None:
        """Not known: PostgreSQL sequences hand out ids outside transactions (a rolled-back check uses one)."""
        return None

    def reset_ids(self, table: str) -> None:
        """After rows were copied in with their ids: the next id follows the largest."""
        self.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                     f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()


def open_backend(target: str | os.PathLike, *, read_only: bool = False):
    """The backend for a ``--db`` value: a PostgreSQL URL, else a SQLite file path. ``read_only``: the
    connection cannot write (SQLite ``mode=ro``; PostgreSQL read-only transactions)."""
    if is_url(target):
        return PostgresBackend(str(target), read_only=read_only)
    return SqliteBackend(Path(target), read_only=read_only)
