"""Every detector, positive and negative, on decoded Kubernetes JSON."""

from __future__ import annotations

from kubeheal.config import DetectionSettings
from kubeheal.engine.detect import alert_signal, detect
from kubeheal.model import ClusterView, SignalKind, Target, TargetKind

S = DetectionSettings()
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")


def _view(k8s, *pods, deployments=None, replica_sets=None, nodes=(), pdbs=None, hpas=()):
    return ClusterView(
        pods=pods,
        deployments=deployments if deployments is not None else [k8s.deployment(replicas=1)],
        replica_sets=replica_sets
        if replica_sets is not None
        else [k8s.replica_set("web-2", revision=2, created=-120)],
        nodes=nodes,
        pdbs=pdbs if pdbs is not None else [k8s.pdb()],
        hpas=hpas,
    )


def _kinds(signals) -> list[SignalKind]:
    return [s.kind for s in signals]


def test_healthy_cluster_has_no_signals(k8s) -> None:
    view = _view(k8s, k8s.pod("web-2-a"), nodes=[k8s.node()])
    assert detect(view, now=k8s.T0, settings=S) == []


def test_crash_loop_targets_the_deployment(k8s) -> None:
    pod = k8s.pod(
        "web-2-a",
        ready=False,
        statuses=[
            k8s.container_status(
                ready=False, restarts=2, waiting="CrashLoopBackOff", last_terminated="Error"
            )
        ],
    )
    signals = detect(_view(k8s, pod), now=k8s.T0, settings=S)
    assert _kinds(signals) == [SignalKind.CRASH_LOOP_BACK_OFF]
    (signal,) = signals
    assert signal.target == WEB
    assert signal.subject == "pod/web-2-a/container/app"
    assert signal.details["last_exit_code"] == 1
    assert signal.details["restart_count"] == 2


def test_high_restart_rate(k8s) -> None:
    fast = k8s.pod("web-2-a", created=-60, statuses=[k8s.container_status(restarts=8, started=-3)])
    slow = k8s.pod(
        "web-2-b", created=-60 * 24, statuses=[k8s.container_status(restarts=8, started=-3)]
    )
    few = k8s.pod("web-2-c", created=-5, statuses=[k8s.container_status(restarts=2, started=-1)])
    signals = detect(_view(k8s, fast, slow, few), now=k8s.T0, settings=S)
    assert [(s.kind, s.subject) for s in signals] == [
        (SignalKind.HIGH_RESTART_RATE, "pod/web-2-a/container/app")
    ]
    assert signals[0].details["restarts_per_hour"] == 8.0


def test_restart_rate_ends_when_the_container_has_been_quiet(k8s) -> None:
    """A pod that restarted 8 times in its first hour and has run quietly for 20 min since is
    no longer restarting fast, though its lifetime rate (8/h) is above the threshold."""
    quiet = k8s.pod(
        "web-2-a", created=-60, statuses=[k8s.container_status(restarts=8, started=-20)]
    )
    waiting = k8s.pod(
        "web-2-b",
        created=-60,
        statuses=[
            k8s.container_status(
                restarts=8, waiting="Error", last_terminated="Error", last_finished=-20
            )
        ],
    )
    recent = k8s.pod(
        "web-2-c",
        created=-60,
        statuses=[
            k8s.container_status(
                restarts=8, waiting="Error", last_terminated="Error", last_finished=-2
            )
        ],
    )
    signals = detect(_view(k8s, quiet, waiting, recent), now=k8s.T0, settings=S)
    assert [(s.kind, s.subject) for s in signals] == [
        (SignalKind.HIGH_RESTART_RATE, "pod/web-2-c/container/app")
    ]


def test_oom_killed_recent_only(k8s) -> None:
    recent = k8s.pod(
        "web-2-a",
        statuses=[k8s.container_status(restarts=1, last_terminated="OOMKilled", last_exit=137)],
    )
    old = k8s.pod(
        "web-2-b",
        statuses=[
            k8s.container_status(
                restarts=1, last_terminated="OOMKilled", last_exit=137, last_finished=-120
            )
        ],
    )
    error = k8s.pod(
        "web-2-c",
        statuses=[k8s.container_status(restarts=1, last_terminated="Error", last_exit=137)],
    )
    signals = detect(_view(k8s, recent, old, error), now=k8s.T0, settings=S)
    assert [(s.kind, s.subject) for s in signals] == [
        (SignalKind.OOM_KILLED, "pod/web-2-a/container/app")
    ]
    assert signals[0].details["memory_limit"] == "256Mi"
    assert signals[0].details["exit_code"] == 137
    assert signals[0].details["node"] == "n1"


