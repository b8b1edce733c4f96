"""The twin's HorizontalPodAutoscaler controller (autoscaling/v2), with a manual clock."""

from __future__ import annotations

from typing import Any

import pytest

from kubeheal.twin.clock import ManualClock, format_time
from kubeheal.twin.sim.control_plane import control_plane_controllers
from kubeheal.twin.sim.hpa import effective_behavior
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.state import ContainerRuntime, PodRuntime, RuntimeState
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]


class FakeKubelet:
    """Runs bound pods (Ready at once) and reports `cores`/`memory` usage for each of them."""

    name = "fake-kubelet"

    def __init__(self, store: ObjectStore, runtime: RuntimeState) -> None:
        self.store = store
        self.runtime = runtime
        self.pods = store.rtype("", "v1", "pods")
        self.cores = 0.1
        self.memory = 100 * 2**20

    def step(self, now: float) -> None:
        live = set()
        for pod in self.store.list_objects(self.pods):
            meta = pod["metadata"]
            live.add(meta["uid"])
            if not pod["spec"].get("nodeName"):
                continue
            if pod["status"].get("phase") == "Pending":

                def run(obj: Obj) -> None:
                    obj["status"]["phase"] = "Running"
                    obj["status"]["startTime"] = format_time(now)
                    obj["status"]["conditions"] = [
                        {"type": "Ready", "status": "True", "lastTransitionTime": format_time(now)}
                    ]

                self.store.mutate(
                    self.pods, meta["namespace"], meta["name"], run, subresource="status"
                )
            container = ContainerRuntime(
                name="app", cpu_cores=self.cores, memory_working_set_bytes=self.memory
            )
            self.runtime.pods[meta["uid"]] = PodRuntime(
                uid=meta["uid"],
                namespace=meta["namespace"],
                name=meta["name"],
                node=pod["spec"]["nodeName"],
                containers={"app": container},
            )
        for uid in [u for u in self.runtime.pods if u not in live]:
            del self.runtime.pods[uid]


class Cluster:
    def __init__(self, *, replicas: int = 3) -> None:
        self.clock = ManualClock()
        self.store = ObjectStore(clock=self.clock)
        self.runtime = RuntimeState()
        self.deploys = self.store.rtype("apps", "v1", "deployments")
        self.hpas = self.store.rtype("autoscaling", "v2", "horizontalpodautoscalers")
        self.store.create(
            self.store.rtype("", "v1", "nodes"),
            {
                "metadata": {"name": "n1"},
                "status": {"allocatable": {"cpu": "64", "memory": "256Gi"}},
            },
        )
        self.kubelet = FakeKubelet(self.store, self.runtime)
        controllers = control_plane_controllers(store=self.store, runtime=self.runtime)
        self.sim = Simulation(
            store=self.store, clock=self.clock, controllers=[*controllers, self.kubelet]
        )
        self.store.create(
            self.deploys,
            {
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": "app:v1",
                                    "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}},
                                }
                            ]
                        },
                    },
                },
            },
        )

    def hpa(
        self,
        *,
        min_replicas: int = 1,
        max_replicas: int = 10,
        metric: Obj | None = None,
        **spec: Any,
    ) -> None:
        self.store.create(
            self.hpas,
            {
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                    },
                    "minReplicas": min_replicas,
                    "maxReplicas": max_replicas,
                    "metrics": [
                        metric
                        or {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 50},
                            },
                        }
                    ],
                    **spec,
                },
            },
        )

    def load(self, *, cores: float | None = None, memory: int | None = None) -> None:
        """Change what every pod uses, effective at once (as metrics-server would see it)."""
        if cores is not None:
            self.kubelet.cores = cores
        if memory is not None:
            self.kubelet.memory = memory
        self.kubelet.step(self.clock.now())

    def warm_up(self) -> None:
        """Let pods start and pass the readiness window before the HPA exists."""
        self.sim.run_for(20)

    def replicas(self) -> int:
        value: int = self.store.get(self.deploys, "default", "web")["spec"]["replicas"]
        return value

    def status(self) -> Obj:
        status: Obj = self.store.get(self.hpas, "default", "web")["status"]
        return status

    def cond(self, type_: str) -> Obj:
        return next(c for c in self.status()["conditions"] if c["type"] == type_)

    def events(self, reason: str) -> list[Obj]:
        events = self.store.list_objects(self.store.rtype("", "v1", "events"), "default")
        return [
            e
            for e in events
            if e["reason"] == reason and e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
        ]


