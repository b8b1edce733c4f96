"""What the console's pages show, read from the ledger (SQLite or PostgreSQL alike).

The window's records (30 days) are read and decoded once into a `Snapshot`
(`LedgerCache`, refreshed when older than its ``ttl``), with each incident's classification
and the KPI series; pages overlay what may have changed since (`recent_incidents`: opened
since, in progress, escalated and not over), so they stay current while a page never reads
the whole window. `incident_page` lists incidents newest first with the list's filters;
`live_rows` is what the event stream sends; `incident_story` gathers one incident's timeline
(signals, plans with the guard's verdict, actions, verifications, transitions,
notifications; `kubeheal.server.incidents_api.incident_detail` and `kubeheal.notify.context`
already assemble most of it); `kpi_series` (pure) buckets incidents over time and computes
`kubeheal.store.report` figures per bucket, the series the KPI charts draw. The functions
that take a ledger block on it: call them from a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubeheal.config.settings import GuardSettings, NotificationSettings
from kubeheal.engine.guards import ACTION_GUARDS, INCIDENT_GUARDS, describe
from kubeheal.engine.playbooks import Playbook
from kubeheal.notify.policy import Classification, classify
from kubeheal.runtime.notifications import load_context
from kubeheal.server.incidents_api import IncidentDetail, incident_detail
from kubeheal.store import (
    ActionRecord,
    IncidentRecord,
    Ledger,
    NotFoundError,
    PlanRecord,
    SignalRecord,
)
from kubeheal.store.outbox import EscalationRecord, NotificationStore
from kubeheal.store.report import build_report

__all__ = [
    "AUTO_RECOVERY_TARGET",
    "FALSE_ALERT_TARGET",
    "MTTR_TARGET_SECONDS",
    "SEVERITIES",
    "STATES",
    "Filters",
    "GuardLine",
    "IncidentPage",
    "IncidentRow",
    "IncidentStory",
    "LedgerCache",
    "PlaybookRow",
    "Snapshot",
    "guard_lines",
    "incident_page",
    "incident_story",
    "kpi_series",
    "live_rows",
    "outdated",
    "playbook_rows",
    "read_snapshot",
    "recent_incidents",
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
    incident: IncidentRecord, escalation: EscalationRecord | None, classification: Classification
) -> IncidentRow:
    if escalation is not None:
        category, severity = escalation.category, escalation.severity
    else:
        category, severity = classification.category, classification.severity
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


def _window(now: datetime, days: float) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now + timedelta(days=1)


@dataclass(frozen=True)
class Snapshot:
    """The ledger's records of the window, decoded once and shared by the pages until it is
    refreshed (`LedgerCache`): reading and decoding 10,000 incidents, their plans and actions
    takes about a second, a page must take less than 300 ms."""

    taken: float
    """``time.monotonic()`` when it was read."""
    now: datetime
    """The operator's time when it was read."""
    incidents: dict[str, IncidentRecord]
    classes: dict[str, Classification]
    """Each incident's category and severity (its escalation's, else from its signals)."""
    kpis: dict[str, object]
    """`kpi_series` of the window."""
    last_matched: dict[str, datetime]
    """When each playbook last gave a plan (blocked or not), in the window."""


def read_snapshot(
    ledger: Ledger, *, now: datetime, days: float = 30, taken: float | None = None
) -> Snapshot:
    """Read the last ``days`` of the ledger into a `Snapshot` (blocks: a worker thread)."""
    since, until = _window(now, days)
    incidents = ledger.list_incidents(since=since, until=until)
    plans = ledger.list_plans(since=since, until=until)
    actions = ledger.actions_since(since)
    by_incident: dict[str, list[SignalRecord]] = defaultdict(list)
    for signal in ledger.list_signals(since=since - timedelta(days=1), until=until):
        if signal.incident_id is not None:
            by_incident[signal.incident_id].append(signal)
    last_matched: dict[str, datetime] = {}
    for plan in plans:
        if plan.playbook:
            before = last_matched.get(plan.playbook)
            if before is None or plan.decided_at > before:
                last_matched[plan.playbook] = plan.decided_at
    store = NotificationStore(ledger)
    classes: dict[str, Classification] = {}
    for incident in incidents:
        e = store.get_escalation(incident.id) if incident.escalated_at is not None else None
        classes[incident.id] = (
            Classification(e.category, e.severity)
            if e is not None
            else classify(by_incident.get(incident.id, []))
        )
    return Snapshot(
        taken=time.monotonic() if taken is None else taken,
        now=now,
        incidents={i.id: i for i in incidents},
        classes=classes,
        kpis=kpi_series(incidents=incidents, plans=plans, actions=actions),
        last_matched=last_matched,
    )


