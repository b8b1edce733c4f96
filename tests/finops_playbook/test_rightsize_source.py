"""The right-sizing source with a fake operator and recommender: which recommendations become
Rightsize signals, which are skipped and why, and what a failed pass does."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from kubeheal.config import Settings
from kubeheal.engine.rightsize import ResourceTargets
from kubeheal.finops.collect import CollectError
from kubeheal.finops.model import Confidence, Recommendation, Resources, Status, WorkloadRef
from kubeheal.model.cluster import ClusterView, Deployment
from kubeheal.model.core import (
    Incident,
    IncidentId,
    Signal,
    SignalKind,
    SignalSource,
    Target,
    TargetKind,
)
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.runtime.rightsize_source import RightsizeSource, rightsize_signal

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MI = 2**20


def deployment(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    available: int = 2,
    cpu: str = "200m",
) -> Deployment:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "shop", "generation": 1, "labels": labels or {}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}
                    ]
                }
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": available,
        },
    }
    return msgspec.json.decode(msgspec.json.encode(body), type=Deployment)


def recommendation(name: str, **overrides: Any) -> Recommendation:
    base = Recommendation(
        workload=WorkloadRef(namespace="shop", kind="Deployment", name=name),
        container="app",
        strategy="kubeheal",
        status=Status.OK,
        current=None,
        recommended=Resources(cpu_request=0.05, memory_request=320 * MI),
        confidence=Confidence.HIGH,
        history_seconds=7 * 86400,
    )
    return replace(base, **overrides)


@dataclass
class FakeOperator:
    view: ClusterView
    incidents: list[Incident] = field(default_factory=list)
    submitted: list[Signal] = field(default_factory=list)

    def submit(self, signals: Iterable[Signal]) -> None:
        self.submitted.extend(signals)

    def now(self) -> datetime:
        return NOW

    def open_incidents(self) -> list[Incident]:
        return self.incidents


def target(name: str) -> Target:
    return Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name=name)


def busy_incident(name: str) -> Incident:
    oom = Signal(
        id=Signal.make_id(SignalKind.OOM_KILLED, target(name), "pod/x/container/app"),
        kind=SignalKind.OOM_KILLED,
        target=target(name),
        observed_at=NOW,
        subject="pod/x/container/app",
    )
    return Incident(
        id=IncidentId("busy"), target=target(name), opened_at=NOW, updated_at=NOW, signals=(oom,)
    )


def source_for(
    operator: FakeOperator, recs: Sequence[Recommendation], settings: Settings | None = None
) -> RightsizeSource:
    async def recommender(end: float) -> Sequence[Recommendation]:
        assert end == NOW.timestamp()
        return recs

    return RightsizeSource(settings=settings or Settings(), sink=operator, recommender=recommender)


async def test_only_actionable_recommendations_become_signals() -> None:
    view = ClusterView(
        deployments=[
            deployment("web"),
            deployment("argo", labels={"argocd.argoproj.io/instance": "shop"}),
            deployment("busy"),
            deployment("rolling", available=1),
            deployment("done", cpu="50m"),
            deployment("unsure"),
            deployment("paused"),
        ]
    )
    operator = FakeOperator(view=view, incidents=[busy_incident("busy")])
    recs = [
        recommendation("web"),
        recommendation("argo"),
        recommendation("busy"),
        recommendation("rolling"),
        recommendation("done", recommended=Resources(cpu_request=0.05, memory_request=1024 * MI)),
        recommendation("unsure", confidence=Confidence.LOW),
        recommendation("paused"),
        recommendation("absent"),
        recommendation("web", container="sidecar"),
        recommendation("guessed", workload=WorkloadRef("shop", "Deployment", "x", verified=False)),
        recommendation("sts", workload=WorkloadRef("shop", "StatefulSet", "db")),
        recommendation("none", status=Status.NO_RECOMMENDATION),
    ]
    source = source_for(operator, recs)
    source.on_operator_event(
        OperatorEvent(at=NOW - timedelta(hours=2), kind="escalated", target=target("paused"),
                      message="not recovered")
    )  # fmt: skip
    report = await source.run_once()
    assert [s.target.name for s in report.signals] == ["web"]
    assert operator.submitted == list(report.signals)
    assert report.skipped == {
        "managed by GitOps": 1,
        "another incident is open": 1,
        "rollout not settled": 1,
        "already at the recommendation": 1,
        "confidence too low": 1,
        "paused after an escalation": 1,
        "Deployment not in the cluster view": 1,
        "container not in the template": 1,
        "owner not verified": 1,
        "not a Deployment": 1,
        "no recommendation": 1,
    }
    signal = report.signals[0]
    assert signal.kind is SignalKind.RIGHTSIZE and signal.source is SignalSource.FINOPS
    assert signal.subject == "container/app"
    assert ResourceTargets.from_details(signal.details) == ResourceTargets(
        container="app", cpu_request=0.05, memory_request=320 * MI
    )
    assert signal.details["confidence"] == "high"


async def test_a_pause_ends_and_a_rightsize_incident_does_not_block() -> None:
    view = ClusterView(deployments=[deployment("web")])
    own = Incident(
        id=IncidentId("own"),
        target=target("web"),
        opened_at=NOW,
        updated_at=NOW,
        signals=(rightsize_signal(recommendation("web"), now=NOW),),  # type: ignore[arg-type]
    )
    operator = FakeOperator(view=view, incidents=[own])
    source = source_for(operator, [recommendation("web")])
    source.on_operator_event(
        OperatorEvent(at=NOW - timedelta(days=2), kind="escalated", target=target("web"),
                      message="old")
    )  # fmt: skip
    report = await source.run_once()
    assert len(report.signals) == 1


async def test_a_failed_collection_is_reported_and_submits_nothing() -> None:
    operator = FakeOperator(view=ClusterView())

    async def broken(end: float) -> Sequence[Recommendation]:
        raise CollectError("Prometheus unreachable: connection refused")

    source = RightsizeSource(settings=Settings(), sink=operator, recommender=broken)
    report = await source.run_once()
    assert report.error == "Prometheus unreachable: connection refused"
    assert not operator.submitted and source.failures == 1


def test_an_interval_short_enough_to_look_like_flapping_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    short = Settings.model_validate({"finops": {"apply_interval": "20m"}})
    with caplog.at_level(logging.WARNING, logger="kubeheal.runtime.rightsize_source"):
        source_for(FakeOperator(view=ClusterView()), [], short)
        assert "count as flapping" in caplog.text
        caplog.clear()
        source_for(FakeOperator(view=ClusterView()), [])
        assert not caplog.text
