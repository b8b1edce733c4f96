"""PodDisruptionBudget status and the Eviction API of the twin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubeheal.twin.clock import ManualClock, format_time
from kubeheal.twin.errors import InternalError, NotFound, TooManyRequests
from kubeheal.twin.sim.control_plane import control_plane_controllers, evict
from kubeheal.twin.sim.disruption import EVICTION_REFUSED_MESSAGE, compute_pdb_numbers
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]


class FakeKubelet:
    """Marks bound pods Running and Ready (unless their name is in `unhealthy`)."""

    name = "fake-kubelet"

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.pods = store.rtype("", "v1", "pods")

    def step(self, now: float) -> None:
        for pod in self.store.list_objects(self.pods):
            if not pod["spec"].get("nodeName") or pod["status"].get("phase") != "Pending":
                continue

            def run(obj: Obj) -> None:
                obj["status"]["phase"] = "Running"
                obj["status"]["startTime"] = format_time(now)
                obj["status"]["conditions"] = [
                    {"type": "Ready", "status": "True", "lastTransitionTime": format_time(now)}
                ]

            meta = pod["metadata"]
            self.store.mutate(self.pods, meta["namespace"], meta["name"], run, subresource="status")


class Cluster:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.store = ObjectStore(clock=self.clock)
        self.pods = self.store.rtype("", "v1", "pods")
        self.pdbs = self.store.rtype("policy", "v1", "poddisruptionbudgets")
        self.store.create(
            self.store.rtype("", "v1", "nodes"),
            {"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "8", "memory": "16Gi"}}},
        )
        controllers = control_plane_controllers(store=self.store, runtime=RuntimeState())
        self.sim = Simulation(
            store=self.store, clock=self.clock, controllers=[*controllers, FakeKubelet(self.store)]
        )

    def deploy(self, replicas: int = 3) -> None:
        self.store.create(
            self.store.rtype("apps", "v1", "deployments"),
            {
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
                    },
                },
            },
        )

    def pdb(self, **spec: Any) -> None:
        self.store.create(
            self.pdbs,
            {
                "metadata": {"name": "web-pdb", "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
            },
        )

    def status(self) -> Obj:
        status: Obj = self.store.get(self.pdbs, "default", "web-pdb")["status"]
        return status

    def pod_names(self) -> list[str]:
        return sorted(p["metadata"]["name"] for p in self.store.list_objects(self.pods, "default"))

    def evict(self, name: str, **options: Any) -> None:
        body: Obj = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
        if options:
            body["deleteOptions"] = options
        evict(self.store, namespace="default", name=name, eviction=body, now=self.clock.now())

    def mutate_pod(self, name: str, fn: Callable[[Obj], None]) -> None:
        self.store.mutate(self.pods, "default", name, fn, subresource="status")


def _pods(n: int, ready: int) -> list[Obj]:
    return [
        {
            "metadata": {"name": f"p{i}"},
            "status": {
                "conditions": [{"type": "Ready", "status": "True" if i < ready else "False"}]
            },
        }
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("spec", "scale", "ready", "expected", "desired", "allowed"),
    [
        ({"minAvailable": 2}, None, 3, 3, 2, 1),
        ({"minAvailable": 2}, None, 2, 3, 2, 0),
        ({"minAvailable": "50%"}, 3, 3, 3, 2, 1),  # 1.5 rounds up
        ({"minAvailable": "100%"}, 3, 3, 3, 3, 0),
        ({"maxUnavailable": 1}, 3, 3, 3, 2, 1),
        ({"maxUnavailable": "34%"}, 3, 3, 3, 1, 2),  # 1.02 rounds up to 2 unavailable
        ({"maxUnavailable": "25%"}, 4, 4, 4, 3, 1),
        ({"maxUnavailable": 0}, 3, 3, 3, 3, 0),
        ({"maxUnavailable": 1}, 0, 0, 0, 0, 0),
    ],
)
def test_pdb_numbers(
    spec: Obj, scale: int | None, ready: int, expected: int, desired: int, allowed: int
) -> None:
    numbers = compute_pdb_numbers({"spec": spec}, _pods(scale or 3, ready), scale, set())
    assert (numbers.expected, numbers.desired_healthy, numbers.disruptions_allowed) == (
        expected,
        desired,
        allowed,
    )
    assert numbers.current_healthy == ready


def test_recently_evicted_pods_are_not_healthy() -> None:
    numbers = compute_pdb_numbers({"spec": {"minAvailable": 1}}, _pods(3, 3), None, {"p0"})
    assert numbers.current_healthy == 2


def test_controller_writes_pdb_status() -> None:
    c = Cluster()
    c.deploy()
    c.pdb(minAvailable=2)
    c.sim.run_for(3)
    st = c.status()
    assert st["expectedPods"] == 3
    assert st["currentHealthy"] == 3
    assert st["desiredHealthy"] == 2
    assert st["disruptionsAllowed"] == 1
    assert st["observedGeneration"] == 1
    (cond,) = st["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "DisruptionAllowed",
        "True",
        "SufficientPods",
    )


def test_percentages_scale_with_the_deployment() -> None:
    c = Cluster()
    c.deploy(replicas=4)
    c.pdb(maxUnavailable="50%")
    c.sim.run_for(3)
    st = c.status()
    assert (st["expectedPods"], st["desiredHealthy"], st["disruptionsAllowed"]) == (4, 2, 2)


def test_percentage_budget_without_controllers_fails_to_sync() -> None:
    c = Cluster()
    c.store.create(
        c.pods,
        {
            "metadata": {"name": "lonely", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": "Pending"},
        },
    )
    c.pdb(minAvailable="50%")
    c.sim.run_for(2)
    st = c.status()
    assert st["disruptionsAllowed"] == 0
    assert st["conditions"][0]["reason"] == "SyncFailed"


def test_eviction_is_refused_with_429_then_allowed_once_the_budget_recovers() -> None:
    c = Cluster()
    c.deploy()
    c.pdb(minAvailable=2)
    c.sim.run_for(3)
    first, second, _ = c.pod_names()
    c.evict(first)
    assert first not in c.pod_names()
    st = c.status()
    assert st["disruptionsAllowed"] == 0
    assert first in st["disruptedPods"]
    with pytest.raises(TooManyRequests) as info:
        c.evict(second)
    status = info.value.status()
    assert status["code"] == 429
    assert status["reason"] == "TooManyRequests"
    assert status["message"] == EVICTION_REFUSED_MESSAGE
    (cause,) = status["details"]["causes"]
    assert cause["reason"] == "DisruptionBudget"
    # The numbers are the budget's status, which the controller has not recomputed yet.
    assert (
        cause["message"] == "The disruption budget web-pdb needs 2 healthy pods and has 3 currently"
    )
    assert second in c.pod_names()
    # The ReplicaSet replaces the evicted pod; once it is Ready the budget allows one again.
    c.sim.run_for(3)
    assert c.status()["disruptionsAllowed"] == 1
    assert "disruptedPods" not in c.status()
    c.evict(second)
    assert second not in c.pod_names()


def test_unready_pods_are_evicted_without_consuming_a_healthy_budget() -> None:
    c = Cluster()
    c.deploy(replicas=4)
    c.pdb(minAvailable=2)
    c.sim.run_for(3)
    names = c.pod_names()

    def unready(p: Obj) -> None:
        p["status"]["conditions"][0]["status"] = "False"

    c.mutate_pod(names[0], unready)
    c.sim.run_for(1)
    assert c.status()["currentHealthy"] == 3
    c.evict(names[0])
    assert c.status()["disruptionsAllowed"] == 1  # untouched
    assert names[0] not in c.pod_names()


def test_unready_pod_is_protected_when_the_budget_is_unhealthy() -> None:
    c = Cluster()
    c.deploy(replicas=2)
    c.pdb(minAvailable=2)
    c.sim.run_for(3)
    names = c.pod_names()

    def unready(p: Obj) -> None:
        p["status"]["conditions"][0]["status"] = "False"

    c.mutate_pod(names[0], unready)
    c.sim.run_for(1)
    with pytest.raises(TooManyRequests):
        c.evict(names[0])
    c.store.mutate(
        c.pdbs,
        "default",
        "web-pdb",
        lambda p: p["spec"].__setitem__("unhealthyPodEvictionPolicy", "AlwaysAllow"),
    )
    c.sim.run_for(1)
    c.evict(names[0])
    assert names[0] not in c.pod_names()


def test_eviction_dry_run_and_errors() -> None:
    c = Cluster()
    c.deploy()
    c.pdb(minAvailable=1)
    c.sim.run_for(3)
    name = c.pod_names()[0]
    c.evict(name, dryRun=["All"])
    assert name in c.pod_names()
    assert c.status()["disruptionsAllowed"] == 2
    with pytest.raises(NotFound):
        c.evict("no-such-pod")
    c.store.create(
        c.pdbs,
        {
            "metadata": {"name": "second", "namespace": "default"},
            "spec": {"selector": {}, "maxUnavailable": 1},
        },
    )
    c.sim.run_for(1)
    with pytest.raises(InternalError, match="more than one PodDisruptionBudget"):
        c.evict(name)


def test_pods_without_budget_are_simply_deleted() -> None:
    c = Cluster()
    c.deploy(replicas=1)
    c.sim.run_for(3)
    (name,) = c.pod_names()
    c.evict(name)
    assert name not in c.pod_names()