class LedgerCache:
    """The current `Snapshot`. It is out of date when older than ``ttl`` seconds or when
    `outdated` sees an incident it does not hold as it is; pages overlay what changed
    (`recent_incidents`) either way, so the incident list is current."""

    def __init__(self, ledger: Ledger, *, ttl: float = 15.0, days: int = 30) -> None:
        self.ledger = ledger
        self.ttl = ttl
        self.days = days
        self.current: Snapshot | None = None
        self.cost = 0.0
        """Seconds the last read took (a small ledger is read again at once when it changed)."""
        self._lock = threading.Lock()

    def stale(self) -> bool:
        current = self.current
        return current is None or time.monotonic() - current.taken >= self.ttl

    def refresh(self, now: datetime) -> Snapshot:
        """Read a new snapshot (one reader at a time: a caller that waited for another's
        read gets that one; blocks)."""
        asked = time.monotonic()
        with self._lock:
            if self.current is not None and self.current.taken >= asked:
                return self.current
            started = time.monotonic()
            self.current = read_snapshot(self.ledger, now=now, days=self.days, taken=started)
            self.cost = time.monotonic() - started
            return self.current


def outdated(snapshot: Snapshot, recent: Mapping[str, IncidentRecord]) -> bool:
    """Whether ``recent`` holds an incident the snapshot lacks or holds differently."""
    return any(snapshot.incidents.get(key) != incident for key, incident in recent.items())


def recent_incidents(
    ledger: Ledger, *, now: datetime, since: datetime, watching: Iterable[str] = ()
) -> dict[str, IncidentRecord]:
    """Incidents that may have changed since ``since``: opened since then, in progress, with
    an escalation not over, and the ``watching`` ones (read again by id). Cheap with a large
    ledger: it never reads the whole window."""
    found: dict[str, IncidentRecord] = {
        i.id: i for i in ledger.list_incidents(since=since, until=now + timedelta(days=1))
    }
    for i in ledger.incidents_in_progress():
        found.setdefault(i.id, i)
    wanted = {e.incident_id for e in NotificationStore(ledger).open_escalations()}
    wanted.update(watching)
    for incident_id in wanted - set(found):
        try:
            found[incident_id] = ledger.get_incident(incident_id)
        except NotFoundError:
            continue
    return found


def _rows_of(
    ledger: Ledger,
    incidents: Iterable[IncidentRecord],
    *,
    classes: Mapping[str, Classification],
    filters: Filters,
    limit: int,
) -> tuple[list[IncidentRow], int]:
    def classification(incident_id: str) -> Classification:
        found = classes.get(incident_id)
        return found if found is not None else classify(ledger.signals_for_incident(incident_id))

    found = [i for i in incidents if filters.matches_record(i)]
    if filters.severity:
        found = [i for i in found if classification(i.id).severity == filters.severity]
    found.sort(key=lambda i: (i.opened_at, i.id), reverse=True)
    store = NotificationStore(ledger)
    rows = [_row(i, store.get_escalation(i.id), classification(i.id)) for i in found[:limit]]
    if filters.severity:
        rows = [r for r in rows if r.severity == filters.severity]
    return rows, len(found)


@dataclass(frozen=True)
class IncidentPage:
    """The incident list page: its rows, how many match, and the filters' choices."""

    rows: list[IncidentRow]
    total: int
    choices: dict[str, list[str]]


def incident_page(
    ledger: Ledger,
    snapshot: Snapshot,
    *,
    recent: Mapping[str, IncidentRecord],
    filters: Filters,
    limit: int = 200,
) -> IncidentPage:
    """Up to ``limit`` rows newest first, how many incidents match, and the values each
    filter offers: the snapshot's incidents with ``recent`` (`recent_incidents`) on top."""
    incidents = dict(snapshot.incidents)
    incidents.update(recent)
    rows, total = _rows_of(
        ledger, incidents.values(), classes=snapshot.classes, filters=filters, limit=limit
    )
    values = incidents.values()
    choices = {
        "namespace": sorted({i.target.namespace for i in values if i.target.namespace}),
        "state": list(STATES),
        "playbook": sorted({i.playbook for i in values if i.playbook}),
        "severity": list(SEVERITIES),
    }
    return IncidentPage(rows=rows, total=total, choices=choices)


