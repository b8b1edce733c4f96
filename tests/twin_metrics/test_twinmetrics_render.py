"""The twin's /metrics: exporter names, labels and values, format validity, counters, speed."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubeheal.twin.clock import ManualClock
from kubeheal.twin.metrics import (
    FAMILIES,
    PVC_USED_BYTES_ANNOTATION,
    CounterMemory,
    metrics_content_type,
    render_metrics,
)
from kubeheal.twin.sim.state import (
    LATENCY_BUCKETS,
    ContainerRuntime,
    NodeRuntime,
    PodRuntime,
    RuntimeState,
)
from kubeheal.twin.store import ObjectStore

GiB = 2**30
MiB = 2**20


# ---------------------------------------------------------------------------- cluster builder


@dataclass
class Cluster:
    clock: ManualClock
    store: ObjectStore
    runtime: RuntimeState
    uids: dict[str, str]

    def render(self, memory: CounterMemory | None = None) -> str:
        return render_metrics(
            store=self.store, runtime=self.runtime, now=self.clock.now(), memory=memory
        ).decode()


def _node(name: str, *, cpu: str, memory: str, control_plane: bool = False) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    spec: dict[str, Any] = {"podCIDR": "10.244.1.0/24", "providerID": f"twin://{name}"}
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
        spec["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "3800m", "memory": "7Gi", "pods": "110"},
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
                {"type": "MemoryPressure", "status": "False"},
                {"type": "DiskPressure", "status": "Unknown"},
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "nodeInfo": {
                "kernelVersion": "6.1.0-twin",
                "osImage": "Twin Linux",
                "containerRuntimeVersion": "containerd://1.7.0",
                "kubeletVersion": "v1.30.0",
                "kubeProxyVersion": "v1.30.0",
                "systemUUID": f"uuid-{name}",
            },
        },
    }


def _pod(
    name: str,
    *,
    rs: dict[str, Any],
    node: str,
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    last_state: dict[str, Any] | None = None,
    restarts: int = 0,
    ready: bool = True,
    reason: str | None = None,
    volumes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "hostIP": "10.0.0.2",
        "podIP": f"10.244.1.{len(name)}",
        "startTime": "2026-09-21T10:00:00Z",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ],
        "containerStatuses": [
            {
                "name": "app",
                "image": "ghcr.io/acme/web:1.2",
                "imageID": "ghcr.io/acme/web@sha256:0123",
                "containerID": f"containerd://{name}0000",
                "ready": ready,
                "restartCount": restarts,
                "state": state or {"running": {"startedAt": "2026-09-21T10:00:05Z"}},
                **({"lastState": last_state} if last_state else {}),
            }
        ],
    }
    if reason:
        status["reason"] = reason
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app": "web", "pod-template-hash": "7d9f"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs["metadata"]["name"],
                    "uid": rs["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "app",
                    "image": "ghcr.io/acme/web:1.2",
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                },
                {
                    "name": "sidecar",
                    "image": "envoy:1.30",
                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
                },
            ],
            **({"volumes": volumes} if volumes else {}),
        },
        "status": status,
    }


def _container(name: str, **kw: Any) -> ContainerRuntime:
    return ContainerRuntime(name=name, started_at=1_790_000_005.0, **kw)


@pytest.fixture
def cluster() -> Cluster:
    clock = ManualClock()
    store = ObjectStore(clock=clock)
    r = store.rtype
    store.create(r("", "v1", "namespaces"), {"metadata": {"name": "shop"}})
    store.create(
        r("", "v1", "nodes"), _node("control-plane", cpu="2", memory="4Gi", control_plane=True)
    )
    store.create(r("", "v1", "nodes"), _node("worker-1", cpu="4", memory="8Gi"))
    dep = store.create(
        r("apps", "v1", "deployments"),
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {
                "replicas": 3,
                "readyReplicas": 1,
                "availableReplicas": 1,
                "unavailableReplicas": 2,
                "updatedReplicas": 3,
                "observedGeneration": 1,
                "conditions": [
                    {
                        "type": "Available",
                        "status": "False",
                        "reason": "MinimumReplicasUnavailable",
                    },
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                ],
            },
        },
    )
    rs = store.create(
        r("apps", "v1", "replicasets"),
        {
            "metadata": {
                "name": "web-7d9f",
                "namespace": "shop",
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                        "uid": dep["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {"replicas": 3},
            "status": {"replicas": 3, "readyReplicas": 1},
        },
    )
    pods = r("", "v1", "pods")
    healthy = store.create(
        pods,
        _pod(
            "web-7d9f-aaaaa",
            rs=rs,
            node="worker-1",
            restarts=2,
            last_state={"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        ),
    )
    crashing = store.create(
        pods,
        _pod(
            "web-7d9f-bbbbb",
            rs=rs,
            node="worker-1",
            ready=False,
            restarts=4,
            state={"waiting": {"reason": "CrashLoopBackOff"}},
            last_state={"terminated": {"reason": "Error", "exitCode": 1}},
        ),
    )
    evicted = store.create(
        pods,
        _pod(
            "web-7d9f-ccccc",
            rs=rs,
            node="worker-1",
            phase="Failed",
            ready=False,
            reason="Evicted",
            state={"terminated": {"reason": "ContainerStatusUnknown", "exitCode": 137}},
        ),
    )
    store.create(
        r("", "v1", "services"),
        {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"selector": {"app": "web"}}},
    )
    store.create(
        r("autoscaling", "v2", "horizontalpodautoscalers"),
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 3,
                "maxReplicas": 20,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    },
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": "http_requests_per_second"},
                            "target": {"type": "AverageValue", "averageValue": "500m"},
                        },
                    },
                ],
            },
            "status": {
                "currentReplicas": 3,
                "desiredReplicas": 4,
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "current": {"averageUtilization": 85, "averageValue": "212m"},
                        },
                    }
                ],
                "conditions": [
                    {"type": "AbleToScale", "status": "True"},
                    {"type": "ScalingLimited", "status": "False"},
                ],
            },
        },
    )
    store.create(
        r("policy", "v1", "poddisruptionbudgets"),
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {
                "currentHealthy": 1,
                "desiredHealthy": 2,
                "disruptionsAllowed": 0,
                "expectedPods": 3,
                "observedGeneration": 1,
            },
        },
    )
    store.create(
        r("", "v1", "persistentvolumes"),
        {
            "metadata": {"name": "pv-data"},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "claimRef": {"namespace": "shop", "name": "data"},
            },
            "status": {"phase": "Bound"},
        },
    )
    store.create(
        r("", "v1", "persistentvolumeclaims"),
        {
            "metadata": {
                "name": "data",
                "namespace": "shop",
                "annotations": {PVC_USED_BYTES_ANNOTATION: "3Gi"},
            },
            "spec": {
                "storageClassName": "standard",
                "volumeName": "pv-data",
                "resources": {"requests": {"storage": "5Gi"}},
            },
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}},
        },
    )

    runtime = RuntimeState()
    runtime.nodes["worker-1"] = NodeRuntime(
        name="worker-1",
        cpu_seconds_total={"idle": 400.0, "user": 100.0, "system": 20.0},
        memory_total_bytes=8 * GiB,
        memory_available_bytes=5 * GiB,
        fs_size_bytes=100 * GiB,
        fs_avail_bytes=60 * GiB,
    )
    runtime.nodes["control-plane"] = NodeRuntime(
        name="control-plane", memory_total_bytes=4 * GiB, memory_available_bytes=3 * GiB
    )
    uids = {
        "healthy": healthy["metadata"]["uid"],
        "crashing": crashing["metadata"]["uid"],
        "evicted": evicted["metadata"]["uid"],
    }
    good = PodRuntime(uid=uids["healthy"], namespace="shop", name="web-7d9f-aaaaa", node="worker-1")
    good.containers["app"] = _container(
        "app",
        cpu_cores=0.3,
        cpu_seconds_total=12.5,
        memory_working_set_bytes=200 * MiB,
        memory_rss_bytes=180 * MiB,
        network_rx_bytes_total=1000.0,
        network_tx_bytes_total=2000.0,
        fs_usage_bytes=4096,
        restart_count=2,
    )
    good.containers["sidecar"] = _container(
        "sidecar",
        cpu_cores=0.05,
        cpu_seconds_total=1.0,
        network_rx_bytes_total=10.0,
        network_tx_bytes_total=20.0,
    )
    good.requests_total = {"200": 90.0, "500": 10.0}
    cumulative = [10.0, 30.0, 60.0, 80.0, 90.0, 95.0, 98.0, 99.0, 100.0, 100.0]
    good.latency_bucket_counts = cumulative + [100.0] * (len(LATENCY_BUCKETS) + 1 - 10)
    good.latency_sum = 4.25
    bad = PodRuntime(uid=uids["crashing"], namespace="shop", name="web-7d9f-bbbbb", node="worker-1")
    bad.containers["app"] = ContainerRuntime(name="app", cpu_seconds_total=0.5, restart_count=4)
    bad.containers["sidecar"] = _container("sidecar", cpu_seconds_total=0.2)
    runtime.pods[good.uid] = good
    runtime.pods[bad.uid] = bad
    return Cluster(clock=clock, store=store, runtime=runtime, uids=uids)


# ---------------------------------------------------------------------------- parsing helpers

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Series:
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = sample.value
    return out


def find(series: Series, name: str, **labels: str) -> Iterator[tuple[dict[str, str], float]]:
    for (sample_name, sample_labels), value in series.items():
        as_dict = dict(sample_labels)
        if sample_name == name and all(as_dict.get(k) == v for k, v in labels.items()):
            yield as_dict, value


def one(series: Series, name: str, **labels: str) -> tuple[dict[str, str], float]:
    found = list(find(series, name, **labels))
    assert len(found) == 1, f"{name}{labels}: expected one series, got {found}"
    return found[0]


def value(series: Series, name: str, **labels: str) -> float:
    return one(series, name, **labels)[1]


# ---------------------------------------------------------------------------- format


def test_content_type_is_the_text_format_0_0_4() -> None:
    assert metrics_content_type == "text/plain; version=0.0.4; charset=utf-8"


def test_output_parses_and_every_family_has_exactly_one_help_and_type(cluster: Cluster) -> None:
    text = cluster.render()
    parsed = list(text_string_to_metric_families(text))
    assert parsed
    for family in FAMILIES:
        assert text.count(f"# HELP {family.name} ") == 1, family.name
        assert text.count(f"# TYPE {family.name} {family.type}\n") == 1, family.name
    type_lines = [line for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(type_lines) == len(FAMILIES) == len({f.name for f in FAMILIES})
    # every sample line belongs to the family announced last
    current = ""
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            current = line.split()[2]
        elif line and not line.startswith("#"):
            assert line.startswith(current), (current, line)
    assert text.endswith("\n")


def test_two_renders_of_the_same_state_are_identical(cluster: Cluster) -> None:
    assert cluster.render() == cluster.render()


def test_label_values_are_escaped_and_round_trip(cluster: Cluster) -> None:
    nasty = 'say "hi"\\ \nbye'
    pods = cluster.store.rtype("", "v1", "pods")
    cluster.store.create(
        pods,
        {
            "metadata": {
                "name": "odd",
                "namespace": "shop",
                "labels": {"app.kubernetes.io/name": "odd", "a-b": "1", "a.b": "2"},
            },
            "spec": {"containers": [{"name": "c", "image": nasty}]},
            "status": {
                "phase": "Pending",
                "containerStatuses": [
                    {"name": "c", "restartCount": 0, "state": {"waiting": {"reason": nasty}}}
                ],
            },
        },
    )
    text = cluster.render()
    assert 'reason="say \\"hi\\"\\\\ \\nbye"' in text
    series = parse(text)
    assert value(series, "kube_pod_container_status_waiting_reason", pod="odd", reason=nasty) == 1
    labels, _ = one(series, "kube_pod_labels", pod="odd")
    assert labels["label_app_kubernetes_io_name"] == "odd"
    # two keys that sanitise to the same name are told apart as kube-state-metrics does
    assert labels["label_a_b_conflict1"] == "1"
    assert labels["label_a_b_conflict2"] == "2"
    assert "label_a_b" not in labels
    # a pod without owners reports "<none>" like kube-state-metrics
    owner, _ = one(series, "kube_pod_owner", pod="odd")
    assert owner["owner_kind"] == owner["owner_name"] == owner["owner_is_controller"] == "<none>"
    info, _ = one(series, "kube_pod_info", pod="odd")
    assert info["created_by_kind"] == "<none>"


def test_promtool_accepts_the_output(cluster: Cluster) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not shutil.which(promtool):
        pytest.skip("promtool is not installed")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=cluster.render(memory=CounterMemory()).encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    problems = (result.stdout + result.stderr).decode().strip().splitlines()
    # node-exporter's own names are CamelCase: the only lint finding we accept (exit 3 = lint)
    allowed = {
        "node_memory_MemAvailable_bytes metric names should be written in 'snake_case' not "
        "'camelCase'",
        "node_memory_MemTotal_bytes metric names should be written in 'snake_case' not 'camelCase'",
    }
    assert set(problems) <= allowed, problems
    assert result.returncode in (0, 3), problems


# ---------------------------------------------------------------------------- kube-state-metrics


def test_pod_info_owner_labels_and_phase(cluster: Cluster) -> None:
    s = parse(cluster.render())
    uid = cluster.uids["healthy"]
    labels, v = one(s, "kube_pod_info", pod="web-7d9f-aaaaa")
    assert v == 1
    assert labels == {
        "namespace": "shop",
        "pod": "web-7d9f-aaaaa",
        "uid": uid,
        "host_ip": "10.0.0.2",
        "pod_ip": "10.244.1.14",
        "node": "worker-1",
        "created_by_kind": "ReplicaSet",
        "created_by_name": "web-7d9f",
        "priority_class": "",
        "host_network": "false",
    }
    owner, _ = one(s, "kube_pod_owner", pod="web-7d9f-aaaaa")
    assert (owner["owner_kind"], owner["owner_name"], owner["owner_is_controller"]) == (
        "ReplicaSet",
        "web-7d9f",
        "true",
    )
    pod_labels, _ = one(s, "kube_pod_labels", pod="web-7d9f-aaaaa")
    assert pod_labels["label_app"] == "web"
    assert pod_labels["label_pod_template_hash"] == "7d9f"
    phases = {
        labels["phase"]: v for labels, v in find(s, "kube_pod_status_phase", pod="web-7d9f-aaaaa")
    }
    assert phases == {"Pending": 0, "Running": 1, "Succeeded": 0, "Failed": 0, "Unknown": 0}
    evicted = {
        labels["phase"]: v for labels, v in find(s, "kube_pod_status_phase", pod="web-7d9f-ccccc")
    }
    assert evicted["Failed"] == 1
    assert value(s, "kube_pod_status_reason", pod="web-7d9f-ccccc", reason="Evicted") == 1
    assert value(s, "kube_pod_status_reason", pod="web-7d9f-aaaaa", reason="Evicted") == 0
    ready = {
        lab["condition"]: v for lab, v in find(s, "kube_pod_status_ready", pod="web-7d9f-bbbbb")
    }
    assert ready == {"true": 0, "false": 1, "unknown": 0}
    assert value(s, "kube_pod_status_scheduled", pod="web-7d9f-aaaaa", condition="true") == 1
    assert value(s, "kube_pod_start_time", pod="web-7d9f-aaaaa") == 1_789_984_800
    assert value(s, "kube_pod_created", pod="web-7d9f-aaaaa") == cluster.clock.now()


def test_container_status_series(cluster: Cluster) -> None:
    s = parse(cluster.render())
    healthy = {"pod": "web-7d9f-aaaaa", "container": "app"}
    crashing = {"pod": "web-7d9f-bbbbb", "container": "app"}
    assert value(s, "kube_pod_container_status_restarts_total", **healthy) == 2
    assert value(s, "kube_pod_container_status_restarts_total", **crashing) == 4
    assert value(s, "kube_pod_container_status_ready", **healthy) == 1
    assert value(s, "kube_pod_container_status_ready", **crashing) == 0
    assert value(s, "kube_pod_container_status_running", **healthy) == 1
    assert value(s, "kube_pod_container_status_running", **crashing) == 0
    assert value(s, "kube_pod_container_status_waiting", **crashing) == 1
    labels, v = one(s, "kube_pod_container_status_waiting_reason", **crashing)
    assert (labels["reason"], v) == ("CrashLoopBackOff", 1)
    assert not list(find(s, "kube_pod_container_status_waiting_reason", **healthy))
    last = one(s, "kube_pod_container_status_last_terminated_reason", **healthy)[0]
    assert last["reason"] == "OOMKilled"
    assert value(s, "kube_pod_container_status_last_terminated_exitcode", **healthy) == 137
    term = one(s, "kube_pod_container_status_terminated_reason", pod="web-7d9f-ccccc")[0]
    assert term["reason"] == "ContainerStatusUnknown"
    info = one(s, "kube_pod_container_info", **healthy)[0]
    assert info["image"] == "ghcr.io/acme/web:1.2"
    assert info["image_id"] == "ghcr.io/acme/web@sha256:0123"
    assert info["container_id"] == "containerd://web-7d9f-aaaaa0000"
    assert info["uid"] == cluster.uids["healthy"]


def test_container_requests_and_limits(cluster: Cluster) -> None:
    s = parse(cluster.render())
    base = {"pod": "web-7d9f-aaaaa", "node": "worker-1"}
    req = "kube_pod_container_resource_requests"
    lim = "kube_pod_container_resource_limits"
    assert value(s, req, container="app", resource="cpu", unit="core", **base) == 0.25
    assert value(s, req, container="app", resource="memory", unit="byte", **base) == 128 * MiB
    assert value(s, lim, container="app", resource="cpu", unit="core", **base) == 0.5
    assert value(s, lim, container="app", resource="memory", unit="byte", **base) == 256 * MiB
    # a request left out defaults to the limit, as the API server stores it
    assert value(s, req, container="sidecar", resource="cpu", **base) == 0.1
    assert value(s, req, container="sidecar", resource="memory", **base) == 64 * MiB


def test_deployment_and_replicaset_series(cluster: Cluster) -> None:
    s = parse(cluster.render())
    d = {"namespace": "shop", "deployment": "web"}
    assert value(s, "kube_deployment_spec_replicas", **d) == 3
    assert value(s, "kube_deployment_status_replicas", **d) == 3
    assert value(s, "kube_deployment_status_replicas_ready", **d) == 1
    assert value(s, "kube_deployment_status_replicas_available", **d) == 1
    assert value(s, "kube_deployment_status_replicas_unavailable", **d) == 2
    assert value(s, "kube_deployment_status_replicas_updated", **d) == 3
    assert value(s, "kube_deployment_status_observed_generation", **d) == 1
    assert value(s, "kube_deployment_metadata_generation", **d) == 1
    assert value(s, "kube_deployment_spec_paused", **d) == 0
    available = {
        lab["status"]: v
        for lab, v in find(s, "kube_deployment_status_condition", condition="Available", **d)
    }
    assert available == {"true": 0, "false": 1, "unknown": 0}
    reason = one(s, "kube_deployment_status_condition", condition="Available", status="false")
    assert reason[0]["reason"] == "MinimumReplicasUnavailable"
    owner = one(s, "kube_replicaset_owner", replicaset="web-7d9f")[0]
    assert (owner["owner_kind"], owner["owner_name"], owner["owner_is_controller"]) == (
        "Deployment",
        "web",
        "true",
    )
    assert value(s, "kube_replicaset_status_ready_replicas", replicaset="web-7d9f") == 1


def test_node_series(cluster: Cluster) -> None:
    s = parse(cluster.render())
    info = one(s, "kube_node_info", node="worker-1")[0]
    assert info["kernel_version"] == "6.1.0-twin"
    assert info["kubelet_version"] == "v1.30.0"
    assert info["container_runtime_version"] == "containerd://1.7.0"
    assert info["internal_ip"] == "10.0.0.2"
    assert info["pod_cidr"] == "10.244.1.0/24"
    ready = {
        lab["status"]: v
        for lab, v in find(s, "kube_node_status_condition", node="worker-1", condition="Ready")
    }
    assert ready == {"true": 1, "false": 0, "unknown": 0}
    assert (
        value(
            s,
            "kube_node_status_condition",
            node="worker-1",
            condition="DiskPressure",
            status="unknown",
        )
        == 1
    )
    cap = "kube_node_status_capacity"
    assert value(s, cap, node="worker-1", resource="cpu", unit="core") == 4
    assert value(s, cap, node="worker-1", resource="memory", unit="byte") == 8 * GiB
    assert value(s, cap, node="worker-1", resource="pods", unit="integer") == 110
    assert value(s, cap, node="worker-1", resource="ephemeral_storage", unit="byte") == 100 * GiB
    alloc = "kube_node_status_allocatable"
    assert value(s, alloc, node="worker-1", resource="cpu", unit="core") == 3.8
    assert value(s, "kube_node_spec_unschedulable", node="worker-1") == 0
    taint = one(s, "kube_node_spec_taint", node="control-plane")[0]
    assert (taint["key"], taint["value"], taint["effect"]) == (
        "node-role.kubernetes.io/control-plane",
        "",
        "NoSchedule",
    )
    assert not list(find(s, "kube_node_spec_taint", node="worker-1"))
    assert one(s, "kube_node_role", node="control-plane")[0]["role"] == "control-plane"


def test_hpa_pdb_storage_and_namespace_series(cluster: Cluster) -> None:
    s = parse(cluster.render())
    h = {"namespace": "shop", "horizontalpodautoscaler": "web"}
    assert value(s, "kube_horizontalpodautoscaler_spec_min_replicas", **h) == 3
    assert value(s, "kube_horizontalpodautoscaler_spec_max_replicas", **h) == 20
    assert value(s, "kube_horizontalpodautoscaler_status_current_replicas", **h) == 3
    assert value(s, "kube_horizontalpodautoscaler_status_desired_replicas", **h) == 4
    target = "kube_horizontalpodautoscaler_spec_target_metric"
    assert value(s, target, metric_name="cpu", metric_target_type="utilization", **h) == 70
    assert (
        value(s, target, metric_name="http_requests_per_second", metric_target_type="average", **h)
        == 0.5
    )
    current = "kube_horizontalpodautoscaler_status_target_metric"
    assert value(s, current, metric_name="cpu", metric_target_type="utilization", **h) == 85
    assert value(s, current, metric_name="cpu", metric_target_type="average", **h) == 0.212
    cond = "kube_horizontalpodautoscaler_status_condition"
    assert value(s, cond, condition="AbleToScale", status="true", **h) == 1
    assert value(s, cond, condition="ScalingLimited", status="false", **h) == 1
    info = one(s, "kube_horizontalpodautoscaler_info", **h)[0]
    assert (info["scaletargetref_kind"], info["scaletargetref_name"]) == ("Deployment", "web")

    p = {"namespace": "shop", "poddisruptionbudget": "web"}
    assert value(s, "kube_poddisruptionbudget_status_current_healthy", **p) == 1
    assert value(s, "kube_poddisruptionbudget_status_desired_healthy", **p) == 2
    assert value(s, "kube_poddisruptionbudget_status_pod_disruptions_allowed", **p) == 0
    assert value(s, "kube_poddisruptionbudget_status_expected_pods", **p) == 3

    pv = {
        lab["phase"]: v
        for lab, v in find(s, "kube_persistentvolume_status_phase", persistentvolume="pv-data")
    }
    assert pv == {"Pending": 0, "Available": 0, "Bound": 1, "Released": 0, "Failed": 0}
    assert value(s, "kube_persistentvolume_capacity_bytes", persistentvolume="pv-data") == 10 * GiB
    c = {"namespace": "shop", "persistentvolumeclaim": "data"}
    assert value(s, "kube_persistentvolumeclaim_status_phase", phase="Bound", **c) == 1
    assert value(s, "kube_persistentvolumeclaim_status_phase", phase="Pending", **c) == 0
    assert value(s, "kube_persistentvolumeclaim_resource_requests_storage_bytes", **c) == 5 * GiB
    assert one(s, "kube_persistentvolumeclaim_info", **c)[0]["storageclass"] == "standard"

    assert value(s, "kube_namespace_status_phase", namespace="shop", phase="Active") == 1
    assert value(s, "kube_namespace_status_phase", namespace="shop", phase="Terminating") == 0


# ---------------------------------------------------------------------------- runtime exporters


def test_cadvisor_series_for_running_containers_only(cluster: Cluster) -> None:
    s = parse(cluster.render())
    uid = cluster.uids["healthy"]
    labels, cpu = one(s, "container_cpu_usage_seconds_total", pod="web-7d9f-aaaaa", container="app")
    assert cpu == 12.5
    assert labels == {
        "container": "app",
        "id": f"/kubepods/burstable/pod{uid}/web-7d9f-aaaaa0000",
        "image": "ghcr.io/acme/web:1.2",
        "name": "web-7d9f-aaaaa0000",
        "namespace": "shop",
        "pod": "web-7d9f-aaaaa",
    }
    app = {"pod": "web-7d9f-aaaaa", "container": "app"}
    assert value(s, "container_memory_working_set_bytes", **app) == 200 * MiB
    assert value(s, "container_memory_rss", **app) == 180 * MiB
    assert value(s, "container_memory_usage_bytes", **app) == 200 * MiB
    assert value(s, "container_spec_memory_limit_bytes", **app) == 256 * MiB
    assert value(s, "container_spec_cpu_quota", **app) == 50_000
    assert value(s, "container_spec_cpu_period", **app) == 100_000
    assert value(s, "container_fs_usage_bytes", device="/dev/root", **app) == 4096
    assert value(s, "container_start_time_seconds", **app) == 1_790_000_005
    # the sidecar has no container status at all: the runtime decides what runs
    assert (
        value(s, "container_cpu_usage_seconds_total", pod="web-7d9f-aaaaa", container="sidecar")
        == 1
    )
    # a container waiting in CrashLoopBackOff has no cgroup, hence no cAdvisor series
    assert not list(
        find(s, "container_cpu_usage_seconds_total", pod="web-7d9f-bbbbb", container="app")
    )
    # a pod gone from the API has no series even if runtime state lingers
    cluster.runtime.pods["gone"] = PodRuntime(
        uid="gone", namespace="shop", name="gone", node="worker-1"
    )
    cluster.runtime.pods["gone"].containers["app"] = _container("app", cpu_seconds_total=3.0)
    assert not list(find(parse(cluster.render()), "container_cpu_usage_seconds_total", pod="gone"))


def test_pod_network_is_reported_on_the_sandbox_and_survives_restarts(cluster: Cluster) -> None:
    memory = CounterMemory()
    s = parse(cluster.render(memory))
    labels, rx = one(s, "container_network_receive_bytes_total", pod="web-7d9f-aaaaa")
    assert (labels["container"], labels["interface"]) == ("POD", "eth0")
    assert labels["image"].startswith("registry.k8s.io/pause")
    assert rx == 1010
    assert value(s, "container_network_transmit_bytes_total", pod="web-7d9f-aaaaa") == 2020
    # the app container restarts: its runtime counters start again from zero
    pod = cluster.runtime.pods[cluster.uids["healthy"]]
    pod.containers["app"] = _container("app", network_rx_bytes_total=5.0, restart_count=3)
    s = parse(cluster.render(memory))
    assert value(s, "container_network_receive_bytes_total", pod="web-7d9f-aaaaa") == 1015
    assert value(s, "container_network_transmit_bytes_total", pod="web-7d9f-aaaaa") == 2020
    # without a memory the twin can only sum what the containers report now
    s = parse(cluster.render())
    assert value(s, "container_network_receive_bytes_total", pod="web-7d9f-aaaaa") == 15


def test_node_exporter_series(cluster: Cluster) -> None:
    s = parse(cluster.render())
    n = {"instance": "worker-1", "node": "worker-1"}
    idle = [v for _, v in find(s, "node_cpu_seconds_total", mode="idle", **n)]
    assert len(idle) == 4  # the node's capacity says 4 CPUs
    assert sum(idle) == pytest.approx(400.0)
    assert value(s, "node_cpu_seconds_total", cpu="3", mode="user", **n) == 25
    assert value(s, "node_memory_MemTotal_bytes", **n) == 8 * GiB
    assert value(s, "node_memory_MemAvailable_bytes", **n) == 5 * GiB
    fs = {"device": "/dev/root", "fstype": "ext4", "mountpoint": "/"}
    assert value(s, "node_filesystem_size_bytes", **fs, **n) == 100 * GiB
    assert value(s, "node_filesystem_avail_bytes", **fs, **n) == 60 * GiB
    # load: the cores the node's containers use now
    assert value(s, "node_load1", **n) == 0.35
    assert value(s, "node_time_seconds", **n) == cluster.clock.now()
    assert one(s, "node_uname_info", **n)[0]["release"] == "6.1.0-twin"


def test_kubelet_volume_stats_for_mounted_claims(cluster: Cluster) -> None:
    s = parse(cluster.render())
    c = {"namespace": "shop", "persistentvolumeclaim": "data"}
    assert value(s, "kubelet_volume_stats_capacity_bytes", **c) == 10 * GiB
    assert value(s, "kubelet_volume_stats_used_bytes", **c) == 3 * GiB
    assert value(s, "kubelet_volume_stats_available_bytes", **c) == 7 * GiB


def test_golden_signals(cluster: Cluster) -> None:
    s = parse(cluster.render())
    base = {"namespace": "shop", "pod": "web-7d9f-aaaaa", "app": "web", "service": "web"}
    assert value(s, "http_requests_total", status="200", method="GET", **base) == 90
    assert value(s, "http_requests_total", status="500", **base) == 10
    buckets = {
        float(lab["le"]): v for lab, v in find(s, "http_request_duration_seconds_bucket", **base)
    }
    assert sorted(buckets) == [*LATENCY_BUCKETS, float("inf")]
    assert buckets[0.005] == 10
    assert buckets[0.1] == 95
    assert buckets[float("inf")] == 100
    values = [buckets[b] for b in sorted(buckets)]
    assert values == sorted(values)  # cumulative
    assert value(s, "http_request_duration_seconds_count", **base) == 100
    assert value(s, "http_request_duration_seconds_sum", **base) == 4.25
    # a pod that served nothing has no golden-signal series
    assert not list(find(s, "http_requests_total", pod="web-7d9f-bbbbb"))


def test_counters_never_go_down_while_runtime_counters_grow(cluster: Cluster) -> None:
    memory = CounterMemory()
    counter_names = {f.name for f in FAMILIES if f.type == "counter"}
    hist = "http_request_duration_seconds"
    before = parse(cluster.render(memory))
    for pod in cluster.runtime.pods.values():
        for container in pod.containers.values():
            container.cpu_seconds_total += 1.5
            container.network_rx_bytes_total += 100
            container.network_tx_bytes_total += 50
        for status in pod.requests_total:
            pod.requests_total[status] += 7
        pod.latency_bucket_counts = [c + 7 for c in pod.latency_bucket_counts]
        pod.latency_sum += 0.7
    for node in cluster.runtime.nodes.values():
        for mode in node.cpu_seconds_total:
            node.cpu_seconds_total[mode] += 3
    cluster.clock.advance(1)
    after = parse(cluster.render(memory))
    checked = 0
    for (name, labels), old in before.items():
        if name in counter_names or name.startswith(hist):
            assert (name, labels) in after, name
            assert after[(name, labels)] >= old, (name, dict(labels))
            checked += 1
    assert checked > 30
    key = next(
        k
        for k in after
        if k[0] == "container_cpu_usage_seconds_total" and ("container", "app") in k[1]
    )
    assert after[key] == before[key] + 1.5


def test_render_is_fast_for_a_small_cluster() -> None:
    clock = ManualClock()
    store = ObjectStore(clock=clock)
    runtime = RuntimeState()
    store.create(store.rtype("", "v1", "namespaces"), {"metadata": {"name": "shop"}})
    nodes, pods = store.rtype("", "v1", "nodes"), store.rtype("", "v1", "pods")
    for i in range(3):
        store.create(nodes, _node(f"node-{i}", cpu="4", memory="8Gi"))
        runtime.nodes[f"node-{i}"] = NodeRuntime(name=f"node-{i}", memory_total_bytes=8 * GiB)
    rs = {"metadata": {"name": "web-7d9f", "uid": "rs-uid"}}
    for i in range(30):
        created = store.create(pods, _pod(f"web-7d9f-{i:05d}", rs=rs, node=f"node-{i % 3}"))
        uid = created["metadata"]["uid"]
        pod = PodRuntime(uid=uid, namespace="shop", name=created["metadata"]["name"], node="node-0")
        pod.containers["app"] = _container("app", cpu_seconds_total=float(i))
        pod.containers["sidecar"] = _container("sidecar")
        pod.requests_total = {"200": 100.0, "503": 1.0}
        runtime.pods[uid] = pod
    memory = CounterMemory()
    timings = []
    for _ in range(7):
        start = time.perf_counter()
        out = render_metrics(store=store, runtime=runtime, now=clock.now(), memory=memory)
        timings.append(time.perf_counter() - start)
    assert out.count(b"\ncontainer_cpu_usage_seconds_total{") == 60
    assert min(timings) < 0.05, timings
