"""The seam between the ledger and a database: a `Dialect`, a `Backend` and its `Session`.

The ledger writes portable SQL once (qmark ``?`` parameters, ``TEXT``/``INTEGER`` columns,
``ON CONFLICT ... DO NOTHING``, ``RETURNING``, partial indexes: all supported by SQLite >= 3.35
and PostgreSQL >= 10). A `Dialect` rewrites the little that differs (parameter markers,
auto-increment keys); a `Backend` opens transactions and translates its driver's errors into
the `kubeheal.store.errors` tree. SQLite is `kubeheal.store.sqlite`; a PostgreSQL backend is a
second implementation of the same two protocols and a second `Dialect` value.

Pure: no I/O here, only the contracts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["SQLITE", "Backend", "Dialect", "Row", "Session"]

Row = Mapping[str, Any]
"""One result row, by column name (values as the driver returns them)."""

SERIAL_PK = "{serial_pk}"
"""Placeholder in migration DDL for an auto-increment integer primary key."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between SQL databases, as far as the ledger's SQL is concerned."""

    name: str
    placeholder: str
    """Parameter marker of the driver: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    serial_primary_key: str
    """Column definition of an auto-increment integer primary key."""

    def sql(self, text: str) -> str:
        """Rewrite portable qmark SQL for this driver (the ledger's SQL has no ``?`` literals)."""
        if self.placeholder == "?":
            return text
        # pyformat drivers treat a bare "%" as the start of a marker.
        return text.replace("%", "%%").replace("?", self.placeholder)

    def ddl(self, text: str) -> str:
        """Fill the dialect-specific parts of a migration statement."""
        return self.sql(text.replace(SERIAL_PK, self.serial_primary_key))


SQLITE = Dialect(name="sqlite", placeholder="?", serial_primary_key="INTEGER PRIMARY KEY")
"""SQLite: ``INTEGER PRIMARY KEY`` is the rowid, assigned on insert."""


class Session(Protocol):
    """Statements inside one open transaction. Driver errors come out as `LedgerError`."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        ...

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run a statement and return all its rows."""
        ...


class Backend(Protocol):
    """An open database the ledger can run transactions on."""

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect of this database."""
        ...

    @property
    def location(self) -> str:
        """Where the database is, for error messages (never contains a password)."""
        ...

    def transaction(self, *, write: bool) -> AbstractContextManager[Session]:
        """Open a transaction, committed when the block ends and rolled back if it raises.

        ``write=True`` takes the write lock at the start so that read-then-write sequences
        (compare-and-set, insert-if-absent) and migrations are serialised against other
        connections: SQLite ``BEGIN IMMEDIATE``; on PostgreSQL a transaction-scoped advisory
        lock (``pg_advisory_xact_lock``) does the same. The ledger's SQL additionally uses
        conditional updates, ``ON CONFLICT`` and unique indexes, so it stays correct under
        read committed even without that lock.
        """
        ...

    def close(self) -> None:
        """Close the connection; later transactions raise `StorageError`. Idempotent."""
        ...
