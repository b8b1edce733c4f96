"""Faults produce the symptoms a real cluster shows (kubelet, nodes, node lifecycle)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from kubeheal.twin.clock import ManualClock, parse_time
from kubeheal.twin.scenarios import load_scenario
from kubeheal.twin.sim.faults import FaultInjector, FaultSpec, FaultTargetError, UnknownFault
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.node_side import node_controllers
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.sim.workloads import Profile
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]
MI = 2**20


class Cluster:
    def __init__(self, scenario: str = "empty") -> None:
        self.clock = ManualClock()
        self.store = ObjectStore(clock=self.clock, seed=2)
        loaded = load_scenario(scenario)
        self.store.load(loaded.objects)
        self.profiles = loaded.profiles
        self.profiles.register(
            Profile(name="web", image_pull_seconds=1, startup_seconds=2, crash_after_seconds=1)
        )
        self.runtime = RuntimeState()
        self.faults = FaultInjector(
            store=self.store, runtime=self.runtime, clock=self.clock, profiles=self.profiles
        )
        self.sim = Simulation(
            store=self.store,
            clock=self.clock,
            controllers=node_controllers(
                store=self.store, runtime=self.runtime, profiles=self.profiles
            ),
        )
        self.pods = self.store.rtype("", "v1", "pods")
        self.nodes = self.store.rtype("", "v1", "nodes")

    def pod(
        self,
        name: str,
        *,
        node: str = "worker-1",
        profile: str = "web",
        image: str = "example/web:1.0",
        resources: Obj | None = None,
        tolerations: list[Obj] | None = None,
    ) -> Obj:
        container: Obj = {"name": "app", "image": image}
        if resources is not None:
            container["resources"] = resources
        spec: Obj = {"nodeName": node, "containers": [container]}
        if tolerations is not None:
            spec["tolerations"] = tolerations
        return self.store.create(
            self.pods,
            {
                "metadata": {
                    "name": name,
                    "namespace": "default",
                    "labels": {"app": name},
                    "annotations": {"twin.kubeheal.io/profile": profile},
                },
                "spec": spec,
            },
        )

    def get(self, name: str) -> Obj:
        return self.store.get(self.pods, "default", name)

    def node(self, name: str) -> Obj:
        return self.store.get(self.nodes, None, name)

    def events(self, involved: str) -> list[Obj]:
        return [
            e
            for e in self.store.list_objects(self.store.rtype("", "v1", "events"))
            if e["involvedObject"]["name"] == involved
        ]


def cstatus(pod: Obj) -> Obj:
    return pod["status"]["containerStatuses"][0]


def node_cond(node: Obj, type_: str) -> Obj:
    return next(c for c in node["status"]["conditions"] if c["type"] == type_)


def restart_delays(c: Cluster, name: str, restarts: int, limit: float) -> list[float]:
    """Seconds between a container's termination and the start of the next instance."""
    delays: list[float] = []
    seen = 0
    elapsed = 0.0
    while len(delays) < restarts and elapsed < limit:
        c.sim.run_for(1)
        elapsed += 1
        status = cstatus(c.get(name))
        if status["restartCount"] > seen and "running" in status["state"]:
            seen = status["restartCount"]
            started = parse_time(status["state"]["running"]["startedAt"])
            finished = parse_time(status["lastState"]["terminated"]["finishedAt"])
            delays.append(started - finished)
    return delays