def live_rows(
    ledger: Ledger, *, now: datetime, filters: Filters, since: datetime, watching: set[str]
) -> list[IncidentRow]:
    """The rows an event stream sends: `recent_incidents` matching ``filters``."""
    found = recent_incidents(ledger, now=now, since=since, watching=watching)
    rows, _ = _rows_of(ledger, found.values(), classes={}, filters=filters, limit=200)
    return rows


@dataclass(frozen=True)
class GuardLine:
    """One guard's verdict on a decision, as the timeline shows it."""

    guard: str
    verdict: str
    """``passed``, ``blocked``, or ``not checked`` (a guard before it blocked)."""
    reason: str
    """The block's reason; for a pass, what the guard checks."""


def guard_lines(plan: PlanRecord) -> tuple[GuardLine, ...]:
    """Every guard's verdict on ``plan`` in the order they were asked, then the guards of
    the same family that were not asked because one blocked (plans recorded before the
    ledger kept each verdict show the blocking guard alone). Pure."""
    lines = [
        GuardLine(
            guard=v.guard,
            verdict="passed" if v.allowed else "blocked",
            reason=describe(v.guard) if v.allowed else v.reason,
        )
        for v in plan.guards
    ]
    if not lines and plan.blocked_by:
        lines.append(GuardLine(guard=plan.blocked_by, verdict="blocked", reason=plan.reason))
    asked = {v.guard for v in plan.guards}
    if lines and lines[-1].verdict == "blocked":
        family = next(
            (
                [_guard_name(g.__name__) for g in group]
                for group in (INCIDENT_GUARDS, ACTION_GUARDS)
                if lines[-1].guard in {_guard_name(g.__name__) for g in group}
            ),
            [],
        )
        after = family[family.index(lines[-1].guard) + 1 :] if family else []
        lines += [
            GuardLine(guard=g, verdict="not checked", reason="an earlier guard blocked")
            for g in after
            if g not in asked
        ]
    return tuple(lines)


def _guard_name(function: str) -> str:
    return {"pdb_respected": "pdb", "node_drain_limits": "node_drain"}.get(function, function)


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
    guards: tuple[GuardLine, ...] = ()
    """Each guard's verdict (`guard_lines`)."""


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
        guards=guard_lines(plan),
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
    *,
    incidents: Sequence[IncidentRecord],
    plans: Sequence[PlanRecord],
    actions: Sequence[ActionRecord],
    buckets: int = 30,
) -> dict[str, object]:
    """The KPI charts' data: per time bucket p50/p95 of time to detect/act/recover,
    auto-recovery and false-alert rates; actions per playbook and outcome; guard blocks by
    guard; the mission's targets; the totals. Pure: no I/O, no clock."""
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
    for a in actions:
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


@dataclass(frozen=True)
class PlaybookRow:
    """One loaded playbook on the playbooks page."""

    name: str
    origin: str
    """built-in, or user (loaded from the operator's playbook files)."""
    enabled: bool
    mode: str
    priority: int
    signals: tuple[str, ...]
    steps: tuple[str, ...]
    last_matched: datetime | None
    incidents: int
    success_rate: float | None


def playbook_rows(
    playbooks: Iterable[Playbook], *, builtin: Mapping[str, Playbook], snapshot: Snapshot
) -> list[PlaybookRow]:
    """The loaded playbooks with, from the snapshot's window, when each last matched and its
    success rate (`kubeheal.store.report`). Pure: no I/O, no clock."""
    totals = snapshot.kpis["totals"]
    stats = {
        p["playbook"]: p
        for p in (totals.get("playbooks", []) if isinstance(totals, dict) else [])
        if isinstance(p, dict)
    }
    rows = []
    for p in playbooks:
        stat = stats.get(p.name, {})
        rate = stat.get("success_rate")
        count = stat.get("incidents", 0)
        rows.append(
            PlaybookRow(
                name=p.name,
                origin="built-in" if builtin.get(p.name) == p else "user",
                enabled=p.enabled,
                mode=p.mode.value,
                priority=p.priority,
                signals=tuple(str(k) for k in p.triggers.signals),
                steps=tuple(str(step.action) for step in p.steps),
                last_matched=snapshot.last_matched.get(p.name),
                incidents=count if isinstance(count, int) else 0,
                success_rate=rate if isinstance(rate, float) else None,
            )
        )
    return sorted(rows, key=lambda r: (-r.priority, r.name))
