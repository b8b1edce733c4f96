"""Detectors: pure functions from a cluster snapshot to signals.

One small function per signal kind; ``detect`` runs them all over a ``ClusterView``. The
per-object entry points (``detect_pod``, ``detect_deployment``, ``detect_node``,
``detect_hpa``) are listed in ``DETECTORS`` by the watched resource whose objects they read;
the runtime runs that table over what a watch event touched and over a full sweep. Each
signal targets the owning workload (a pod's Deployment through its ReplicaSet) or the node.
Output is sorted, so the same snapshot always yields the same list.

Alert labels are untrusted input: every label that names an object (``namespace``,
``deployment``, ``statefulset``, ``daemonset``, ``pod``, ``node``) must be the Kubernetes name
it claims to be (``kubeheal.model.names``), else the alert names no target and
``invalid_alert_label`` says which label is wrong and why.

Pure: no I/O, no clock (``now`` is a parameter).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import msgspec

from kubeheal.config import DetectionSettings
from kubeheal.engine.facts import kubeheal_made
from kubeheal.model.cluster import (
    ClusterView,
    ContainerStatus,
    Deployment,
    HorizontalPodAutoscaler,
    Node,
    ObjectMeta,
    Pod,
)
from kubeheal.model.core import Signal, SignalKind, SignalSource, Target, TargetKind
from kubeheal.model.names import NameKind, name_problem, shown

__all__ = [
    "ALERT_NAME_LABELS",
    "DETECTORS",
    "IMAGE_PULL_REASONS",
    "Detector",
    "InvalidAlertLabel",
    "alert_signal",
    "alert_target",
    "detect",
    "detect_deployment",
    "detect_hpa",
    "detect_node",
    "detect_pod",
    "distinct_sorted",
    "invalid_alert_label",
]

IMAGE_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
_UNHEALTHY_WAITING = frozenset({"CrashLoopBackOff", "CreateContainerConfigError"}) | (
    IMAGE_PULL_REASONS
)

Details = dict[str, str | int | float | bool]


def _signal(
    kind: SignalKind,
    target: Target,
    *,
    now: datetime,
    subject: str = "",
    details: Details | None = None,
) -> Signal:
    return Signal(
        id=Signal.make_id(kind, target, subject),
        kind=kind,
        target=target,
        subject=subject,
        observed_at=now,
        details=details or {},
        source=SignalSource.DETECTOR,
    )


def _older_than(moment: datetime | None, *, now: datetime, age: timedelta) -> bool:
    return moment is not None and now - moment >= age


def _subject(pod: Pod, container: str = "") -> str:
    base = f"pod/{pod.metadata.name}"
    return f"{base}/container/{container}" if container else base


# -- container-level detectors -----------------------------------------------------------


def _crash_loop(
    pod: Pod, status: ContainerStatus, target: Target, *, now: datetime
) -> Signal | None:
    waiting = status.state.waiting
    if waiting is None or waiting.reason != "CrashLoopBackOff":
        return None
    details: Details = {"restart_count": status.restart_count, "container": status.name}
    last = status.last_state.terminated
    if last is not None:
        details["last_exit_code"] = last.exit_code
        details["last_reason"] = last.reason
    return _signal(
        SignalKind.CRASH_LOOP_BACK_OFF,
        target,
        now=now,
        subject=_subject(pod, status.name),
        details=details,
    )


def _last_restart(status: ContainerStatus) -> datetime | None:
    """When the container last (re)started, as far as its status tells."""
    moments = [
        status.state.running.started_at if status.state.running is not None else None,
        status.last_state.terminated.finished_at
        if status.last_state.terminated is not None
        else None,
    ]
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _restart_rate(
    pod: Pod,
    status: ContainerStatus,
    target: Target,
    *,
    now: datetime,
    settings: DetectionSettings,
) -> Signal | None:
    if status.restart_count < settings.restart_rate_min_restarts:
        return None
    last = _last_restart(status)
    if last is not None and now - last > settings.restart_rate_recent_within:
        # Quiet since: its lifetime rate says nothing about now (a pod that crashed 20 times
        # would otherwise stay "restarting fast" for 20/rate hours after it recovered).
        return None
    started = pod.status.start_time or pod.metadata.creation_timestamp
    if started is None:
        return None
    hours = max((now - started).total_seconds() / 3600.0, 1 / 60)
    rate = status.restart_count / hours
    if rate < settings.restart_rate_per_hour:
        return None
    return _signal(
        SignalKind.HIGH_RESTART_RATE,
        target,
        now=now,
        subject=_subject(pod, status.name),
        details={
            "restart_count": status.restart_count,
            "restarts_per_hour": round(rate, 3),
            "container": status.name,
        },
    )


def _oom_killed(
    pod: Pod,
    status: ContainerStatus,
    target: Target,
    *,
    now: datetime,
    settings: DetectionSettings,
) -> Signal | None:
    for terminated in (status.state.terminated, status.last_state.terminated):
        if terminated is None or terminated.reason != "OOMKilled":
            continue
        if terminated.finished_at is not None and _older_than(
            terminated.finished_at, now=now, age=settings.oom_recent_within
        ):
            continue
        details: Details = {
            "container": status.name,
            "exit_code": terminated.exit_code,
            "restart_count": status.restart_count,
        }
        container = pod.spec.container(status.name)
        if container is not None and "memory" in container.resources.limits:
            details["memory_limit"] = container.resources.limits["memory"]
        if pod.spec.node_name:
            details["node"] = pod.spec.node_name
        return _signal(
            SignalKind.OOM_KILLED,
            target,
            now=now,
            subject=_subject(pod, status.name),
            details=details,
        )
    return None


def _image_pull(
    pod: Pod, status: ContainerStatus, target: Target, *, now: datetime
) -> Signal | None:
    waiting = status.state.waiting
    if waiting is None or waiting.reason not in IMAGE_PULL_REASONS:
        return None
    container = pod.spec.container(status.name)
    return _signal(
        SignalKind.IMAGE_PULL_BACK_OFF,
        target,
        now=now,
        subject=_subject(pod, status.name),
        details={
            "container": status.name,
            "reason": waiting.reason,
            "message": waiting.message,
            "image": container.image if container else "",
        },
    )


# -- pod-level detectors -----------------------------------------------------------------


def _readiness_failing(
    pod: Pod, target: Target, *, now: datetime, settings: DetectionSettings
) -> Signal | None:
    if pod.status.phase != "Running":
        return None
    ready = pod.condition("Ready")
    if ready is None or ready.status == "True":
        return None
    if not _older_than(ready.last_transition_time, now=now, age=settings.readiness_failing_for):
        return None
    # Running but not ready: containers that crash or cannot pull have their own signals.
    not_ready = [
        s.name for s in pod.status.container_statuses if not s.ready and s.state.running is not None
    ]
    if not not_ready:
        return None
    assert ready.last_transition_time is not None
    return _signal(
        SignalKind.READINESS_FAILING,
        target,
        now=now,
        subject=_subject(pod),
        details={
            "containers": ",".join(sorted(not_ready)),
            "not_ready_seconds": int((now - ready.last_transition_time).total_seconds()),
        },
    )


def _unschedulable(
    pod: Pod, target: Target, *, now: datetime, settings: DetectionSettings
) -> Signal | None:
    if pod.status.phase != "Pending":
        return None
    scheduled = pod.condition("PodScheduled")
    if scheduled is None or scheduled.status != "False" or scheduled.reason != "Unschedulable":
        return None
    since = scheduled.last_transition_time or pod.metadata.creation_timestamp
    if since is not None and not _older_than(since, now=now, age=settings.unschedulable_for):
        return None
    return _signal(
        SignalKind.POD_UNSCHEDULABLE,
        target,
        now=now,
        subject=_subject(pod),
        details={"message": scheduled.message},
    )


def detect_pod(
    view: ClusterView, pod: Pod, *, now: datetime, settings: DetectionSettings
) -> list[Signal]:
    """Signals about one pod, each targeting the pod's owning workload."""
    if pod.metadata.deletion_timestamp is not None or pod.status.phase in ("Succeeded", "Failed"):
        return []
    target = view.owner_of(pod)
    found: list[Signal | None] = []
    for status in pod.status.container_statuses:
        found.append(_crash_loop(pod, status, target, now=now))
        found.append(_restart_rate(pod, status, target, now=now, settings=settings))
        found.append(_oom_killed(pod, status, target, now=now, settings=settings))
        found.append(_image_pull(pod, status, target, now=now))
    found.append(_readiness_failing(pod, target, now=now, settings=settings))
    found.append(_unschedulable(pod, target, now=now, settings=settings))
    return [signal for signal in found if signal is not None]


