"""Concrete parameters for the workload steps of a plan: rollback, restart, memory raise.

Each helper turns a playbook step and the incident into the action's parameters, or says why
the step does not apply now (``_Skip``: go to the next step; ``_Wait``: decide again later).
Split out of `kubeheal.engine.plan`, which calls them. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from datetime import datetime

import msgspec

from kubeheal.config import Settings
from kubeheal.engine.facts import (
    outlier_pod,
)
from kubeheal.engine.params import (
    RaiseMemoryLimit,
    RestartPod,
    RollbackDeployment,
)
from kubeheal.engine.playbooks.schema import (
    ActionName,
    RaiseMemoryLimitStep,
    RestartPodStep,
    RollbackDeploymentStep,
)
from kubeheal.model.cluster import ClusterView, Pod
from kubeheal.model.core import Incident, SignalKind
from kubeheal.model.history import History
from kubeheal.model.quantity import QuantityError, format_memory, parse_memory

__all__ = ["ROLLED_BACK_FROM_ANNOTATION"]

_MI = 2**20


class _Skip(msgspec.Struct, frozen=True):
    reason: str


class _Wait(msgspec.Struct, frozen=True):
    """Not yet: decide again later (``guard`` names why in the NoAction)."""

    guard: str
    reason: str


# -- helpers over the incident's signals ---------------------------------------------------


def _signal_pods(incident: Incident, view: ClusterView) -> list[Pod]:
    """Pods named by the incident's signals, not-ready first, then by name."""
    names: set[str] = set()
    for signal in incident.signals:
        parts = signal.subject.split("/")
        if len(parts) >= 2 and parts[0] == "pod":
            names.add(parts[1])
    pods = [p for n in names if (p := view.pod(incident.target.namespace, n)) is not None]
    if not pods:
        # The pods the signals named are gone (e.g. restarted): their replacements tell the
        # same story.
        pods = list(view.pods_of(incident.target))
    return sorted(pods, key=lambda p: (p.ready, p.metadata.name))


def _oom_container(incident: Incident) -> tuple[str, str] | None:
    """(pod, container) of the newest OOMKilled signal (or memory exhaustion forecast)."""
    ooms = [
        s
        for s in incident.signals
        if s.kind is SignalKind.OOM_KILLED
        or (s.kind is SignalKind.FORECAST and s.details.get("resource") == "memory")
    ]
    if not ooms:
        return None
    newest = max(ooms, key=lambda s: (s.observed_at, s.subject))
    parts = newest.subject.split("/")
    if len(parts) == 4 and parts[0] == "pod" and parts[2] == "container":
        return parts[1], parts[3]
    container = newest.details.get("container")
    return ("", str(container)) if container else None


# -- concrete parameters per step ----------------------------------------------------------


ROLLED_BACK_FROM_ANNOTATION = "kubeheal.io/rolled-back-from"
"""Set by the rollback action on the Deployment: the revision it rolled away from."""


def _rollback(
    step: RollbackDeploymentStep, incident: Incident, view: ClusterView, now: datetime
) -> RollbackDeployment | _Skip:
    dep = view.deployment_for(incident.target)
    if dep is None:
        return _Skip(f"{incident.target} is not a Deployment kubeheal can see")
    sets = view.replica_sets_of(dep.metadata.namespace, dep.metadata.name)
    current = dep.revision or (sets[-1].revision if sets else 0)
    # Never go back to a revision kubeheal already rolled away from: after a rollback the
    # "previous" revision is the bad one.
    bad = dep.metadata.annotations.get(ROLLED_BACK_FROM_ANNOTATION, "")
    previous = [
        rs
        for rs in sets
        if 0 < rs.revision < current
        and rs.spec.template.spec.containers
        and str(rs.revision) != bad
    ]
    if not previous:
        why = f" (revision {bad} was rolled back from)" if bad else ""
        return _Skip(f"{incident.target} has no previous revision to roll back to{why}")
    target_rs = previous[-1]
    age_limit = step.params.max_revision_age
    born = target_rs.metadata.creation_timestamp
    if age_limit is not None and born is not None and now - born > age_limit:
        return _Skip(f"previous revision {target_rs.revision} is older than {age_limit}")
    return RollbackDeployment(
        namespace=dep.metadata.namespace,
        deployment=dep.metadata.name,
        from_revision=current,
        to_revision=target_rs.revision,
        to_replica_set=target_rs.metadata.name,
        images={c.name: c.image for c in target_rs.spec.template.spec.containers},
    )


