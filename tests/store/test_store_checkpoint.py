"""Manual WAL checkpoints: the owner moves the fsync-heavy work off the writing thread."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from kubeheal.store import Ledger
from kubeheal.store.records import SignalRecord, TargetRef

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _fill(ledger: Ledger, n: int) -> None:
    for i in range(n):
        ledger.record_signal(
            SignalRecord(
                id=f"s{i}",
                kind="CrashLoopBackOff",
                target=TargetRef(kind="Deployment", namespace="demo", name=f"web-{i}"),
                subject=f"pod/web-{i}" + "x" * 400,
                source="detector",
                observed_at=T0,
                details={"restart_count": i},
            )
        )


def test_manual_checkpoints_leave_the_wal_to_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path, manual_checkpoints=True) as ledger:
        assert ledger.manual_checkpoints
        _fill(ledger, 3000)
        wal = Path(f"{path}-wal")
        before = path.stat().st_size
        assert wal.stat().st_size > 1_000_000  # no automatic checkpoint truncated it
        ledger.checkpoint()
        assert path.stat().st_size > before + 1_000_000  # pages copied into the database
        # everything is readable from an independent connection
        conn = sqlite3.connect(path)
        (count,) = conn.execute("SELECT count(*) FROM signals").fetchone()
        conn.close()
        assert count == 3000


def test_default_ledgers_checkpoint_by_themselves(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        assert not ledger.manual_checkpoints
        ledger.checkpoint()  # harmless
    with Ledger.open(":memory:") as memory:
        memory.checkpoint()