# -- workload-level detectors ------------------------------------------------------------


def _pod_unhealthy(pod: Pod, *, now: datetime, grace: timedelta) -> bool:
    for status in pod.status.container_statuses:
        waiting = status.state.waiting
        if waiting is not None and waiting.reason in _UNHEALTHY_WAITING:
            return True
        last = status.last_state.terminated
        if last is not None and last.reason in ("Error", "OOMKilled") and not status.ready:
            return True
    if pod.ready:
        return False
    born = pod.metadata.creation_timestamp or pod.status.start_time
    return _older_than(born, now=now, age=grace)


def _new_replicaset_unhealthy(
    view: ClusterView,
    dep: Deployment,
    target: Target,
    *,
    now: datetime,
    settings: DetectionSettings,
) -> Signal | None:
    sets = view.replica_sets_of(dep.metadata.namespace, dep.metadata.name)
    if len(sets) < 2:
        return None
    newest = sets[-1]
    previous = [rs for rs in sets[:-1] if rs.revision < newest.revision]
    if not previous:
        return None
    created = newest.metadata.creation_timestamp
    if created is None or now - created > settings.rollout_recent_within:
        return None
    new_pods = [
        pod
        for pod in view.pods_of(target)
        if (rs := view.replica_set_of(pod)) is not None and rs.metadata.name == newest.metadata.name
    ]
    unhealthy = [
        pod.metadata.name
        for pod in new_pods
        if _pod_unhealthy(pod, now=now, grace=settings.new_replicaset_grace)
    ]
    if not unhealthy:
        return None
    return _signal(
        SignalKind.NEW_REPLICASET_UNHEALTHY,
        target,
        now=now,
        subject=f"replicaset/{newest.metadata.name}",
        details={
            "new_replicaset": newest.metadata.name,
            "new_revision": newest.revision,
            "previous_replicaset": previous[-1].metadata.name,
            "previous_revision": previous[-1].revision,
            "unhealthy_pods": ",".join(sorted(unhealthy)),
            "new_pods": len(new_pods),
        },
    )