def _restart(
    step: RestartPodStep,
    incident: Incident,
    view: ClusterView,
    history: History,
    now: datetime,
) -> RestartPod | _Skip:
    done = sum(
        1
        for a in history.actions
        if a.counts and a.incident_id == incident.id and a.action == ActionName.RESTART_POD.value
    )
    if done >= step.params.max_per_incident:
        return _Skip(f"pod restarted {done} time(s) for this incident already")
    if step.params.pick == "outlier":
        outlier = outlier_pod(incident, view, now=now, ratio=step.params.outlier_ratio)
        if outlier is None:
            return _Skip(f"no pod of {incident.target} stands out from its peers")
        return RestartPod(
            namespace=incident.target.namespace, pod=outlier.pod, pod_ready=outlier.ready
        )
    pods = _signal_pods(incident, view)
    if not pods:
        return _Skip("no pod of the incident is left to restart")
    pod = pods[0]
    return RestartPod(namespace=pod.metadata.namespace, pod=pod.metadata.name, pod_ready=pod.ready)


def _node_allocatable_memory(view: ClusterView, node_name: str) -> int | None:
    names = [node_name] if node_name else [n.metadata.name for n in view.nodes]
    sizes: list[int] = []
    for name in names:
        node = view.node(name)
        if node is None or "memory" not in node.status.allocatable:
            continue
        try:
            sizes.append(parse_memory(node.status.allocatable["memory"]))
        except QuantityError:
            continue
    return max(sizes) if sizes else None


def _raise_memory(
    step: RaiseMemoryLimitStep,
    incident: Incident,
    view: ClusterView,
    settings: Settings,
) -> RaiseMemoryLimit | _Skip:
    found = _oom_container(incident)
    if found is None:
        return _Skip("no OOMKilled (or memory forecast) container in the incident")
    pod_name, container_name = found
    target = incident.target
    pod = view.pod(target.namespace, pod_name) if pod_name else None
    dep = view.deployment_for(target)
    spec = dep.spec.template.spec if dep is not None else (pod.spec if pod is not None else None)
    container = spec.container(container_name) if spec is not None else None
    if container is None:
        return _Skip(f"container {container_name} not found in {target}")
    raw_limit = container.resources.limits.get("memory")
    if raw_limit is None:
        return _Skip(f"container {container_name} has no memory limit to raise")
    try:
        current = parse_memory(raw_limit)
    except QuantityError as e:
        return _Skip(f"memory limit of {container_name} is unreadable: {e}")
    wanted = math.ceil(current * step.params.factor / _MI) * _MI
    bounds = {
        "factor": wanted,
        "playbook max": parse_memory(step.params.max),
        "settings max": parse_memory(settings.remediation.max_memory_limit),
    }
    node_name = pod.spec.node_name if pod is not None else ""
    allocatable = _node_allocatable_memory(view, node_name)
    if allocatable is not None:
        bounds["node allocatable"] = allocatable
    bound_name = min(bounds, key=lambda k: (bounds[k], k != "factor"))
    new = bounds[bound_name]
    if new <= current:
        return _Skip(
            f"memory limit of {container_name} ({raw_limit}) is already at its bound "
            f"({bound_name}: {format_memory(new)})"
        )
    new_request: str | None = None
    raw_request = container.resources.requests.get("memory")
    if step.params.raise_request and raw_request is not None:
        try:
            request = parse_memory(raw_request)
        except QuantityError:
            request = 0
        scaled = min(math.ceil(request * step.params.factor / _MI) * _MI, new)
        if scaled > request:
            new_request = format_memory(scaled)
    return RaiseMemoryLimit(
        namespace=target.namespace,
        workload_kind=target.kind.value,
        workload=target.name,
        container=container_name,
        current_bytes=current,
        new_bytes=new,
        new_limit=format_memory(new),
        new_request=new_request,
        bounded_by=bound_name,
    )
