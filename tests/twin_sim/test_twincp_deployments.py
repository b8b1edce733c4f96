"""Deployment and ReplicaSet controllers of the twin, driven in-process with a manual clock."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import pytest

from kubeheal.twin.clock import ManualClock, format_time
from kubeheal.twin.sim.control_plane import control_plane_controllers
from kubeheal.twin.sim.deployments import (
    POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    compute_template_hash,
    max_surge,
    max_unavailable,
)
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.replicasets import ReplicaSetController, rank_pods_for_deletion
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]


class FakeKubelet:
    """Marks bound pods Running; Ready unless `healthy(pod)` says otherwise."""

    name = "fake-kubelet"

    def __init__(self, store: ObjectStore, healthy: Callable[[Obj], bool]) -> None:
        self.store = store
        self.healthy = healthy
        self.pods = store.rtype("", "v1", "pods")

    def step(self, now: float) -> None:
        for pod in self.store.list_objects(self.pods):
            if not pod["spec"].get("nodeName") or pod["status"].get("phase") != "Pending":
                continue
            ready = "True" if self.healthy(pod) else "False"

            def run(obj: Obj, ready: str = ready) -> None:
                st = obj["status"]
                st["phase"] = "Running"
                st["startTime"] = format_time(now)
                stamp = format_time(now)
                st["conditions"] = [
                    c for c in st.get("conditions", []) if c["type"] == "PodScheduled"
                ]
                st["conditions"] += [
                    {"type": "Ready", "status": ready, "lastTransitionTime": stamp},
                    {"type": "ContainersReady", "status": ready, "lastTransitionTime": stamp},
                ]
                st["containerStatuses"] = [
                    {"name": c["name"], "ready": ready == "True", "restartCount": 0}
                    for c in obj["spec"]["containers"]
                ]

            meta = pod["metadata"]
            self.store.mutate(self.pods, meta["namespace"], meta["name"], run, subresource="status")


class ErrorLog(logging.Handler):
    """Collects errors the simulation loop logs when a controller raises."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Cluster:
    def __init__(self, *, nodes: int = 3, healthy: Callable[[Obj], bool] | None = None) -> None:
        self.clock = ManualClock()
        self.store = ObjectStore(clock=self.clock)
        self.pods = self.store.rtype("", "v1", "pods")
        self.deploys = self.store.rtype("apps", "v1", "deployments")
        self.rss = self.store.rtype("apps", "v1", "replicasets")
        for i in range(nodes):
            self.store.create(
                self.store.rtype("", "v1", "nodes"),
                {
                    "metadata": {"name": f"node-{i}"},
                    "status": {
                        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                },
            )
        controllers = control_plane_controllers(store=self.store, runtime=RuntimeState())
        kubelet = FakeKubelet(self.store, healthy or (lambda pod: True))
        self.sim = Simulation(
            store=self.store, clock=self.clock, controllers=[*controllers, kubelet]
        )

    def run(self, seconds: float) -> None:
        """Advance the simulation; fail if any controller raised on the way."""
        errors = ErrorLog()
        logger = logging.getLogger("kubeheal.twin.sim.loop")
        logger.addHandler(errors)
        try:
            self.sim.run_for(seconds)
        finally:
            logger.removeHandler(errors)
        assert not errors.records, errors.records[0].exc_info

    def deploy(self, name: str = "web", **spec: Any) -> Obj:
        body: Obj = {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
                },
            },
        }
        body["spec"].update(spec)
        return self.store.create(self.deploys, body)

    def get(self, name: str = "web") -> Obj:
        return self.store.get(self.deploys, "default", name)

    def change(self, fn: Callable[[Obj], None], name: str = "web") -> Obj:
        return self.store.mutate(self.deploys, "default", name, fn)

    def set_image(self, image: str, name: str = "web") -> Obj:
        def fn(d: Obj) -> None:
            d["spec"]["template"]["spec"]["containers"][0]["image"] = image

        return self.change(fn, name)

    def live_pods(self) -> list[Obj]:
        return [
            p
            for p in self.store.list_objects(self.pods, "default")
            if not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") not in ("Failed", "Succeeded")
        ]

    def replica_sets(self) -> list[Obj]:
        return self.store.list_objects(self.rss, "default")

    def rollout_done(self, name: str = "web") -> bool:
        d = self.get(name)
        st = d.get("status", {})
        want = d["spec"]["replicas"]
        return (
            st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("updatedReplicas", 0) == want
            and st.get("replicas", 0) == want
            and st.get("availableReplicas", 0) == want
        )


def _images(pods: list[Obj]) -> list[str]:
    return sorted(p["spec"]["containers"][0]["image"] for p in pods)


def _ready(pods: list[Obj]) -> int:
    return sum(
        1
        for p in pods
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", [])
        )
    )