def _rollout_stuck(dep: Deployment, target: Target, *, now: datetime) -> Signal | None:
    progressing = dep.condition("Progressing")
    if (
        progressing is None
        or progressing.status != "False"
        or progressing.reason != "ProgressDeadlineExceeded"
    ):
        return None
    return _signal(
        SignalKind.ROLLOUT_STUCK,
        target,
        now=now,
        subject=f"deployment/{dep.metadata.name}",
        details={"revision": dep.revision, "message": progressing.message},
    )


def _pdb_missing(
    view: ClusterView,
    dep: Deployment,
    target: Target,
    *,
    now: datetime,
    settings: DetectionSettings,
) -> Signal | None:
    """A multi-replica Deployment no PDB covers, once it has existed for the grace period.

    The grace period (``missing_pdb_grace``, from the Deployment's creationTimestamp) lets a
    PDB applied together with the workload land first: creating one the moment the workload
    appears races the user's own, and a pod two PDBs select cannot be evicted at all. A
    Deployment whose creation time is unknown is not reported (its age cannot be proven).
    """
    if not settings.missing_pdb or dep.replicas < settings.missing_pdb_min_replicas:
        return None
    if view.pdbs_for_workload(target):
        return None
    if not _older_than(dep.metadata.creation_timestamp, now=now, age=settings.missing_pdb_grace):
        return None
    return _signal(
        SignalKind.PDB_MISSING,
        target,
        now=now,
        subject=f"deployment/{dep.metadata.name}",
        details={"replicas": dep.replicas},
    )


def _ours(meta: ObjectMeta) -> bool:
    return kubeheal_made(meta.labels, meta.annotations)


def _pdb_redundant(
    view: ClusterView, dep: Deployment, target: Target, *, now: datetime
) -> Signal | None:
    """A PDB kubeheal created (``kubeheal_made``) covers the Deployment together with
    one it did not create: the user's own has appeared, so kubeheal's must go (a pod two PDBs
    select cannot be evicted). Only kubeheal's PDB is ever named for removal."""
    covering = view.pdbs_for_workload(target)
    ours = sorted(p.metadata.name for p in covering if _ours(p.metadata))
    theirs = sorted(p.metadata.name for p in covering if not _ours(p.metadata))
    if not ours or not theirs:
        return None
    return _signal(
        SignalKind.PDB_REDUNDANT,
        target,
        now=now,
        subject=f"deployment/{dep.metadata.name}",
        details={"pdb": ours[0], "covered_by": ",".join(theirs)},
    )


