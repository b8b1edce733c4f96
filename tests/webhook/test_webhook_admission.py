"""Admission to the inbox: a notification is stored whole or not at all, and only if every
one of its alerts fits under ``webhook.max_pending``; the pending figure stays exact (the 503
reports it), also when notifications race each other or the ledger fails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from kubeheal.config import WebhookSettings
from kubeheal.store import Ledger
from kubeheal.store.inbox import AlertInbox


def _unprocessed(inbox: AlertInbox) -> int:
    return len(inbox.pending(limit=100_000))


async def test_a_notification_that_does_not_fit_is_refused_whole(wk, inbox) -> None:
    settings = WebhookSettings(max_pending=200, retry_after="20s")
    async with wk.app_over(inbox, settings=settings) as app:
        big = await app.post(wk.notification(wk.workload_alerts(500, alertname="Storm")))
        assert big.status_code == 503, big.text
        assert big.headers["retry-after"] == "20"
        assert "500 alerts" in big.json()["detail"]
        assert "max_alerts" in big.json()["detail"], "a body that can never fit says so"
        assert inbox.count() == 0, "nothing of a refused notification is stored"
        assert (inbox.pending_count, inbox.reserved) == (0, 0)

        # One that fits exactly is accepted.
        fits = await app.post(wk.notification(wk.workload_alerts(200, alertname="Fits")))
        assert fits.status_code == 200, fits.text
        assert fits.json()["accepted"] == 200
        assert inbox.pending_count == _unprocessed(inbox) == 200

        # Full: one more alert does not fit, and the answer gives the true figure.
        more = await app.post(wk.notification(wk.workload_alerts(1, alertname="More")))
        assert more.status_code == 503
        assert more.headers["retry-after"] == "20"
        assert (
            "holds 200 unprocessed alerts (0 more being stored) of at most 200"
            in (more.json()["detail"])
        )

        # The operator handles 150: a body of 151 still does not fit, one of 150 does.
        inbox.mark_processed([r.seq for r in inbox.pending(limit=150)], at=datetime.now(tz=UTC))
        over = await app.post(wk.notification(wk.workload_alerts(151, alertname="Over")))
        assert over.status_code == 503
        assert "holds 50 unprocessed alerts" in over.json()["detail"]
        again = await app.post(wk.notification(wk.workload_alerts(150, alertname="Over")))
        assert again.status_code == 200, again.text
        assert inbox.pending_count == _unprocessed(inbox) == 200
        assert inbox.count() == 350
        assert app.metric("kubeheal_alert_inbox_pending") == 200
        assert app.metric("kubeheal_webhook_notifications_total", code="503") == 3
        assert inbox.reserved == 0


async def test_concurrent_notifications_never_overrun_the_bound(wk, inbox) -> None:
    settings = WebhookSettings(max_pending=200)
    async with wk.app_over(inbox, settings=settings) as app:
        answers = await asyncio.gather(
            *(
                app.post(wk.notification(wk.workload_alerts(150, alertname=f"Burst{i}")))
                for i in range(4)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 503, 503, 503], [a.text for a in answers]
        assert inbox.count() == 150
        assert inbox.pending_count == _unprocessed(inbox) == 150
        assert inbox.reserved == 0


async def test_room_taken_by_a_failed_commit_is_given_back(wk, tmp_path: Path) -> None:
    book = Ledger.open(tmp_path / "ledger.db")
    inbox = AlertInbox(book)
    async with wk.app_over(inbox, settings=WebhookSettings(max_pending=10)) as app:
        book.close()  # the database goes away under the server
        failed = await app.post(wk.notification(wk.workload_alerts(8)))
        assert failed.status_code == 503
        assert "cannot be written" in failed.json()["detail"]
        assert inbox.reserved == 0, "the refused alerts still hold room in the inbox"
        assert inbox.reserve(10, limit=10)
