"""Kubelet pod lifecycle: start-up, conditions, probes, restart policies, logs, deletion."""

from __future__ import annotations

from typing import Any

import pytest

from kubeheal.twin.clock import ManualClock, parse_time
from kubeheal.twin.errors import BadRequest
from kubeheal.twin.scenarios import load_scenario
from kubeheal.twin.sim.faults import FaultInjector, FaultSpec
from kubeheal.twin.sim.kubelet import read_logs
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.node_side import node_controllers
from kubeheal.twin.sim.objects import qos_class
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.sim.workloads import Profile
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]


class Cluster:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.store = ObjectStore(clock=self.clock, seed=1)
        scenario = load_scenario("empty")
        self.store.load(scenario.objects)
        self.profiles = scenario.profiles
        self.profiles.register(
            Profile(name="web", image_pull_seconds=2, startup_seconds=4, crash_after_seconds=1)
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

    def pod(self, name: str, **container: Any) -> Obj:
        spec: Obj = {
            "nodeName": container.pop("node", "worker-1"),
            "restartPolicy": container.pop("restart_policy", "Always"),
            "containers": [{"name": "app", "image": "example/web:1.0", **container}],
        }
        init = container.pop("init", None)
        if init:
            spec["initContainers"] = init
        body = {
            "metadata": {
                "name": name,
                "namespace": "default",
                "labels": {"app": name},
                "annotations": {"twin.kubeheal.io/profile": "web"},
            },
            "spec": spec,
        }
        return self.store.create(self.pods, body)

    def get(self, name: str) -> Obj:
        return self.store.get(self.pods, "default", name)

    def events(self, name: str) -> list[Obj]:
        return [
            e
            for e in self.store.list_objects(self.store.rtype("", "v1", "events"), "default")
            if e["involvedObject"]["name"] == name
        ]

    def reasons(self, name: str) -> list[str]:
        return [e["reason"] for e in sorted(self.events(name), key=lambda e: e["firstTimestamp"])]


def cond(pod: Obj, type_: str) -> Obj:
    return next(c for c in pod["status"]["conditions"] if c["type"] == type_)


HTTP_PROBE = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}


def test_pod_starts_after_pull_and_becomes_ready() -> None:
    c = Cluster()
    c.pod("web-1", readinessProbe=HTTP_PROBE)
    c.sim.run_for(1)
    pod = c.get("web-1")
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == (
        "ContainerCreating"
    )
    assert pod["status"]["podIP"].startswith("10.244.")
    assert pod["status"]["hostIP"] == "10.0.0.11"
    assert pod["status"]["startTime"]
    c.sim.run_for(3)
    pod = c.get("web-1")
    assert pod["status"]["phase"] == "Running"
    assert "running" in pod["status"]["containerStatuses"][0]["state"]
    assert cond(pod, "Ready")["status"] == "False"  # app still starting: probe refused
    c.sim.run_for(10)
    pod = c.get("web-1")
    assert cond(pod, "Ready")["status"] == "True"
    assert cond(pod, "ContainersReady")["status"] == "True"
    assert cond(pod, "Initialized")["status"] == "True"
    assert cond(pod, "PodScheduled")["status"] == "True"
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    ready_at = parse_time(cond(pod, "Ready")["lastTransitionTime"])
    assert ready_at > parse_time(pod["status"]["startTime"])
    reasons = c.reasons("web-1")
    assert reasons[:4] == ["Pulling", "Pulled", "Created", "Started"]
    assert "Unhealthy" in reasons
    assert pod["status"]["qosClass"] == "BestEffort"


def test_readiness_failing_makes_pod_not_ready_and_liveness_restarts() -> None:
    c = Cluster()
    c.pod(
        "web-2",
        readinessProbe={**HTTP_PROBE, "failureThreshold": 2},
        livenessProbe={**HTTP_PROBE, "periodSeconds": 10, "failureThreshold": 3},
    )
    c.sim.run_for(30)
    assert cond(c.get("web-2"), "Ready")["status"] == "True"
    fid = c.faults.inject(FaultSpec(kind="hang", target={"namespace": "default", "pod": "web-2"}))
    c.sim.run_for(11)
    pod = c.get("web-2")
    assert cond(pod, "Ready")["status"] == "False"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    c.sim.run_for(25)
    pod = c.get("web-2")
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 137
    messages = [e["message"] for e in c.events("web-2")]
    assert any(m.startswith('Liveness probe failed: Get "http://') for m in messages)
    assert any("context deadline exceeded" in m for m in messages)
    assert "Container app failed liveness probe, will be restarted" in messages
    c.faults.clear(fid)
    c.sim.run_for(60)
    assert cond(c.get("web-2"), "Ready")["status"] == "True"


