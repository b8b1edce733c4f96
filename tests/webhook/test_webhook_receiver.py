"""The receiver: payload validation (4xx with the reason, never 5xx), size limit, dedup,
503 when the inbox is full, and durability of what was acknowledged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx

from kubeheal.config import WebhookSettings
from kubeheal.runtime.alerts import AlertConsumer
from kubeheal.store import Ledger
from kubeheal.store.inbox import AlertInbox


async def test_accepts_a_real_alertmanager_payload(wk, inbox) -> None:
    alerts = wk.workload_alerts(3)
    alerts[1]["annotations"] = {"summary": "p99 above 1s", "runbook_url": "http://runbooks/x"}
    async with wk.app_over(inbox) as app:
        response = await app.post(wk.notification(alerts))
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok", "accepted": 3, "duplicates": 0}
        assert app.commits, "the consumer was not woken"
    rows = inbox.pending()
    assert [r.fingerprint for r in rows] == [a["fingerprint"] for a in alerts]
    first = rows[0]
    assert first.status == "firing"
    # Nanoseconds are cut to microseconds, the time kept in UTC.
    assert first.starts_at == datetime(2026, 1, 10, 8, 0, 0, 123456, tzinfo=UTC)
    assert first.labels["deployment"] == "sample-app"
    assert first.payload["receiver"] == "kubeheal"
    assert rows[1].payload["annotations"] == alerts[1]["annotations"]
    assert inbox.pending_count == 3


async def test_malformed_bodies_get_4xx_with_the_reason(wk, inbox) -> None:
    good = wk.notification(wk.workload_alerts(1))
    cases: list[tuple[object, int, str]] = [
        (b"", 400, "not valid JSON"),
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe\x00", 400, "not valid JSON"),
        ('{"version": "4", "alerts": [', 400, "not valid JSON"),
        ([1, 2], 422, "object"),
        ("null", 422, "object"),
        ({**good, "version": "5"}, 422, "unsupported Alertmanager webhook payload version '5'"),
        ({**good, "version": 4}, 422, 'must be the string "4", got the number 4'),
        ({k: v for k, v in good.items() if k != "version"}, 422, "version"),
        ({k: v for k, v in good.items() if k != "alerts"}, 422, "alerts"),
        ({**good, "alerts": "many"}, 422, "alerts"),
        ({**good, "alerts": [{"status": "burning"}]}, 422, "firing"),
        ({**good, "status": 7}, 422, "status"),
        ({**good, "truncatedAlerts": -1}, 422, "truncatedAlerts"),
        ({**good, "alerts": [{**good["alerts"][0], "labels": {"a": 1}}]}, 422, "string"),
        ({**good, "alerts": [{**good["alerts"][0], "labels": ["a"]}]}, 422, "labels"),
        ({**good, "alerts": [{**good["alerts"][0], "startsAt": "yesterday"}]}, 422, "datetime"),
        (
            {**good, "alerts": [{**good["alerts"][0], "startsAt": "0001-01-01T00:00:00+05:00"}]},
            422,
            "out of range",
        ),
        ({**good, "alerts": [{**good["alerts"][0], "fingerprint": "a b;c"}]}, 422, "pattern"),
        ('{"version":"4","status":"firing","alerts":[],"receiver":"\\ud800"}', 400, "JSON"),
    ]
    async with wk.app_over(inbox) as app:
        for body, status, reason in cases:
            response = await app.post(body)  # type: ignore[arg-type]
            assert response.status_code == status, (body, response.text)
            assert reason in str(response.json()["detail"]), (body, response.text)
        assert app.metric("kubeheal_webhook_notifications_total", code="400") >= 5
    assert inbox.count() == 0


async def test_body_size_limit(wk, inbox) -> None:
    settings = WebhookSettings(max_body_bytes=4096)
    big = wk.notification(wk.workload_alerts(40))
    async with wk.app_over(inbox, settings=settings) as app:
        response = await app.post(big)
        assert response.status_code == 413
        assert "4096" in response.json()["detail"]
        assert (await app.post(wk.notification(wk.workload_alerts(1)))).status_code == 200
    # Chunked (no Content-Length) bodies are counted as they arrive, on the real server.
    app_, _registry, _commits = wk.build_app(inbox, settings=settings)

    async def chunks():
        for _ in range(10):
            yield b" " * 1000

    with wk.server_in_thread(app_) as url:
        async with httpx.AsyncClient(base_url=url, headers=wk.BEARER) as client:
            chunked = await client.post(wk.PATH, content=chunks())
            assert chunked.status_code == 413
    assert inbox.count() == 1


async def test_duplicates_are_stored_once(wk, inbox) -> None:
    firing = wk.workload_alerts(2)
    async with wk.app_over(inbox) as app:
        assert (await app.post(wk.notification(firing))).json()["accepted"] == 2
        # Alertmanager re-sends the group (repeat_interval, retries): nothing new.
        again = await app.post(wk.notification(firing))
        assert again.json() == {"status": "ok", "accepted": 0, "duplicates": 2}
        # The same alert twice in one notification.
        twice = await app.post(wk.notification([firing[0], firing[0]]))
        assert twice.json()["duplicates"] == 2
        # Resolved is a different status of the same episode: stored.
        resolved = [{**firing[0], "status": "resolved", "endsAt": "2026-01-10T08:09:00Z"}]
        assert (await app.post(wk.notification(resolved))).json()["accepted"] == 1
        # A new episode (new startsAt) of the same fingerprint: stored.
        again_later = [{**firing[0], "startsAt": "2026-01-10T09:00:00Z"}]
        assert (await app.post(wk.notification(again_later))).json()["accepted"] == 1
        # Concurrent identical notifications: one stores, the others are duplicates.
        burst = await asyncio.gather(
            *(app.post(wk.notification(wk.workload_alerts(5, alertname="Burst"))) for _ in range(8))
        )
        assert sum(r.json()["accepted"] for r in burst) == 5
        assert sum(r.json()["duplicates"] for r in burst) == 35
        assert app.metric("kubeheal_webhook_alerts_total", result="duplicate") == 2 + 2 + 35
    assert inbox.count() == 2 + 1 + 1 + 5


async def test_full_inbox_answers_503_with_retry_after(wk, inbox, ledger: Ledger) -> None:
    settings = WebhookSettings(max_pending=5, retry_after="30s")
    async with wk.app_over(inbox, settings=settings) as app:
        assert (await app.post(wk.notification(wk.workload_alerts(5)))).status_code == 200
        full = await app.post(wk.notification(wk.workload_alerts(1, alertname="More")))
        assert full.status_code == 503
        assert full.headers["retry-after"] == "30"
        assert "5 unprocessed" in full.json()["detail"]
        assert inbox.count() == 5
        # The operator catches up: accepted again.
        inbox.mark_processed([r.seq for r in inbox.pending()], at=datetime.now(tz=UTC))
        retry = await app.post(wk.notification(wk.workload_alerts(1, alertname="More")))
        assert retry.status_code == 200
        assert app.metric("kubeheal_alert_inbox_pending") == 1


async def test_unwritable_inbox_answers_503(wk, tmp_path: Path) -> None:
    book = Ledger.open(tmp_path / "ledger.db")
    inbox = AlertInbox(book)
    async with wk.app_over(inbox) as app:
        book.close()  # the database goes away under the server
        response = await app.post(wk.notification(wk.workload_alerts(1)))
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert "retry" in response.json()["detail"]


async def test_acknowledged_alerts_survive_a_restart(wk, tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    book = Ledger.open(path)
    alerts = wk.workload_alerts(3)
    async with wk.app_over(AlertInbox(book)) as app:
        assert (await app.post(wk.notification(alerts))).status_code == 200
    book.close()  # the process dies before the operator looked at the inbox

    reopened = Ledger.open(path)
    try:
        inbox = AlertInbox(reopened)
        assert inbox.pending_count == 3
        sink = wk.FakeSink()
        sink.started.set()
        consumer = AlertConsumer(inbox=inbox, sink=sink)
        await consumer.recover()
        assert await consumer.drain_once() == 3
        assert len(sink.submitted) == 1  # three alerts, one alertname, one target: one signal
        signal = sink.submitted[0]
        assert signal.target.key == "Deployment/demo/sample-app"
        assert inbox.pending_count == 0
        assert all(r.processed_at is not None for r in inbox.rows())
    finally:
        reopened.close()
