"""Migrations: applied once at open, recorded, idempotent, atomic; newer schemas refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kubeheal.store import Ledger, SchemaError
from kubeheal.store.migrations import MIGRATIONS, Migration
from kubeheal.store.sqlite import SQLiteBackend

TABLES = {
    "schema_migrations",
    "signals",
    "incidents",
    "incident_transitions",
    "plans",
    "actions",
    "verifications",
    "alert_inbox",
    "notification_outbox",
    "escalations",
    "chaos_runs",
}


_VERSIONS = [m.version for m in MIGRATIONS]
_NEXT = len(MIGRATIONS) + 1


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def _history(path: Path) -> list[tuple[int, str, str]]:
    with _raw(path) as conn:
        rows = conn.execute(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
    conn.close()
    return rows


def test_fresh_database_gets_every_table_and_one_history_row(db_path: Path) -> None:
    with Ledger.open(db_path) as ledger:
        assert ledger.schema_version == len(MIGRATIONS) == 4
    with _raw(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert tables >= TABLES
    history = _history(db_path)
    assert [(v, n) for v, n, _ in history] == [(m.version, m.name) for m in MIGRATIONS]


def test_reopening_is_a_no_op(db_path: Path) -> None:
    Ledger.open(db_path).close()
    first = _history(db_path)
    with _raw(db_path) as conn:
        schema_before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    for _ in range(3):
        with Ledger.open(db_path) as ledger:
            assert ledger.schema_version == len(MIGRATIONS)
    assert _history(db_path) == first  # same rows, same applied_at: nothing re-applied
    with _raw(db_path) as conn:
        assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == (
            schema_before
        )
    conn.close()


def test_memory_ledger_is_migrated() -> None:
    with Ledger.open(":memory:") as ledger:
        assert ledger.schema_version == len(MIGRATIONS)
        assert ledger.location == ":memory:"


def test_newer_schema_is_refused_with_a_clear_error(db_path: Path) -> None:
    Ledger.open(db_path).close()
    with _raw(db_path) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (7, 'from the future')")
    conn.close()
    with pytest.raises(
        SchemaError, match=r"schema version 7, newer than this kubeheal knows \(4\)"
    ):
        Ledger.open(db_path)
    # Refusing changed nothing.
    assert [v for v, _, _ in _history(db_path)] == [*_VERSIONS, 7]


def test_different_history_is_refused(db_path: Path) -> None:
    Ledger.open(db_path).close()
    with _raw(db_path) as conn:
        conn.execute("UPDATE schema_migrations SET name = 'something else' WHERE version = 1")
    conn.close()
    with pytest.raises(SchemaError, match="different build"):
        Ledger.open(db_path)


def test_a_later_migration_is_applied_to_an_existing_database(db_path: Path) -> None:
    Ledger.open(db_path).close()
    extended = (
        *MIGRATIONS,
        Migration(
            version=_NEXT,
            name="add notes",
            statements=("CREATE TABLE notes (id {serial_pk}, body TEXT NOT NULL)",),
        ),
    )
    ledger = Ledger.from_backend(SQLiteBackend.open(db_path), migrations=extended)
    assert ledger.schema_version == _NEXT
    ledger.close()
    assert [v for v, _, _ in _history(db_path)] == [*_VERSIONS, _NEXT]
    with _raw(db_path) as conn:
        conn.execute("INSERT INTO notes (body) VALUES ('x')")
        assert conn.execute("SELECT id FROM notes").fetchall() == [(1,)]
    conn.close()
    # The code without the new migration now meets a newer database.
    with pytest.raises(SchemaError, match="newer"):
        Ledger.open(db_path)


def test_a_failing_migration_leaves_the_database_untouched(db_path: Path) -> None:
    Ledger.open(db_path).close()
    broken = (
        *MIGRATIONS,
        Migration(
            version=_NEXT,
            name="broken",
            statements=(
                "CREATE TABLE half_done (a INTEGER)",
                "CREATE TABLE incidents (a INTEGER)",  # exists: fails
            ),
        ),
    )
    with pytest.raises(SchemaError, match=rf"migration {_NEXT} \(broken\) failed"):
        Ledger.from_backend(SQLiteBackend.open(db_path), migrations=broken)
    assert [v for v, _, _ in _history(db_path)] == _VERSIONS
    with _raw(db_path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "half_done" not in names


def test_migration_versions_must_have_no_gaps(db_path: Path) -> None:
    gap = (*MIGRATIONS, Migration(version=_NEXT + 1, name="skips one", statements=()))
    with pytest.raises(ValueError, match="without gaps"):
        Ledger.from_backend(SQLiteBackend.open(db_path), migrations=gap)


def test_file_database_is_wal_with_full_sync(db_path: Path) -> None:
    with Ledger.open(db_path) as ledger:
        # synchronous is per connection: read it on the ledger's own (internal) connection.
        conn = ledger._backend._conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # 2 = FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    with _raw(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()