def test_crash_loop_backoff_doubles_to_five_minutes() -> None:
    c = Cluster()
    c.pod("crasher", image="example/web:crash-2")
    delays = restart_delays(c, "crasher", 9, 2000)
    # first restart at once, then 10 s doubling, capped at 300 s (tick: 1 s)
    expected = [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert len(delays) == len(expected)
    for got, want in zip(delays, expected, strict=True):
        assert want <= got <= want + 1, delays
    c.sim.run_for(3)
    status = cstatus(c.get("crasher"))
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert (
        "back-off 5m0s restarting failed container=app pod=crasher_default("
        in (status["state"]["waiting"]["message"])
    )
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert c.get("crasher")["status"]["phase"] == "Running"
    backoff = [e for e in c.events("crasher") if e["reason"] == "BackOff"]
    assert backoff and backoff[0]["type"] == "Warning" and backoff[0]["count"] >= 7


def test_backoff_resets_after_ten_minutes_running() -> None:
    c = Cluster()
    c.profiles.register(Profile(name="slow-crash", image_pull_seconds=1, crash_after_seconds=650))
    c.pod("late", profile="slow-crash", image="example/web:crash-late")
    delays = restart_delays(c, "late", 3, 3000)
    assert len(delays) == 3
    assert all(d <= 1 for d in delays), delays  # each instance ran > 10 min: no back-off


def test_crash_on_start_fault_patches_the_deployment_image() -> None:
    c = Cluster("sample-app")
    deployments = c.store.rtype("apps", "v1", "deployments")
    fid = c.faults.inject(
        FaultSpec(kind="crash-on-start", target={"namespace": "demo", "deployment": "sample-app"})
    )
    image = c.store.get(deployments, "demo", "sample-app")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert image == "ghcr.io/kubeheal/sample-app:crash-1.4.2"
    assert [f.id for f in c.faults.active()] == [fid]
    c.faults.clear(fid)
    restored = c.store.get(deployments, "demo", "sample-app")
    assert restored["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/kubeheal/sample-app:1.4.2"
    )
    assert c.faults.active() == []
    with pytest.raises(UnknownFault):
        c.faults.clear(fid)


def test_memory_leak_ends_in_oomkilled() -> None:
    c = Cluster()
    c.pod("leaky", resources={"limits": {"memory": "128Mi"}, "requests": {"memory": "64Mi"}})
    c.sim.run_for(10)
    assert cstatus(c.get("leaky"))["restartCount"] == 0
    c.faults.inject(
        FaultSpec(
            kind="memory-leak",
            target={"namespace": "default", "labels": {"app": "leaky"}},
            params={"bytes_per_second": "8Mi"},
        )
    )
    c.sim.run_for(20)
    status = cstatus(c.get("leaky"))
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert status["lastState"]["terminated"]["exitCode"] == 137
    oom = [e for e in c.events("worker-1") if e["reason"] == "SystemOOM"]
    assert oom and oom[0]["type"] == "Warning"
    assert "victim process: app" in oom[0]["message"]


def test_image_pull_error_then_backoff() -> None:
    c = Cluster()
    c.pod("nopull", image="registry.example/does-not-exist/web:1.0")
    c.sim.run_for(1)
    assert cstatus(c.get("nopull"))["state"]["waiting"]["reason"] == "ContainerCreating"
    c.sim.run_for(1)  # the pull takes the profile's image_pull_seconds (1 s), then fails
    status = cstatus(c.get("nopull"))
    assert status["state"]["waiting"]["reason"] == "ErrImagePull"
    assert "not found" in status["state"]["waiting"]["message"]
    c.sim.run_for(1)
    status = cstatus(c.get("nopull"))
    assert status["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert status["state"]["waiting"]["message"] == (
        'Back-off pulling image "registry.example/does-not-exist/web:1.0"'
    )
    reasons = {e["reason"] for e in c.events("nopull")}
    assert {"Pulling", "Failed", "BackOff"} <= reasons
    assert any(e["message"] == "Error: ErrImagePull" for e in c.events("nopull"))
    assert c.get("nopull")["status"]["phase"] == "Pending"


def test_image_pull_error_fault_on_deployment() -> None:
    c = Cluster("sample-app")
    c.faults.inject(
        FaultSpec(kind="image-pull-error", target={"namespace": "demo", "deployment": "sample-app"})
    )
    deployment = c.store.get(c.store.rtype("apps", "v1", "deployments"), "demo", "sample-app")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":missing")


def test_node_memory_pressure_evicts_in_documented_order() -> None:
    c = Cluster()
    c.profiles.register(Profile(name="big", image_pull_seconds=0, memory_baseline_bytes=400 * MI))
    c.profiles.register(Profile(name="mid", image_pull_seconds=0, memory_baseline_bytes=200 * MI))
    c.pod("guaranteed", profile="mid", resources={"limits": {"cpu": "1", "memory": "512Mi"}})
    c.pod("besteffort", profile="big")
    c.pod("burstable", profile="mid", resources={"requests": {"memory": "128Mi"}})
    c.pod("elsewhere", profile="big", node="worker-2")
    c.sim.run_for(15)
    assert node_cond(c.node("worker-1"), "MemoryPressure")["status"] == "False"
    c.faults.inject(
        FaultSpec(
            kind="node-memory-pressure", target={"node": "worker-1"}, params={"bytes": "16Gi"}
        )
    )
    c.sim.run_for(2)
    node = c.node("worker-1")
    assert node_cond(node, "MemoryPressure")["status"] == "True"
    assert {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"} in (
        node["spec"]["taints"]
    )
    order: list[str] = []
    for _ in range(40):
        c.sim.run_for(1)
        for name in ("besteffort", "burstable", "guaranteed"):
            if name not in order and c.get(name)["status"].get("reason") == "Evicted":
                order.append(name)
    assert order == ["besteffort", "burstable", "guaranteed"]
    evicted = c.get("besteffort")["status"]
    assert evicted["phase"] == "Failed"
    assert evicted["message"].startswith(
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
    )
    assert any(
        cnd["type"] == "DisruptionTarget" and cnd["status"] == "True"
        for cnd in evicted["conditions"]
    )
    assert any(e["reason"] == "Evicted" for e in c.events("besteffort"))
    assert c.get("elsewhere")["status"]["phase"] == "Running"


