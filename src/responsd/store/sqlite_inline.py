"""Small SQLite statements run on the event loop's own thread, when they need not wait.

A trip to a worker thread costs more than a small SQLite write: in the server, saving a
stored response on a thread added ~0.3-0.45 ms to its latency against saving it inline
(`bench.overhead`, README), while SQLite's own insert and commit take ~0.05 ms of CPU.
So on SQLite a response's save and the chain-head read are first tried on a connection of
the loop's thread that never waits: its `busy_timeout` is 0 and a write begins with
`BEGIN IMMEDIATE`, so when another connection (a worker thread, another process) holds the
write lock, the attempt fails at once, having done nothing, and the caller takes the thread
path, which waits for the lock as before.

That connection never checkpoints the WAL itself (a checkpoint fsyncs the database file):
every CHECKPOINT_EVERY commits, one runs on a worker thread instead, and saves wait for it
as they would for SQLite's own at commit.
"""

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

CHECKPOINT_EVERY = 200
"""Inline commits between two WAL checkpoints (a few pages each: a WAL of a few MB)."""
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Busy(Exception):
    """The database was locked: nothing was done, take the thread path."""


class LoopConnection:
    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._thread: int | None = None
        self.commits = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None)  # statements as given
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conn, self._thread = conn, threading.get_ident()
        elif threading.get_ident() != self._thread:
            raise Busy  # sqlite3 connections stay on their thread
        return self._conn

    def write(self, statements: Sequence[tuple[str, Any, bool]]) -> None:
        """Run (sql, parameters, many) statements in one transaction; Busy when the
        database is locked (then nothing was written)."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _busy(exc) from exc
        try:
            for sql, parameters, many in statements:
                if many:
                    conn.executemany(sql, parameters)
                else:
                    conn.execute(sql, parameters)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise _busy(exc) from exc
            raise
        self.commits += 1

    def read(self, sql: str, parameters: Any) -> list[tuple[Any, ...]]:
        """The rows of a small query; Busy when the database cannot be read at once."""
        try:
            # Read to the end: a statement left mid-way would hold its read snapshot open
            # and keep checkpoints from reusing the WAL.
            return self._connection().execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as exc:
            raise _busy(exc) from exc

    def close(self) -> None:
        if self._conn is not None and threading.get_ident() == self._thread:
            self._conn.close()
        self._conn = None


def _busy(exc: sqlite3.OperationalError) -> Exception:
    """Busy for a locked database; any other operational error as it is."""
    return Busy() if exc.sqlite_errorcode in _BUSY else exc
