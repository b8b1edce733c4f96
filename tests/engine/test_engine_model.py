"""Decoding Kubernetes JSON, quantities, selectors and the ClusterView indexes."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from kubeheal.model import ClusterView, Target, TargetKind
from kubeheal.model.cluster import Deployment, Pod, PodDisruptionBudget
from kubeheal.model.quantity import (
    QuantityError,
    format_memory,
    parse_cpu,
    parse_memory,
    parse_quantity,
)
from kubeheal.model.selectors import LabelSelector, LabelSelectorRequirement, selector_matches


def test_decode_tolerates_missing_fields_and_ignores_unknown() -> None:
    pod = msgspec.json.decode(b'{"kind":"Pod","extra":{"x":1}}', type=Pod)
    assert pod.metadata.name == ""
    assert pod.status.container_statuses == ()
    dep = msgspec.json.decode(b'{"spec":{}}', type=Deployment)
    assert dep.replicas == 1  # Kubernetes default


def test_decode_keeps_needed_fields(k8s) -> None:
    pod = k8s.pod(
        "web-2-a",
        statuses=[k8s.container_status(restarts=4, last_terminated="OOMKilled", last_exit=137)],
    )
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"
    assert pod.metadata.creation_timestamp == k8s.at(-60)
    status = pod.status.container_statuses[0]
    assert status.restart_count == 4
    assert status.last_state.terminated is not None
    assert status.last_state.terminated.exit_code == 137
    assert pod.spec.containers[0].resources.limits == {"memory": "256Mi"}
    pdb = k8s.pdb(max_unavailable="50%")
    assert pdb.spec.max_unavailable == "50%"
    assert (
        msgspec.json.decode(
            b'{"spec":{"minAvailable":2}}', type=PodDisruptionBudget
        ).spec.min_available
        == 2
    )


@pytest.mark.parametrize(
    ("text", "cores"),
    [("250m", 0.25), ("2", 2.0), ("1.5", 1.5), ("100u", 0.0001), ("1e3", 1000.0), ("0.5k", 500.0)],
)
def test_parse_cpu(text: str, cores: float) -> None:
    assert parse_cpu(text) == pytest.approx(cores)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("128Mi", 128 * 2**20),
        ("1G", 10**9),
        ("1e3", 1000),
        ("1Gi", 2**30),
        ("1.5Gi", 3 * 2**29),
        ("100", 100),
        ("12E-1", 2),  # rounded up to whole bytes
        ("500m", 1),
    ],
)
def test_parse_memory(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("Mi", "must start with a number"),
        ("12Zi", "unknown suffix 'Zi'"),
        ("1.2.3", "unknown suffix '.3'"),
        ("1e99", "out of range"),
    ],
)
def test_parse_quantity_errors_are_precise(text: str, fragment: str) -> None:
    with pytest.raises(QuantityError, match=fragment.replace(".", r"\.")):
        parse_quantity(text)


def test_negative_memory_is_refused() -> None:
    with pytest.raises(QuantityError, match="negative"):
        parse_memory("-1Mi")
    assert parse_quantity("-1k") == Decimal(-1000)


def test_format_memory() -> None:
    assert format_memory(384 * 2**20) == "384Mi"
    assert format_memory(2**30) == "1Gi"
    assert format_memory(1000) == "1000"


def test_selector_matches() -> None:
    sel = LabelSelector(
        match_labels={"app": "web"},
        match_expressions=(
            LabelSelectorRequirement(key="tier", operator="In", values=("front", "edge")),
            LabelSelectorRequirement(key="canary", operator="DoesNotExist"),
        ),
    )
    assert selector_matches(sel, {"app": "web", "tier": "front"})
    assert not selector_matches(sel, {"app": "web", "tier": "back"})
    assert not selector_matches(sel, {"app": "web", "tier": "front", "canary": "1"})
    assert selector_matches(LabelSelector(), {"any": "thing"})
    assert not selector_matches(None, {"app": "web"})
    odd = LabelSelector(match_expressions=(LabelSelectorRequirement(key="a", operator="Bogus"),))
    assert not selector_matches(odd, {"a": "1"})


def _cluster(k8s) -> ClusterView:
    return ClusterView(
        pods=[
            k8s.pod("web-2-b"),
            k8s.pod("web-2-a"),
            k8s.pod("db-0", owner=("StatefulSet", "db"), labels={"app": "db"}, node="n2"),
            k8s.pod("agent-x", owner=("DaemonSet", "agent"), labels={"app": "agent"}),
            k8s.pod("job-1", owner=("Job", "migrate"), labels={}),
            k8s.pod("bare", owner=None, labels={}),
            k8s.pod("orphan-rs-a", owner=("ReplicaSet", "gone")),
        ],
        deployments=[k8s.deployment()],
        replica_sets=[
            k8s.replica_set("web-2", revision=2, created=-10),
            k8s.replica_set("web-1", revision=1, created=-100),
        ],
        nodes=[k8s.node("n2"), k8s.node("n1")],
        pdbs=[k8s.pdb(), k8s.pdb("db-pdb", match_labels={"app": "db"})],
        hpas=[k8s.hpa()],
    )


def test_owner_chain(k8s) -> None:
    view = _cluster(k8s)

    def owner(name: str) -> Target:
        pod = view.pod("shop", name)
        assert pod is not None
        return view.owner_of(pod)

    assert owner("web-2-a") == Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
    assert owner("db-0").kind is TargetKind.STATEFULSET
    assert owner("agent-x").kind is TargetKind.DAEMONSET
    assert owner("job-1") == Target(kind=TargetKind.JOB, namespace="shop", name="migrate")
    assert owner("bare") == Target(kind=TargetKind.POD, namespace="shop", name="bare")
    assert owner("orphan-rs-a") == Target(kind=TargetKind.REPLICASET, namespace="shop", name="gone")


def test_view_relations(k8s) -> None:
    view = _cluster(k8s)
    web = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
    assert [p.metadata.name for p in view.pods_of(web)] == ["web-2-a", "web-2-b"]
    assert [rs.revision for rs in view.replica_sets_of("shop", "web")] == [1, 2]
    assert [p.metadata.name for p in view.pdbs_for_workload(web)] == ["web-pdb"]
    db_pod = view.pod("shop", "db-0")
    assert db_pod is not None
    assert [p.metadata.name for p in view.pdbs_for_pod(db_pod)] == ["db-pdb"]
    assert [h.metadata.name for h in view.hpas_for(web)] == ["web"]
    assert [n.metadata.name for n in view.nodes] == ["n1", "n2"]
    assert [p.metadata.name for p in view.pods_on_node("n2")] == ["db-0"]
    node_target = Target(kind=TargetKind.NODE, name="n2")
    assert [p.metadata.name for p in view.pods_of(node_target)] == ["db-0"]
    assert view.workload_meta(web) is not None
    assert str(web) == "Deployment/shop/web"