def test_node_memory_pressure_clears_after_transition_period() -> None:
    c = Cluster()
    fid = c.faults.inject(FaultSpec(kind="node-memory-pressure", target={"node": "worker-2"}))
    c.sim.run_for(2)
    assert node_cond(c.node("worker-2"), "MemoryPressure")["status"] == "True"
    c.faults.clear(fid)
    c.sim.run_for(60)
    assert node_cond(c.node("worker-2"), "MemoryPressure")["status"] == "True"
    c.sim.run_for(250)
    node = c.node("worker-2")
    assert node_cond(node, "MemoryPressure")["status"] == "False"
    assert not node["spec"].get("taints")


def test_node_not_ready_unknown_then_evictions() -> None:
    c = Cluster()
    c.pod("victim")
    c.pod("patient", tolerations=[
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}
    ])  # fmt: skip
    c.pod("brief", tolerations=[
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 60}
    ])  # fmt: skip
    c.sim.run_for(20)
    assert c.get("victim")["status"]["phase"] == "Running"
    c.faults.inject(FaultSpec(kind="node-not-ready", target={"node": "worker-1"}))
    # the last lease renewal was at most 10 s ago: Unknown 40 s after it
    c.sim.run_for(29)
    assert node_cond(c.node("worker-1"), "Ready")["status"] == "True"
    c.sim.run_for(13)
    node = c.node("worker-1")
    ready = node_cond(node, "Ready")
    assert ready["status"] == "Unknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    assert {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}.items() <= (
        next(t for t in node["spec"]["taints"] if t["effect"] == "NoExecute").items()
    )
    pod = c.get("victim")
    assert next(x for x in pod["status"]["conditions"] if x["type"] == "Ready")["status"] == (
        "False"
    )
    c.sim.run_for(62)
    assert c.store.find(c.pods, "default", "brief") is None  # its own 60 s toleration
    assert c.store.find(c.pods, "default", "victim") is not None
    c.sim.run_for(200)
    assert c.store.find(c.pods, "default", "victim") is not None
    c.sim.run_for(40)
    assert c.store.find(c.pods, "default", "victim") is None  # default 300 s toleration
    assert c.store.find(c.pods, "default", "patient") is not None  # tolerates forever
    assert any(e["reason"] == "TaintManagerEviction" for e in c.events("victim"))


def test_timed_fault_clears_itself() -> None:
    c = Cluster()
    c.faults.inject(FaultSpec(kind="node-not-ready", target={"node": "worker-2"}, duration=30))
    assert len(c.faults.active()) == 1
    c.sim.run_for(29)
    assert c.runtime.nodes["worker-2"].ready is False
    c.sim.run_for(2)
    assert c.faults.active() == []
    assert c.runtime.nodes["worker-2"].ready is True


def test_pod_kill_deletes_pods() -> None:
    c = Cluster()
    c.pod("a")
    c.pod("b")
    c.sim.run_for(5)
    c.faults.inject(FaultSpec(kind="pod-kill", target={"namespace": "default", "pod": "a"}))
    assert c.store.find(c.pods, "default", "a") is None
    assert c.store.find(c.pods, "default", "b") is not None
    assert c.faults.active() == []


def test_fault_spec_validation() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"target\.node"):
        FaultSpec(kind="node-not-ready")
    with pytest.raises(pydantic.ValidationError, match="does not take params"):
        FaultSpec(kind="cpu-hog", target={"pod": "x"}, params={"bogus": 1})
    with pytest.raises(pydantic.ValidationError):
        FaultSpec(kind="meteor-strike", target={"pod": "x"})
    c = Cluster()
    with pytest.raises(FaultTargetError):
        c.faults.inject(FaultSpec(kind="node-not-ready", target={"node": "nope"}))