def detect_deployment(
    view: ClusterView, dep: Deployment, *, now: datetime, settings: DetectionSettings
) -> list[Signal]:
    """Signals about one Deployment's rollout and protection."""
    if dep.metadata.deletion_timestamp is not None:
        return []
    target = Target(
        kind=TargetKind.DEPLOYMENT, namespace=dep.metadata.namespace, name=dep.metadata.name
    )
    found = [
        _rollout_stuck(dep, target, now=now),
        _new_replicaset_unhealthy(view, dep, target, now=now, settings=settings),
        _pdb_missing(view, dep, target, now=now, settings=settings),
        _pdb_redundant(view, dep, target, now=now),
    ]
    return [signal for signal in found if signal is not None]


# -- nodes and autoscalers -----------------------------------------------------------------


def detect_node(node: Node, *, now: datetime, settings: DetectionSettings) -> list[Signal]:
    """NotReady, MemoryPressure and DiskPressure of one node.

    A node whose Ready condition is ``Unknown`` is reported at once: the node lifecycle
    controller set it after node-monitor-grace-period without a Lease renewal, so the kubelet
    has been silent for 40 s already, and the first step (a cordon) moves nothing. ``False``
    (the kubelet itself reports NotReady: a runtime or network plugin hiccup, often brief) is
    reported after ``node_not_ready_for``; its pods are never moved by kubeheal, as its
    kubelet still renews the Lease.
    """
    target = Target(kind=TargetKind.NODE, name=node.metadata.name)
    found: list[Signal] = []
    ready = node.condition("Ready")
    if ready is not None and ready.status != "True":
        since = ready.last_transition_time
        wait = timedelta(0) if ready.status == "Unknown" else settings.node_not_ready_for
        if since is None or _older_than(since, now=now, age=wait):
            found.append(
                _signal(
                    SignalKind.NODE_NOT_READY,
                    target,
                    now=now,
                    subject=f"node/{node.metadata.name}",
                    details={"status": ready.status, "reason": ready.reason},
                )
            )
    for condition, kind in (
        ("MemoryPressure", SignalKind.NODE_MEMORY_PRESSURE),
        ("DiskPressure", SignalKind.NODE_DISK_PRESSURE),
    ):
        cond = node.condition(condition)
        if cond is not None and cond.status == "True":
            found.append(
                _signal(
                    kind,
                    target,
                    now=now,
                    subject=f"node/{node.metadata.name}",
                    details={"reason": cond.reason},
                )
            )
    recovered = _node_recovered(node, target, now=now, settings=settings)
    if recovered is not None:
        found.append(recovered)
    return found


_NODE_MAINTENANCE_ACTIONS = ("drain_node", "cordon_node", "delete_pods_on_node")
_LAST_ACTION_ANNOTATION = "kubeheal.io/last-action"


def _node_recovered(
    node: Node, target: Target, *, now: datetime, settings: DetectionSettings
) -> Signal | None:
    """A node kubeheal itself cordoned (its last action on it was a cordon or a drain) that has
    been Ready, without memory or disk pressure, for ``uncordon_after``."""
    if not node.spec.unschedulable:
        return None
    raw = node.metadata.annotations.get(_LAST_ACTION_ANNOTATION, "")
    try:
        last = json.loads(raw) if raw else {}
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("action") not in _NODE_MAINTENANCE_ACTIONS:
        return None
    healthy_since: datetime | None = None
    for kind, wanted in (("Ready", "True"), ("MemoryPressure", "False"), ("DiskPressure", "False")):
        cond = node.condition(kind)
        if cond is None:
            if kind == "Ready":
                return None
            continue
        if cond.status != wanted:
            return None
        since = cond.last_transition_time
        if since is not None and (healthy_since is None or since > healthy_since):
            healthy_since = since
    if healthy_since is not None and not _older_than(
        healthy_since, now=now, age=settings.uncordon_after
    ):
        return None
    return _signal(
        SignalKind.NODE_RECOVERED,
        target,
        now=now,
        subject=f"node/{node.metadata.name}",
        details={"last_action": str(last.get("action"))},
    )


_SCALE_KINDS = {
    "Deployment": TargetKind.DEPLOYMENT,
    "StatefulSet": TargetKind.STATEFULSET,
    "ReplicaSet": TargetKind.REPLICASET,
}


