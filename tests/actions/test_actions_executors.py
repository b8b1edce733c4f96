"""Every executor against the in-memory fake Writer: the change, idempotence, dry run,
conflicts, missing targets, and the Event and annotation written after a change."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kubeheal.actions import (
    ANNOTATION_LAST_ACTION,
    ANNOTATION_ROLLED_BACK_FROM,
    EVENT_REASON,
    OutcomeState,
    PermanentError,
    TemporaryError,
    execute,
)
from kubeheal.clients.kube import KubeForbidden
from kubeheal.clients.writer import Kind, PatchKind
from kubeheal.engine.params import (
    CordonNode,
    CreatePdb,
    RaiseHpaMax,
    RaiseMemoryLimit,
    RestartPod,
    RollbackDeployment,
    ScaleOut,
)
from kubeheal.model.core import Target, TargetKind

WALL = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)

ROLLBACK = RollbackDeployment(
    namespace="shop",
    deployment="web",
    from_revision=3,
    to_revision=2,
    to_replica_set="web-aaa2",
    images={"app": "web:2"},
)
MEMORY = RaiseMemoryLimit(
    namespace="shop",
    workload_kind="Deployment",
    workload="web",
    container="app",
    current_bytes=256 * 2**20,
    new_bytes=384 * 2**20,
    new_limit="384Mi",
    new_request="192Mi",
    bounded_by="factor",
)
SCALE = ScaleOut(
    namespace="shop", workload_kind="Deployment", workload="web", current_replicas=3, replicas=5
)
SCALE_HPA = ScaleOut(
    namespace="shop",
    workload_kind="Deployment",
    workload="web",
    current_replicas=2,
    replicas=4,
    hpa="web",
    hpa_min_replicas=4,
    hpa_max_replicas=8,
)
HPA_MAX = RaiseHpaMax(namespace="shop", hpa="web", current_max=6, new_max=9)
PDB = CreatePdb(
    namespace="shop", name="web-kubeheal", match_labels={"app": "web"}, max_unavailable=1
)


async def run(plan, writer, **kw):
    return await execute(plan, writer=writer, wall_clock=lambda: WALL, **kw)


def _images(dep) -> dict[str, str]:
    return {c["name"]: c["image"] for c in dep["spec"]["template"]["spec"]["containers"]}


def _assert_recorded(writer, kit, *, kind: Kind, namespace: str | None, name: str, action: str):
    events = writer.of_kind(Kind.EVENT)
    assert len(events) == 1
    event = events[0]
    assert event["reason"] == EVENT_REASON
    assert event["type"] == "Normal"
    assert "inc-42" in event["message"]
    assert event["involvedObject"]["name"] == name
    note = json.loads(
        writer.obj(kind, namespace, name)["metadata"]["annotations"][ANNOTATION_LAST_ACTION]
    )
    assert note == {
        "action": action,
        "incident": "inc-42",
        "at": "2024-05-01T12:30:00Z",
        "key": "key0123456789abcdef",
    }


# -- rollback ------------------------------------------------------------------------------


async def test_rollback_puts_the_previous_template_back(writer, kit) -> None:
    out = await run(kit.plan(ROLLBACK), writer)
    assert out.state is OutcomeState.SUCCEEDED and out.changed
    dep = writer.obj(Kind.DEPLOYMENT, "shop", "web")
    assert _images(dep) == {"app": "web:2", "sidecar": "proxy:1"}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "web"}, "pod-template-hash must be stripped"
    notes = dep["metadata"]["annotations"]
    assert notes[ANNOTATION_ROLLED_BACK_FROM] == "3"
    assert notes[kit.LAST_APPLIED] == kit.LAST_APPLIED_VALUE
    assert out.evidence["previous_images"] == ["app=web:3", "sidecar=proxy:1"]
    assert out.evidence["to_revision"] == 2
    (patch,) = writer.writes("patch")[:1]
    assert patch.patch_kind is PatchKind.JSON
    assert not any(_touches_last_applied(op) for op in patch.body)
    _assert_recorded(
        writer,
        kit,
        kind=Kind.DEPLOYMENT,
        namespace="shop",
        name="web",
        action="rollback_deployment",
    )


def _touches_last_applied(op) -> bool:
    return "last-applied" in op["path"] or (
        isinstance(op.get("value"), dict)
        and "kubectl.kubernetes.io/last-applied-configuration" in op["value"]
    )


async def test_rollback_twice_changes_nothing_the_second_time(writer, kit) -> None:
    await run(kit.plan(ROLLBACK), writer)
    writes_before = len(writer.writes())
    again = await run(kit.plan(ROLLBACK), writer)
    assert again.state is OutcomeState.SUCCEEDED and not again.changed
    assert again.detail.startswith("already")
    assert len(writer.writes()) == writes_before


async def test_rollback_ignores_the_pod_template_hash_when_comparing(writer, kit) -> None:
    dep = writer.obj(Kind.DEPLOYMENT, "shop", "web")
    dep["spec"]["template"] = kit.template("web:2", pod_hash="zzz")
    out = await run(kit.plan(ROLLBACK), writer)
    assert not out.changed and "already" in out.detail
    assert writer.writes() == []


async def test_rollback_dry_run_changes_nothing(writer, kit) -> None:
    out = await run(kit.plan(ROLLBACK, dry_run=True), writer)
    assert out.state is OutcomeState.SKIPPED and not out.changed
    assert out.detail.startswith("dry-run: would roll")
    assert _images(writer.obj(Kind.DEPLOYMENT, "shop", "web"))["app"] == "web:3"
    (patch,) = writer.writes()
    assert patch.dry_run is True
    assert writer.of_kind(Kind.EVENT) == []


async def test_rollback_retries_a_conflict_after_re_reading(writer, kit) -> None:
    writer.failures[("patch", "web")] = [kit.conflict("web")]
    out = await run(kit.plan(ROLLBACK), writer)
    assert out.changed
    gets = [c for c in writer.calls if c.op == "get" and c.kind is Kind.DEPLOYMENT]
    assert len(gets) >= 2
    assert _images(writer.obj(Kind.DEPLOYMENT, "shop", "web"))["app"] == "web:2"


async def test_a_stale_resource_version_is_a_conflict_that_is_retried(writer, kit) -> None:
    """Someone else writes between our read and our patch: the patch carries the old
    resourceVersion, the fake answers 409, the executor re-reads and succeeds."""
    original_get = writer.get
    bumped = False

    async def racing_get(kind, namespace, name):
        nonlocal bumped
        obj = await original_get(kind, namespace, name)
        if kind is Kind.DEPLOYMENT and not bumped:
            bumped = True
            writer.rv += 1
            writer.obj(kind, namespace, name)["metadata"]["resourceVersion"] = str(writer.rv)
        return obj

    writer.get = racing_get
    out = await run(kit.plan(ROLLBACK), writer)
    assert out.changed
    assert len(writer.writes("patch")) >= 2


async def test_persistent_conflicts_are_a_temporary_error(writer, kit) -> None:
    writer.failures[("patch", "web")] = [kit.conflict("web") for _ in range(5)]
    with pytest.raises(TemporaryError) as info:
        await run(kit.plan(ROLLBACK), writer)
    assert info.value.delay > 0
    assert _images(writer.obj(Kind.DEPLOYMENT, "shop", "web"))["app"] == "web:3"


async def test_rollback_of_a_missing_deployment_is_permanent(writer, kit) -> None:
    del writer.objects[(Kind.DEPLOYMENT, "shop", "web")]
    with pytest.raises(PermanentError):
        await run(kit.plan(ROLLBACK), writer)


async def test_rollback_to_a_vanished_replica_set_is_permanent(writer, kit) -> None:
    del writer.objects[(Kind.REPLICASET, "shop", "web-aaa2")]
    with pytest.raises(PermanentError, match="gone"):
        await run(kit.plan(ROLLBACK), writer)


async def test_rollback_refuses_a_replica_set_of_another_deployment(writer, kit) -> None:
    writer.put(Kind.REPLICASET, kit.replica_set("api-ccc2", revision=2, image="api:2", owner="api"))
    params = RollbackDeployment(
        namespace="shop",
        deployment="web",
        from_revision=3,
        to_revision=2,
        to_replica_set="api-ccc2",
    )
    with pytest.raises(PermanentError, match="not owned"):
        await run(kit.plan(params), writer)


# -- restart -------------------------------------------------------------------------------


async def test_restart_deletes_the_pod_once(writer, kit) -> None:
    writer.put(Kind.POD, kit.pod("web-1"))
    params = RestartPod(namespace="shop", pod="web-1")
    out = await run(kit.plan(params), writer)
    assert out.state is OutcomeState.SUCCEEDED and out.changed
    assert not writer.has(Kind.POD, "shop", "web-1")
    assert out.evidence["uid"] == "uid-web-1"
    assert out.evidence["restart_counts"] == ["app=3"]
    again = await run(kit.plan(params), writer)
    assert not again.changed and "already gone" in again.detail
    assert len(writer.writes("delete")) == 1
    # the event is on the workload; the annotation too (the pod is gone)
    _assert_recorded(
        writer, kit, kind=Kind.DEPLOYMENT, namespace="shop", name="web", action="restart_pod"
    )


async def test_restart_leaves_a_replaced_healthy_pod_alone(writer, kit) -> None:
    writer.put(Kind.POD, kit.pod("db-0", ready=True, restarts=0))
    out = await run(kit.plan(RestartPod(namespace="shop", pod="db-0", pod_ready=False)), writer)
    assert not out.changed and "replaced" in out.detail
    assert writer.has(Kind.POD, "shop", "db-0")


async def test_restart_leaves_a_terminating_pod_alone(writer, kit) -> None:
    p = kit.pod("web-1")
    p["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    writer.put(Kind.POD, p)
    out = await run(kit.plan(RestartPod(namespace="shop", pod="web-1")), writer)
    assert not out.changed and "terminating" in out.detail
    assert writer.writes("delete") == []


async def test_restart_refuses_a_bare_pod(writer, kit) -> None:
    writer.put(Kind.POD, kit.pod("lonely", owner=None))
    with pytest.raises(PermanentError, match="no controller"):
        await run(kit.plan(RestartPod(namespace="shop", pod="lonely")), writer)
    assert writer.has(Kind.POD, "shop", "lonely")


async def test_restart_dry_run_keeps_the_pod(writer, kit) -> None:
    writer.put(Kind.POD, kit.pod("web-1"))
    out = await run(kit.plan(RestartPod(namespace="shop", pod="web-1"), dry_run=True), writer)
    assert out.state is OutcomeState.SKIPPED and out.detail.startswith("dry-run: would delete")
    assert writer.has(Kind.POD, "shop", "web-1")
    assert [c.dry_run for c in writer.writes()] == [True]


# -- memory --------------------------------------------------------------------------------


def _resources(writer, kind=Kind.DEPLOYMENT, name="web"):
    containers = writer.obj(kind, "shop", name)["spec"]["template"]["spec"]["containers"]
    return {c["name"]: c["resources"] for c in containers}


async def test_memory_limit_is_raised_by_strategic_merge(writer, kit) -> None:
    out = await run(kit.plan(MEMORY), writer)
    assert out.changed and out.state is OutcomeState.SUCCEEDED
    res = _resources(writer)
    assert res["app"] == {"limits": {"memory": "384Mi"}, "requests": {"memory": "192Mi"}}
    assert res["sidecar"] == {"limits": {"memory": "64Mi"}}, "other containers untouched"
    assert out.evidence["previous_limit"] == "256Mi"
    assert out.evidence["previous_request"] == "128Mi"
    (patch,) = writer.writes("patch")[:1]
    assert patch.patch_kind is PatchKind.STRATEGIC
    dep = writer.obj(Kind.DEPLOYMENT, "shop", "web")
    assert dep["metadata"]["annotations"][kit.LAST_APPLIED] == kit.LAST_APPLIED_VALUE
    _assert_recorded(
        writer, kit, kind=Kind.DEPLOYMENT, namespace="shop", name="web", action="raise_memory_limit"
    )
    again = await run(kit.plan(MEMORY), writer)
    assert not again.changed and again.detail.startswith("memory limit of app is already")


async def test_memory_limit_already_higher_is_a_no_op(writer, kit) -> None:
    dep = writer.obj(Kind.DEPLOYMENT, "shop", "web")
    dep["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"memory": "1Gi"},
        "requests": {"memory": "512Mi"},
    }
    out = await run(kit.plan(MEMORY), writer)
    assert not out.changed
    assert writer.writes() == []


async def test_memory_limit_of_a_statefulset(writer, kit) -> None:
    sts = kit.deployment(name="db")
    sts["kind"] = "StatefulSet"
    writer.put(Kind.STATEFULSET, sts)
    params = RaiseMemoryLimit(
        namespace="shop",
        workload_kind="StatefulSet",
        workload="db",
        container="app",
        current_bytes=256 * 2**20,
        new_bytes=512 * 2**20,
        new_limit="512Mi",
    )
    target = Target(kind=TargetKind.STATEFULSET, namespace="shop", name="db")
    out = await run(kit.plan(params, target=target), writer)
    assert out.changed
    assert _resources(writer, Kind.STATEFULSET, "db")["app"]["limits"] == {"memory": "512Mi"}
    assert _resources(writer, Kind.STATEFULSET, "db")["app"]["requests"] == {"memory": "128Mi"}


async def test_memory_limit_dry_run(writer, kit) -> None:
    out = await run(kit.plan(MEMORY, dry_run=True), writer)
    assert out.state is OutcomeState.SKIPPED
    assert "would raise the memory limit of app" in out.detail
    assert _resources(writer)["app"]["limits"] == {"memory": "256Mi"}
    assert [c.dry_run for c in writer.writes()] == [True]


async def test_memory_limit_of_an_unknown_container_is_permanent(writer, kit) -> None:
    params = RaiseMemoryLimit(
        namespace="shop",
        workload_kind="Deployment",
        workload="web",
        container="nope",
        current_bytes=1,
        new_bytes=2,
        new_limit="512Mi",
    )
    with pytest.raises(PermanentError, match="no such container"):
        await run(kit.plan(params), writer)


async def test_rbac_refusal_is_permanent(writer, kit) -> None:
    writer.failures[("patch", "web")] = [
        KubeForbidden(code=403, reason="Forbidden", message="cannot patch deployments")
    ]
    with pytest.raises(PermanentError, match="RBAC"):
        await run(kit.plan(MEMORY), writer)


# -- scale out and HPA ---------------------------------------------------------------------


async def test_scale_out_raises_replicas(writer, kit) -> None:
    out = await run(kit.plan(SCALE), writer)
    assert out.changed
    assert writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] == 5
    assert out.evidence["previous_replicas"] == 3
    _assert_recorded(
        writer, kit, kind=Kind.DEPLOYMENT, namespace="shop", name="web", action="scale_out"
    )
    again = await run(kit.plan(SCALE), writer)
    assert not again.changed and "already wants 5" in again.detail


async def test_scale_out_never_scales_in(writer, kit) -> None:
    writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] = 7
    out = await run(kit.plan(SCALE), writer)
    assert not out.changed
    assert writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] == 7


async def test_scale_out_dry_run(writer, kit) -> None:
    out = await run(kit.plan(SCALE, dry_run=True), writer)
    assert out.state is OutcomeState.SKIPPED and "would scale" in out.detail
    assert writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] == 3


async def test_scale_out_through_the_hpa(writer, kit) -> None:
    out = await run(kit.plan(SCALE_HPA), writer)
    assert out.changed
    spec = writer.obj(Kind.HPA, "shop", "web")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (4, 8)
    assert writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] == 3, "HPA owns it"
    assert out.evidence["previous_min_replicas"] == 2
    again = await run(kit.plan(SCALE_HPA), writer)
    assert not again.changed


async def test_scale_out_through_the_hpa_never_lowers_max(writer, kit) -> None:
    writer.obj(Kind.HPA, "shop", "web")["spec"]["maxReplicas"] = 12
    await run(kit.plan(SCALE_HPA), writer)
    spec = writer.obj(Kind.HPA, "shop", "web")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (4, 12)


async def test_raise_hpa_max(writer, kit) -> None:
    out = await run(kit.plan(HPA_MAX), writer)
    assert out.changed
    assert writer.obj(Kind.HPA, "shop", "web")["spec"]["maxReplicas"] == 9
    assert out.evidence == {"previous_max_replicas": 6, "max_replicas": 9}
    again = await run(kit.plan(HPA_MAX), writer)
    assert not again.changed
    dry = await run(
        kit.plan(RaiseHpaMax(namespace="shop", hpa="web", current_max=9, new_max=12), dry_run=True),
        writer,
    )
    assert dry.state is OutcomeState.SKIPPED
    assert writer.obj(Kind.HPA, "shop", "web")["spec"]["maxReplicas"] == 9


async def test_raise_hpa_max_of_a_missing_hpa_is_permanent(writer, kit) -> None:
    params = RaiseHpaMax(namespace="shop", hpa="ghost", current_max=6, new_max=9)
    with pytest.raises(PermanentError, match="not found"):
        await run(kit.plan(params), writer)


# -- cordon --------------------------------------------------------------------------------


async def test_cordon_marks_the_node_unschedulable_once(writer, kit) -> None:
    plan = kit.plan(CordonNode(node="n1"), target=kit.NODE)
    out = await run(plan, writer)
    assert out.changed
    n1 = writer.obj(Kind.NODE, None, "n1")
    assert n1["spec"]["unschedulable"] is True
    assert n1["metadata"]["annotations"][kit.LAST_APPLIED] == "{}"
    _assert_recorded(writer, kit, kind=Kind.NODE, namespace=None, name="n1", action="cordon_node")
    event = writer.of_kind(Kind.EVENT)[0]
    assert event["metadata"]["namespace"] == "default"
    assert event["involvedObject"]["kind"] == "Node"
    again = await run(plan, writer)
    assert not again.changed and "already unschedulable" in again.detail


async def test_cordon_dry_run(writer, kit) -> None:
    out = await run(kit.plan(CordonNode(node="n1"), target=kit.NODE, dry_run=True), writer)
    assert out.state is OutcomeState.SKIPPED
    assert "unschedulable" not in writer.obj(Kind.NODE, None, "n1")["spec"]


# -- PDB -----------------------------------------------------------------------------------


async def test_create_pdb_once(writer, kit) -> None:
    out = await run(kit.plan(PDB), writer)
    assert out.changed
    pdb = writer.obj(Kind.PDB, "shop", "web-kubeheal")
    assert pdb["spec"] == {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1}
    assert pdb["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubeheal"
    _assert_recorded(
        writer, kit, kind=Kind.DEPLOYMENT, namespace="shop", name="web", action="create_pdb"
    )
    again = await run(kit.plan(PDB), writer)
    assert not again.changed and "already exists" in again.detail
    assert len(writer.writes("create")) == 2, "one PDB, one Event"


async def test_create_pdb_race_with_another_writer(writer, kit) -> None:
    from kubeheal.clients.kube import KubeConflict

    writer.failures[("create", "web-kubeheal")] = [
        KubeConflict(code=409, reason="AlreadyExists", message="exists")
    ]
    out = await run(kit.plan(PDB), writer)
    assert out.state is OutcomeState.SUCCEEDED and not out.changed


async def test_create_pdb_dry_run(writer, kit) -> None:
    out = await run(kit.plan(PDB, dry_run=True), writer)
    assert out.state is OutcomeState.SKIPPED and "would create" in out.detail
    assert not writer.has(Kind.PDB, "shop", "web-kubeheal")
    assert [c.dry_run for c in writer.writes()] == [True]


async def test_create_pdb_with_min_available(writer, kit) -> None:
    params = CreatePdb(
        namespace="shop", name="web-kubeheal", match_labels={"app": "web"}, min_available="50%"
    )
    await run(kit.plan(params), writer)
    assert writer.obj(Kind.PDB, "shop", "web-kubeheal")["spec"]["minAvailable"] == "50%"


# -- event and annotation are best-effort --------------------------------------------------


async def test_event_and_annotation_failures_do_not_fail_the_action(
    writer, kit, clock, caplog
) -> None:
    from kubeheal.actions._base import RECORD_ATTEMPTS
    from kubeheal.clients.kube import KubeUnavailable

    down = [KubeUnavailable("down")] * RECORD_ATTEMPTS  # every retry fails too
    writer.failures[("create", "web.kubeheal-key0123456789abc")] = down
    original_patch = writer.patch

    async def patch(kind, namespace, name, body, *, patch_kind=PatchKind.STRATEGIC, dry_run=False):
        if patch_kind is PatchKind.MERGE and "annotations" in body.get("metadata", {}):
            raise KubeForbidden(code=403, reason="Forbidden", message="no annotations for you")
        return await original_patch(
            kind, namespace, name, body, patch_kind=patch_kind, dry_run=dry_run
        )

    writer.patch = patch
    with caplog.at_level("WARNING"):
        out = await run(kit.plan(SCALE), writer, clock=clock, sleep=clock.sleep)
    assert out.state is OutcomeState.SUCCEEDED and out.changed
    assert writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] == 5
    assert writer.of_kind(Kind.EVENT) == []
    assert "could not emit the Event" in caplog.text
    assert "could not annotate" in caplog.text


async def test_the_event_name_is_stable_so_a_repeat_emits_no_second_event(writer, kit) -> None:
    await run(kit.plan(SCALE), writer)
    writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] = 3
    out = await run(kit.plan(SCALE), writer)
    assert out.changed
    assert len(writer.of_kind(Kind.EVENT)) == 1
