"""The node lifecycle controller as Kubernetes runs it: a stopped kubelet stops renewing its
Lease, the node goes Unknown after node-monitor-grace-period with the unreachable taints, the
DefaultTolerationSeconds admission gives pods 300 s, taint-based eviction deletes them when
their toleration runs out, and the ReplicaSet controller replaces them on other nodes."""

from __future__ import annotations

from typing import Any

from kubeheal.twin.api.admission import Admission
from kubeheal.twin.clock import ManualClock, parse_time
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.sim.faults import FaultSpec
from kubeheal.twin.sim.nodes import add_default_tolerations, tolerates
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


def _ready(obj: Obj) -> str:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((str(c["status"]) for c in conds if c["type"] == "Ready"), "")


def test_admission_adds_the_default_tolerations_unless_the_pod_has_its_own() -> None:
    store = ObjectStore(clock=ManualClock(), seed=1)
    admission = Admission()
    pods = store.rtype("", "v1", "pods")
    bare: Obj = {"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    admission.defaults(pods, bare, creating=True)
    assert sorted(bare["spec"]["tolerations"], key=lambda t: t["key"]) == [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    own: Obj = {
        "spec": {
            "tolerations": [
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": ""}
            ]
        }
    }
    add_default_tolerations(own)
    assert [t["key"] for t in own["spec"]["tolerations"]] == [
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
    ]
    everything: Obj = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    add_default_tolerations(everything)
    assert everything["spec"]["tolerations"] == [{"operator": "Exists"}]
    # an update does not add them (the plugin acts on creation)
    updated: Obj = {"metadata": {"name": "b"}, "spec": {"containers": []}}
    admission.defaults(pods, updated, creating=False)
    assert "tolerations" not in updated["spec"]


def test_the_first_matching_toleration_decides_how_long() -> None:
    pod: Obj = {
        "spec": {
            "tolerations": [
                {**UNREACHABLE, "operator": "Exists", "tolerationSeconds": 60},
                {"operator": "Exists"},
            ]
        }
    }
    assert tolerates(pod, UNREACHABLE) == (True, 60.0)
    forever: Obj = {
        "spec": {"tolerations": [{"operator": "Exists"}, pod["spec"]["tolerations"][0]]}
    }
    assert tolerates(forever, UNREACHABLE) == (True, None)
    other: Obj = {"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}}
    assert tolerates(other, UNREACHABLE) == (False, None)


def test_kubelet_stopped_to_pods_replaced_elsewhere_after_the_toleration() -> None:
    clock = ManualClock()
    twin = build_twin(scenario="sample-app", clock=clock, seed=3)
    store, sim = twin.store, twin.simulation
    pods_rt = store.rtype("", "v1", "pods")
    nodes_rt = store.rtype("", "v1", "nodes")
    leases_rt = store.rtype("coordination.k8s.io", "v1", "leases")

    def app_pods() -> list[Obj]:
        return [
            p
            for p in store.list_objects(pods_rt, "demo")
            if (p["metadata"].get("labels") or {}).get("app") == "sample-app"
        ]

    sim.run_for(90)
    on_node: dict[str, list[str]] = {}
    for p in app_pods():
        on_node.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    victim_node = max(on_node, key=lambda n: len(on_node[n]))
    victims = set(on_node[victim_node])
    assert victims and all(_ready(p) == "True" for p in app_pods())
    assert twin.faults is not None
    twin.faults.inject(FaultSpec(kind="node-not-ready", target={"node": victim_node}))
    stopped = clock.now()

    unknown_at: float | None = None
    evicted_at: float | None = None
    replaced_at: float | None = None
    for _ in range(420):
        sim.run_for(1)
        node = store.get(nodes_rt, None, victim_node)
        if unknown_at is None and _ready(node) == "Unknown":
            unknown_at = clock.now() - stopped
            lease = store.get(leases_rt, "kube-node-lease", victim_node)
            renewed = parse_time(lease["spec"]["renewTime"].replace(".000000Z", "Z"))
            # Unknown once the Lease went unrenewed for node-monitor-grace-period (40 s)
            assert 40 <= clock.now() - renewed <= 42
            taints = {(t["key"], t["effect"]) for t in node["spec"]["taints"]}
            assert ("node.kubernetes.io/unreachable", "NoExecute") in taints
            assert ("node.kubernetes.io/unreachable", "NoSchedule") in taints
            on_it = [p for p in app_pods() if p["metadata"]["name"] in victims]
            assert on_it and all(_ready(p) == "False" for p in on_it)
        names = {p["metadata"]["name"] for p in app_pods()}
        if unknown_at is not None and evicted_at is None and not (victims & names):
            evicted_at = clock.now() - stopped
        ready_elsewhere = [
            p
            for p in app_pods()
            if p["spec"].get("nodeName") not in (None, victim_node) and _ready(p) == "True"
        ]
        if evicted_at is not None and len(ready_elsewhere) == 3:
            replaced_at = clock.now() - stopped
            break
    assert unknown_at is not None and 30 <= unknown_at <= 52
    assert evicted_at is not None
    # 300 s of toleration counted from the taint, not from the kubelet stopping
    assert 299 <= evicted_at - unknown_at <= 303
    assert replaced_at is not None and replaced_at - evicted_at < 90
    # and nothing was rescheduled onto the dead node meanwhile
    assert all(p["spec"].get("nodeName") != victim_node for p in app_pods())


def test_toleration_counts_from_when_the_pod_arrives_on_a_tainted_node() -> None:
    clock = ManualClock()
    twin = build_twin(scenario="empty", clock=clock, seed=4)
    store, sim = twin.store, twin.simulation
    pods_rt = store.rtype("", "v1", "pods")
    sim.run_for(15)
    assert twin.faults is not None
    twin.faults.inject(FaultSpec(kind="node-not-ready", target={"node": "worker-1"}))
    sim.run_for(200)  # Unknown and tainted for about 150 s already
    store.create(
        pods_rt,
        {
            "metadata": {"name": "late", "namespace": "default"},
            "spec": {
                "nodeName": "worker-1",
                "containers": [{"name": "c", "image": "x:1"}],
                "tolerations": [{**UNREACHABLE, "operator": "Exists", "tolerationSeconds": 30}],
            },
        },
    )
    sim.run_for(20)
    assert store.find(pods_rt, "default", "late") is not None
    sim.run_for(15)
    assert store.find(pods_rt, "default", "late") is None