def detect_hpa(hpa: HorizontalPodAutoscaler, *, now: datetime) -> list[Signal]:
    """An HPA pinned at maxReplicas while it wants at least that many."""
    spec, status = hpa.spec, hpa.status
    if spec.max_replicas <= 0:
        return []
    if status.current_replicas < spec.max_replicas or status.desired_replicas < spec.max_replicas:
        return []
    limited = hpa.condition("ScalingLimited")
    if limited is not None and limited.status != "True":
        return []
    ref = spec.scale_target_ref
    kind = _SCALE_KINDS.get(ref.kind, TargetKind.DEPLOYMENT)
    target = Target(kind=kind, namespace=hpa.metadata.namespace, name=ref.name)
    return [
        _signal(
            SignalKind.HPA_MAXED_OUT,
            target,
            now=now,
            subject=f"hpa/{hpa.metadata.name}",
            details={
                "hpa": hpa.metadata.name,
                "max_replicas": spec.max_replicas,
                "current_replicas": status.current_replicas,
                "desired_replicas": status.desired_replicas,
                "scaling_limited": limited is not None,
            },
        )
    ]


def _sort_key(signal: Signal) -> tuple[str, str, str]:
    return (signal.target.key, signal.kind.value, signal.subject)


_T = TypeVar("_T")


@dataclass(frozen=True)
class Detector(Generic[_T]):
    """The detector of one watched resource: which objects of a snapshot it reads, and the
    signals of one of them."""

    resource: str
    """The watched resource (plural, e.g. ``pods``) whose objects it reads."""
    objects: Callable[[ClusterView], Sequence[_T]]
    run: Callable[[ClusterView, _T, datetime, DetectionSettings], list[Signal]]


def _pods(view: ClusterView) -> Sequence[Pod]:
    return view.pod_snapshot()


def _deployments(view: ClusterView) -> Sequence[Deployment]:
    return view.deployments


def _nodes(view: ClusterView) -> Sequence[Node]:
    return view.nodes


def _hpas(view: ClusterView) -> Sequence[HorizontalPodAutoscaler]:
    return view.hpas


def _run_pod(view: ClusterView, pod: Pod, now: datetime, s: DetectionSettings) -> list[Signal]:
    return detect_pod(view, pod, now=now, settings=s)


def _run_deployment(
    view: ClusterView, dep: Deployment, now: datetime, s: DetectionSettings
) -> list[Signal]:
    return detect_deployment(view, dep, now=now, settings=s)


def _run_node(_view: ClusterView, node: Node, now: datetime, s: DetectionSettings) -> list[Signal]:
    return detect_node(node, now=now, settings=s)


def _run_hpa(
    _view: ClusterView, hpa: HorizontalPodAutoscaler, now: datetime, _s: DetectionSettings
) -> list[Signal]:
    return detect_hpa(hpa, now=now)


DETECTORS: Mapping[str, Detector[Any]] = {
    d.resource: d
    for d in (
        Detector[Pod]("pods", _pods, _run_pod),
        Detector[Deployment]("deployments", _deployments, _run_deployment),
        Detector[Node]("nodes", _nodes, _run_node),
        Detector[HorizontalPodAutoscaler]("horizontalpodautoscalers", _hpas, _run_hpa),
    )
}
"""Every detector by watched resource, in sweep order (pods, Deployments, nodes, HPAs)."""


def distinct_sorted(signals: Iterable[Signal]) -> list[Signal]:
    """``signals`` without repeated ids (the last one kept), by target, kind and subject."""
    unique = {signal.id: signal for signal in signals}
    return sorted(unique.values(), key=_sort_key)


def detect(view: ClusterView, *, now: datetime, settings: DetectionSettings) -> list[Signal]:
    """Every signal the snapshot shows (every entry of ``DETECTORS``), sorted by target,
    kind and subject."""
    found: list[Signal] = []
    for detector in DETECTORS.values():
        for obj in detector.objects(view):
            found.extend(detector.run(view, obj, now, settings))
    return distinct_sorted(found)


_ALERT_WORKLOAD_LABELS = (
    ("deployment", TargetKind.DEPLOYMENT),
    ("statefulset", TargetKind.STATEFULSET),
    ("daemonset", TargetKind.DAEMONSET),
)


def _instance_host(instance: str) -> str:
    """The host part of a Prometheus ``instance`` label (``host:port``, ``[v6]:port``, URL)."""
    text = instance.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text[1:]
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text


def _node_named(view: ClusterView | None, host: str) -> str | None:
    """The node ``host`` names (exactly, or by its first DNS label), if the view has it."""
    if view is None or not host:
        return None
    for candidate in (host, host.split(".", 1)[0]):
        if view.node(candidate) is not None:
            return candidate
    return None