def test_scales_up_on_high_cpu() -> None:
    c = Cluster()
    c.warm_up()
    c.load(cores=0.18)  # 90 % of the 200m request, target 50 %
    c.hpa()
    c.sim.run_for(1)
    assert c.replicas() == 6  # ceil(3 * 90 / 50) = ceil(5.4)
    st = c.status()
    assert st["currentReplicas"] == 3
    assert st["desiredReplicas"] == 6
    assert st["lastScaleTime"] == format_time(c.clock.now())
    (metric,) = st["currentMetrics"]
    assert metric["resource"]["current"] == {"averageUtilization": 90, "averageValue": "180m"}
    assert c.cond("AbleToScale")["reason"] == "SucceededRescale"
    assert c.cond("ScalingActive")["reason"] == "ValidMetricFound"
    assert c.cond("ScalingLimited")["status"] == "False"
    (event,) = c.events("SuccessfulRescale")
    assert event["message"] == (
        "New size: 6; reason: cpu resource utilization (percentage of request) above target"
    )
    c.sim.run_for(5)
    assert len(c.runtime.pods) == 6


def test_within_tolerance_nothing_changes() -> None:
    c = Cluster()
    c.warm_up()
    c.load(cores=0.108)  # 54 %: ratio 1.08, inside the 10 % band
    c.hpa()
    c.sim.run_for(60)
    assert c.replicas() == 3
    assert c.status()["desiredReplicas"] == 3
    assert "lastScaleTime" not in c.status()
    assert not c.events("SuccessfulRescale")


def test_sync_period_is_fifteen_seconds() -> None:
    c = Cluster()
    c.warm_up()
    c.load(cores=0.1)
    c.hpa()
    c.sim.run_for(1)
    assert c.replicas() == 3
    c.load(cores=0.15)  # 75 %
    c.sim.run_for(13)
    assert c.replicas() == 3  # not synced yet
    c.sim.run_for(2)
    assert c.replicas() == 5  # ceil(3 * 75 / 50)


def test_without_behavior_scale_up_is_limited_to_double_or_four() -> None:
    c = Cluster()
    c.warm_up()
    c.load(cores=0.3)  # 150 %: wants ceil(3 * 3) = 9
    c.hpa(max_replicas=20)
    c.sim.run_for(1)
    assert c.replicas() == 6
    limited = c.cond("ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "ScaleUpLimit")


def test_stabilization_window_delays_scale_down() -> None:
    c = Cluster(replicas=4)
    c.warm_up()
    c.load(cores=0.1)  # exactly on target
    c.hpa()
    c.sim.run_for(1)
    c.load(cores=0.01)  # 5 %: wants 1 replica
    c.sim.run_for(200)
    assert c.replicas() == 4
    assert c.cond("AbleToScale")["reason"] == "ScaleDownStabilized"
    c.sim.run_for(120)  # the recommendation of 4 falls out of the 300 s window
    assert c.replicas() == 1


def test_custom_stabilization_window_and_percent_policy() -> None:
    c = Cluster(replicas=8)
    c.warm_up()
    c.load(cores=0.01)
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
        }
    }
    c.hpa(behavior=behavior)
    c.sim.run_for(1)
    assert c.replicas() == 4  # at most 50 % of 8 per minute
    assert c.cond("ScalingLimited")["reason"] == "ScaleDownLimit"
    c.sim.run_for(30)
    assert c.replicas() == 4
    c.sim.run_for(45)
    assert c.replicas() == 2


