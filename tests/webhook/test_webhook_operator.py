"""The webhook with the real operator against the cluster twin (accelerated clock): an alert
opens an incident and a remediation, the incident stays in verification while the alert
fires and resolves when the resolved notification arrives; a storm of 10,000 alerts about
one workload yields one incident and one remediation; an acknowledged alert is processed
after a restart, and a restarted operator verifies with what the inbox says still fires."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from kubeheal.cli.harness import Harness, running_harness
from kubeheal.clients.kube import KubeConnection
from kubeheal.config import DetectionSettings, Settings
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.runtime.assembly import build
from kubeheal.runtime.operator import Operator, OperatorEvent, OperatorOptions
from kubeheal.server import Authenticator
from kubeheal.server.serving import operator_http, serving
from kubeheal.store import Ledger
from kubeheal.store import records as rec
from kubeheal.store.inbox import AlertInbox
from support import until

SPEED = 20.0
SWEEP = 0.3
TOKEN = "operator-test-token"
SETTINGS = Settings(detection=DetectionSettings(missing_pdb=False))
TARGET = rec.TargetRef(kind="Deployment", namespace="demo", name="sample-app")


async def settled(operator: Operator, *, sweeps: int, timeout: float = 30.0) -> None:
    """Wait until ``sweeps`` more sweeps have run and the operator has nothing left to do."""
    await asyncio.wait_for(operator.settled(sweeps=sweeps), timeout=timeout)


def incidents(ledger: Ledger) -> list[rec.IncidentRecord]:
    since = datetime(2000, 1, 1, tzinfo=UTC)
    until_ = datetime.now(tz=UTC) + timedelta(days=30)
    return [i for i in ledger.list_incidents(since=since, until=until_) if i.target == TARGET]


def actions(ledger: Ledger) -> list[rec.ActionRecord]:
    return ledger.actions_since(datetime(2000, 1, 1, tzinfo=UTC))


def harness(tmp_path: Path, timeline: list[OperatorEvent], **kw: Any) -> Any:
    return running_harness(
        scenario="sample-app",
        speed=SPEED,
        settings=SETTINGS,
        sweep_interval=SWEEP,
        on_event=timeline.append,
        listen="127.0.0.1:0",
        auth=Authenticator.static(token=TOKEN),
        ledger_path=tmp_path / "ledger.db",
        **kw,
    )


def client(h: Harness) -> httpx.AsyncClient:
    assert h.http_url is not None
    return httpx.AsyncClient(
        base_url=h.http_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )


def resolved(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**a, "status": "resolved", "endsAt": "2026-01-10T08:20:00Z"} for a in alerts]


async def test_alert_remediated_and_verified_by_its_resolution(wk, tmp_path: Path) -> None:
    timeline: list[OperatorEvent] = []
    async with harness(tmp_path, timeline) as h, client(h) as http:
        alerts = wk.workload_alerts(2)
        answer = await http.post(wk.PATH, json=wk.notification(alerts))
        assert answer.status_code == 200, answer.text
        await until(lambda: any(e.kind == "action" for e in timeline), what="the action")
        [incident] = incidents(h.ledger)
        [action] = actions(h.ledger)
        assert action.action == "scale_out"
        assert action.incident_id == incident.id
        signals = h.ledger.signals_for_incident(incident.id)
        assert [s.source for s in signals] == ["alertmanager"]
        assert signals[0].details["label.alertname"] == "HighLatency"

        # While the alert fires the remediation is not verified (several sweeps pass).
        await until(
            lambda: incidents(h.ledger)[0].state is rec.IncidentState.VERIFYING,
            what="verification to start",
        )
        await settled(h.operator, sweeps=8)
        assert incidents(h.ledger)[0].state is rec.IncidentState.VERIFYING
        assert h.alerts is not None
        assert h.alerts.firing(h.operator.open_incidents()[0].target) is True

        answer = await http.post(wk.PATH, json=wk.notification(resolved(alerts)))
        assert answer.status_code == 200
        done = await until(
            lambda: incidents(h.ledger)[0].is_terminal and incidents(h.ledger)[0],
            what="the incident to close",
        )
        assert done.state is rec.IncidentState.RESOLVED
        assert done.resolution is rec.Resolution.AUTO
        [check] = h.ledger.verifications_for_action(action.idempotency_key)
        assert check.recovered and "alert resolved" in check.detail
        assert len(actions(h.ledger)) == 1
        metrics = (await http.get("/metrics")).text
        assert 'kubeheal_webhook_alerts_total{result="accepted"} 4.0' in metrics


async def test_storm_of_10000_alerts_one_incident_one_remediation(wk, tmp_path: Path) -> None:
    timeline: list[OperatorEvent] = []
    storm = wk.workload_alerts(10_000)
    async with harness(tmp_path, timeline) as h, client(h) as http:
        batches = [storm[i : i + 250] for i in range(0, len(storm), 250)]
        answers = await asyncio.gather(
            *(http.post(wk.PATH, json=wk.notification(b)) for b in batches)
        )
        assert {a.status_code for a in answers} == {200}
        assert sum(a.json()["accepted"] for a in answers) == 10_000
        # Alertmanager re-sends the whole storm: all duplicates.
        again = await asyncio.gather(
            *(http.post(wk.PATH, json=wk.notification(b)) for b in batches[:8])
        )
        assert sum(a.json()["duplicates"] for a in again) == 2_000
        assert h.alerts is not None
        consumer = h.alerts
        await until(lambda: consumer.processed >= 10_000, what="the storm to be processed")
        await until(
            lambda: (
                incidents(h.ledger) and incidents(h.ledger)[0].state is rec.IncidentState.VERIFYING
            ),
            what="the remediation",
        )
        await settled(h.operator, sweeps=6)  # room for a second incident or action, if any
        assert len(incidents(h.ledger)) == 1
        assert [a.action for a in actions(h.ledger)] == ["scale_out"]
        assert h.inbox.count() == 10_000
        assert h.inbox.pending_count == 0

        # The storm ends: one resolution batch per group, the incident resolves.
        for i in range(0, len(storm), 1000):
            answer = await http.post(wk.PATH, json=wk.notification(resolved(storm[i : i + 1000])))
            assert answer.status_code == 200
        await until(lambda: incidents(h.ledger)[0].is_terminal, what="the incident to close")
        assert incidents(h.ledger)[0].state is rec.IncidentState.RESOLVED
        assert len(actions(h.ledger)) == 1
        assert len(incidents(h.ledger)) == 1


async def test_restarts_lose_nothing(wk, tmp_path: Path) -> None:
    # 1. The webhook acknowledges an alert, and the process dies before processing it.
    path = tmp_path / "ledger.db"
    book = Ledger.open(path)
    alerts = wk.workload_alerts(3)
    async with wk.app_over(AlertInbox(book)) as app:
        assert (await app.post(wk.notification(alerts))).status_code == 200
    book.close()

    # 2. The operator starts on that ledger: the alert is processed and remediated.
    timeline: list[OperatorEvent] = []
    async with harness(tmp_path, timeline) as h:
        await until(
            lambda: (
                incidents(h.ledger) and incidents(h.ledger)[0].state is rec.IncidentState.VERIFYING
            ),
            what="the remediation of the acknowledged alert",
        )
        [action] = actions(h.ledger)
        assert action.action == "scale_out"
        # 3. That operator stops while verifying; a successor takes over the same ledger.
        await h.operator.stop()
        successor_book = Ledger.open(path)
        stack = contextlib.AsyncExitStack()
        assembly = await build(
            SETTINGS,
            KubeConnection.from_kubeconfig(h.kubeconfig),
            successor_book,
            playbooks=load_builtin_playbooks(),
            stack=stack,
            clock=h.now,
            options=OperatorOptions(sweep_interval=SWEEP),
        )
        successor = assembly.operator
        wired = operator_http(assembly, auth=Authenticator.static(token=TOKEN))
        try:
            async with serving(wired.app) as url:
                await successor.start()
                consumer = wired.consumer
                assert consumer is not None
                await until(lambda: consumer.recovered, what="the consumer's recovery")
                # Still firing according to the inbox: still verifying, several sweeps on
                # (longer than signals stay active without an alert source: 2 sweeps + 1 s).
                await settled(successor, sweeps=10)
                [incident] = incidents(successor_book)
                assert incident.state is rec.IncidentState.VERIFYING
                async with httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}
                ) as http:
                    answer = await http.post(wk.PATH, json=wk.notification(resolved(alerts)))
                    assert answer.status_code == 200
                await until(
                    lambda: incidents(successor_book)[0].is_terminal, what="the incident to close"
                )
                done = incidents(successor_book)[0]
                assert done.state is rec.IncidentState.RESOLVED
                assert len(actions(successor_book)) == 1
        finally:
            await successor.stop()
            await stack.aclose()
            successor_book.close()
