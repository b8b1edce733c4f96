"""Draining a node: cordon, evict through the Eviction API with back-off while a PDB
refuses, never delete a pod, report what stayed."""

from __future__ import annotations

import pytest

from kubeheal.actions import OutcomeState, PermanentError, execute
from kubeheal.clients.kube import KubeUnavailable
from kubeheal.clients.writer import Kind
from kubeheal.engine.params import DrainNode


def drain(pods: tuple[str, ...], *, timeout: int = 60, emptydir: bool = False) -> DrainNode:
    return DrainNode(
        node="n1",
        grace_period_seconds=30,
        timeout_seconds=timeout,
        ignore_daemonsets=True,
        delete_emptydir_data=emptydir,
        pods=pods,
    )


@pytest.fixture
def node_writer(writer, kit):
    writer.put(Kind.POD, kit.pod("web-1"))
    writer.put(Kind.POD, kit.pod("web-2"))
    writer.put(Kind.POD, kit.pod("agent-x", owner="DaemonSet"))
    writer.put(
        Kind.POD,
        kit.pod(
            "etcd-n1",
            ns="kube-system",
            owner="Node",
            annotations={"kubernetes.io/config.mirror": "abc"},
        ),
    )
    return writer


PODS = ("shop/web-1", "shop/web-2", "shop/agent-x", "kube-system/etcd-n1")


async def test_drain_cordons_and_evicts_only_evictable_pods(node_writer, kit, clock) -> None:
    plan = kit.plan(drain(PODS), target=kit.NODE)
    out = await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert out.state is OutcomeState.SUCCEEDED and out.changed
    assert node_writer.obj(Kind.NODE, None, "n1")["spec"]["unschedulable"] is True
    evicted = [(c.namespace, c.name) for c in node_writer.writes("evict")]
    assert evicted == [("shop", "web-1"), ("shop", "web-2")]
    assert node_writer.writes("delete") == [], "a drain never deletes pods directly"
    assert node_writer.has(Kind.POD, "shop", "agent-x")
    assert node_writer.has(Kind.POD, "kube-system", "etcd-n1")
    assert out.evidence["left_alone"] == [
        "shop/agent-x (daemonset)",
        "kube-system/etcd-n1 (mirror)",
    ]
    assert clock.sleeps == []
    assert len(node_writer.of_kind(Kind.EVENT)) == 1


async def test_a_pdb_that_refuses_twice_then_allows(node_writer, kit, clock) -> None:
    node_writer.failures[("evict", "web-2")] = [kit.blocked("web-2"), kit.blocked("web-2")]
    plan = kit.plan(drain(PODS), target=kit.NODE)
    out = await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert out.state is OutcomeState.SUCCEEDED
    assert clock.sleeps == [1.0, 2.0], "exponential back-off between refused rounds"
    assert [c.name for c in node_writer.writes("evict")] == ["web-1", "web-2", "web-2", "web-2"]
    assert not node_writer.has(Kind.POD, "shop", "web-2")
    assert out.evidence["rounds"] == 3
    assert node_writer.writes("delete") == []


async def test_a_pdb_that_never_allows_ends_in_a_partial_failure(node_writer, kit, clock) -> None:
    node_writer.failures[("evict", "web-2")] = [kit.blocked("web-2") for _ in range(100)]
    plan = kit.plan(drain(PODS, timeout=20), target=kit.NODE)
    out = await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert out.state is OutcomeState.FAILED and out.changed
    assert "web-2" in out.detail and "partial drain" in out.detail
    assert out.evidence["blocked"] == ["shop/web-2"]
    assert out.evidence["evicted"] == ["shop/web-1"]
    assert sum(clock.sleeps) <= 20 and clock.now - 1000.0 >= 20 - 1e-9
    assert clock.sleeps[:5] == [1.0, 2.0, 4.0, 8.0, 5.0]
    assert node_writer.has(Kind.POD, "shop", "web-2")
    event = node_writer.of_kind(Kind.EVENT)[0]
    assert event["type"] == "Warning"


async def test_unavailable_api_during_eviction_is_retried(node_writer, kit, clock) -> None:
    node_writer.failures[("evict", "web-1")] = [KubeUnavailable("503")]
    plan = kit.plan(drain(("shop/web-1",)), target=kit.NODE)
    out = await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert out.state is OutcomeState.SUCCEEDED
    assert clock.sleeps == [1.0]


async def test_emptydir_pods_are_not_evicted_unless_allowed(node_writer, kit, clock) -> None:
    node_writer.put(Kind.POD, kit.pod("cache-1", volumes=[{"name": "tmp", "emptyDir": {}}]))
    plan = kit.plan(drain(("shop/cache-1",)), target=kit.NODE)
    out = await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert out.state is OutcomeState.FAILED and "emptyDir" in out.detail
    assert node_writer.has(Kind.POD, "shop", "cache-1")
    allowed = kit.plan(drain(("shop/cache-1",), emptydir=True), target=kit.NODE, key="other-key")
    out = await execute(allowed, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert out.state is OutcomeState.SUCCEEDED
    assert not node_writer.has(Kind.POD, "shop", "cache-1")


async def test_drain_again_changes_nothing(node_writer, kit, clock) -> None:
    plan = kit.plan(drain(PODS), target=kit.NODE)
    await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    writes = len(node_writer.writes())
    again = await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert again.state is OutcomeState.SUCCEEDED and not again.changed
    assert "already cordoned and drained" in again.detail
    assert len(node_writer.writes()) == writes


async def test_pods_that_moved_to_another_node_are_left_alone(node_writer, kit, clock) -> None:
    node_writer.obj(Kind.POD, "shop", "web-1")["spec"]["nodeName"] = "n2"
    plan = kit.plan(drain(("shop/web-1",)), target=kit.NODE)
    out = await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert node_writer.writes("evict") == []
    assert out.evidence["left_alone"] == ["shop/web-1 (moved)"]


async def test_drain_dry_run_changes_nothing(node_writer, kit, clock) -> None:
    node_writer.failures[("evict", "web-2")] = [kit.blocked("web-2")]
    plan = kit.plan(drain(PODS), target=kit.NODE, dry_run=True)
    out = await execute(plan, writer=node_writer, clock=clock, sleep=clock.sleep)
    assert out.state is OutcomeState.SKIPPED and not out.changed
    assert out.detail.startswith("dry-run: would cordon node n1 and evict 1 pod(s)")
    assert "refused" in out.detail
    assert "unschedulable" not in node_writer.obj(Kind.NODE, None, "n1")["spec"]
    assert node_writer.has(Kind.POD, "shop", "web-1") and node_writer.has(Kind.POD, "shop", "web-2")
    assert all(c.dry_run for c in node_writer.writes())
    assert clock.sleeps == []
    assert node_writer.of_kind(Kind.EVENT) == []


async def test_drain_of_a_missing_node_is_permanent(writer, kit, clock) -> None:
    plan = kit.plan(drain(()), target=kit.NODE)
    del writer.objects[(Kind.NODE, "", "n1")]
    with pytest.raises(PermanentError):
        await execute(plan, writer=writer, clock=clock, sleep=clock.sleep)
