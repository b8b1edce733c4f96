"""The ledger's exception tree: the only errors `kubeheal.store` lets out.

Database driver errors never leak: every one is translated with ``raise ... from e`` so the
original stays available as ``__cause__`` for debugging::

    LedgerError
    ├── SchemaError          the database's schema is newer than this code, or its history
    │                        differs from the code's migrations, or a migration failed
    ├── StorageError         the database cannot be opened, read or written: not a database,
    │                        corrupt, locked for too long, disk full, read-only, closed
    ├── ConflictError        the write contradicts what is stored: a stale from-state (lost
    │                        update), a duplicate id, an idempotency key reused for another
    │                        action, a second open incident for one target
    ├── NotFoundError        the incident, signal or action named does not exist
    └── InvalidRecordError   the caller passed something the ledger cannot store: a naive
                             timestamp, a resolution that does not fit the state, a transition
                             out of a terminal state (also a ``ValueError``)
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "InvalidRecordError",
    "LedgerError",
    "NotFoundError",
    "SchemaError",
    "StorageError",
]


class LedgerError(Exception):
    """Base of every error raised by the ledger."""


class SchemaError(LedgerError):
    """The database's schema does not match the code (newer, or a different history)."""


class StorageError(LedgerError):
    """The database cannot be opened, read or written (corrupt, locked, full, closed...)."""


class ConflictError(LedgerError):
    """The write contradicts the stored state; re-read and decide again."""


class NotFoundError(LedgerError):
    """The record named by the caller does not exist."""


class InvalidRecordError(LedgerError, ValueError):
    """The caller passed a value the ledger refuses to store."""
