"""What the console's pages read from a real ledger (SQLite and PostgreSQL): the snapshot and
what is laid over it, the filters, the KPI series with the mission's targets, budgets and
cooldowns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kubeheal.config.settings import GuardSettings
from kubeheal.server.console import data
from kubeheal.store import ActionState, IncidentState, Ledger, Resolution, SignalRecord, TargetRef

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _incident(
    ledger: Ledger,
    n: int,
    *,
    opened: datetime,
    namespace: str = "shop",
    kind: str = "CrashLoopBackOff",
    heal_after_s: float | None = 60.0,
) -> str:
    target = TargetRef(kind="Deployment", namespace=namespace, name=f"app-{n}")
    incident_id = f"inc-{n}"
    signal = SignalRecord(
        id=f"sig-{n}",
        kind=kind,
        target=target,
        subject=f"pod/app-{n}-x/container/app",
        source="detector",
        observed_at=opened - timedelta(seconds=10),
    )
    ledger.record_signal(signal)
    ledger.open_incident(
        incident_id=incident_id,
        target=target,
        opened_at=opened,
        detected_at=opened - timedelta(seconds=10),
    )
    ledger.link_signal(signal.id, incident_id)
    ledger.record_plan(
        incident_id=incident_id,
        decided_at=opened,
        reason="matched",
        playbook="crashloop-restart",
        step=0,
        action="restart_pod",
    )
    if heal_after_s is None:
        return incident_id
    key = f"act-{n}"
    ledger.begin_action(
        key,
        incident_id=incident_id,
        action="restart_pod",
        target=target,
        params={},
        requested_at=opened + timedelta(seconds=5),
    )
    ledger.transition_incident(
        incident_id,
        from_state=IncidentState.OPEN,
        to_state=IncidentState.ACTING,
        at=opened + timedelta(seconds=5),
        reason="acting",
    )
    ledger.finish_action(
        key, state=ActionState.SUCCEEDED, finished_at=opened + timedelta(seconds=6)
    )
    ledger.transition_incident(
        incident_id,
        from_state=IncidentState.ACTING,
        to_state=IncidentState.RESOLVED,
        at=opened + timedelta(seconds=heal_after_s),
        reason="recovered",
        resolution=Resolution.AUTO,
    )
    return incident_id


def test_the_list_overlays_what_changed_since_the_snapshot(console_ledger: Ledger) -> None:
    ledger = console_ledger
    _incident(ledger, 1, opened=NOW - timedelta(days=2))
    _incident(ledger, 2, opened=NOW - timedelta(days=1), namespace="pay")
    snapshot = data.read_snapshot(ledger, now=NOW)
    assert set(snapshot.incidents) == {"inc-1", "inc-2"}
    # Opened after the snapshot was read: on the page at once, and the snapshot is
    # known to be out of date.
    _incident(ledger, 3, opened=NOW + timedelta(minutes=1), heal_after_s=None)
    recent = data.recent_incidents(ledger, now=NOW, since=snapshot.now - timedelta(minutes=1))
    assert data.outdated(snapshot, recent)
    page = data.incident_page(ledger, snapshot, recent=recent, filters=data.Filters())
    assert [r.id for r in page.rows] == ["inc-3", "inc-2", "inc-1"]
    assert page.total == 3
    assert page.choices["namespace"] == ["pay", "shop"]
    assert page.rows[0].state == "open" and page.rows[0].severity == "critical"

    only_pay = data.incident_page(
        ledger, snapshot, recent=recent, filters=data.Filters(namespace="pay")
    )
    assert [r.id for r in only_pay.rows] == ["inc-2"]
    open_ones = data.incident_page(
        ledger, snapshot, recent=recent, filters=data.Filters(state="open")
    )
    assert [r.id for r in open_ones.rows] == ["inc-3"]
    none = data.incident_page(
        ledger, snapshot, recent=recent, filters=data.Filters(severity="info")
    )
    assert none.rows == [] and none.total == 0
    # The event stream's rows: only the recent and in-progress ones.
    live = data.live_rows(ledger, now=NOW, filters=data.Filters(), since=NOW, watching=set())
    assert [r.id for r in live] == ["inc-3"]
    assert not data.outdated(data.read_snapshot(ledger, now=NOW), recent)


def test_kpis_bucket_the_window_and_carry_the_targets(console_ledger: Ledger) -> None:
    ledger = console_ledger
    _incident(ledger, 1, opened=NOW - timedelta(minutes=20), heal_after_s=50)
    _incident(ledger, 2, opened=NOW - timedelta(minutes=10), heal_after_s=290)
    kpis = data.read_snapshot(ledger, now=NOW).kpis
    series = kpis["series"]
    assert isinstance(series, dict)
    # 10 minutes apart: 1-minute buckets, the first and the last holding one incident each.
    assert len(kpis["labels"]) == 11  # type: ignore[arg-type]
    assert series["recover_p50"][0] == 60.0 and series["recover_p50"][-1] == 300.0
    assert series["recover_p50"][1] is None
    assert series["auto_recovery"][0] == 1.0
    assert kpis["targets"] == {"mttr_seconds": 180.0, "auto_recovery": 0.9, "false_alerts": 0.05}
    assert kpis["actions"] == {"playbooks": ["crashloop-restart"], "outcomes": {"succeeded": [2]}}
    totals = kpis["totals"]
    assert isinstance(totals, dict) and totals["incidents"] == 2


def test_safety_panel_counts_budgets_and_cooldowns_from_the_ledger(console_ledger: Ledger) -> None:
    guards = GuardSettings(
        cooldown=timedelta(minutes=10), namespace_budget_per_hour=3, global_budget_per_hour=5
    )
    ledger = console_ledger
    _incident(ledger, 1, opened=NOW - timedelta(minutes=5))
    _incident(ledger, 2, opened=NOW - timedelta(minutes=50), namespace="pay")
    _incident(ledger, 3, opened=NOW - timedelta(hours=3))
    panel = data.safety_panel(ledger, now=NOW, guards=guards)
    assert panel["global_used"] == 2 and panel["global_left"] == 3
    assert panel["budgets"] == [
        {"namespace": "pay", "used": 1, "left": 2},
        {"namespace": "shop", "used": 1, "left": 2},
    ]
    cooldowns = panel["cooldowns"]
    assert isinstance(cooldowns, list) and [c["target"] for c in cooldowns] == [
        "Deployment shop/app-1"
    ]