def test_scale_up_policy_limits_the_step() -> None:
    c = Cluster(replicas=2)
    c.warm_up()
    c.load(cores=0.4)  # 200 %: wants 8
    behavior = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        },
        "scaleDown": {"selectPolicy": "Disabled"},
    }
    c.hpa(behavior=behavior)
    c.sim.run_for(1)
    assert c.replicas() == 3
    limited = c.cond("ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "ScaleUpLimit")
    c.sim.run_for(45)
    assert c.replicas() == 3  # still inside the 60 s period
    c.sim.run_for(30)
    assert c.replicas() == 4
    c.load(cores=0.001)
    c.sim.run_for(120)
    assert c.replicas() >= 4  # scale-down disabled


def test_default_behavior_values() -> None:
    up, down = effective_behavior(
        {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}
    )
    assert up["stabilizationWindowSeconds"] == 0
    assert up["selectPolicy"] == "Max"
    assert {(p["type"], p["value"], p["periodSeconds"]) for p in up["policies"]} == {
        ("Pods", 4, 15),
        ("Percent", 100, 15),
    }
    assert down["stabilizationWindowSeconds"] == 60
    assert down["policies"] == [{"type": "Percent", "value": 100, "periodSeconds": 15}]


def test_max_replicas_caps_and_reports_scaling_limited() -> None:
    c = Cluster()
    c.warm_up()
    c.load(cores=1.0)  # 500 %
    c.hpa(max_replicas=5)
    c.sim.run_for(1)
    assert c.replicas() == 5
    limited = c.cond("ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "TooManyReplicas")
    assert limited["message"] == "the desired replica count is more than the maximum replica count"


def test_min_replicas_enforced() -> None:
    c = Cluster(replicas=1)
    c.warm_up()
    c.hpa(min_replicas=3)
    c.sim.run_for(1)
    assert c.replicas() == 3
    (event,) = c.events("SuccessfulRescale")
    assert (
        event["message"] == "New size: 3; reason: Current number of replicas below Spec.MinReplicas"
    )
    c.load(cores=0.001)
    c.sim.run_for(400)
    assert c.replicas() == 3
    assert c.cond("ScalingLimited")["reason"] == "TooFewReplicas"


def test_new_unready_pods_are_treated_conservatively() -> None:
    c = Cluster()
    c.warm_up()
    c.load(cores=0.18)
    c.hpa(max_replicas=20)
    c.sim.run_for(1)
    assert c.replicas() == 6
    # 15 s later the 3 new pods are within their readiness window: on a scale-up they count
    # as using nothing, so the ratio is 3 * 90 % / 6 = 45 %, under target: no change.
    c.sim.run_for(14)
    assert c.replicas() == 6


def test_memory_average_value_target() -> None:
    c = Cluster()
    c.warm_up()
    c.load(memory=300 * 2**20)
    metric = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "150Mi"}},
    }
    c.hpa(metric=metric)
    c.sim.run_for(1)
    assert c.replicas() == 6  # 3 * 300Mi / 150Mi
    (current,) = c.status()["currentMetrics"]
    assert current["resource"]["current"] == {"averageValue": "300Mi"}


def test_missing_target_and_zero_replicas() -> None:
    c = Cluster()
    c.warm_up()
    c.store.create(
        c.hpas,
        {
            "metadata": {"name": "ghost", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nope"},
                "maxReplicas": 3,
            },
        },
    )
    c.sim.run_for(1)
    ghost = c.store.get(c.hpas, "default", "ghost")["status"]
    able = next(x for x in ghost["conditions"] if x["type"] == "AbleToScale")
    assert (able["status"], able["reason"]) == ("False", "FailedGetScale")
    c.store.mutate(c.deploys, "default", "web", lambda d: d["spec"].__setitem__("replicas", 0))
    c.hpa()
    c.sim.run_for(1)
    active = c.cond("ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "ScalingDisabled")
    assert c.replicas() == 0


@pytest.mark.parametrize("requests", [{}, {"memory": "1Gi"}])
def test_missing_cpu_request_is_an_invalid_metric(requests: Obj) -> None:
    c = Cluster()

    def strip(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": requests}

    c.store.mutate(c.deploys, "default", "web", strip)
    c.warm_up()
    c.load(cores=1.0)
    c.hpa()
    c.sim.run_for(1)
    active = c.cond("ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert "missing request for cpu" in active["message"]
    assert c.events("FailedComputeMetricsReplicas")
    assert c.replicas() == 3
