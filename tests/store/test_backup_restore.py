"""Restore drill of the ledger: a backup taken while 1,000 alerts are being written restores
with every row committed before it began, as one consistent prefix, on SQLite and PostgreSQL;
damaged copies, non-empty targets and unknown migrations are refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import support
from kubeheal.cli.processes import run_process
from kubeheal.store import Ledger
from kubeheal.store.backup import (
    BackupError,
    backup_ledger,
    check_migrations,
    read_manifest,
    restore_ledger,
)
from kubeheal.store.inbox import AlertInbox, InboxAlert
from kubeheal.store.migrations import MIGRATIONS
from kubeheal.twin.pgserver import LocalPostgres

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
ALERTS = 1000


def _alert(i: int) -> InboxAlert:
    return InboxAlert(
        fingerprint=f"fp-{i:04d}",
        status="firing",
        starts_at=NOW + timedelta(seconds=i),
        payload={"labels": {"alertname": "Drill", "i": str(i)}},
    )


class _Writer(threading.Thread):
    """Writes the alerts one notification (one transaction) at a time, counting commits."""

    def __init__(self, location: str) -> None:
        super().__init__(name="ledger-writer", daemon=True)
        self.location = location
        self.committed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Ledger.open(self.location) as ledger:
                inbox = AlertInbox(ledger)
                for i in range(ALERTS):
                    inbox.add([_alert(i)], received_at=NOW + timedelta(seconds=i))
                    self.committed = i + 1
        except BaseException as e:
            self.error = e


def _fingerprints(location: str) -> list[str]:
    with Ledger.open(location) as ledger:
        return [row.fingerprint for row in AlertInbox(ledger).rows(limit=ALERTS + 10)]


def _drill(source: str, target: Callable[[int], str], tmp_path: Path) -> None:
    Ledger.open(source).close()  # migrated, empty
    writer = _Writer(source)
    writer.start()
    support.until_sync(lambda: writer.committed >= 50 or writer.error, what="first commits")
    before = writer.committed
    manifest = backup_ledger(source, tmp_path / "backups", now=NOW, run=run_process)
    after = writer.committed
    writer.join(timeout=120)
    assert writer.error is None, writer.error
    assert writer.committed == ALERTS

    report = restore_ledger(tmp_path / "backups" / manifest.file, target(1), run=run_process)
    rows = _fingerprints(target(1))
    # Every row committed before the backup began is there, and the copy is one commit of
    # the ledger: a prefix of the writer's sequence, no later row without the earlier ones.
    assert before <= len(rows) <= after
    assert rows == [f"fp-{i:04d}" for i in range(len(rows))]
    assert report.row_counts["alert_inbox"] == len(rows) == manifest.row_counts["alert_inbox"]
    assert report.schema_version == len(MIGRATIONS) and report.pending_migrations == 0

    # After the writer is done, a second backup restores all 1,000.
    final = backup_ledger(
        source, tmp_path / "backups", now=NOW + timedelta(seconds=1), run=run_process
    )
    restore_ledger(tmp_path / "backups" / f"{final.file}.manifest.json", target(2), run=run_process)
    assert _fingerprints(target(2)) == [f"fp-{i:04d}" for i in range(ALERTS)]

    # A restore never overwrites a ledger.
    with pytest.raises(BackupError, match=r"empty|exists"):
        restore_ledger(tmp_path / "backups" / final.file, target(2), run=run_process)


@pytest.mark.slow
def test_sqlite_backup_during_writes_restores_every_committed_row(tmp_path: Path) -> None:
    _drill(
        str(tmp_path / "ledger.db"),
        lambda n: str(tmp_path / f"restored-{n}.db"),
        tmp_path,
    )


@pytest.mark.slow
def test_postgres_backup_during_writes_restores_every_committed_row(
    tmp_path: Path, postgres: LocalPostgres
) -> None:
    source = postgres.create_database("bk_src")
    targets = {n: postgres.create_database(f"bk_dst{n}") for n in (1, 2)}
    try:
        _drill(source, targets.__getitem__, tmp_path)
    finally:
        for url in (source, *targets.values()):
            postgres.drop_database(url)


def test_damaged_copy_and_wrong_backend_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "ledger.db"
    with Ledger.open(source) as ledger:
        AlertInbox(ledger).add([_alert(1)], received_at=NOW)
    manifest = backup_ledger(source, tmp_path / "b", now=NOW, run=run_process)
    data = tmp_path / "b" / manifest.file
    assert manifest.row_counts["alert_inbox"] == 1
    assert read_manifest(data).sha256 == manifest.sha256

    with pytest.raises(BackupError, match="sqlite ledger"):
        restore_ledger(data, "postgresql://kubeheal@127.0.0.1:1/none", run=run_process)
    blob = bytearray(data.read_bytes())
    blob[-10] ^= 0xFF
    data.write_bytes(bytes(blob))
    with pytest.raises(BackupError, match="SHA-256"):
        restore_ledger(data, tmp_path / "restored.db", run=run_process)
    assert not (tmp_path / "restored.db").exists()


def test_manifest_with_unknown_migration_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "ledger.db"
    Ledger.open(source).close()
    manifest = backup_ledger(source, tmp_path / "b", now=NOW, run=run_process)
    path = tmp_path / "b" / f"{manifest.file}.manifest.json"
    raw = json.loads(path.read_text())
    raw["migrations"].append([len(MIGRATIONS) + 1, "from the future"])
    path.write_text(json.dumps(raw))
    with pytest.raises(BackupError, match="newer than this kubeheal"):
        restore_ledger(path, tmp_path / "restored.db", run=run_process)
    raw["file"] = "../escape.db"
    path.write_text(json.dumps(raw))
    with pytest.raises(BackupError, match="plain file name"):
        read_manifest(path)


def test_check_migrations_names_renamed_and_missing_steps() -> None:
    history = [(m.version, m.name) for m in MIGRATIONS]
    assert check_migrations(history) == 0
    assert check_migrations(history[:1]) == len(MIGRATIONS) - 1
    with pytest.raises(BackupError, match="different build"):
        check_migrations([(1, "something else")])
    with pytest.raises(BackupError, match="gaps"):
        check_migrations(history[1:])


def test_missing_sqlite_ledger_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no ledger"):
        backup_ledger(tmp_path / "absent.db", tmp_path / "b", now=NOW, run=run_process)
    assert not (tmp_path / "absent.db").exists()


def test_postgres_backup_without_a_process_runner_is_refused(tmp_path: Path) -> None:
    # The store never starts pg_dump itself (the operator stack starts no process): the
    # caller must pass one, and without it the backup fails before any file is written.
    with pytest.raises(BackupError, match="no process runner"):
        backup_ledger("postgresql://kubeheal@127.0.0.1:1/none", tmp_path / "b", now=NOW)
    assert list((tmp_path / "b").glob("ledger-*")) == []
