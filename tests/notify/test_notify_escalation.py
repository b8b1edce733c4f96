"""Escalation timing with a fake clock, against real local receivers.

Each level fires at its wait (not a second earlier), acknowledgement stops the climb and is
announced where kubeheal had spoken, resolution is announced on every channel that was told,
overdue levels fire together after a restart, incidents unresolved too long escalate, and
progress updates are rate-limited.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from kubeheal.model.core import Target, TargetKind
from kubeheal.runtime.notifications import NotificationService, acknowledge_incident
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.store import IncidentState, Resolution
from kubeheal.store.outbox import NotificationStore, OutboxState

CART = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="cart")
ESCALATED_AT = 60.0  # kit.incident escalates at T0 + 60 s


def _event(clock: Any, kind: str, incident_id: str = "inc-1", message: str = "") -> OperatorEvent:
    return OperatorEvent(
        at=clock(), kind=kind, target=CART, message=message or kind, incident_id=incident_id
    )


def _counts(receiver: Any, smtp: Any = None) -> dict[str, int]:
    counts = {kind: len(receiver.of(kind)) for kind in ("slack", "teams", "pagerduty", "webhook")}
    if smtp is not None:
        counts["mail"] = len(smtp.messages)
    return counts


async def _at(service: NotificationService, clock: Any, seconds: float) -> None:
    clock.at(seconds)
    await service.tick()


async def test_levels_fire_at_their_waits_and_ack_stops_the_climb(
    kit: Any, clock: Any, receiver: Any, smtp: Any
) -> None:
    settings = kit.settings(receiver, smtp)
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(
            ledger=ledger, settings=settings, clock=clock, rand=lambda: 0.0
        ) as service:
            clock.at(ESCALATED_AT)
            service.on_event(_event(clock, "escalated"))
            await service.tick()
            none = {"slack": 0, "teams": 0, "pagerduty": 0, "webhook": 0, "mail": 0}
            assert _counts(receiver, smtp) == none

            await _at(service, clock, ESCALATED_AT + 5 * 60 - 1)
            assert _counts(receiver, smtp) == none, "level 1 fired before its wait"
            await _at(service, clock, ESCALATED_AT + 5 * 60)
            assert _counts(receiver, smtp) == {**none, "slack": 1}

            await _at(service, clock, ESCALATED_AT + 15 * 60 - 1)
            assert _counts(receiver, smtp) == {**none, "slack": 1}
            await _at(service, clock, ESCALATED_AT + 15 * 60)
            assert _counts(receiver, smtp) == {**none, "slack": 1, "teams": 1, "mail": 1}

            # Acknowledged at 20 minutes: announced where kubeheal spoke, and the climb stops.
            clock.at(ESCALATED_AT + 20 * 60)
            record, changed = acknowledge_incident(
                ledger,
                "inc-1",
                by="alice",
                note="rolling back by hand",
                at=clock(),
                settings=settings,
            )
            assert changed and record.acknowledged_by == "alice"
            await service.tick()
            assert _counts(receiver, smtp) == {**none, "slack": 2, "teams": 2, "mail": 2}
            ack = receiver.of("slack")[-1].json
            assert "Acknowledged by alice" in ack["blocks"][0]["text"]["text"]
            assert any(
                "rolling back by hand" in b.get("text", {}).get("text", "") for b in ack["blocks"]
            )

            for minutes in (30, 45, 60, 90):
                await _at(service, clock, ESCALATED_AT + minutes * 60)
            assert _counts(receiver, smtp) == {**none, "slack": 2, "teams": 2, "mail": 2}, (
                "an acknowledged escalation kept climbing"
            )

            # Resolved: announced on every channel told (not PagerDuty or management, never told).
            clock.at(ESCALATED_AT + 95 * 60)
            service.on_event(_event(clock, "resolved", message="verified: pods ready"))
            await service.tick()
            assert _counts(receiver, smtp) == {**none, "slack": 3, "teams": 3, "mail": 3}
            resolved = receiver.of("slack")[-1].json["blocks"][0]["text"]["text"]
            assert "Resolved" in resolved
            assert "Resolved" in smtp.messages[-1]["Subject"]
            assert receiver.violations == []
            # Nothing more, ever.
            await _at(service, clock, ESCALATED_AT + 200 * 60)
            assert _counts(receiver, smtp) == {**none, "slack": 3, "teams": 3, "mail": 3}


async def test_resolution_reaches_every_level_reached_including_pagerduty(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = kit.settings(receiver)
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            clock.at(ESCALATED_AT)
            service.on_event(_event(clock, "escalated"))
            for minutes in (0, 5, 15, 30, 60):
                await _at(service, clock, ESCALATED_AT + minutes * 60)
            assert _counts(receiver) == {"slack": 1, "teams": 1, "pagerduty": 1, "webhook": 1}
            trigger = receiver.of("pagerduty")[0].json
            assert trigger["event_action"] == "trigger"
            assert trigger["dedup_key"] == "inc-1"

            clock.at(ESCALATED_AT + 70 * 60)
            service.on_event(_event(clock, "resolved", message="fixed by hand"))
            await service.tick()
            assert _counts(receiver) == {"slack": 2, "teams": 2, "pagerduty": 2, "webhook": 2}
            resolve = receiver.of("pagerduty")[-1].json
            assert resolve == {
                "routing_key": resolve["routing_key"],
                "event_action": "resolve",
                "dedup_key": "inc-1",
            }
            webhook = receiver.of("webhook")[-1].json
            assert webhook["kind"] == "resolve"
            assert webhook["incident"]["id"] == "inc-1"
            assert receiver.violations == []


async def test_overdue_levels_fire_together_after_a_restart_and_only_once(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = kit.settings(receiver)
    with kit.open() as ledger:
        kit.incident(ledger)
    # kubeheal was down from before the escalation until 61 minutes after it: the new
    # service finds the escalated incident in the ledger (no event) and catches up.
    clock.at(ESCALATED_AT + 61 * 60)
    with kit.open() as ledger:
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            await service.tick()
            assert _counts(receiver) == {"slack": 1, "teams": 1, "pagerduty": 1, "webhook": 1}
            escalation = NotificationStore(ledger).get_escalation("inc-1")
            assert escalation is not None and escalation.level == 4
            assert escalation.started_at == clock() - timedelta(minutes=61)
    with kit.open() as ledger:  # and again: nothing repeated
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as again:
            clock.advance(600)
            await again.tick()
            assert _counts(receiver) == {"slack": 1, "teams": 1, "pagerduty": 1, "webhook": 1}


async def test_an_incident_unresolved_too_long_escalates_then_its_resolution_is_announced(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = kit.settings(receiver, unresolved_after="30m")
    with kit.open() as ledger:
        kit.incident(ledger, escalate=False)  # still acting: kubeheal is working on it
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            await _at(service, clock, 29 * 60)
            assert NotificationStore(ledger).get_escalation("inc-1") is None
            await _at(service, clock, 30 * 60)
            escalation = NotificationStore(ledger).get_escalation("inc-1")
            assert escalation is not None and escalation.reason == "unresolved"
            await _at(service, clock, 35 * 60 - 1)
            assert _counts(receiver)["slack"] == 0
            await _at(service, clock, 35 * 60)
            assert _counts(receiver)["slack"] == 1
            first = receiver.of("slack")[0].json
            assert "still working on it" in json_text(first)

            # The operator then fixes it: the resolution is announced where it was told.
            clock.at(40 * 60)
            ledger.transition_incident(
                "inc-1",
                from_state=IncidentState.ACTING,
                to_state=IncidentState.RESOLVED,
                at=clock(),
                reason="verified",
                resolution=Resolution.AUTO,
            )
            service.on_event(_event(clock, "resolved", message="verified: recovered"))
            await service.tick()
            assert _counts(receiver) == {"slack": 2, "teams": 0, "pagerduty": 0, "webhook": 0}
            assert "Resolved" in receiver.of("slack")[-1].json["text"]


async def test_progress_updates_are_rate_limited_per_incident(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = kit.settings(
        receiver, unresolved_after="1m", min_update_interval="5m", max_updates_per_incident=3
    )
    with kit.open() as ledger:
        kit.incident(ledger, escalate=False)
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            await _at(service, clock, 6 * 60)  # escalation at 1m, level 1 at 6m
            assert _counts(receiver)["slack"] == 1
            # The operator keeps trying for 40 minutes: an event every 10 seconds.
            for second in range(6 * 60 + 10, 46 * 60, 10):
                clock.at(second)
                service.on_event(_event(clock, "retry", message=f"retry at {second}"))
                await service.tick()
            # 40 minutes of activity, a 5-minute interval, at most 3 updates in all; the
            # levels reached meanwhile (15m teams, 30m PagerDuty) fired on time regardless.
            updates = [m for m in receiver.of("slack") if m.json["text"].startswith("Update")]
            assert len(updates) == 3
            counts = _counts(receiver)
            assert counts["pagerduty"] >= 1
            assert 1 < counts["teams"] <= 1 + 3  # its level, then updates once it was told
            sent = NotificationStore(ledger).items_for_incident("inc-1")
            numbers = {i.key.split(":")[1] for i in sent if i.kind.value == "update"}
            assert numbers == {"update-1", "update-2", "update-3"}
            stamps = sorted({i.created_at for i in sent if i.kind.value == "update"})
            assert all(b - a >= timedelta(minutes=5) for a, b in itertools.pairwise(stamps))


async def test_an_escalated_problem_no_longer_observed_counts_as_resolved(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = kit.settings(receiver)
    seen = {"still": True}
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(
            ledger=ledger,
            settings=settings,
            clock=clock,
            probe=lambda incident, now: seen["still"],
            reconcile_interval=timedelta(seconds=0),
        ) as service:
            clock.at(ESCALATED_AT)
            service.on_event(_event(clock, "escalated"))
            await _at(service, clock, ESCALATED_AT + 5 * 60)
            await _at(service, clock, ESCALATED_AT + 8 * 60)
            assert _counts(receiver)["slack"] == 1
            seen["still"] = False
            await _at(service, clock, ESCALATED_AT + 9 * 60)
            assert _counts(receiver)["slack"] == 2
            text = json_text(receiver.of("slack")[-1].json)
            assert "has not been observed" in text
            escalation = NotificationStore(ledger).get_escalation("inc-1")
            assert escalation is not None and escalation.resolve_announced
            assert NotificationStore(ledger).count(OutboxState.PENDING) == 0


def json_text(doc: Any) -> str:
    import json

    return json.dumps(doc)