def _cond(obj: Obj, type_: str) -> Obj:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def test_new_deployment_creates_replicaset_and_pods_and_completes() -> None:
    c = Cluster()
    c.deploy()
    c.run(5)
    (rs,) = c.replica_sets()
    d = c.get()
    pod_hash = rs["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert pod_hash == compute_template_hash(d["spec"]["template"])
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    assert rs["metadata"]["ownerReferences"][0]["controller"] is True
    assert rs["metadata"]["annotations"][REVISION_ANNOTATION] == "1"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "4"
    assert rs["spec"]["selector"]["matchLabels"][POD_TEMPLATE_HASH_LABEL] == pod_hash
    assert d["metadata"]["annotations"][REVISION_ANNOTATION] == "1"
    pods = c.live_pods()
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["name"].startswith(f"web-{pod_hash}-")
        assert pod["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
        assert pod["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == pod_hash
    st = d["status"]
    assert st["observedGeneration"] == d["metadata"]["generation"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"]) == (3, 3, 3)
    assert st["availableReplicas"] == 3
    assert "unavailableReplicas" not in st
    assert _cond(d, "Available")["reason"] == "MinimumReplicasAvailable"
    progressing = _cond(d, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert progressing["message"] == f'ReplicaSet "web-{pod_hash}" has successfully progressed.'
    assert rs["status"]["fullyLabeledReplicas"] == 3


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "max_total", "min_ready"),
    [(3, 1, 0, 4, 3), (10, "25%", "25%", 13, 8), (4, "25%", "25%", 5, 3)],
)
def test_rolling_update_stays_within_surge_and_unavailability_bounds(
    replicas: int, surge: object, unavailable: object, max_total: int, min_ready: int
) -> None:
    c = Cluster()
    strategy = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    c.deploy(replicas=replicas, strategy=strategy)
    c.run(5)
    assert c.rollout_done()
    assert max_surge(c.get()) + replicas == max_total
    assert replicas - max_unavailable(c.get()) == min_ready
    c.set_image("app:v2")
    saw_mixed = False
    for _ in range(60):
        c.run(1)
        pods = c.live_pods()
        assert len(pods) <= max_total
        assert _ready(pods) >= min_ready
        images = set(_images(pods))
        saw_mixed = saw_mixed or images == {"app:v1", "app:v2"}
        if c.rollout_done() and images == {"app:v2"}:
            break
    else:
        pytest.fail("rollout did not finish")
    assert saw_mixed  # it really was a rolling update
    assert _images(c.live_pods()) == ["app:v2"] * replicas
    d = c.get()
    assert d["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    assert _cond(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    old = [
        rs for rs in c.replica_sets() if rs["metadata"]["annotations"][REVISION_ANNOTATION] == "1"
    ]
    assert old[0]["spec"]["replicas"] == 0
    events = c.store.list_objects(c.store.rtype("", "v1", "events"), "default")
    messages = [e["message"] for e in events if e["reason"] == "ScalingReplicaSet"]
    assert any(m.startswith("Scaled down replica set ") for m in messages)


def test_recreate_never_runs_old_and_new_pods_together() -> None:
    c = Cluster()
    c.deploy(strategy={"type": "Recreate"})
    c.run(5)
    c.set_image("app:v2")
    saw_empty = False
    for _ in range(30):
        c.run(1)
        images = set(_images(c.live_pods()))
        assert images != {"app:v1", "app:v2"}
        saw_empty = saw_empty or not images
        if c.rollout_done() and images == {"app:v2"}:
            break
    else:
        pytest.fail("recreate did not finish")
    assert saw_empty
    assert len(c.live_pods()) == 3


def test_rollback_reuses_the_old_replicaset_and_bumps_its_revision() -> None:
    c = Cluster()
    c.deploy()
    c.run(5)
    (rs_v1,) = c.replica_sets()
    c.set_image("app:v2")
    c.run(30)
    assert c.rollout_done()
    # What `kubectl rollout undo` does: copy the old ReplicaSet's template minus the hash label.
    old_template = copy.deepcopy(rs_v1["spec"]["template"])
    del old_template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL]

    def undo(d: Obj) -> None:
        d["spec"]["template"] = old_template

    c.change(undo)
    c.run(30)
    assert c.rollout_done()
    rss = {rs["metadata"]["name"]: rs for rs in c.replica_sets()}
    assert len(rss) == 2
    reused = rss[rs_v1["metadata"]["name"]]
    assert reused["metadata"]["uid"] == rs_v1["metadata"]["uid"]
    assert reused["metadata"]["annotations"][REVISION_ANNOTATION] == "3"
    assert reused["metadata"]["annotations"][REVISION_HISTORY_ANNOTATION] == "1"
    assert reused["spec"]["replicas"] == 3
    assert c.get()["metadata"]["annotations"][REVISION_ANNOTATION] == "3"
    assert _images(c.live_pods()) == ["app:v1"] * 3


def test_restart_annotation_replaces_every_pod() -> None:
    c = Cluster()
    c.deploy()
    c.run(5)
    before = {p["metadata"]["uid"] for p in c.live_pods()}

    def restart(d: Obj) -> None:
        annotations = d["spec"]["template"]["metadata"].setdefault("annotations", {})
        annotations["kubectl.kubernetes.io/restartedAt"] = "2026-11-23T10:00:00Z"

    c.change(restart)
    c.run(40)
    assert c.rollout_done()
    after = c.live_pods()
    assert len(after) == 3
    assert before.isdisjoint(p["metadata"]["uid"] for p in after)
    assert len(c.replica_sets()) == 2


def test_progress_deadline_exceeded_when_new_pods_never_get_ready() -> None:
    c = Cluster(healthy=lambda pod: pod["spec"]["containers"][0]["image"] != "app:bad")
    c.deploy(progressDeadlineSeconds=30)
    c.run(5)
    c.set_image("app:bad")
    c.run(10)
    d = c.get()
    progressing = _cond(d, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "ReplicaSetUpdated")
    c.run(40)
    d = c.get()
    progressing = _cond(d, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"].endswith("has timed out progressing.")
    # maxUnavailable 25% of 3 rounds down to 0: the old pods all stay.
    assert _images(c.live_pods()) == ["app:bad", "app:v1", "app:v1", "app:v1"]
    assert _cond(d, "Available")["status"] == "True"
    assert d["status"]["updatedReplicas"] == 1
    assert d["status"]["unavailableReplicas"] == 1


def test_paused_deployment_does_not_roll_out_until_resumed() -> None:
    c = Cluster()
    c.deploy()
    c.run(5)
    c.change(lambda d: d["spec"].__setitem__("paused", True))
    c.set_image("app:v2")
    c.run(10)
    assert len(c.replica_sets()) == 1
    assert _cond(c.get(), "Progressing")["reason"] == "DeploymentPaused"
    c.change(lambda d: d["spec"].__setitem__("replicas", 5))
    c.run(5)
    assert _images(c.live_pods()) == ["app:v1"] * 5  # scaling still works while paused
    c.change(lambda d: d["spec"].__setitem__("paused", False))
    c.run(40)
    assert c.rollout_done()
    assert _images(c.live_pods()) == ["app:v2"] * 5


def test_revision_history_limit_deletes_the_oldest_replicasets() -> None:
    c = Cluster()
    c.deploy(revisionHistoryLimit=2)
    c.run(5)
    for version in range(2, 7):
        c.set_image(f"app:v{version}")
        c.run(30)
        assert c.rollout_done()
    c.run(2)
    revisions = sorted(
        int(rs["metadata"]["annotations"][REVISION_ANNOTATION]) for rs in c.replica_sets()
    )
    assert revisions == [4, 5, 6]


def test_scaling_a_deployment_scales_its_replicaset() -> None:
    c = Cluster()
    c.deploy()
    c.run(5)
    c.change(lambda d: d["spec"].__setitem__("replicas", 1))
    c.run(5)
    assert len(c.live_pods()) == 1
    (rs,) = c.replica_sets()
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "1"
    assert c.rollout_done()


def test_min_ready_seconds_delays_availability() -> None:
    c = Cluster()
    c.deploy(minReadySeconds=10)
    c.run(5)
    st = c.get()["status"]
    assert st.get("readyReplicas") == 3
    assert "availableReplicas" not in st
    assert _cond(c.get(), "Available")["status"] == "False"
    c.run(10)
    assert c.get()["status"]["availableReplicas"] == 3
    assert c.rollout_done()


def test_replicaset_replaces_deleted_and_failed_pods() -> None:
    c = Cluster()
    c.deploy()
    c.run(5)
    victim, failed = c.live_pods()[:2]
    c.store.delete(c.pods, "default", victim["metadata"]["name"])

    def fail(p: Obj) -> None:
        p["status"]["phase"] = "Failed"
        p["status"]["reason"] = "Evicted"

    c.store.mutate(c.pods, "default", failed["metadata"]["name"], fail, subresource="status")
    c.run(3)
    live = c.live_pods()
    assert len(live) == 3
    names = {p["metadata"]["name"] for p in live}
    assert victim["metadata"]["name"] not in names
    assert failed["metadata"]["name"] not in names
    events = c.store.list_objects(c.store.rtype("", "v1", "events"), "default")
    assert sum(1 for e in events if e["reason"] == "SuccessfulCreate") == 5


def _pod(
    name: str,
    *,
    node: str = "",
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    cost: int | None = None,
    ready_at: str = "2026-01-01T00:00:00Z",
) -> Obj:
    pod: Obj = {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": node, "containers": [{"name": "app"}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                            "lastTransitionTime": ready_at}],
            "containerStatuses": [{"name": "app", "restartCount": restarts}],
        },
    }  # fmt: skip
    if cost is not None:
        pod["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    return pod


def test_deletion_ranking_follows_the_documented_order() -> None:
    now = 1_790_000_000.0
    unscheduled = _pod("a-unscheduled", phase="Pending", ready=False)
    pending = _pod("b-pending", node="n1", phase="Pending", ready=False)
    not_ready = _pod("c-not-ready", node="n1", ready=False)
    cheap = _pod("d-cheap", node="n1", cost=-10)
    crowded = _pod("e-crowded", node="n1")
    restarted = _pod("f-restarted", node="n2", restarts=4)
    steady = _pod("g-steady", node="n3")
    pods = [steady, restarted, crowded, cheap, not_ready, pending, unscheduled]
    ranks = {"uid-e-crowded": 3, "uid-d-cheap": 3, "uid-f-restarted": 1, "uid-g-steady": 1}
    order = [p["metadata"]["name"] for p in rank_pods_for_deletion(pods, ranks, now)]
    assert order == [
        "a-unscheduled", "b-pending", "c-not-ready", "d-cheap", "e-crowded", "f-restarted",
        "g-steady",
    ]  # fmt: skip
    # Recently ready pods go before long-ready ones (on a log scale).
    fresh = _pod("h-fresh", node="n3", ready_at=format_time(now - 5))
    order = [p["metadata"]["name"] for p in rank_pods_for_deletion([steady, fresh], {}, now)]
    assert order == ["h-fresh", "g-steady"]


def test_replicaset_scale_down_prefers_unready_then_crowded_nodes() -> None:
    c = Cluster()
    c.deploy(replicas=4)
    c.run(5)
    pods = sorted(c.live_pods(), key=lambda p: p["metadata"]["name"])
    # Put two pods on node-0, make one of the others not ready.
    for pod, node in zip(pods, ["node-0", "node-0", "node-1", "node-2"], strict=True):
        c.store.mutate(c.pods, "default", pod["metadata"]["name"],
                       lambda p, node=node: p["spec"].__setitem__("nodeName", node))  # fmt: skip

    def unready(p: Obj) -> None:
        for cond in p["status"]["conditions"]:
            if cond["type"] == "Ready":
                cond["status"] = "False"

    c.store.mutate(c.pods, "default", pods[3]["metadata"]["name"], unready, subresource="status")
    (rs,) = c.replica_sets()
    c.store.mutate(
        c.rss, "default", rs["metadata"]["name"], lambda r: r["spec"].__setitem__("replicas", 2)
    )
    ReplicaSetController(store=c.store).step(c.clock.now())
    left = {p["metadata"]["name"] for p in c.live_pods()}
    assert pods[3]["metadata"]["name"] not in left  # not ready goes first
    assert len(left & {pods[0]["metadata"]["name"], pods[1]["metadata"]["name"]}) == 1
    assert pods[2]["metadata"]["name"] in left


def test_replicaset_adopts_matching_orphans() -> None:
    c = Cluster()
    c.deploy(replicas=2)
    c.run(5)
    (rs,) = c.replica_sets()
    labels = dict(rs["spec"]["template"]["metadata"]["labels"])
    c.store.create(c.pods, {"metadata": {"name": "stray", "namespace": "default", "labels": labels},
                            "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
                            "status": {"phase": "Pending"}})  # fmt: skip
    c.run(3)
    stray = c.store.find(c.pods, "default", "stray")
    live = c.live_pods()
    assert len(live) == 2
    if stray is not None:  # adopted, and a surplus pod was deleted instead (or it was)
        assert stray["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]


def test_hash_collision_bumps_collision_count() -> None:
    c = Cluster()
    d = c.deploy(replicas=1)
    pod_hash = compute_template_hash(d["spec"]["template"])
    # Somebody else's ReplicaSet already has the name the controller wants.
    c.store.create(c.rss, {
        "metadata": {"name": f"web-{pod_hash}", "namespace": "default"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"other": "x"}},
                 "template": {"metadata": {"labels": {"other": "x"}},
                              "spec": {"containers": [{"name": "o", "image": "o"}]}}},
    })  # fmt: skip
    c.run(5)
    d = c.get()
    assert d["status"]["collisionCount"] == 1
    assert c.rollout_done()
    names = {rs["metadata"]["name"] for rs in c.replica_sets()}
    assert f"web-{compute_template_hash(d['spec']['template'], 1)}" in names
