"""The incidents API: list open incidents, show one, acknowledge one.

=======================================  =================================================
``GET  /api/v1/incidents``               open incidents: being handled by kubeheal, or
                                         escalated and not over yet (oldest first)
``GET  /api/v1/incidents/{id}``          one incident: what happened, timeline, actions,
                                         next step, links, escalation, notifications
``POST /api/v1/incidents/{id}/ack``      acknowledge (``{"by": "...", "reason": "..."}``):
                                         the escalation stops climbing and the
                                         acknowledgement is announced where it was told
=======================================  =================================================

404 for an unknown incident, 409 for acknowledging one that ended without an escalation,
422 for a malformed body or id. Authentication is the app's middleware
(`kubeheal.server.app`); this router does none of its own. The ledger is read and written
from worker threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from kubeheal.config.settings import NotificationSettings
from kubeheal.notify.policy import Classification, classify
from kubeheal.runtime.notifications import acknowledge_incident, load_context
from kubeheal.store import ConflictError, IncidentRecord, IncidentState, Ledger, NotFoundError
from kubeheal.store.outbox import EscalationRecord, NotificationStore

__all__ = [
    "AckRequest",
    "AckResponse",
    "IncidentDetail",
    "IncidentList",
    "IncidentSummary",
    "incident_detail",
    "incident_summary",
    "incidents_router",
    "open_incidents",
]

IncidentIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetOut(_Model):
    kind: str
    namespace: str
    name: str


class EscalationOut(_Model):
    policy: str
    trigger: str = Field(description="escalated, unresolved, or acknowledged before it did.")
    started_at: datetime
    level: int = Field(description="Levels notified so far.")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    resolved_at: datetime | None
    resolve_reason: str | None


class IncidentSummary(_Model):
    id: str
    target: TargetOut
    state: str
    opened_at: datetime
    category: str
    severity: str
    escalation: EscalationOut | None


class IncidentList(_Model):
    incidents: list[IncidentSummary]


class TimelineOut(_Model):
    at: datetime
    text: str


class ActionOut(_Model):
    action: str
    state: str
    requested_at: datetime
    finished_at: datetime | None
    detail: str


class NotificationOut(_Model):
    channel: str
    kind: str
    state: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class IncidentDetail(IncidentSummary):
    headline: str
    what_happened: str
    timeline: list[TimelineOut]
    actions: list[ActionOut]
    next_step: str
    commands: list[str]
    patch: str
    runbook_url: str
    dashboard_url: str
    notifications: list[NotificationOut]


class AckRequest(_Model):
    """Who acknowledges, and why."""

    by: str = Field(min_length=1, max_length=200, pattern=r"\S")
    reason: str = Field("", max_length=2000)


class AckResponse(_Model):
    incident_id: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    changed: bool = Field(description="False when it was already acknowledged or over.")


def _escalation_out(e: EscalationRecord | None) -> EscalationOut | None:
    if e is None:
        return None
    return EscalationOut(
        policy=e.policy,
        trigger=e.reason,
        started_at=e.started_at,
        level=e.level,
        acknowledged_at=e.acknowledged_at,
        acknowledged_by=e.acknowledged_by,
        ack_note=e.ack_note,
        resolved_at=e.resolved_at,
        resolve_reason=e.resolve_reason,
    )


def _classification(
    ledger: Ledger, incident_id: str, escalation: EscalationRecord | None
) -> Classification:
    if escalation is not None:
        return Classification(escalation.category, escalation.severity)
    return classify(ledger.signals_for_incident(incident_id))


def incident_summary(
    ledger: Ledger, incident: IncidentRecord, escalation: EscalationRecord | None
) -> IncidentSummary:
    """The API's summary of one incident."""
    c = _classification(ledger, incident.id, escalation)
    return IncidentSummary(
        id=incident.id,
        target=TargetOut(
            kind=incident.target.kind,
            namespace=incident.target.namespace,
            name=incident.target.name,
        ),
        state=incident.state.value,
        opened_at=incident.opened_at,
        category=c.category,
        severity=c.severity,
        escalation=_escalation_out(escalation),
    )


