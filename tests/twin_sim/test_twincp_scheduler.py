"""The twin's scheduler: fit, taints/tolerations, node selection, cordon and Unschedulable."""

from __future__ import annotations

from typing import Any

from kubeheal.twin.clock import ManualClock
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.scheduler import Scheduler, pod_requests, tolerates
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


class Cluster:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.store = ObjectStore(clock=self.clock)
        self.pods = self.store.rtype("", "v1", "pods")
        self.nodes = self.store.rtype("", "v1", "nodes")
        self.events = self.store.rtype("", "v1", "events")
        self.sim = Simulation(
            store=self.store, clock=self.clock, controllers=[Scheduler(store=self.store)]
        )

    def node(
        self,
        name: str,
        *,
        cpu: str = "4",
        memory: str = "4Gi",
        pods: str = "110",
        taints: list[Obj] | None = None,
        labels: dict[str, str] | None = None,
        ready: str = "True",
        unschedulable: bool = False,
    ) -> None:
        self.store.create(
            self.nodes,
            {
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/hostname": name, **(labels or {})},
                },
                "spec": {"taints": taints or [], "unschedulable": unschedulable},
                "status": {
                    "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                    "conditions": [{"type": "Ready", "status": ready}],
                },
            },
        )

    def standard(self) -> None:
        """A tainted control-plane node and two workers (like the scenarios)."""
        self.node("control-plane", taints=[CONTROL_PLANE_TAINT])
        self.node("worker-1")
        self.node("worker-2")

    def pod(self, name: str, *, cpu: str = "100m", memory: str = "128Mi", **spec: Any) -> Obj:
        body: Obj = {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "app",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}},
                    }
                ],
                **spec,
            },
            "status": {"phase": "Pending"},
        }
        return self.store.create(self.pods, body)

    def get(self, name: str) -> Obj:
        return self.store.get(self.pods, "default", name)

    def node_of(self, name: str) -> str | None:
        node: str | None = self.get(name)["spec"].get("nodeName")
        return node

    def scheduled_condition(self, name: str) -> Obj:
        return next(
            c for c in self.get(name)["status"]["conditions"] if c["type"] == "PodScheduled"
        )

    def events_for(self, name: str, reason: str) -> list[Obj]:
        return [
            e
            for e in self.store.list_objects(self.events, "default")
            if e["involvedObject"]["name"] == name and e["reason"] == reason
        ]


def test_pods_spread_over_workers_and_avoid_the_tainted_control_plane() -> None:
    c = Cluster()
    c.standard()
    for i in range(4):
        c.pod(f"p{i}")
    c.sim.run_for(1)
    nodes = [c.node_of(f"p{i}") for i in range(4)]
    assert sorted(str(n) for n in nodes) == ["worker-1", "worker-1", "worker-2", "worker-2"]
    cond = c.scheduled_condition("p0")
    assert cond["status"] == "True"
    (event,) = c.events_for("p0", "Scheduled")
    assert event["message"] == f"Successfully assigned default/p0 to {nodes[0]}"
    assert event["source"]["component"] == "default-scheduler"


def test_unschedulable_pod_gets_condition_event_and_is_retried() -> None:
    c = Cluster()
    c.standard()
    c.pod("big", memory="8Gi")
    c.sim.run_for(3)
    assert c.node_of("big") is None
    cond = c.scheduled_condition("big")
    expected = (
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }, 2 Insufficient memory."
    )
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", expected)
    (event,) = c.events_for("big", "FailedScheduling")
    assert event["type"] == "Warning"
    assert event["message"] == expected
    assert c.get("big")["status"]["phase"] == "Pending"
    c.node("worker-big", memory="16Gi")
    c.sim.run_for(1)
    assert c.node_of("big") == "worker-big"
    assert c.scheduled_condition("big")["status"] == "True"


def test_requests_accumulate_until_nodes_are_full() -> None:
    c = Cluster()
    c.node("small-1", cpu="1")
    c.node("small-2", cpu="1")
    for i in range(3):
        c.pod(f"p{i}", cpu="600m")
    c.sim.run_for(1)
    placed = [c.node_of(f"p{i}") for i in range(3)]
    assert sorted(n for n in placed if n) == ["small-1", "small-2"]
    assert placed[2] is None  # the youngest pod waits
    assert c.scheduled_condition("p2")["message"] == "0/2 nodes are available: 2 Insufficient cpu."


