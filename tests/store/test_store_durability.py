"""A file ledger written, closed and re-opened holds everything that was committed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from kubeheal.store import (
    ActionState,
    IncidentState,
    Ledger,
    Resolution,
    SignalRecord,
    StorageError,
    TargetRef,
)

At = Callable[[float], datetime]


def _write_everything(ledger: Ledger, at: At, cart: TargetRef) -> dict[str, object]:
    signal = SignalRecord(
        id="sig-1",
        kind="CrashLoopBackOff",
        target=cart,
        subject="pod cart-1",
        source="detector",
        observed_at=at(0),
        details={"restarts": 6},
        incident_id=None,
    )
    ledger.record_signal(signal)
    ledger.open_incident(incident_id="inc-1", target=cart, opened_at=at(3), detected_at=at(0))
    ledger.link_signal("sig-1", "inc-1")
    plan = ledger.record_plan(
        incident_id="inc-1",
        decided_at=at(4),
        reason="crash loop after rollout",
        playbook="crashloop",
        step=0,
        action="rollback",
        params={"to_revision": 3},
    )
    ledger.transition_incident(
        "inc-1", from_state=IncidentState.OPEN, to_state=IncidentState.ACTING, at=at(5), reason="p"
    )
    ledger.begin_action(
        "k-1",
        incident_id="inc-1",
        action="rollback",
        target=cart,
        params={"to_revision": 3},
        requested_at=at(5),
    )
    action = ledger.finish_action("k-1", state=ActionState.SUCCEEDED, finished_at=at(6))
    ledger.transition_incident(
        "inc-1",
        from_state=IncidentState.ACTING,
        to_state=IncidentState.VERIFYING,
        at=at(6),
        reason="v",
    )
    verification = ledger.record_verification(
        action_key="k-1", started_at=at(6), finished_at=at(40), recovered=True, detail="ready 3/3"
    )
    incident = ledger.transition_incident(
        "inc-1",
        from_state=IncidentState.VERIFYING,
        to_state=IncidentState.RESOLVED,
        at=at(40),
        reason="recovered",
        resolution=Resolution.AUTO,
    )
    return {
        "signal": ledger.get_signal("sig-1"),
        "plan": plan,
        "action": action,
        "verification": verification,
        "incident": incident,
        "transitions": ledger.transitions_for_incident("inc-1"),
    }


def test_everything_survives_close_and_reopen(db_path: Path, at: At, cart: TargetRef) -> None:
    ledger = Ledger.open(db_path)
    written = _write_everything(ledger, at, cart)
    ledger.close()
    ledger.close()  # idempotent
    with pytest.raises(StorageError, match="is closed"):
        ledger.get_incident("inc-1")

    with Ledger.open(db_path) as reopened:
        assert reopened.get_signal("sig-1") == written["signal"]
        assert reopened.get_signal("sig-1").incident_id == "inc-1"
        assert reopened.plans_for_incident("inc-1") == [written["plan"]]
        assert reopened.get_action("k-1") == written["action"]
        assert reopened.verifications_for_action("k-1") == [written["verification"]]
        assert reopened.get_incident("inc-1") == written["incident"]
        assert reopened.transitions_for_incident("inc-1") == written["transitions"]
        assert len(reopened.transitions_for_incident("inc-1")) == 4
        assert reopened.get_incident("inc-1").attempts == 1


CHILD = """
import os, sys
from datetime import UTC, datetime
from kubeheal.store import Ledger, TargetRef

ledger = Ledger.open(sys.argv[1])
target = TargetRef("Deployment", "shop", "cart")
t = datetime(2024, 5, 1, tzinfo=UTC)
ledger.open_incident(incident_id="inc-crash", target=target, opened_at=t, detected_at=t)
ledger.begin_action(
    "k-crash", incident_id="inc-crash", action="restart", target=target, params={},
    requested_at=t,
)
os._exit(0)  # no close, no cleanup: as if the process were killed after the write
"""


def test_committed_writes_survive_a_process_that_never_closed(db_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(db_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (db_path.parent / (db_path.name + "-wal")).exists()  # left un-checkpointed
    with Ledger.open(db_path) as ledger:
        begun = ledger.get_action("k-crash")
        assert begun.state is ActionState.PENDING
        assert ledger.get_incident("inc-crash").attempts == 1
