"""What the console's pages show, read from the ledger (SQLite or PostgreSQL alike).

`incident_rows` lists incidents newest first with the list's filters; `incident_story`
gathers one incident's timeline (signals, plans with the guard's verdict, actions,
verifications, transitions, notifications; `kubeheal.server.incidents_api.incident_detail`
and `kubeheal.notify.context` already assemble most of it); `kpi_series` buckets incidents
over time and computes `kubeheal.store.report` figures per bucket, the series the KPI charts
draw. Every function here blocks on the ledger: call them from a worker thread.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubeheal.config.settings import GuardSettings, NotificationSettings
from kubeheal.notify.policy import classify
from kubeheal.runtime.notifications import load_context
from kubeheal.server.incidents_api import IncidentDetail, incident_detail
from kubeheal.store import IncidentRecord, Ledger, PlanRecord, SignalRecord
from kubeheal.store.outbox import EscalationRecord, NotificationStore
from kubeheal.store.report import build_report

__all__ = [
    "AUTO_RECOVERY_TARGET",
    "FALSE_ALERT_TARGET",
    "MTTR_TARGET_SECONDS",
    "SEVERITIES",
    "STATES",
    "Filters",
    "IncidentRow",
    "IncidentStory",
    "choices",
    "incident_rows",
    "incident_story",
    "kpi_series",
    "safety_panel",
]

MTTR_TARGET_SECONDS = 180.0
"""The mission's time-to-recover target (3 minutes)."""
AUTO_RECOVERY_TARGET = 0.90
FALSE_ALERT_TARGET = 0.05

STATES = ("open", "acting", "verifying", "resolved", "escalated")
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Filters:
    """The incident list's filters (empty: any)."""

    namespace: str = ""
    state: str = ""
    playbook: str = ""
    severity: str = ""

    def matches_record(self, incident: IncidentRecord) -> bool:
        return (
            (not self.namespace or incident.target.namespace == self.namespace)
            and (not self.state or incident.state.value == self.state)
            and (not self.playbook or (incident.playbook or "") == self.playbook)
        )


@dataclass(frozen=True)
class IncidentRow:
    """One line of the incident list."""

    id: str
    kind: str
    namespace: str
    name: str
    state: str
    playbook: str
    severity: str
    category: str
    opened_at: datetime
    acknowledged_by: str
    signature: str
    """Changes whenever the row would render differently (the live updates compare it)."""


def _row(
    incident: IncidentRecord, escalation: EscalationRecord | None, signals: list[SignalRecord]
) -> IncidentRow:
    if escalation is not None:
        category, severity = escalation.category, escalation.severity
    else:
        c = classify(signals)
        category, severity = c.category, c.severity
    acked = (escalation.acknowledged_by or "") if escalation is not None else ""
    return IncidentRow(
        id=incident.id,
        kind=incident.target.kind,
        namespace=incident.target.namespace,
        name=incident.target.name,
        state=incident.state.value,
        playbook=incident.playbook or "",
        severity=severity,
        category=category,
        opened_at=incident.opened_at,
        acknowledged_by=acked,
        signature=f"{incident.state.value}|{incident.playbook}|{acked}|{severity}",
    )


def _window(now: datetime, days: int) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now + timedelta(days=1)


def incident_rows(
    ledger: Ledger, *, now: datetime, filters: Filters, days: int = 30, limit: int = 200
) -> tuple[list[IncidentRow], int]:
    """(up to ``limit`` rows newest first, how many incidents match) over the last ``days``."""
    since, until = _window(now, days)
    found = [
        i for i in ledger.list_incidents(since=since, until=until) if filters.matches_record(i)
    ]
    found.sort(key=lambda i: (i.opened_at, i.id), reverse=True)
    store = NotificationStore(ledger)
    if filters.severity:
        # The severity of an incident without an escalation comes from its signals: read
        # them all at once rather than one query per incident.
        by_incident: dict[str, list[SignalRecord]] = defaultdict(list)
        for s in ledger.list_signals(since=since - timedelta(days=1), until=until):
            if s.incident_id is not None:
                by_incident[s.incident_id].append(s)
        escalations = {e.incident_id: e for e in store.open_escalations()}
        rows = []
        for incident in found:
            e = escalations.get(incident.id) or (
                store.get_escalation(incident.id) if incident.escalated_at else None
            )
            row = _row(incident, e, by_incident.get(incident.id, []))
            if row.severity == filters.severity:
                rows.append(row)
        return rows[:limit], len(rows)
    rows = [
        _row(i, store.get_escalation(i.id), ledger.signals_for_incident(i.id))
        for i in found[:limit]
    ]
    return rows, len(found)


def choices(ledger: Ledger, *, now: datetime, days: int = 30) -> dict[str, list[str]]:
    """The values each filter offers (namespaces and playbooks seen in the window)."""
    since, until = _window(now, days)
    incidents = ledger.list_incidents(since=since, until=until)
    return {
        "namespace": sorted({i.target.namespace for i in incidents if i.target.namespace}),
        "state": list(STATES),
        "playbook": sorted({i.playbook for i in incidents if i.playbook}),
        "severity": list(SEVERITIES),
    }


@dataclass(frozen=True)
class PlanStep:
    """A decision: the action chosen, or the guard that blocked it and why."""

    at: datetime
    playbook: str
    step: int | None
    action: str
    verdict: str
    """``allowed`` (every guard passed), ``blocked by <guard>`` or ``dry run``."""
    reason: str


@dataclass(frozen=True)
class IncidentStory:
    """One incident's page: the API's detail, its decisions and the logs captured."""

    detail: IncidentDetail
    plans: tuple[PlanStep, ...]
    logs: str
    signals: tuple[SignalRecord, ...]