ALERT_NAME_LABELS: tuple[tuple[str, NameKind, str], ...] = (
    ("namespace", NameKind.LABEL, "Namespace"),
    ("deployment", NameKind.SUBDOMAIN, "Deployment"),
    ("statefulset", NameKind.SUBDOMAIN, "StatefulSet"),
    ("daemonset", NameKind.SUBDOMAIN, "DaemonSet"),
    ("pod", NameKind.SUBDOMAIN, "Pod"),
    ("node", NameKind.SUBDOMAIN, "Node"),
)
"""The alert labels that name an object: (label, name rule, kind named)."""


class InvalidAlertLabel(msgspec.Struct, frozen=True, kw_only=True):
    """An alert label that should name an object but is no valid name of its kind.

    ``str()`` is one log-safe line (the value's control characters escaped).
    """

    label: str
    value: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"label {self.label}={shown(self.value)} is not a valid {self.kind} name: " + (
            self.reason
        )


def invalid_alert_label(labels: Mapping[str, str]) -> InvalidAlertLabel | None:
    """The first object-naming label of an alert that is not a valid name, or None.

    Empty labels count as absent (Alertmanager drops them). ``instance`` and ``job`` are
    not checked: they only select nodes and Deployments the cluster view already holds.
    """
    for label, rule, kind in ALERT_NAME_LABELS:
        value = labels.get(label, "")
        if not value:
            continue
        problem = name_problem(value, rule)
        if problem is not None:
            return InvalidAlertLabel(label=label, value=value, kind=kind, reason=problem)
    return None


def alert_target(labels: Mapping[str, str], view: ClusterView | None = None) -> Target | None:
    """The workload or node an alert is about, from its labels; None when it names none,
    or when a label naming an object is not a valid name (see ``invalid_alert_label``).

    In order: a ``deployment``/``statefulset``/``daemonset`` label (with ``namespace``); a
    ``pod`` label (with ``namespace``) resolved through the view's owner chain to its workload
    (the pod itself when the view does not know it); a ``node`` label; the host part of
    ``instance`` when it names a node of the view; a ``job`` label (``name`` or
    ``namespace/name``, as the Prometheus Operator writes it) naming a Deployment of the
    alert's namespace in the view. Workload labels come before ``node``: kube-state-metrics
    adds a node to pod-level series, and the pod's workload is what needs fixing.
    """
    if invalid_alert_label(labels) is not None:
        return None
    namespace = labels.get("namespace", "")
    for label, kind in _ALERT_WORKLOAD_LABELS:
        if labels.get(label) and namespace:
            return Target(kind=kind, namespace=namespace, name=labels[label])
    if labels.get("pod") and namespace:
        pod = view.pod(namespace, labels["pod"]) if view is not None else None
        if view is not None and pod is not None:
            return view.owner_of(pod)
        return Target(kind=TargetKind.POD, namespace=namespace, name=labels["pod"])
    if labels.get("node"):
        return Target(kind=TargetKind.NODE, name=labels["node"])
    node = _node_named(view, _instance_host(labels.get("instance", "")))
    if node is not None:
        return Target(kind=TargetKind.NODE, name=node)
    job = labels.get("job", "")
    if job and view is not None:
        job_ns, _, job_name = job.rpartition("/")
        job_ns = job_ns or namespace
        if job_ns and view.deployment(job_ns, job_name) is not None:
            return Target(kind=TargetKind.DEPLOYMENT, namespace=job_ns, name=job_name)
    return None


def alert_signal(
    *,
    alertname: str,
    labels: Mapping[str, str],
    observed_at: datetime,
    view: ClusterView | None = None,
) -> Signal | None:
    """A firing Alertmanager alert as an ``Alert`` signal about the workload or node it names.

    The target comes from the labels (see ``alert_target``). Returns None when the alert
    names no target kubeheal can act on, or names it with an invalid label
    (``invalid_alert_label`` tells which).
    """
    target = alert_target(labels, view)
    if target is None:
        return None
    return Signal(
        id=Signal.make_id(SignalKind.ALERT, target, f"alert/{alertname}"),
        kind=SignalKind.ALERT,
        target=target,
        subject=f"alert/{alertname}",
        observed_at=observed_at,
        details={"alertname": alertname},
        labels=dict(labels),
        source=SignalSource.ALERTMANAGER,
    )
