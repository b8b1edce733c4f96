"""The whole alert path with the real servers: twin -> Prometheus -> Alertmanager -> kubeheal.

A real Prometheus (Debian package) scrapes the cluster twin with the rules `kubeheal generate
monitoring` writes, a real Alertmanager routes with the generated config to kubeheal's
authenticated webhook, kubeheal remediates in the twin, the alert resolves and the incident
closes. The test records fault -> firing webhook -> action -> resolved notice -> incident
closed, and kubeheal's own share (webhook received -> action request sent).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeheal.cli.harness import running_harness
from kubeheal.config import Settings
from kubeheal.monitoring import MonitoringConfig, render_alertmanager_config, rule_file_texts
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.server.auth import Authenticator
from kubeheal.server.webhook import ALERTMANAGER_PATH
from kubeheal.store import records as rec
from kubeheal.twin.promstack import PromStack
from kubeheal.twin.sim.faults import FaultSpec
from support import until

TOKEN = "e2e-webhook-token"


@pytest.mark.slow
async def test_alert_to_remediation_to_resolution_through_real_prometheus_and_alertmanager(
    promstack: PromStack, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "kubeheal-token").write_text(TOKEN)
    marks: dict[str, float] = {}
    timeline: list[tuple[float, str]] = []

    def on_event(event: OperatorEvent) -> None:
        now = time.time()
        timeline.append((now, f"{event.kind}: {event.target.key}: {event.message[:90]}"))
        if event.target.name != "sample-app":
            return
        key = {"action": "action", "resolved": "closed", "escalated": "closed"}.get(event.kind)
        if key is not None:
            marks.setdefault(key, now)

    async with running_harness(
        scenario="sample-app",
        speed=1.0,
        settings=Settings(),
        listen="127.0.0.1:0",
        auth=Authenticator.static(token=TOKEN),
        on_event=on_event,
    ) as h:
        assert h.http_url is not None
        config = MonitoringConfig.fast(
            webhook_url=h.http_url + ALERTMANAGER_PATH, secrets_dir=str(secrets)
        )
        await asyncio.to_thread(
            promstack.configure,
            scrape_targets=[h.url],
            rule_files=rule_file_texts(config),
            alertmanager_config=render_alertmanager_config(config),
        )
        # Without its HPA, only kubeheal can add capacity: the fix is visibly kubeheal's.
        h.twin.store.delete(
            h.twin.store.rtype("autoscaling", "v2", "horizontalpodautoscalers"),
            "demo",
            "sample-app",
        )
        # Let the workloads settle and the rate windows fill before the fault.
        await asyncio.sleep(12)
        before = max((r.seq for r in h.inbox.rows()), default=0)

        faults = h.twin.faults
        assert faults is not None
        marks["fault"] = time.time()
        faults.inject(
            FaultSpec.model_validate(
                {
                    "kind": "traffic-spike",
                    "target": {"namespace": "demo", "service": "sample-app"},
                    "params": {"multiplier": 12},
                }
            )
        )

        def firing_row() -> Any:
            return next(
                (
                    r
                    for r in h.inbox.rows(after=before)
                    if r.status == "firing" and r.labels.get("deployment") == "sample-app"
                ),
                None,
            )

        row = await until(firing_row, timeout=60, what="a firing alert about sample-app")
        marks["webhook"] = row.received_at.timestamp()
        await until(lambda: "action" in marks, timeout=30, what="kubeheal's action")

        def resolved_row() -> Any:
            return next(
                (
                    r
                    for r in h.inbox.rows(after=before)
                    if r.status == "resolved" and r.labels.get("deployment") == "sample-app"
                ),
                None,
            )

        resolved = await until(resolved_row, timeout=90, what="the resolved notification")
        marks["resolved"] = resolved.received_at.timestamp()
        await until(lambda: "closed" in marks, timeout=60, what="the incident to close")

        incidents = [
            i
            for i in h.ledger.incidents_in_progress() + _all_incidents(h)
            if i.target.name == "sample-app"
        ]
        story = "\n".join(f"{t - marks['fault']:7.2f}s {m}" for t, m in timeline)
        closed = [i for i in incidents if i.is_terminal]
        assert closed, story
        incident = closed[-1]
        assert incident.state is rec.IncidentState.RESOLVED, story
        actions = h.ledger.actions_for_incident(incident.id)
        assert [a.action for a in actions] == ["scale_out"], story
        deployment = h.twin.store.find(
            h.twin.store.rtype("apps", "v1", "deployments"), "demo", "sample-app"
        )
        assert deployment is not None
        assert deployment["spec"]["replicas"] == 5, story  # 3 + the playbook's step of 2
        share = marks["action"] - marks["webhook"]
        print(
            "fault->webhook {:.2f}s, webhook->action {:.3f}s, action->resolved notice {:.2f}s, "
            "resolved->closed {:.2f}s".format(
                marks["webhook"] - marks["fault"],
                share,
                marks["resolved"] - marks["action"],
                marks["closed"] - marks["resolved"],
            )
        )
        assert share <= 0.1, f"kubeheal took {share * 1000:.0f} ms from webhook to action\n{story}"


def _all_incidents(h: Any) -> list[rec.IncidentRecord]:
    found: list[rec.IncidentRecord] = h.ledger.list_incidents(
        since=datetime(2000, 1, 1, tzinfo=UTC), until=h.now() + timedelta(days=1)
    )
    return found
