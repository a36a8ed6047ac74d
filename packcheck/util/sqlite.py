"""The one SQLite transaction helper.

Every packcheck database (listing index, evidence store) opens its connection in
autocommit mode (``isolation_level=None``) and groups writes with
:func:`transaction`, so what is one transaction is written in one place.
"""
from __future__ import annotations

import contextlib
import sqlite3
from typing import Iterator


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
