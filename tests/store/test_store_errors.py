"""Database errors come out as the ledger's own tree with a clear message; sqlite3 never leaks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from kubeheal.store import (
    ConflictError,
    InvalidRecordError,
    Ledger,
    LedgerError,
    NotFoundError,
    SchemaError,
    SignalRecord,
    StorageError,
    TargetRef,
)
from kubeheal.store.sqlite import translate

At = Callable[[float], datetime]


def test_the_tree() -> None:
    for error in (SchemaError, StorageError, ConflictError, NotFoundError, InvalidRecordError):
        assert issubclass(error, LedgerError)
        assert not issubclass(error, sqlite3.Error)
    assert issubclass(InvalidRecordError, ValueError)


def test_a_file_that_is_not_a_database(db_path: Path) -> None:
    db_path.write_bytes(b"this is a kubeheal config file, not a database\n" * 200)
    with pytest.raises(StorageError) as caught:
        Ledger.open(db_path)
    message = str(caught.value)
    assert str(db_path) in message
    assert "not a SQLite database or it is corrupt" in message
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_database_corrupted_in_place(db_path: Path, at: At, cart: TargetRef) -> None:
    with Ledger.open(db_path) as ledger:
        ledger.open_incident(incident_id="i", target=cart, opened_at=at(1), detected_at=at(0))
    data = bytearray(db_path.read_bytes())
    data[:16] = b"garbage-garbage!"  # destroy the SQLite header
    db_path.write_bytes(bytes(data))
    with pytest.raises(LedgerError, match="not a usable kubeheal ledger") as caught:
        Ledger.open(db_path)
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_an_unopenable_path(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open") as caught:
        Ledger.open(tmp_path / "missing-dir" / "ledger.db")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_disk_full_refuses_the_action_and_records_nothing(
    db_path: Path, at: At, cart: TargetRef
) -> None:
    with Ledger.open(db_path) as ledger:
        ledger.open_incident(incident_id="i", target=cart, opened_at=at(1), detected_at=at(0))
        # Simulate a full disk: cap the database at its current size (internal connection).
        conn = ledger._backend._conn  # type: ignore[attr-defined]
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StorageError, match="is full") as caught:
            ledger.begin_action(
                "k",
                incident_id="i",
                action="restart",
                target=cart,
                params={"padding": "x" * 100_000},
                requested_at=at(2),
            )
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        # The transaction was rolled back: no half-written action, no counted attempt.
        assert ledger.actions_for_incident("i") == []
        assert ledger.get_incident("i").attempts == 0
        with pytest.raises(NotFoundError):
            ledger.get_action("k")


def test_a_locked_database_times_out_with_a_clear_error(
    db_path: Path, at: At, cart: TargetRef
) -> None:
    Ledger.open(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StorageError, match="locked") as caught:
            Ledger.open(db_path, busy_timeout=0.05)  # migrating needs the write lock
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        holder.execute("ROLLBACK")
        with Ledger.open(db_path, busy_timeout=0.05) as ledger:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageError, match="locked"):
                ledger.open_incident(
                    incident_id="i", target=cart, opened_at=at(1), detected_at=at(0)
                )
            holder.execute("ROLLBACK")
            ledger.open_incident(incident_id="i", target=cart, opened_at=at(1), detected_at=at(0))
            assert ledger.get_incident("i").id == "i"
    finally:
        holder.close()


def test_one_incident_per_target_is_enforced_by_the_schema_too(
    db_path: Path, at: At, cart: TargetRef
) -> None:
    with Ledger.open(db_path) as ledger:
        ledger.open_incident(incident_id="i", target=cart, opened_at=at(1), detected_at=at(0))
    # A writer that bypasses the ledger's check still meets the partial unique index; the
    # backend turns that driver error into a ConflictError.
    raw = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError) as raw_error:
            raw.execute(
                "INSERT INTO incidents (id, target_kind, target_namespace, target_name, "
                "state, opened_at, detected_at) VALUES ('j', 'Deployment', 'shop', 'cart', "
                "'open', 'x', 'x')"
            )
    finally:
        raw.close()
    translated = translate(raw_error.value, location=str(db_path), doing="opening an incident")
    assert isinstance(translated, ConflictError)
    assert "constraint was violated" in str(translated)


def test_no_sqlite3_error_escapes_any_public_call(db_path: Path, at: At, cart: TargetRef) -> None:
    ledger = Ledger.open(db_path)
    ledger.close()
    calls: list[Callable[[], object]] = [
        lambda: ledger.get_incident("i"),
        lambda: ledger.open_incident_for_target(cart),
        lambda: ledger.record_signal(
            SignalRecord(
                id="s",
                kind="OOMKilled",
                target=cart,
                subject="s",
                source="detector",
                observed_at=at(0),
            )
        ),
        lambda: ledger.actions_since(at(0)),
        ledger.pending_actions,
        lambda: ledger.list_incidents(since=at(0), until=at(1)),
    ]
    for call in calls:
        with pytest.raises(LedgerError) as caught:
            call()
        assert not isinstance(caught.value, sqlite3.Error)