def test_pod_count_limit() -> None:
    c = Cluster()
    c.node("tiny", pods="1")
    c.pod("a")
    c.pod("b")
    c.sim.run_for(1)
    assert c.node_of("a") == "tiny"
    assert c.scheduled_condition("b")["message"] == "0/1 nodes are available: 1 Too many pods."


def test_tolerations_allow_tainted_nodes() -> None:
    c = Cluster()
    c.node("control-plane", taints=[CONTROL_PLANE_TAINT])
    c.node("gpu", taints=[{"key": "gpu", "value": "a100", "effect": "NoSchedule"}])
    c.pod(
        "exists",
        tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
    )
    c.pod("wrong-value", tolerations=[{"key": "gpu", "operator": "Equal", "value": "h100"}])
    c.pod(
        "right-value",
        tolerations=[{"key": "gpu", "value": "a100", "effect": "NoSchedule"}],
        nodeSelector={"kubernetes.io/hostname": "gpu"},
    )
    c.sim.run_for(1)
    assert c.node_of("exists") == "control-plane"
    assert c.node_of("wrong-value") is None
    assert c.node_of("right-value") == "gpu"
    assert c.scheduled_condition("wrong-value")["message"] == (
        "0/2 nodes are available: 1 node(s) had untolerated taint {gpu: a100}, "
        "1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }."
    )


def test_node_selector_and_required_affinity() -> None:
    c = Cluster()
    c.node("ssd", labels={"disk": "ssd", "zone": "a"})
    c.node("hdd", labels={"disk": "hdd", "zone": "b"})
    c.pod("by-selector", nodeSelector={"disk": "ssd"})
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}
                ]
            }
        }
    }
    c.pod("by-affinity", affinity=affinity)
    c.pod("nowhere", nodeSelector={"disk": "nvme"})
    c.sim.run_for(1)
    assert c.node_of("by-selector") == "ssd"
    assert c.node_of("by-affinity") == "hdd"
    assert c.scheduled_condition("nowhere")["message"] == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    )


def test_cordoned_and_not_ready_nodes_are_skipped() -> None:
    c = Cluster()
    c.node("cordoned", unschedulable=True)
    c.node("down", ready="False")
    c.pod("p")
    c.sim.run_for(1)
    assert c.node_of("p") is None
    assert c.scheduled_condition("p")["message"] == (
        "0/2 nodes are available: 1 node(s) had untolerated taint "
        "{node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable."
    )

    def uncordon(node: Obj) -> None:
        node["spec"]["unschedulable"] = False

    c.store.mutate(c.nodes, None, "cordoned", uncordon)
    c.sim.run_for(1)
    assert c.node_of("p") == "cordoned"


def test_failed_scheduling_events_are_rate_limited_but_counted() -> None:
    c = Cluster()
    c.node("w", memory="1Gi")
    c.pod("big", memory="2Gi")
    c.sim.run_for(30)
    (event,) = c.events_for("big", "FailedScheduling")
    assert 3 <= event["count"] <= 8  # back-off 1, 2, 4, 8, 10, 10 s: not one per tick


def test_pod_requests_and_tolerations_helpers() -> None:
    pod = {
        "spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                {},
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
        }
    }
    req = pod_requests(pod)
    assert req.milli_cpu == 2000  # the init container's request dominates
    assert req.memory == 64 * 2**20 + 2**30
    assert tolerates([{"operator": "Exists"}], {"key": "any", "effect": "NoExecute"})
    assert not tolerates(
        [{"key": "a", "value": "x"}], {"key": "a", "value": "y", "effect": "NoSchedule"}
    )
    assert tolerates(
        [{"key": "a", "value": "x"}], {"key": "a", "value": "x", "effect": "NoSchedule"}
    )
    assert not tolerates(
        [{"key": "a", "operator": "Exists", "effect": "NoExecute"}],
        {"key": "a", "effect": "NoSchedule"},
    )
