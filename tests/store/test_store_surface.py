"""The public surface of kubeheal.store is what its modules' __all__ say, and nothing leaks."""

from __future__ import annotations

from pathlib import Path

import kubeheal.store as store
from kubeheal.store import report


def test_exported_members() -> None:
    assert sorted(store.__all__) == [
        "ActionBegin",
        "ActionRecord",
        "ActionState",
        "ConflictError",
        "IncidentRecord",
        "IncidentState",
        "InvalidRecordError",
        "Ledger",
        "LedgerError",
        "NotFoundError",
        "PlanRecord",
        "Resolution",
        "SchemaError",
        "SignalRecord",
        "StorageError",
        "TargetRef",
        "TransitionRecord",
        "VerificationRecord",
    ]
    shared = {"ActionState", "IncidentState"}  # the model's own: one vocabulary
    for name in store.__all__:
        home = "kubeheal.model." if name in shared else "kubeheal.store."
        assert getattr(store, name).__module__.startswith(home), name


def test_report_is_pure() -> None:
    source = Path(report.__file__).read_text(encoding="utf-8")
    for forbidden in ("import sqlite3", "kubeheal.store.ledger", "datetime.now", "time.time"):
        assert forbidden not in source
