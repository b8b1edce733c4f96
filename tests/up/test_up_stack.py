"""The full stack of `kubeheal up`: the twin, Debian's Prometheus and Alertmanager, kubeheal.

Started in-process through the harness (``stack="full"``) with the real binaries: an HTTP
error burst on a workload becomes a Prometheus alert, Alertmanager routes it to kubeheal's
authenticated webhook and kubeheal opens an incident about the Deployment. Without the
binaries (the lookup pointed at an empty PATH) `kubeheal up` runs K8s-only and says so in one
line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kubeheal.cli.harness import running_harness
from kubeheal.cli.main import app
from kubeheal.config import Settings
from kubeheal.model.core import SignalKind
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.twin.promstack import PromStackError
from kubeheal.twin.sim.faults import FaultSpec

pytestmark = pytest.mark.slow

SAMPLE_APP = "Deployment/demo/sample-app"


async def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_an_error_burst_reaches_kubeheal_as_an_alert_and_opens_an_incident(
    tmp_path: Path,
) -> None:
    events: list[OperatorEvent] = []
    async with running_harness(
        scenario="sample-app",
        speed=1.0,
        settings=Settings(),
        stack="full",
        workdir=tmp_path / "up",
        on_event=events.append,
    ) as h:
        assert h.stack == "full" and h.stack_note == ""
        assert h.promstack is not None and h.http_url is not None and h.token_file is not None
        assert any(s.startswith("anomaly (") for s in h.sources), h.sources
        # Prometheus scrapes the twin, Alertmanager knows kubeheal's webhook with its token.
        async with httpx.AsyncClient(trust_env=False) as client:
            targets = (
                await client.get(f"{h.promstack.prometheus_url}/api/v1/targets?state=active")
            ).json()["data"]["activeTargets"]
            assert sorted((t["scrapePool"], t["health"]) for t in targets) == [
                ("kubeheal", "up"),
                ("twin", "up"),
            ]
            status = (await client.get(f"{h.promstack.alertmanager_url}/api/v2/status")).json()
        am_config = status["config"]["original"]
        assert h.http_url in am_config and str(h.token_file) in am_config
        before = max((r.seq for r in h.inbox.rows()), default=0)

        assert h.twin.faults is not None
        injected = time.monotonic()
        h.twin.faults.inject(
            FaultSpec.model_validate(
                {
                    "kind": "error-burst",
                    "target": {"namespace": "demo", "deployment": "sample-app"},
                    "params": {"error_rate": 0.6},
                }
            )
        )

        def firing() -> Any:
            return next(
                (
                    r
                    for r in h.inbox.rows(after=before)
                    if r.status == "firing"
                    and r.labels.get("alertname") == "HighErrorRate"
                    and r.labels.get("deployment") == "sample-app"
                ),
                None,
            )

        row = await wait_for(firing, timeout=90, what="HighErrorRate about sample-app")
        at_webhook = time.monotonic() - injected
        assert row.labels.get("namespace") == "demo"

        def alert_incident() -> Any:
            for incident in h.operator.open_incidents():
                if incident.target.key == SAMPLE_APP and any(
                    s.kind is SignalKind.ALERT and s.labels.get("alertname") == "HighErrorRate"
                    for s in incident.signals
                ):
                    return incident
            return None

        story = lambda: "\n".join(f"{e.kind} {e.target.key}: {e.message}" for e in events)  # noqa: E731
        incident = await wait_for(alert_incident, timeout=30, what="the incident")
        print(
            f"error burst -> webhook {at_webhook:.1f} s, -> incident with the alert "
            f"{time.monotonic() - injected:.1f} s (wall)"
        )
        assert incident.target.namespace == "demo", story()
        opened = [e for e in events if e.kind == "incident" and e.target.key == SAMPLE_APP]
        assert opened, story()
        # the incident is in the ledger, with the alert as its evidence
        stored = h.ledger.incidents_in_progress()
        assert any(i.id == incident.id for i in stored), story()


async def test_a_latency_fault_is_alerted_and_handled_by_a_playbook(tmp_path: Path) -> None:
    events: list[OperatorEvent] = []
    async with running_harness(
        scenario="sample-app",
        speed=1.0,
        settings=Settings(),
        stack="full",
        workdir=tmp_path / "up",
        on_event=events.append,
    ) as h:
        assert h.twin.faults is not None
        injected = time.monotonic()
        h.twin.faults.inject(
            FaultSpec.model_validate(
                {
                    "kind": "latency-spike",
                    "target": {"namespace": "demo", "deployment": "sample-app"},
                    "params": {"latency_ms": 1000},
                }
            )
        )

        def story() -> str:
            return "\n".join(f"{e.kind} {e.target.key}: {e.message}" for e in events)

        def handled() -> Any:
            # the playbook acted, or escalated: either way the alert's incident was handled
            return next(
                (
                    e
                    for e in events
                    if e.target.key == SAMPLE_APP
                    and e.kind in ("action", "escalated")
                    and "saturation-scale-out" in e.message + str(e.data)
                ),
                None,
            )

        event = await wait_for(handled, timeout=90, what="saturation-scale-out to act")
        print(f"latency spike -> {event.kind} {time.monotonic() - injected:.1f} s (wall)")
        rows = [r for r in h.inbox.rows() if r.labels.get("alertname") == "HighLatency"]
        assert rows and rows[0].labels.get("deployment") == "sample-app", story()
        bound = [
            i.playbook
            for i in h.ledger.incidents_in_progress()
            if i.target.name == "sample-app" and i.playbook is not None
        ]
        assert "saturation-scale-out" in bound or event.kind == "escalated", story()


async def test_auto_without_the_binaries_runs_k8s_only_with_the_reason() -> None:
    async with running_harness(scenario="empty", stack="auto", search_path="") as h:
        assert h.stack == "k8s" and h.promstack is None
        assert h.stack_note.startswith("K8s-only (no metrics, alerts or forecasts): ")
        assert "missing executables prometheus, promtool, prometheus-alertmanager, amtool" in (
            h.stack_note
        )
        assert "\n" not in h.stack_note
        assert not h.sources
        assert h.http_url is not None and h.token_file is not None  # the API is still served


async def test_full_without_the_binaries_refuses() -> None:
    with pytest.raises(PromStackError, match="missing executables prometheus"):
        async with running_harness(scenario="empty", stack="full", search_path=""):
            pass  # pragma: no cover


def test_kubeheal_up_without_the_debian_packages_says_k8s_only_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["up", "--scenario", "sample-app", "--for", "0.5", "--workdir", str(tmp_path / "w")],
        env={"PATH": ""},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("kubeheal up: twin sample-app at x15"), result.output
    assert "K8s-only" in lines[0]
    reason = [line for line in lines if line.startswith("K8s-only (no metrics")]
    assert len(reason) == 1, result.output
    assert "missing executables prometheus" in reason[0] and "scripts/setup" in reason[0]
    assert f"  kubeconfig      {tmp_path / 'w' / 'kubeconfig'}" in lines
    assert f"  webhook token   {tmp_path / 'w' / 'secrets' / 'kubeheal-token'}" in lines
    assert not any("Prometheus " in line for line in lines), result.output


def test_kubeheal_up_full_refuses_without_the_debian_packages(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["up", "--stack", "full", "--for", "0.5", "--workdir", str(tmp_path / "w")],
        env={"PATH": ""},
    )
    assert result.exit_code == 1
    assert "missing executables prometheus" in result.output
