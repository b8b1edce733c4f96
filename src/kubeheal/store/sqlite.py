"""The SQLite backend of the ledger (stdlib ``sqlite3``): the default database.

Durability: file databases use WAL journaling with ``synchronous=FULL``. WAL lets readers
(the report, health checks) run while the operator writes. ``FULL`` syncs the WAL on every
commit, so a committed idempotency key survives a power cut or a node crash as well as a
process crash; with ``NORMAL`` the last commits could be lost after a power cut and a
restarted operator might repeat a cluster write it had already made. The cost, one fsync per
transaction, is small at the ledger's write rate (per incident step, not per watch event).

``:memory:`` databases (tests, the demo) have no journal to tune and vanish on close.

Every ``sqlite3.Error`` is translated into the `kubeheal.store.errors` tree, with the
original as ``__cause__``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kubeheal.store.backend import SQLITE, Dialect, Row, Session
from kubeheal.store.errors import ConflictError, LedgerError, StorageError

__all__ = ["MEMORY", "SQLiteBackend"]

logger = logging.getLogger(__name__)

MEMORY = ":memory:"
"""Path of a private in-memory database."""

MIN_SQLITE_VERSION = (3, 35, 0)
"""First SQLite with ``RETURNING``, which the ledger's SQL uses."""


def translate(error: sqlite3.Error, *, location: str, doing: str) -> LedgerError:
    """Turn a ``sqlite3`` error into the ledger's error tree with a message a person can act on."""
    if isinstance(error, sqlite3.IntegrityError):
        return ConflictError(f"{doing} in {location}: a constraint was violated ({error})")
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return StorageError(
            f"{doing}: {location} is not a usable kubeheal ledger: the file is not a SQLite "
            f"database or it is corrupt ({error}); restore it from a backup or move it away"
        )
    if primary == sqlite3.SQLITE_FULL:
        return StorageError(f"{doing}: the disk holding {location} is full ({error})")
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StorageError(
            f"{doing}: {location} stayed locked by another connection past the busy timeout "
            f"({error})"
        )
    if primary == sqlite3.SQLITE_READONLY:
        return StorageError(f"{doing}: {location} is read-only ({error})")
    if primary == sqlite3.SQLITE_CANTOPEN:
        return StorageError(
            f"{doing}: cannot open {location}: check that its directory exists and is "
            f"writable ({error})"
        )
    if primary == sqlite3.SQLITE_IOERR:
        return StorageError(f"{doing}: I/O error on {location} ({error})")
    return StorageError(f"{doing} in {location} failed: {error}")


class _SQLiteSession:
    """`Session` over one sqlite3 connection inside an open transaction."""

    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn = conn
        self._location = location

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        try:
            cursor = self._conn.execute(sql, tuple(params))
            # Drain so that statements with RETURNING complete before the next one.
            cursor.fetchall()
        except sqlite3.Error as e:
            raise translate(e, location=self._location, doing="writing the ledger") from e
        return cursor.rowcount

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        try:
            cursor = self._conn.execute(sql, tuple(params))
            rows = cursor.fetchall()
        except sqlite3.Error as e:
            raise translate(e, location=self._location, doing="reading the ledger") from e
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in rows]


class SQLiteBackend:
    """One sqlite3 connection, shared by the threads of one `Ledger` (which serialises them)."""

    def __init__(
        self, conn: sqlite3.Connection, location: str, *, manual_checkpoints: bool = False
    ) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._location = location
        self.manual_checkpoints = manual_checkpoints

    def checkpoint(self) -> None:
        """Copy the WAL back into the database from a connection of its own (PASSIVE).

        Meant for a background thread: it takes no ledger lock and never blocks writers, so
        the fsyncs of a checkpoint do not stall the caller of the ledger (with SQLite's
        automatic checkpoints one unlucky commit pays them: 218 ms measured).
        """
        if self._location == MEMORY:
            return
        try:
            conn = sqlite3.connect(self._location, timeout=5.0, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as e:
            raise translate(e, location=self._location, doing="checkpointing the ledger") from e

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        manual_checkpoints: bool = False,
    ) -> SQLiteBackend:
        """Open (creating if absent) the database at ``path``, or ``":memory:"``.

        ``busy_timeout`` is how long, in seconds, a write waits for another connection's lock.
        Raises `StorageError` if the file cannot be opened or is not a SQLite database.
        """
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old for the ledger: "
                f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer is needed"
            )
        location = MEMORY if os.fspath(path) == MEMORY else str(Path(path))
        try:
            conn = sqlite3.connect(
                location,
                timeout=busy_timeout,
                isolation_level=None,  # autocommit; transactions are explicit BEGIN/COMMIT
                check_same_thread=False,  # the Ledger's lock serialises use
            )
        except sqlite3.Error as e:
            raise translate(e, location=location, doing="opening the ledger") from e
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if location != MEMORY:
                (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                if str(mode).lower() != "wal":
                    raise StorageError(
                        f"opening the ledger: {location} cannot use WAL journaling "
                        f"(got {mode!r}); put it on a local filesystem"
                    )
                conn.execute("PRAGMA synchronous = FULL")
                if manual_checkpoints:
                    # The owner calls checkpoint() from a background thread instead.
                    conn.execute("PRAGMA wal_autocheckpoint = 0")
            # Read the schema now so that a file that is not a database fails at open.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as e:
            conn.close()
            raise translate(e, location=location, doing="opening the ledger") from e
        except LedgerError:
            conn.close()
            raise
        logger.debug("opened SQLite ledger at %s", location)
        return cls(conn, location, manual_checkpoints=manual_checkpoints)

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    @property
    def location(self) -> str:
        return self._location

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Session]:
        conn = self._conn
        if conn is None:
            raise StorageError(f"the ledger at {self._location} is closed")
        try:
            # IMMEDIATE takes the write lock now: no deadlock upgrading a read lock later.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as e:
            raise translate(e, location=self._location, doing="starting a transaction") from e
        try:
            yield _SQLiteSession(conn, self._location)
        except BaseException:
            self._rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback(conn)
            raise translate(e, location=self._location, doing="committing to the ledger") from e

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            # The original error is what matters; SQLite has already rolled back on most
            # errors that make ROLLBACK itself fail.
            logger.warning("rollback failed on %s", self._location, exc_info=True)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.close()
        except sqlite3.Error as e:
            raise translate(e, location=self._location, doing="closing the ledger") from e
