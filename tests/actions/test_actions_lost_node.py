"""delete_pods_on_node: only once the live node and its Lease prove the kubelet gone, only pods
of ReplicaSets, never StatefulSet pods or pods with local volumes (escalated with the
commands), idempotent, recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubeheal.actions import OutcomeState, PermanentError, execute
from kubeheal.clients.writer import Kind
from kubeheal.engine.params import DeletePodsOnNode

DOWN = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
"""When n1 went Unknown; its Lease was last renewed 40 s before."""
PLANNED = DOWN + timedelta(seconds=65)


def params(**kw) -> DeletePodsOnNode:
    base = {
        "node": "n1",
        "not_ready_since": DOWN,
        "planned_at": PLANNED,
        "not_ready_for_seconds": 60,
        "excluded_namespaces": ("kube-system",),
    }
    return DeletePodsOnNode(**{**base, **kw})


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def lost(writer, kit):
    n1 = writer.obj(Kind.NODE, None, "n1")
    n1["status"]["conditions"] = [
        {"type": "Ready", "status": "Unknown", "lastTransitionTime": _stamp(DOWN)}
    ]
    writer.put(
        Kind.LEASE,
        {
            "metadata": {"name": "n1", "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": "n1",
                "renewTime": (DOWN - timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        },
    )
    writer.put(Kind.POD, kit.pod("web-1"))
    writer.put(
        Kind.POD, kit.pod("web-2", volumes=[{"name": "scratch", "emptyDir": {}}])
    )  # emptyDir: its data dies with the pod anyway
    writer.put(Kind.POD, kit.pod("web-elsewhere", node="n2"))
    writer.put(Kind.POD, kit.pod("db-0", owner="StatefulSet"))
    writer.put(Kind.POD, kit.pod("cache-1", volumes=[{"name": "d", "hostPath": {"path": "/x"}}]))
    writer.put(
        Kind.POD,
        kit.pod("pg-1", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]),
    )
    writer.put(Kind.POD, kit.pod("agent", owner="DaemonSet"))
    writer.put(Kind.POD, kit.pod("job-1", owner="Job"))
    writer.put(Kind.POD, kit.pod("bare", owner=None))
    writer.put(Kind.POD, kit.pod("dns-1", ns="kube-system"))
    writer.put(Kind.POD, kit.pod("off", annotations={"kubeheal.io/disabled": "true"}))
    return writer


async def test_deletes_only_replicaset_pods_and_escalates_the_protected(lost, kit) -> None:
    plan = kit.plan(params(), target=kit.NODE)
    out = await execute(plan, writer=lost)
    deleted = sorted(c.name for c in lost.writes("delete") if c.kind is Kind.POD)
    assert deleted == ["web-1", "web-2"]
    assert [c for c in lost.calls if c.op == "delete" and c.dry_run] == []
    for kept in ("db-0", "cache-1", "pg-1", "agent", "job-1", "bare", "off", "web-elsewhere"):
        assert lost.has(Kind.POD, "shop", kept), kept
    assert lost.has(Kind.POD, "kube-system", "dns-1")
    # protected pods make it a failure, so the playbook escalates at once, with the commands
    assert out.state is OutcomeState.FAILED and out.changed
    assert "kubectl delete pod -n shop db-0 --grace-period=0 --force" in out.detail
    assert "kubectl taint nodes n1 node.kubernetes.io/out-of-service=nodeshutdown:NoExecute" in (
        out.detail
    )
    assert sorted(out.evidence["needs_a_human"]) == [
        "shop/cache-1 (hostPath volume d: its data stays on the node)",
        "shop/db-0 (StatefulSet owner-x pod: at most one per identity)",
        "shop/pg-1 (PersistentVolumeClaim data (a local or attached volume))",
    ]
    assert out.evidence["lease_stale_s"] == 105.0
    assert "kube-system/dns-1 (excluded namespace)" in out.evidence["left_alone"]
    assert "shop/off (annotated kubeheal.io/disabled)" in out.evidence["left_alone"]
    # recorded after the change: the Event and the last-action annotation on the node
    assert len(lost.of_kind(Kind.EVENT)) == 1
    assert (
        "delete_pods_on_node"
        in (lost.obj(Kind.NODE, None, "n1")["metadata"]["annotations"]["kubeheal.io/last-action"])
    )
    # idempotent: a second run deletes nothing more
    again = await execute(
        kit.plan(params(), target=kit.NODE, key="key-second-run-0001"), writer=lost
    )
    assert sorted(c.name for c in lost.writes("delete") if c.kind is Kind.POD) == deleted
    assert not again.changed


async def test_nothing_deleted_while_the_kubelet_renews_its_lease(lost, kit) -> None:
    lease = lost.obj(Kind.LEASE, "kube-node-lease", "n1")
    lease["spec"]["renewTime"] = _stamp(DOWN + timedelta(seconds=10))  # after it went down
    out = await execute(kit.plan(params(), target=kit.NODE), writer=lost)
    assert out.state is OutcomeState.FAILED and not out.changed
    assert "kubelet may be alive" in out.detail
    assert lost.writes("delete") == []


async def test_nothing_deleted_before_the_grace_or_once_ready(lost, kit) -> None:
    early = params(planned_at=DOWN - timedelta(seconds=40) + timedelta(seconds=59))
    out = await execute(kit.plan(early, target=kit.NODE), writer=lost)
    assert out.state is OutcomeState.FAILED and lost.writes("delete") == []
    lost.obj(Kind.NODE, None, "n1")["status"]["conditions"] = [
        {"type": "Ready", "status": "True", "lastTransitionTime": _stamp(PLANNED)}
    ]
    back = await execute(kit.plan(params(), target=kit.NODE), writer=lost)
    assert back.state is OutcomeState.SUCCEEDED and not back.changed
    assert "Ready again" in back.detail
    assert lost.writes("delete") == []


async def test_no_lease_fails_closed(lost, kit) -> None:
    del lost.objects[(Kind.LEASE, "kube-node-lease", "n1")]
    with pytest.raises(PermanentError, match="no Lease"):
        await execute(kit.plan(params(), target=kit.NODE), writer=lost)
    assert lost.writes("delete") == []


async def test_dry_run_deletes_nothing(lost, kit) -> None:
    out = await execute(kit.plan(params(), target=kit.NODE, dry_run=True), writer=lost)
    assert out.state is OutcomeState.SKIPPED
    assert all(c.dry_run for c in lost.writes("delete"))
    assert lost.has(Kind.POD, "shop", "web-1")