def test_oom_killed_current_state(k8s) -> None:
    pod = k8s.pod(
        "web-2-a", ready=False, statuses=[k8s.container_status(ready=False, terminated="OOMKilled")]
    )
    assert _kinds(detect(_view(k8s, pod), now=k8s.T0, settings=S)) == [SignalKind.OOM_KILLED]


def test_image_pull(k8s) -> None:
    back_off = k8s.pod(
        "web-2-a",
        ready=False,
        statuses=[k8s.container_status(ready=False, waiting="ImagePullBackOff")],
    )
    err = k8s.pod(
        "web-2-b", ready=False, statuses=[k8s.container_status(ready=False, waiting="ErrImagePull")]
    )
    creating = k8s.pod(
        "web-2-c",
        ready=False,
        statuses=[k8s.container_status(ready=False, waiting="ContainerCreating")],
    )
    signals = detect(_view(k8s, back_off, err, creating), now=k8s.T0, settings=S)
    assert [(s.kind, s.details["reason"]) for s in signals] == [
        (SignalKind.IMAGE_PULL_BACK_OFF, "ImagePullBackOff"),
        (SignalKind.IMAGE_PULL_BACK_OFF, "ErrImagePull"),
    ]


def test_readiness_failing_after_threshold(k8s) -> None:
    long = k8s.pod(
        "web-2-a", ready=False, ready_since=-10, statuses=[k8s.container_status(ready=False)]
    )
    short = k8s.pod(
        "web-2-b", ready=False, ready_since=-1, statuses=[k8s.container_status(ready=False)]
    )
    signals = detect(_view(k8s, long, short), now=k8s.T0, settings=S)
    assert [(s.kind, s.subject) for s in signals] == [(SignalKind.READINESS_FAILING, "pod/web-2-a")]
    assert signals[0].details["not_ready_seconds"] == 600


def test_unschedulable(k8s) -> None:
    pending = k8s.pod(
        "web-2-a",
        phase="Pending",
        ready=False,
        node="",
        statuses=[],
        scheduled=("False", "Unschedulable", -5),
    )
    fresh = k8s.pod(
        "web-2-b",
        phase="Pending",
        ready=False,
        node="",
        statuses=[],
        scheduled=("False", "Unschedulable", -0.1),
    )
    other = k8s.pod(
        "web-2-c",
        phase="Pending",
        ready=False,
        node="",
        statuses=[],
        scheduled=("False", "SchedulerError", -5),
    )
    signals = detect(_view(k8s, pending, fresh, other), now=k8s.T0, settings=S)
    assert [(s.kind, s.subject) for s in signals] == [(SignalKind.POD_UNSCHEDULABLE, "pod/web-2-a")]


def test_deleting_and_finished_pods_are_ignored(k8s) -> None:
    crash = [k8s.container_status(ready=False, waiting="CrashLoopBackOff")]
    deleting = k8s.pod("web-2-a", ready=False, statuses=crash, deleting=True)
    done = k8s.pod("job-1", owner=("Job", "j"), phase="Failed", ready=False, statuses=crash)
    assert detect(_view(k8s, deleting, done), now=k8s.T0, settings=S) == []


def test_rollout_stuck(k8s) -> None:
    stuck = k8s.deployment(
        replicas=1,
        conditions=[
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ],
    )
    fine = k8s.deployment(
        replicas=1,
        conditions=[{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}],
    )
    assert _kinds(detect(_view(k8s, deployments=[stuck]), now=k8s.T0, settings=S)) == [
        SignalKind.ROLLOUT_STUCK
    ]
    assert detect(_view(k8s, deployments=[fine]), now=k8s.T0, settings=S) == []


def _rollout(k8s, *, new_created: float, new_pod_ready: bool):
    sets = [
        k8s.replica_set("web-1", revision=1, created=-600, replicas=1),
        k8s.replica_set("web-2", revision=2, created=new_created, replicas=1),
    ]
    status = (
        k8s.container_status()
        if new_pod_ready
        else k8s.container_status(
            ready=False, restarts=3, waiting="CrashLoopBackOff", last_terminated="Error"
        )
    )
    new_pod = k8s.pod("web-2-a", ready=new_pod_ready, created=new_created, statuses=[status])
    old_pod = k8s.pod("web-1-a", owner=("ReplicaSet", "web-1"), created=-600)
    return _view(k8s, new_pod, old_pod, replica_sets=sets)


def test_new_replicaset_unhealthy_after_rollout(k8s) -> None:
    signals = detect(_rollout(k8s, new_created=-5, new_pod_ready=False), now=k8s.T0, settings=S)
    new_rs = [s for s in signals if s.kind is SignalKind.NEW_REPLICASET_UNHEALTHY]
    assert len(new_rs) == 1
    assert new_rs[0].target == WEB
    assert new_rs[0].details["new_revision"] == 2
    assert new_rs[0].details["previous_revision"] == 1
    assert new_rs[0].details["unhealthy_pods"] == "web-2-a"


