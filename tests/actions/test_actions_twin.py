"""Every executor against the cluster twin's HTTP API with the real KubeWriter (lightkube):
the change lands, a second run changes nothing, dry runs change nothing, and a drain waits
for a PodDisruptionBudget that refuses and then allows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from kubeheal.actions import (
    ANNOTATION_LAST_ACTION,
    ANNOTATION_ROLLED_BACK_FROM,
    OutcomeState,
    PermanentError,
    execute,
)
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.writer import Kind, KubeWriter
from kubeheal.engine.params import (
    CordonNode,
    CreatePdb,
    DrainNode,
    RaiseHpaMax,
    RaiseMemoryLimit,
    RestartPod,
    RollbackDeployment,
    ScaleOut,
)
from kubeheal.twin.clock import ManualClock
from kubeheal.twin.cluster import Twin
from kubeheal.twin.server import serve_in_thread

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _template(image: str, pod_hash: str | None = None) -> dict[str, Any]:
    labels = {"app": "web"}
    if pod_hash:
        labels["pod-template-hash"] = pod_hash
    return {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "resources": {"limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}},
                }
            ]
        },
    }


def _seed(twin: Twin) -> None:
    store = twin.store
    store.load(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "n1", "annotations": {LAST_APPLIED: "{}"}},
                "spec": {},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": "web",
                    "namespace": "shop",
                    "annotations": {
                        "deployment.kubernetes.io/revision": "3",
                        LAST_APPLIED: '{"kind":"Deployment"}',
                    },
                },
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": _template("web:3"),
                },
            },
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                    },
                    "minReplicas": 2,
                    "maxReplicas": 6,
                },
            },
        ]
    )
    deployment = store.find(store.rtype("apps", "v1", "deployments"), "shop", "web")
    assert deployment is not None
    owner = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": deployment["metadata"]["uid"],
        "controller": True,
    }
    replica_sets = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"web-{suffix}",
                "namespace": "shop",
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                "ownerReferences": [owner],
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web", "pod-template-hash": suffix}},
                "template": _template(f"web:{revision}", suffix),
            },
        }
        for suffix, revision in (("aaa2", 2), ("bbb3", 3))
    ]
    store.load(replica_sets)
    rs = store.find(store.rtype("apps", "v1", "replicasets"), "shop", "web-bbb3")
    assert rs is not None
    pods = []
    for name, kind, owner_name, owner_uid in (
        ("web-1", "ReplicaSet", "web-bbb3", rs["metadata"]["uid"]),
        ("web-2", "ReplicaSet", "web-bbb3", rs["metadata"]["uid"]),
        ("agent-x", "DaemonSet", "agent", "uid-agent"),
    ):
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": "shop",
                    "labels": {"app": "web" if kind == "ReplicaSet" else "agent"},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": kind,
                            "name": owner_name,
                            "uid": owner_uid,
                            "controller": True,
                        }
                    ],
                },
                "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "web:3"}]},
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        {
                            "name": "app",
                            "image": "web:3",
                            "imageID": "sha256:web3",
                            "ready": True,
                            "restartCount": 2,
                        }
                    ],
                },
            }
        )
    store.load(pods)


@pytest.fixture
def twin() -> Iterator[tuple[Twin, str]]:
    cluster = Twin.bare(clock=ManualClock())
    _seed(cluster)
    with serve_in_thread(cluster, simulate=False) as url:
        yield cluster, url


@pytest.fixture
async def kube(twin) -> AsyncIterator[KubeWriter]:
    writer = KubeWriter(KubeConnection.from_server(twin[1]))
    try:
        yield writer
    finally:
        await writer.aclose()


async def _read_as_test(kube, kind, namespace, name):
    """A read the test makes (kubeheal never reads Events back), under its own User-Agent so
    the suite's RBAC proof does not count it as kubeheal's."""
    reader = KubeWriter(kube.connection.with_agent("kubeheal-tests"))
    try:
        return await reader.get(kind, namespace, name)
    finally:
        await reader.aclose()


async def _twice(plan, kube):
    first = await execute(plan, writer=kube)
    second = await execute(plan, writer=kube)
    assert first.state is OutcomeState.SUCCEEDED and first.changed, first.detail
    assert second.state is OutcomeState.SUCCEEDED and not second.changed, second.detail
    return first


def _last_action(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(obj["metadata"]["annotations"][ANNOTATION_LAST_ACTION])


async def test_rollback_on_the_twin(kube, kit) -> None:
    params = RollbackDeployment(
        namespace="shop",
        deployment="web",
        from_revision=3,
        to_revision=2,
        to_replica_set="web-aaa2",
    )
    dry = await execute(kit.plan(params, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED
    dep = await kube.get(Kind.DEPLOYMENT, "shop", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "web:3"
    await _twice(kit.plan(params), kube)
    dep = await kube.get(Kind.DEPLOYMENT, "shop", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert "pod-template-hash" not in dep["spec"]["template"]["metadata"]["labels"]
    notes = dep["metadata"]["annotations"]
    assert notes[ANNOTATION_ROLLED_BACK_FROM] == "3"
    assert notes[LAST_APPLIED] == '{"kind":"Deployment"}'
    assert _last_action(dep)["action"] == "rollback_deployment"
    event = await _read_as_test(kube, Kind.EVENT, "shop", "web.kubeheal-key0123456789abc")
    assert event["reason"] == "KubehealAction" and "inc-42" in event["message"]


async def test_restart_pod_on_the_twin(kube, kit) -> None:
    params = RestartPod(namespace="shop", pod="web-1")
    dry = await execute(kit.plan(params, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED
    assert (await kube.get(Kind.POD, "shop", "web-1"))["metadata"]["name"] == "web-1"
    await _twice(kit.plan(params), kube)
    from kubeheal.clients.kube import KubeNotFound

    with pytest.raises(KubeNotFound):
        await kube.get(Kind.POD, "shop", "web-1")


async def test_raise_memory_limit_on_the_twin(kube, kit) -> None:
    params = RaiseMemoryLimit(
        namespace="shop",
        workload_kind="Deployment",
        workload="web",
        container="app",
        current_bytes=256 * 2**20,
        new_bytes=384 * 2**20,
        new_limit="384Mi",
        new_request="192Mi",
    )
    dry = await execute(kit.plan(params, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED
    await _twice(kit.plan(params), kube)
    dep = await kube.get(Kind.DEPLOYMENT, "shop", "web")
    resources = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"]["memory"] == "384Mi"
    assert resources["requests"]["memory"] == "192Mi"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "web:3"
    assert dep["metadata"]["annotations"][LAST_APPLIED] == '{"kind":"Deployment"}'


async def test_scale_out_on_the_twin(kube, kit) -> None:
    direct = ScaleOut(
        namespace="shop", workload_kind="Deployment", workload="web", current_replicas=2, replicas=4
    )
    dry = await execute(kit.plan(direct, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED
    assert (await kube.get(Kind.DEPLOYMENT, "shop", "web"))["spec"]["replicas"] == 2
    await _twice(kit.plan(direct), kube)
    assert (await kube.get(Kind.DEPLOYMENT, "shop", "web"))["spec"]["replicas"] == 4
    via_hpa = ScaleOut(
        namespace="shop",
        workload_kind="Deployment",
        workload="web",
        current_replicas=2,
        replicas=4,
        hpa="web",
        hpa_min_replicas=4,
        hpa_max_replicas=8,
    )
    await _twice(kit.plan(via_hpa, key="key-hpa"), kube)
    hpa = await kube.get(Kind.HPA, "shop", "web")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (4, 8)


async def test_raise_hpa_max_on_the_twin(kube, kit) -> None:
    params = RaiseHpaMax(namespace="shop", hpa="web", current_max=6, new_max=9)
    dry = await execute(kit.plan(params, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED
    await _twice(kit.plan(params), kube)
    assert (await kube.get(Kind.HPA, "shop", "web"))["spec"]["maxReplicas"] == 9
    missing = RaiseHpaMax(namespace="shop", hpa="ghost", current_max=6, new_max=9)
    with pytest.raises(PermanentError):
        await execute(kit.plan(missing), writer=kube)


async def test_cordon_on_the_twin(kube, kit) -> None:
    plan = kit.plan(CordonNode(node="n1"), target=kit.NODE)
    dry = await execute(kit.plan(CordonNode(node="n1"), target=kit.NODE, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED
    assert not (await kube.get(Kind.NODE, None, "n1"))["spec"].get("unschedulable")
    await _twice(plan, kube)
    node = await kube.get(Kind.NODE, None, "n1")
    assert node["spec"]["unschedulable"] is True
    assert node["metadata"]["annotations"][LAST_APPLIED] == "{}"
    assert _last_action(node)["action"] == "cordon_node"
    event = await _read_as_test(kube, Kind.EVENT, "default", "n1.kubeheal-key0123456789abc")
    assert event["involvedObject"]["kind"] == "Node"


async def test_create_pdb_on_the_twin(kube, kit) -> None:
    params = CreatePdb(
        namespace="shop", name="web-kubeheal", match_labels={"app": "web"}, max_unavailable=1
    )
    dry = await execute(kit.plan(params, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED
    await _twice(kit.plan(params), kube)
    pdb = await kube.get(Kind.PDB, "shop", "web-kubeheal")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == {"matchLabels": {"app": "web"}}


async def test_drain_on_the_twin_waits_for_the_pdb(twin, kube, kit, clock) -> None:
    cluster, _ = twin
    store = cluster.store
    pdbs = store.rtype("policy", "v1", "poddisruptionbudgets")
    store.create(
        pdbs,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web-pdb", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1},
        },
    )

    def set_allowed(allowed: int) -> None:
        with store.lock:
            pdb = store.find(pdbs, "shop", "web-pdb")
            assert pdb is not None
            pdb["status"] = {
                "observedGeneration": pdb["metadata"].get("generation", 1),
                "disruptionsAllowed": allowed,
                "currentHealthy": 2,
                "desiredHealthy": 2 - allowed,
                "expectedPods": 2,
            }
            store.update(pdbs, pdb, namespace="shop", subresource="status")

    set_allowed(0)
    refusals = 0

    async def sleep(seconds: float) -> None:
        nonlocal refusals
        refusals += 1
        await clock.sleep(seconds)
        if refusals == 2:
            set_allowed(2)

    params = DrainNode(
        node="n1",
        grace_period_seconds=30,
        timeout_seconds=60,
        pods=("shop/web-1", "shop/web-2", "shop/agent-x"),
    )
    dry = await execute(
        kit.plan(params, target=kit.NODE, dry_run=True), writer=kube, clock=clock, sleep=sleep
    )
    # (the twin's dry-run eviction does not consult PDBs, so no refusal is reported here)
    assert dry.state is OutcomeState.SKIPPED and not dry.changed
    assert refusals == 0
    assert not (await kube.get(Kind.NODE, None, "n1"))["spec"].get("unschedulable")
    assert (await kube.get(Kind.POD, "shop", "web-1"))["metadata"]["name"] == "web-1"
    out = await execute(kit.plan(params, target=kit.NODE), writer=kube, clock=clock, sleep=sleep)
    assert out.state is OutcomeState.SUCCEEDED, out.detail
    assert clock.sleeps == [1.0, 2.0]
    assert sorted(out.evidence["evicted"]) == ["shop/web-1", "shop/web-2"]
    assert (await kube.get(Kind.NODE, None, "n1"))["spec"]["unschedulable"] is True
    assert (await kube.get(Kind.POD, "shop", "agent-x"))["metadata"]["name"] == "agent-x"
    from kubeheal.clients.kube import KubeNotFound

    for name in ("web-1", "web-2"):
        with pytest.raises(KubeNotFound):
            await kube.get(Kind.POD, "shop", name)
