"""One QoS class per pod across the twin: admission, the ReplicaSet controller, the metrics.

Before one `qos_class` served them all, the API server ignored initContainers and compared
quantities as text ("1000m" != "1"), the ReplicaSet controller compared raw values, and the
metrics ignored initContainers: the same pod had different classes in different rooms.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from kubeheal.twin.api import create_app
from kubeheal.twin.clock import ManualClock
from kubeheal.twin.cluster import Twin
from kubeheal.twin.metrics import render_metrics
from kubeheal.twin.sim.objects import get_condition, is_pod_ready, qos_class
from kubeheal.twin.sim.replicasets import ReplicaSetController
from kubeheal.twin.sim.state import ContainerRuntime, PodRuntime, RuntimeState
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]

BOTH = {"cpu": "1", "memory": "1Gi"}


def _c(name: str, **resources: Obj) -> Obj:
    return {"name": name, "image": "busybox", "resources": resources}


# (id, containers, initContainers, expected class by Kubernetes' GetPodQOS)
CASES: list[tuple[str, list[Obj], list[Obj], str]] = [
    ("no-containers", [], [], "BestEffort"),
    ("nothing-set", [_c("a")], [], "BestEffort"),
    ("requests-only", [_c("a", requests={"cpu": "100m"})], [], "Burstable"),
    ("limits-only", [_c("a", limits=BOTH)], [], "Guaranteed"),
    ("equal", [_c("a", requests=BOTH, limits=BOTH)], [], "Guaranteed"),
    # the same amounts written differently are equal quantities
    (
        "millicores-vs-cores",
        [_c("a", requests={"cpu": "1000m", "memory": "1024Mi"}, limits=BOTH)],
        [],
        "Guaranteed",
    ),
    (
        "number-vs-text",
        [_c("a", requests={"cpu": 1, "memory": "1Gi"}, limits=BOTH)],
        [],
        "Guaranteed",
    ),
    # an init container without limits makes the pod Burstable
    ("init-unlimited", [_c("a", limits=BOTH)], [_c("i", requests={"cpu": "10m"})], "Burstable"),
    ("init-bare", [_c("a", limits=BOTH)], [_c("i")], "Burstable"),
    # requests only on an init container still make the pod Burstable, not BestEffort
    ("only-init-requests", [_c("a")], [_c("i", requests={"memory": "64Mi"})], "Burstable"),
    ("init-guaranteed-too", [_c("a", limits=BOTH)], [_c("i", limits=BOTH)], "Guaranteed"),
    # zero amounts count as unset
    ("zero-request", [_c("a", requests={"cpu": "0"})], [], "BestEffort"),
    ("lower-request", [_c("a", requests={"cpu": "500m"}, limits=BOTH)], [], "Burstable"),
    ("cpu-limit-only", [_c("a", limits={"cpu": "1"})], [], "Burstable"),
]


def _pod(name: str, containers: list[Obj], init: list[Obj]) -> Obj:
    spec: Obj = {"containers": containers}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(
    ("case", "containers", "init", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_qos_class_follows_kubernetes(
    case: str, containers: list[Obj], init: list[Obj], expected: str
) -> None:
    assert qos_class(_pod(case, containers, init)) == expected


def test_api_server_admission_uses_the_one_qos_class() -> None:
    twin = Twin.bare(clock=ManualClock(), seed=1)
    with TestClient(create_app(twin)) as client:
        for case, containers, init, expected in CASES:
            if not containers:
                continue  # the API server refuses a pod without containers
            resp = client.post("/api/v1/namespaces/default/pods", json=_pod(case, containers, init))
            assert resp.status_code == 201, resp.text
            assert resp.json()["status"]["qosClass"] == expected, case


def test_replicaset_pods_use_the_one_qos_class() -> None:
    store = ObjectStore(clock=ManualClock())
    replicasets = store.rtype("apps", "v1", "replicasets")
    pods = store.rtype("", "v1", "pods")
    for case, containers, init, _ in CASES:
        template = _pod(case, containers, init)
        store.create(
            replicasets,
            {
                "metadata": {"name": case, "namespace": "default"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"rs": case}},
                    "template": {"metadata": {"labels": {"rs": case}}, "spec": template["spec"]},
                },
            },
        )
    ReplicaSetController(store=store).step(0.0)
    classes = {
        p["metadata"]["labels"]["rs"]: p["status"]["qosClass"] for p in store.list_objects(pods)
    }
    assert classes == {case: expected for case, _, _, expected in CASES}


def test_metrics_cgroup_path_uses_the_one_qos_class() -> None:
    clock = ManualClock()
    store = ObjectStore(clock=clock)
    runtime = RuntimeState()
    uids: dict[str, str] = {}
    for case, containers, init, _ in CASES:
        if not containers:
            continue
        pod = _pod(case, containers, init)
        pod["metadata"]["namespace"] = "default"
        pod["status"] = {"phase": "Running"}  # no qosClass written: the metrics compute it
        created = store.create(store.rtype("", "v1", "pods"), pod)
        uid = str(created["metadata"]["uid"])
        uids[case] = uid
        runtime.pods[uid] = PodRuntime(
            uid=uid,
            namespace="default",
            name=case,
            node="",
            containers={"a": ContainerRuntime(name="a", started_at=clock.now())},
        )
    text = render_metrics(store=store, runtime=runtime, now=clock.now()).decode()
    for case, _, _, expected in CASES:
        if case not in uids:
            continue
        uid = uids[case]
        ids = set(re.findall(rf'id="(/kubepods/[^"]*pod{uid})[/"]', text))
        parent = f"/kubepods/pod{uid}" if expected == "Guaranteed" else None
        parent = parent or f"/kubepods/{expected.lower()}/pod{uid}"
        assert ids == {parent}, case


def test_conditions_and_readiness() -> None:
    pod: Obj = {
        "status": {
            "conditions": [
                "not a condition",
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False"},
            ]
        }
    }
    assert get_condition(pod, "PodScheduled") == {"type": "PodScheduled", "status": "True"}
    assert get_condition(pod, "Initialized") is None
    assert not is_pod_ready(pod)
    pod["status"]["conditions"][2]["status"] = "True"
    assert is_pod_ready(pod)
    assert not is_pod_ready({})