def open_incidents(
    ledger: Ledger, *, escalated_since: datetime | None = None
) -> list[tuple[IncidentRecord, EscalationRecord | None]]:
    """Incidents in progress and escalated incidents not over yet, oldest first. With
    ``escalated_since``, incidents escalated since then whose escalation has not started
    (no policy applies, or the notification loop has not seen them yet) are included too."""
    store = NotificationStore(ledger)
    escalations = {e.incident_id: e for e in store.open_escalations() if not e.resolved}
    found: dict[str, IncidentRecord] = {i.id: i for i in ledger.incidents_in_progress()}
    for incident_id in escalations:
        if incident_id not in found:
            try:
                found[incident_id] = ledger.get_incident(incident_id)
            except NotFoundError:
                continue
    if escalated_since is not None:
        until = datetime.now(tz=UTC) + timedelta(days=1)
        for incident in ledger.list_incidents(since=escalated_since, until=until):
            if (
                incident.state is IncidentState.ESCALATED
                and incident.id not in found
                and store.get_escalation(incident.id) is None
            ):
                found[incident.id] = incident
    ordered = sorted(found.values(), key=lambda i: (i.opened_at, i.id))
    return [(i, escalations.get(i.id) or store.get_escalation(i.id)) for i in ordered]


def incident_detail(
    ledger: Ledger, settings: NotificationSettings, incident_id: str
) -> IncidentDetail:
    """The API's detail of one incident (`NotFoundError` if unknown)."""
    store = NotificationStore(ledger)
    incident = ledger.get_incident(incident_id)
    escalation = store.get_escalation(incident_id)
    classification = _classification(ledger, incident_id, escalation)
    ctx = load_context(ledger, incident_id, settings=settings, classification=classification)
    summary = incident_summary(ledger, incident, escalation)
    return IncidentDetail(
        **summary.model_dump(),
        headline=ctx.headline,
        what_happened=ctx.what_happened,
        timeline=[TimelineOut(at=e.at, text=e.text) for e in ctx.timeline],
        actions=[
            ActionOut(
                action=a.action,
                state=a.state,
                requested_at=a.requested_at,
                finished_at=a.finished_at,
                detail=a.detail,
            )
            for a in ctx.actions
        ],
        next_step=ctx.next_step,
        commands=list(ctx.commands),
        patch=ctx.patch,
        runbook_url=ctx.runbook_url,
        dashboard_url=ctx.dashboard_url,
        notifications=[
            NotificationOut(
                channel=n.channel,
                kind=n.kind.value,
                state=n.state.value,
                attempts=n.attempts,
                created_at=n.created_at,
                sent_at=n.sent_at,
                last_error=n.last_error,
            )
            for n in store.items_for_incident(incident_id)
        ],
    )


def _wall_clock() -> datetime:
    return datetime.now(tz=UTC)


def incidents_router(
    *,
    ledger: Ledger,
    settings: NotificationSettings,
    clock: Callable[[], datetime] = _wall_clock,
    on_ack: Callable[[], None] | None = None,
) -> APIRouter:
    """The incidents API over ``ledger``; ``on_ack`` is called (in the event loop) after a
    new acknowledgement, e.g. `NotificationService.wake` to announce it at once."""
    router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

    @router.get("", response_model=IncidentList, summary="Open incidents")
    async def list_incidents() -> IncidentList:
        """Incidents kubeheal is handling, and escalated incidents not over yet."""

        def summaries() -> list[IncidentSummary]:
            rows = open_incidents(ledger, escalated_since=clock() - settings.lookback)
            return [incident_summary(ledger, i, e) for i, e in rows]

        return IncidentList(incidents=await asyncio.to_thread(summaries))

    @router.get(
        "/{incident_id}",
        response_model=IncidentDetail,
        responses={404: {"description": "No such incident."}},
        summary="One incident",
    )
    async def show_incident(incident_id: IncidentIdPath) -> IncidentDetail:
        """What happened, the timeline, actions, next step, links, escalation, notifications."""
        try:
            return await asyncio.to_thread(incident_detail, ledger, settings, incident_id)
        except NotFoundError as e:
            raise HTTPException(status_code=404, detail=f"no incident {incident_id}") from e

    @router.post(
        "/{incident_id}/ack",
        response_model=AckResponse,
        responses={
            404: {"description": "No such incident."},
            409: {"description": "The incident ended without an escalation."},
        },
        summary="Acknowledge an incident",
    )
    async def acknowledge(incident_id: IncidentIdPath, body: AckRequest) -> AckResponse:
        """Stop the escalation's climb; the acknowledgement is announced where it was told."""
        try:
            record, changed = await asyncio.to_thread(
                acknowledge_incident,
                ledger,
                incident_id,
                by=body.by,
                note=body.reason,
                at=clock(),
                settings=settings,
            )
        except NotFoundError as e:
            raise HTTPException(status_code=404, detail=f"no incident {incident_id}") from e
        except ConflictError as e:
            raise HTTPException(status_code=409, detail=str(e)) from e
        if changed and on_ack is not None:
            on_ack()
        return AckResponse(
            incident_id=incident_id,
            acknowledged_by=record.acknowledged_by,
            acknowledged_at=record.acknowledged_at,
            changed=changed,
        )

    return router