def _plan_step(plan: PlanRecord) -> PlanStep:
    if plan.blocked_by:
        verdict = f"blocked by {plan.blocked_by}"
    elif plan.dry_run:
        verdict = "dry run: every guard passed, nothing changed"
    else:
        verdict = "every guard passed"
    return PlanStep(
        at=plan.decided_at,
        playbook=plan.playbook or "",
        step=plan.step,
        action=plan.action or "",
        verdict=verdict,
        reason=plan.reason,
    )


def incident_story(
    ledger: Ledger, settings: NotificationSettings, incident_id: str
) -> IncidentStory:
    """The incident page's data (`NotFoundError` for an unknown incident)."""
    detail = incident_detail(ledger, settings, incident_id)
    ctx = load_context(ledger, incident_id, settings=settings)
    plans = tuple(_plan_step(p) for p in ledger.plans_for_incident(incident_id))
    return IncidentStory(
        detail=detail,
        plans=plans,
        logs=ctx.logs,
        signals=tuple(ledger.signals_for_incident(incident_id)),
    )


_BUCKETS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
)


def _bucket_size(span: timedelta, buckets: int) -> timedelta:
    for size in _BUCKETS:
        if span / size <= buckets:
            return size
    return _BUCKETS[-1]


def kpi_series(
    ledger: Ledger, *, now: datetime, days: int = 30, buckets: int = 30
) -> dict[str, object]:
    """The KPI charts' data over the last ``days``: per time bucket p50/p95 of time to
    detect/act/recover, auto-recovery and false-alert rates; actions per playbook and
    outcome; guard blocks by guard; the mission's targets; the totals of the window."""
    since, until = _window(now, days)
    incidents = ledger.list_incidents(since=since, until=until)
    plans = ledger.list_plans(since=since, until=until)
    total = build_report(incidents=incidents, plans=plans)
    series: dict[str, list[float | None]] = defaultdict(list)
    labels: list[str] = []
    if incidents:
        first = min(i.opened_at for i in incidents)
        last = max(i.opened_at for i in incidents)
        size = _bucket_size(last - first, buckets)
        epoch = first.timestamp() // size.total_seconds() * size.total_seconds()
        grouped: dict[int, list[IncidentRecord]] = defaultdict(list)
        for i in incidents:
            grouped[int((i.opened_at.timestamp() - epoch) // size.total_seconds())].append(i)
        start = datetime.fromtimestamp(epoch, tz=first.tzinfo)
        # At least two buckets, so that the targets draw as lines even for one bucket.
        for index in range(max(max(grouped) + 1, 2)):
            labels.append((start + index * size).strftime("%m-%d %H:%M"))
            r = build_report(incidents=grouped.get(index, []))
            for name, stats in (
                ("detect", r.time_to_detect),
                ("act", r.time_to_act),
                ("recover", r.time_to_recover),
            ):
                series[f"{name}_p50"].append(stats.p50_s)
                series[f"{name}_p95"].append(stats.p95_s)
            series["auto_recovery"].append(r.auto_recovery_rate)
            series["false_alerts"].append(r.false_positive_rate)
    playbook_of = {i.id: i.playbook or "(none)" for i in incidents}
    outcomes: Counter[tuple[str, str]] = Counter()
    for a in ledger.actions_since(since):
        if a.incident_id in playbook_of:
            outcomes[(playbook_of[a.incident_id], a.state.value)] += 1
    playbooks = sorted({p for p, _ in outcomes})
    states = sorted({s for _, s in outcomes})
    return {
        "labels": labels,
        "series": dict(series),
        "actions": {
            "playbooks": playbooks,
            "outcomes": {s: [outcomes[(p, s)] for p in playbooks] for s in states},
        },
        "guard_blocks": {
            "guards": [g for g, _ in total.guard_blocks],
            "counts": [n for _, n in total.guard_blocks],
        },
        "targets": {
            "mttr_seconds": MTTR_TARGET_SECONDS,
            "auto_recovery": AUTO_RECOVERY_TARGET,
            "false_alerts": FALSE_ALERT_TARGET,
        },
        "totals": total.to_dict(),
    }


def safety_panel(ledger: Ledger, *, now: datetime, guards: GuardSettings) -> dict[str, object]:
    """Budgets left (globally and per namespace, over the last hour) and the cooldowns in
    force (targets acted on within ``guards.cooldown``), from the ledger's actions."""
    hour = now - timedelta(hours=1)
    since = min(hour, now - guards.cooldown)
    actions = ledger.actions_since(since)
    recent = [a for a in actions if a.requested_at >= hour]
    per_namespace = Counter(a.target.namespace for a in recent if a.target.namespace)
    budgets = [
        {
            "namespace": ns,
            "used": used,
            "left": max(0, guards.namespace_budget_per_hour - used),
        }
        for ns, used in sorted(per_namespace.items())
    ]
    cooldowns: dict[str, datetime] = {}
    for a in actions:
        done = a.finished_at or a.requested_at
        ends = done + guards.cooldown
        if ends > now:
            key = f"{a.target.kind} {a.target.namespace}/{a.target.name}".replace(" /", " ")
            cooldowns[key] = max(ends, cooldowns.get(key, ends))
    return {
        "global_used": len(recent),
        "global_left": max(0, guards.global_budget_per_hour - len(recent)),
        "namespace_budget": guards.namespace_budget_per_hour,
        "global_budget": guards.global_budget_per_hour,
        "budgets": budgets,
        "cooldowns": [
            {"target": k, "until": v, "left_s": (v - now).total_seconds()}
            for k, v in sorted(cooldowns.items())
        ],
    }
