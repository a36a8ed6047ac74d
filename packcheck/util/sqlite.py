"""The one SQLite transaction helper.

Every packcheck database (listing index, evidence store) opens its connection in
autocommit mode (``isolation_level=None``) and groups writes with
:func:`transaction`, so what is one transaction is written in one place.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from typing import Iterator

from .fsio import check_output_path


def check_database_path(path: str | os.PathLike, *, what: str) -> None:
    """Refuse a database path that is (or links to) a folder, device, pipe or socket, before SQLite opens it.

    SQLite would open a device and write ``NAME-journal`` beside it (``--db /dev/null``
    left ``/dev/null-journal`` behind, as root), or fail on a pipe with "disk I/O error".
    Raises :class:`~packcheck.errors.OutputError` naming ``what`` and the path.
    """
    check_output_path(os.path.realpath(path), what=what)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, lock=None) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back when the block (or the commit) fails.

    IMMEDIATE takes the write lock up front, so two writers queue on the busy
    timeout instead of one failing half-way. ``lock`` (a ``threading`` lock) is
    held for the whole transaction, for a connection shared by threads.

    Examples
    --------
    >>> conn = sqlite3.connect(":memory:", isolation_level=None)
    >>> _ = conn.execute("CREATE TABLE t (x)")
    >>> with transaction(conn) as c:
    ...     _ = c.execute("INSERT INTO t VALUES (1)")
    >>> conn.execute("SELECT count(*) FROM t").fetchone()[0]
    1
    """
    with lock if lock is not None else contextlib.nullcontext():
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
