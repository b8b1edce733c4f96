"""The ``set_resources`` executor against the cluster twin's HTTP API with the real
KubeWriter: the step lands (strategic merge, other containers untouched, Event and
annotation), a second run changes nothing, a dry run changes nothing, and a value changed
since planning is refused rather than stepped over."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from kubeheal.actions import ANNOTATION_LAST_ACTION, OutcomeState, PermanentError, execute
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.writer import Kind, KubeWriter
from kubeheal.engine.params import ResourceChange, SetResources
from kubeheal.engine.plan import ActionPlan, VerificationPlan
from kubeheal.engine.playbooks.schema import ActionName
from kubeheal.model.core import IncidentId, Target, TargetKind
from kubeheal.twin.clock import ManualClock
from kubeheal.twin.cluster import Twin
from kubeheal.twin.server import serve_in_thread

WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")


def _seed(twin: Twin) -> None:
    twin.store.load(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": "web:1",
                                    "resources": {
                                        "requests": {"cpu": "200m", "memory": "1Gi"},
                                        "limits": {"cpu": "1", "memory": "1Gi"},
                                    },
                                },
                                {
                                    "name": "proxy",
                                    "image": "proxy:1",
                                    "resources": {"requests": {"cpu": "50m"}},
                                },
                            ]
                        },
                    },
                },
            },
        ]
    )


@pytest.fixture
def twin_url() -> Iterator[tuple[Twin, str]]:
    cluster = Twin.bare(clock=ManualClock())
    _seed(cluster)
    with serve_in_thread(cluster, simulate=False) as url:
        yield cluster, url


@pytest.fixture
async def kube(twin_url: tuple[Twin, str]) -> AsyncIterator[KubeWriter]:
    writer = KubeWriter(KubeConnection.from_server(twin_url[1]))
    try:
        yield writer
    finally:
        await writer.aclose()


def _change(
    field: str, resource: str, current: str | None, new: str, target: str
) -> ResourceChange:
    return ResourceChange(
        container="app", field=field, resource=resource, current=current, new=new, target=target
    )


STEP = SetResources(
    namespace="shop",
    workload_kind="Deployment",
    workload="web",
    changes=(
        _change("requests", "cpu", "200m", "150m", "50m"),
        _change("requests", "memory", "1Gi", "768Mi", "320Mi"),
        _change("limits", "memory", "1Gi", "768Mi", "768Mi"),
    ),
    max_step_change=0.25,
)


def _plan(params: SetResources, *, dry_run: bool = False, key: str = "rs-key-0001") -> ActionPlan:
    return ActionPlan(
        incident_id=IncidentId("inc-rs"),
        target=WEB,
        playbook="rightsize-gradual",
        step=0,
        action=ActionName.SET_RESOURCES,
        params=params,
        verification=VerificationPlan(
            check="rollout_healthy",
            timeout_seconds=1200,
            stable_for_seconds=600,
            on_failure="escalate",
        ),
        idempotency_key=key,
        dry_run=dry_run,
    )


async def _containers(kube: KubeWriter) -> dict[str, Any]:
    dep = await kube.get(Kind.DEPLOYMENT, "shop", "web")
    return {c["name"]: c["resources"] for c in dep["spec"]["template"]["spec"]["containers"]}


async def test_a_step_lands_once_and_leaves_the_rest_alone(kube: KubeWriter) -> None:
    first = await execute(_plan(STEP), writer=kube)
    assert first.state is OutcomeState.SUCCEEDED and first.changed, first.detail
    assert "requests.cpu 200m -> 150m" in first.detail
    resources = await _containers(kube)
    assert resources["app"] == {
        "requests": {"cpu": "150m", "memory": "768Mi"},
        "limits": {"cpu": "1", "memory": "768Mi"},
    }
    assert resources["proxy"] == {"requests": {"cpu": "50m"}}
    dep = await kube.get(Kind.DEPLOYMENT, "shop", "web")
    note = json.loads(dep["metadata"]["annotations"][ANNOTATION_LAST_ACTION])
    assert note["action"] == "set_resources" and note["key"] == "rs-key-0001"
    second = await execute(_plan(STEP), writer=kube)
    assert second.state is OutcomeState.SUCCEEDED and not second.changed, second.detail


async def test_a_dry_run_changes_nothing(kube: KubeWriter) -> None:
    outcome = await execute(_plan(STEP, dry_run=True), writer=kube)
    assert outcome.state is OutcomeState.SKIPPED and not outcome.changed
    assert outcome.detail.startswith("dry-run: would right-size")
    resources = await _containers(kube)
    assert resources["app"]["requests"] == {"cpu": "200m", "memory": "1Gi"}


async def test_a_value_changed_since_planning_is_refused(kube: KubeWriter) -> None:
    stale = SetResources(
        namespace="shop",
        workload_kind="Deployment",
        workload="web",
        changes=(_change("requests", "cpu", "400m", "300m", "50m"),),
        max_step_change=0.25,
    )
    with pytest.raises(PermanentError, match="not 400m as planned"):
        await execute(_plan(stale), writer=kube)
    resources = await _containers(kube)
    assert resources["app"]["requests"]["cpu"] == "200m"


async def test_a_request_above_its_limit_is_refused(kube: KubeWriter) -> None:
    bad = SetResources(
        namespace="shop",
        workload_kind="Deployment",
        workload="web",
        changes=(_change("requests", "memory", "1Gi", "2Gi", "2Gi"),),
        max_step_change=0.25,
    )
    with pytest.raises(PermanentError, match="would exceed its limit"):
        await execute(_plan(bad), writer=kube)


async def test_a_missing_workload_is_permanent(kube: KubeWriter) -> None:
    gone = SetResources(
        namespace="shop",
        workload_kind="Deployment",
        workload="nope",
        changes=STEP.changes,
        max_step_change=0.25,
    )
    with pytest.raises(PermanentError, match="not found"):
        await execute(_plan(gone), writer=kube)
