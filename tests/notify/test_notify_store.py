"""The outbox and escalation records on both ledger databases: SQLite (file) and PostgreSQL
(the HA ledger, started locally from Debian's binaries; skipped when they are missing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeheal.clients.notify_transport import HttpRequest, HttpResponse
from kubeheal.config.settings import NotificationSettings
from kubeheal.model.core import Target, TargetKind
from kubeheal.notify.outbox import envelope
from kubeheal.runtime.notifications import NotificationService, acknowledge_incident
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.store import InvalidRecordError, Ledger, NotFoundError
from kubeheal.store.outbox import NotificationKind, NotificationStore, OutboxState
from kubeheal.twin.pgserver import LocalPostgres, find_binaries

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def notify_postgres() -> Iterator[LocalPostgres]:
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def book(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "postgres":
        server: LocalPostgres = request.getfixturevalue("notify_postgres")
        url = server.create_database()
        try:
            with Ledger.open(url) as ledger:
                yield ledger
        finally:
            server.drop_database(url)
    else:
        with Ledger.open(tmp_path / "ledger.db") as ledger:
            yield ledger


def test_outbox_records_claims_and_states(book: Ledger, kit: Any) -> None:
    kit.incident(book)
    store = NotificationStore(book)
    items = [
        envelope(
            incident_id="inc-1",
            what=what,
            channel=channel,
            channel_type="webhook",
            kind=kind,
            body={"what": what},
        )
        for what, kind in (
            ("level-1", NotificationKind.LEVEL),
            ("resolve", NotificationKind.RESOLVE),
        )
        for channel in ("a", "b")
    ]
    assert store.enqueue(items, at=T0) == 4
    assert store.enqueue(items, at=T0) == 0
    assert store.next_due_at() == T0
    due = store.due(T0)
    assert sorted(i.key for i in due) == ["inc-1:level-1:a", "inc-1:level-1:b"]
    assert due[0].payload == {"channel_type": "webhook", "body": {"what": "level-1"}}
    claimed = store.claim(due[0], until=T0 + timedelta(minutes=2))
    assert claimed is not None and claimed.attempts == 1
    assert store.claim(due[0], until=T0 + timedelta(minutes=2)) is None
    assert store.mark_retry(claimed.key, next_attempt_at=T0 + timedelta(seconds=30), error="e")
    assert store.mark_failed(due[1].key, at=T0, error="refused")
    assert not store.mark_sent(due[1].key, at=T0)  # failed stays failed
    assert store.count(OutboxState.FAILED) == 1
    assert store.channels_told("inc-1") == frozenset({"a"})
    later = store.due(T0 + timedelta(seconds=30))
    assert sorted(i.key for i in later) == ["inc-1:level-1:a", "inc-1:resolve:b"]
    with pytest.raises(NotFoundError):
        store.get_item("nope")


def test_escalation_records_compare_and_set(book: Ledger, kit: Any) -> None:
    kit.incident(book)
    store = NotificationStore(book)
    record, created = store.start_escalation(
        "inc-1",
        policy="p",
        reason="escalated",
        category="critical",
        severity="critical",
        started_at=T0,
    )
    assert created and record.level == 0
    again, created = store.start_escalation(
        "inc-1", policy="other", reason="unresolved", category="x", severity="info", started_at=T0
    )
    assert not created and again.policy == "p"
    note = envelope(
        incident_id="inc-1",
        what="level-1",
        channel="a",
        channel_type="slack",
        kind=NotificationKind.LEVEL,
        body={},
    )
    assert store.fire_levels("inc-1", from_level=0, to_level=2, notifications=[note], at=T0)
    assert not store.fire_levels("inc-1", from_level=0, to_level=1, notifications=[], at=T0)
    with pytest.raises(InvalidRecordError):
        store.fire_levels("inc-1", from_level=2, to_level=2, notifications=[], at=T0)
    assert store.record_update("inc-1", expected_updates=0, notifications=[], at=T0)
    assert not store.record_update("inc-1", expected_updates=0, notifications=[], at=T0)
    acked, changed = store.acknowledge("inc-1", by="alice", note="mine", at=T0)
    assert changed and acked.acknowledged_by == "alice"
    assert not store.acknowledge("inc-1", by="bob", note="", at=T0)[1]
    assert not store.fire_levels("inc-1", from_level=2, to_level=3, notifications=[], at=T0)
    assert store.announce_ack("inc-1", notifications=[], at=T0)
    assert not store.announce_ack("inc-1", notifications=[], at=T0)
    assert store.resolve("inc-1", at=T0, reason="fixed")
    assert not store.resolve("inc-1", at=T0, reason="again")
    assert [e.incident_id for e in store.open_escalations()] == ["inc-1"]
    assert store.announce_resolution("inc-1", notifications=[], at=T0)
    assert store.open_escalations() == []
    assert [e.incident_id for e in store.escalations_since(T0)] == ["inc-1"]
    with pytest.raises(NotFoundError):
        store.acknowledge("nope", by="x", note="", at=T0)
    with pytest.raises(InvalidRecordError):
        store.acknowledge("inc-1", by="  ", note="", at=T0)


def test_acknowledging_before_escalation_prevents_the_climb(book: Ledger, kit: Any) -> None:
    kit.incident(book, "inc-1", escalate=False)
    settings = NotificationSettings()
    record, changed = acknowledge_incident(
        book, "inc-1", by="erin", note="investigating", at=T0, settings=settings
    )
    assert changed and record.reason == "acknowledged before it escalated"
    with pytest.raises(NotFoundError):
        acknowledge_incident(book, "nope", by="erin", note="", at=T0, settings=settings)


class _Recorder:
    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []

    async def post(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return HttpResponse(status=202, excerpt="")


async def test_a_whole_escalation_runs_on_this_database(book: Ledger, kit: Any) -> None:
    settings = NotificationSettings.model_validate(
        {
            "channels": {"p": {"type": "pagerduty", "routing_key": "k" * 32}},
            "policies": {"default": {"levels": [{"after": "5m", "channels": ["p"]}]}},
        }
    )
    kit.incident(book)
    now = {"t": T0 + timedelta(minutes=1)}
    http = _Recorder()
    async with NotificationService(
        ledger=book, settings=settings, clock=lambda: now["t"], http=http
    ) as service:
        target = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="cart")
        service.on_event(
            OperatorEvent(
                at=now["t"], kind="escalated", target=target, message="x", incident_id="inc-1"
            )
        )
        await service.tick()
        now["t"] += timedelta(minutes=5)
        await service.tick()
        now["t"] += timedelta(minutes=1)
        service.on_event(
            OperatorEvent(
                at=now["t"], kind="resolved", target=target, message="fixed", incident_id="inc-1"
            )
        )
        await service.tick()
    actions = [r.body.split(b'"event_action":"')[1].split(b'"')[0] for r in http.requests]
    assert actions == [b"trigger", b"resolve"]