def test_startup_probe_gates_liveness() -> None:
    c = Cluster()
    c.pod(
        "web-3",
        startupProbe={**HTTP_PROBE, "periodSeconds": 1, "failureThreshold": 30},
        livenessProbe={**HTTP_PROBE, "periodSeconds": 1, "failureThreshold": 1},
    )
    c.sim.run_for(20)
    pod = c.get("web-3")
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 0  # liveness never ran while the app was starting
    assert status["started"] is True
    assert cond(pod, "Ready")["status"] == "True"
    assert any(m["message"].startswith("Startup probe failed") for m in c.events("web-3"))


def test_restart_policy_never_and_onfailure_end_the_pod() -> None:
    c = Cluster()
    c.profiles.register(Profile(name="job", image_pull_seconds=0, run_seconds=5, exit_code=0))
    c.profiles.register(Profile(name="bad-job", image_pull_seconds=0, run_seconds=5, exit_code=2))
    done = c.pod("job-ok", restart_policy="OnFailure")
    failed = c.pod("job-bad", restart_policy="Never")
    for pod, profile in ((done, "job"), (failed, "bad-job")):
        c.store.mutate(
            c.pods,
            "default",
            pod["metadata"]["name"],
            lambda o, p=profile: o["metadata"]["annotations"].update(
                {"twin.kubeheal.io/profile": p}
            ),
        )
    c.sim.run_for(20)
    ok = c.get("job-ok")["status"]
    assert ok["phase"] == "Succeeded"
    assert ok["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    bad = c.get("job-bad")["status"]
    assert bad["phase"] == "Failed"
    assert bad["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
    assert bad["containerStatuses"][0]["restartCount"] == 0


def test_init_containers_run_first() -> None:
    c = Cluster()
    c.pod("web-init", init=[{"name": "migrate", "image": "example/migrate:1"}])
    c.sim.run_for(2)
    pod = c.get("web-init")
    assert cond(pod, "Initialized")["status"] == "False"
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == (
        "PodInitializing"
    )
    c.sim.run_for(15)
    pod = c.get("web-init")
    assert cond(pod, "Initialized")["status"] == "True"
    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"
    assert pod["status"]["phase"] == "Running"


def test_logs_current_and_previous() -> None:
    c = Cluster()
    pod = c.pod("web-crash", image="example/web:crash-1")
    uid = pod["metadata"]["uid"]
    with pytest.raises(BadRequest, match="waiting to start"):
        read_logs(c.runtime, pod_uid=uid, container="app", previous=False)
    c.sim.run_for(3.5)
    with pytest.raises(BadRequest, match="previous terminated container"):
        read_logs(c.runtime, pod_uid=uid, container="app", previous=True)
    c.sim.run_for(3)
    previous = read_logs(c.runtime, pod_uid=uid, container="app", previous=True)
    assert "panic: invalid configuration" in previous
    stamped = read_logs(c.runtime, pod_uid=uid, container="app", previous=True, timestamps=True)
    assert stamped.splitlines()[0].split(" ", 1)[0].endswith(".000000000Z")


def test_deleted_pod_drops_runtime_state() -> None:
    c = Cluster()
    pod = c.pod("web-del")
    c.sim.run_for(10)
    uid = pod["metadata"]["uid"]
    assert c.runtime.pods[uid].containers["app"].started_at is not None
    c.store.delete(c.pods, "default", "web-del")
    c.sim.run_for(1)
    assert uid not in c.runtime.pods


def test_qos_classes() -> None:
    def pod(resources: Obj) -> Obj:
        return {"spec": {"containers": [{"name": "a", "resources": resources}]}}

    assert qos_class(pod({})) == "BestEffort"
    assert qos_class(pod({"requests": {"cpu": "100m"}})) == "Burstable"
    both = {"cpu": "1", "memory": "1Gi"}
    assert qos_class(pod({"limits": both})) == "Guaranteed"
    assert qos_class(pod({"requests": both, "limits": both})) == "Guaranteed"