def test_new_replicaset_negative_cases(k8s) -> None:
    healthy = detect(_rollout(k8s, new_created=-5, new_pod_ready=True), now=k8s.T0, settings=S)
    assert SignalKind.NEW_REPLICASET_UNHEALTHY not in _kinds(healthy)
    old = detect(_rollout(k8s, new_created=-120, new_pod_ready=False), now=k8s.T0, settings=S)
    assert SignalKind.NEW_REPLICASET_UNHEALTHY not in _kinds(old)
    assert SignalKind.CRASH_LOOP_BACK_OFF in _kinds(old)


def test_node_conditions(k8s) -> None:
    nodes = [
        k8s.node("n1"),
        k8s.node("n2", ready="False", ready_since=-5),
        # the kubelet itself reports NotReady: only after node_not_ready_for (60 s)
        k8s.node("n3", ready="False", ready_since=-0.5),
        k8s.node("n4", memory_pressure=True, disk_pressure=True),
        # Unknown: the node lifecycle controller already waited its grace, reported at once
        k8s.node("n5", ready="Unknown", ready_since=0),
    ]
    signals = detect(_view(k8s, nodes=nodes), now=k8s.T0, settings=S)
    assert [(s.target.name, s.kind) for s in signals] == [
        ("n2", SignalKind.NODE_NOT_READY),
        ("n4", SignalKind.NODE_DISK_PRESSURE),
        ("n4", SignalKind.NODE_MEMORY_PRESSURE),
        ("n5", SignalKind.NODE_NOT_READY),
    ]
    assert all(s.target.kind is TargetKind.NODE and s.target.namespace == "" for s in signals)


def test_hpa_maxed_out(k8s) -> None:
    maxed = k8s.hpa()
    below = k8s.hpa("b", target="b", current=4, desired=6)
    not_limited = k8s.hpa("c", target="c", scaling_limited="False")
    no_condition = k8s.hpa("d", target="d", scaling_limited=None)
    signals = detect(
        _view(k8s, hpas=[maxed, below, not_limited, no_condition]), now=k8s.T0, settings=S
    )
    assert [(s.kind, s.target.name) for s in signals] == [
        (SignalKind.HPA_MAXED_OUT, "d"),
        (SignalKind.HPA_MAXED_OUT, "web"),
    ]
    assert signals[1].details["max_replicas"] == 6


def test_pdb_missing(k8s) -> None:
    three = k8s.deployment(replicas=3, created=-60)
    assert _kinds(detect(_view(k8s, deployments=[three], pdbs=[]), now=k8s.T0, settings=S)) == [
        SignalKind.PDB_MISSING
    ]
    assert detect(_view(k8s, deployments=[three]), now=k8s.T0, settings=S) == []
    off = DetectionSettings(missing_pdb=False)
    assert detect(_view(k8s, deployments=[three], pdbs=[]), now=k8s.T0, settings=off) == []


def test_output_is_deterministic(k8s) -> None:
    crash = [
        k8s.container_status(
            ready=False,
            restarts=9,
            waiting="CrashLoopBackOff",
            last_terminated="OOMKilled",
            last_exit=137,
        )
    ]
    pods = [k8s.pod(f"web-2-{c}", ready=False, statuses=crash) for c in "cab"]
    nodes = [k8s.node("n2", memory_pressure=True), k8s.node("n1", ready="False")]
    first = detect(_view(k8s, *pods, nodes=nodes), now=k8s.T0, settings=S)
    second = detect(
        _view(k8s, *reversed(pods), nodes=list(reversed(nodes))), now=k8s.T0, settings=S
    )
    assert first == second
    assert len({s.id for s in first}) == len(first)
    keys = [(s.target.key, s.kind.value, s.subject) for s in first]
    assert keys == sorted(keys)


def test_alert_signal_targets(k8s) -> None:
    view = _view(k8s, k8s.pod("web-2-a"))
    by_deployment = alert_signal(
        alertname="HighLatency",
        labels={"namespace": "shop", "deployment": "web"},
        observed_at=k8s.T0,
    )
    assert by_deployment is not None
    assert by_deployment.target == WEB
    by_pod = alert_signal(
        alertname="HighLatency",
        labels={"namespace": "shop", "pod": "web-2-a"},
        observed_at=k8s.T0,
        view=view,
    )
    assert by_pod is not None
    assert by_pod.target == WEB
    assert by_pod.labels["pod"] == "web-2-a"
    assert alert_signal(alertname="Watchdog", labels={}, observed_at=k8s.T0) is None
