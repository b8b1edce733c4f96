"""Alerts whose object-naming labels are no valid Kubernetes names, through the real webhook,
inbox and consumer on SQLite and PostgreSQL: accepted and recorded (Alertmanager must not
resend them), then refused with one warning naming the label (its value escaped), counted in
``kubeheal_alerts_invalid_target_total{label}``, marked processed, and never a signal. The
valid alert of the same notification still becomes one (issue 23: path traversal, and a NUL
in a target name that PostgreSQL could not store as an incident)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubeheal.model.core import Target, TargetKind
from kubeheal.runtime.alerts import AlertConsumer, AlertMetrics
from kubeheal.store import Ledger
from kubeheal.store.inbox import AlertInbox
from kubeheal.twin.pgserver import LocalPostgres, find_binaries

TRAVERSAL = "./../../kube-system/deployments/coredns"


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def names_inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertInbox]:
    if request.param == "postgres":
        server: LocalPostgres = request.getfixturevalue("postgres")
        url = server.create_database()
        ledger = Ledger.open(url)
        try:
            yield AlertInbox(ledger)
        finally:
            ledger.close()
            server.drop_database(url)
    else:
        ledger = Ledger.open(tmp_path / "ledger.db")
        try:
            yield AlertInbox(ledger)
        finally:
            ledger.close()


HOSTILE: list[tuple[dict[str, str], str, str]] = [
    (
        {"alertname": "HighLatency", "namespace": "demo", "deployment": TRAVERSAL},
        "deployment",
        f'label deployment="{TRAVERSAL}" is not a valid Deployment name',
    ),
    (
        {"alertname": "HighLatency", "namespace": "demo?labelSelector=x#", "deployment": "web"},
        "namespace",
        'label namespace="demo?labelSelector=x#" is not a valid Namespace name',
    ),
    (
        {"alertname": "PodCrash", "namespace": "demo", "pod": "web-1\x00"},
        "pod",
        'label pod="web-1\\x00" is not a valid Pod name: contains control characters',
    ),
    (
        {"alertname": "Forge\r\nINFO fake", "namespace": "demo", "deployment": "web\nINFO x"},
        "deployment",
        'label deployment="web\\nINFO x" is not a valid Deployment name',
    ),
]


async def test_invalid_names_are_recorded_refused_and_counted(
    wk: Any, names_inbox: AlertInbox, caplog: pytest.LogCaptureFixture
) -> None:
    valid = {"alertname": "HighLatency", "namespace": "shop", "deployment": "web"}
    alerts = [wk.alert(labels) for labels, _, _ in HOSTILE] + [wk.alert(valid)]
    async with wk.app_over(names_inbox) as app:
        response = await app.post(wk.notification(alerts))
    assert response.status_code == 200, response.text
    assert names_inbox.pending_count == len(alerts)

    sink = wk.FakeSink()
    sink.started.set()
    registry = CollectorRegistry()
    consumer = AlertConsumer(inbox=names_inbox, sink=sink, metrics=AlertMetrics(registry))
    await consumer.recover()
    with caplog.at_level(logging.WARNING, logger="kubeheal.runtime.alerts"):
        assert await consumer.drain_once() == len(alerts)

    assert [s.target for s in sink.submitted] == [
        Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
    ]
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == len(HOSTILE)  # one line per alert
    for (_, _, expected), line in zip(HOSTILE, refusals, strict=True):
        assert expected in line, line
        assert "\x00" not in line and "\n" not in line and "\r" not in line
    assert refusals[-1].startswith('alert "Forge\\r\\nINFO fake" (')
    for label, count in (("deployment", 2), ("namespace", 1), ("pod", 1)):
        assert registry.get_sample_value(
            "kubeheal_alerts_invalid_target_total", {"label": label}
        ) == count  # fmt: skip
    assert registry.get_sample_value("kubeheal_alerts_untargeted_total") == 0
    assert names_inbox.pending_count == 0
    assert all(row.processed_at is not None for row in names_inbox.rows())
