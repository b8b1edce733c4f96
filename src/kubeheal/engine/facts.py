"""Small derived facts about targets that matching, guards and planning share.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubeheal.model.cluster import ClusterView, Node, ObjectMeta, Pod, PodSpec
from kubeheal.model.core import Incident, SignalKind, Target, TargetKind
from kubeheal.model.quantity import QuantityError, format_memory, parse_cpu, parse_memory

__all__ = [
    "DISABLED_ANNOTATION",
    "KUBEHEAL_KEY_ANNOTATION",
    "MANAGED_BY_KUBEHEAL",
    "POD_VALUE_PREFIX",
    "DrainFit",
    "NodeCapacity",
    "Outlier",
    "PodRequests",
    "disabled_by",
    "drain_fit",
    "gitops_owner",
    "kubeheal_made",
    "last_rollout_at",
    "outlier_pod",
    "pod_requests",
    "resolve_int_or_percent",
    "schedulable_capacity",
    "schedulable_nodes",
    "workload_replicas",
]

DISABLED_ANNOTATION = "kubeheal.io/disabled"
MANAGED_BY_KUBEHEAL = ("app.kubernetes.io/managed-by", "kubeheal")
"""The label kubeheal puts on every object it creates (e.g. a PodDisruptionBudget)."""
KUBEHEAL_KEY_ANNOTATION = "kubeheal.io/key"
"""The idempotency key of the action that created the object."""

_GITOPS_LABELS = (
    ("argocd.argoproj.io/instance", "Argo CD"),
    ("kustomize.toolkit.fluxcd.io/name", "Flux"),
    ("helm.toolkit.fluxcd.io/name", "Flux"),
)


def gitops_owner(meta: ObjectMeta | None) -> str | None:
    """ "Argo CD", "Flux" or "Helm" when those tools manage the object, else None."""
    if meta is None:
        return None
    for label, owner in _GITOPS_LABELS:
        if label in meta.labels:
            return owner
    if "argocd.argoproj.io/tracking-id" in meta.annotations:
        return "Argo CD"
    if meta.labels.get("app.kubernetes.io/managed-by") == "Helm":
        return "Helm"
    return None


def disabled_by(view: ClusterView, target: Target) -> str | None:
    """Where the ``kubeheal.io/disabled: "true"`` annotation stops kubeheal for ``target``
    (the object or its namespace), or None."""
    meta = view.workload_meta(target)
    if meta is not None and meta.annotations.get(DISABLED_ANNOTATION) == "true":
        return f"{target} is annotated {DISABLED_ANNOTATION}=true"
    if target.namespace:
        namespace = view.namespace(target.namespace)
        if (
            namespace is not None
            and namespace.metadata.annotations.get(DISABLED_ANNOTATION) == "true"
        ):
            return f"namespace {target.namespace} is annotated {DISABLED_ANNOTATION}=true"
    return None


def last_rollout_at(view: ClusterView, target: Target) -> datetime | None:
    """Creation time of a Deployment's newest ReplicaSet (its last rollout).

    None when there is no earlier revision: the first ReplicaSet is the Deployment's
    creation, not a rollout of a new template.
    """
    if target.kind is not TargetKind.DEPLOYMENT:
        return None
    sets = view.replica_sets_of(target.namespace, target.name)
    if len(sets) < 2:
        return None
    return sets[-1].metadata.creation_timestamp


def workload_replicas(view: ClusterView, target: Target) -> int:
    """Desired replicas of a Deployment, else the number of its pods."""
    dep = view.deployment_for(target)
    if dep is not None:
        return dep.replicas
    return len(view.pods_of(target))


def resolve_int_or_percent(value: int | str | None, total: int, *, round_up: bool) -> int | None:
    """An int-or-percent field resolved against ``total`` as Kubernetes does."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.endswith("%") and text[:-1].isdigit():
        scaled = int(text[:-1]) * total
        return -(-scaled // 100) if round_up else scaled // 100
    if text.isdigit():
        return int(text)
    return None


def kubeheal_made(labels: Mapping[str, str], annotations: Mapping[str, str]) -> bool:
    """Whether kubeheal created the object: it carries both the managed-by label and the
    creating action's key, as ``create_pdb`` writes them. Only such objects are ever deleted."""
    key, value = MANAGED_BY_KUBEHEAL
    return labels.get(key) == value and bool(annotations.get(KUBEHEAL_KEY_ANNOTATION))


# -- schedulable node capacity ---------------------------------------------------------------

_HARD_TAINTS = frozenset({"NoSchedule", "NoExecute"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PodRequests:
    """What one pod of a template requests: CPU in cores, memory in bytes (0: none)."""

    cpu: float
    memory: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeCapacity:
    """Room for more pods of one template on the schedulable nodes.

    ``free_cpu``/``free_memory`` are allocatable minus what the pods placed there request,
    summed over ``nodes`` schedulable nodes; ``pods_fit`` is how many more pods of
    ``requests`` fit, node by node (a pod does not span nodes), also bounded by each node's
    allocatable pod count; None when nothing bounds it (no requests, no pod count).
    """

    nodes: int
    free_cpu: float
    free_memory: int
    requests: PodRequests
    pods_fit: int | None

    def describe(self) -> str:
        """One line of figures for an escalation."""
        fit = "any number of" if self.pods_fit is None else str(self.pods_fit)
        return (
            f"{fit} more pod(s) of {_cores(self.requests.cpu)} CPU / "
            f"{format_memory(self.requests.memory)} fit on {self.nodes} schedulable node(s) "
            f"(allocatable minus requested: {_cores(self.free_cpu)} CPU, "
            f"{format_memory(max(self.free_memory, 0))})"
        )


def _cores(value: float) -> str:
    millis = math.floor(value * 1000 + 1e-6)
    return f"{millis}m" if millis % 1000 else f"{millis // 1000}"


def _quantity(raw: object, *, cpu: bool) -> float | None:
    if raw is None or isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        return parse_cpu(raw) if cpu else float(parse_memory(raw))
    except QuantityError:
        return None


def pod_requests(spec: PodSpec) -> PodRequests:
    """The CPU and memory requests of a pod spec (its containers summed; unreadable: 0)."""
    cpu = 0.0
    memory = 0
    for container in spec.containers:
        requests = container.resources.requests
        cpu += _quantity(requests.get("cpu"), cpu=True) or 0.0
        memory += int(_quantity(requests.get("memory"), cpu=False) or 0)
    return PodRequests(cpu=cpu, memory=memory)


def _hard_tainted(node: Node) -> bool:
    return any(t.effect in _HARD_TAINTS for t in node.spec.taints)


def schedulable_nodes(view: ClusterView) -> list[Node]:
    """Nodes a new pod may land on: Ready, not cordoned, without a NoSchedule/NoExecute taint
    (the view does not carry tolerations, so a tainted node is never counted as room)."""
    return [n for n in view.nodes if n.ready and not n.spec.unschedulable and not _hard_tainted(n)]


def _placed(pod: Pod) -> bool:
    return pod.status.phase not in ("Succeeded", "Failed")


def _node_fit(node: Node, pods: Sequence[Pod], want: PodRequests) -> tuple[int | None, float, int]:
    """(pods of ``want`` that fit, None: unbounded; free CPU; free memory) on one node."""
    allocatable = node.status.allocatable
    cpu = _quantity(allocatable.get("cpu"), cpu=True)
    memory = _quantity(allocatable.get("memory"), cpu=False)
    slots = _quantity(allocatable.get("pods"), cpu=True)
    placed = [p for p in pods if _placed(p)]
    used = [pod_requests(p.spec) for p in placed]
    free_cpu = (cpu or 0.0) - sum(u.cpu for u in used)
    free_memory = int((memory or 0.0) - sum(u.memory for u in used))
    bounds: list[int] = []
    if want.cpu > 0:
        bounds.append(math.floor(free_cpu / want.cpu + 1e-9) if cpu is not None else 0)
    if want.memory > 0:
        bounds.append(free_memory // want.memory if memory is not None else 0)
    if slots is not None:
        bounds.append(int(slots) - len(placed))
    return (max(0, min(bounds)) if bounds else None), free_cpu, free_memory


def schedulable_capacity(view: ClusterView, spec: PodSpec) -> NodeCapacity | None:
    """How many more pods of ``spec`` the schedulable nodes can take (see ``NodeCapacity``);
    None when the view holds no node at all (capacity unknown, e.g. nodes not readable)."""
    if not view.nodes:
        return None
    want = pod_requests(spec)
    fit: int | None = 0
    free_cpu = 0.0
    free_memory = 0
    nodes = schedulable_nodes(view)
    for node in nodes:
        count, cpu, memory = _node_fit(node, view.pods_on_node(node.metadata.name), want)
        fit = None if fit is None or count is None else fit + count
        free_cpu += max(cpu, 0.0)
        free_memory += max(memory, 0)
    return NodeCapacity(
        nodes=len(nodes), free_cpu=free_cpu, free_memory=free_memory, requests=want, pods_fit=fit
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DrainFit:
    """Which pods of a drained node fit elsewhere, packed greedily node by node into the room
    left on the other schedulable nodes; ``left`` names each pod that does not fit with its
    requests, and ``room`` the free CPU/memory per node before packing."""

    fits: tuple[str, ...]
    left: tuple[str, ...]
    room: tuple[str, ...]


def drain_fit(view: ClusterView, *, node: str, pods: Sequence[Pod]) -> DrainFit:
    """Pack ``pods`` (of ``node``) into the schedulable room of the other nodes, first fit in
    the given order; a pod that fits on no node is left (pure)."""
    free: list[tuple[str, float, int, int | None]] = []
    room: list[str] = []
    for other in schedulable_nodes(view):
        name = other.metadata.name
        if name == node:
            continue
        placed = [p for p in view.pods_on_node(name) if _placed(p)]
        slots = _quantity(other.status.allocatable.get("pods"), cpu=True)
        _, cpu, memory = _node_fit(other, placed, PodRequests(cpu=0.0, memory=0))
        left_slots = None if slots is None else int(slots) - len(placed)
        free.append((name, cpu, memory, left_slots))
        room.append(f"{name}: {_cores(max(cpu, 0.0))} CPU, {format_memory(max(memory, 0))}")
    fits: list[str] = []
    left: list[str] = []
    for pod in pods:
        ref = pod.metadata.namespace + "/" + pod.metadata.name
        want = pod_requests(pod.spec)
        for i, (name, cpu, memory, slots) in enumerate(free):
            if want.cpu <= cpu + 1e-9 and want.memory <= memory and (slots is None or slots > 0):
                free[i] = (
                    name,
                    cpu - want.cpu,
                    memory - want.memory,
                    None if slots is None else slots - 1,
                )
                fits.append(ref)
                break
        else:
            left.append(f"{ref} ({_cores(want.cpu)} CPU / {format_memory(want.memory)})")
    return DrainFit(fits=tuple(fits), left=tuple(left), room=tuple(room))


# -- the outlier pod of a golden-signal burn -------------------------------------------------

POD_VALUE_PREFIX = "pod:"
"""A signal of a burn may carry the per-pod series of its SLI: details ``pod:<name>`` with
the pod's value (error ratio, latency; higher is worse)."""
_GOLDEN_KINDS = frozenset({SignalKind.SLO_BURN, SignalKind.ALERT, SignalKind.ANOMALY})
_RECENT_RESTART = timedelta(minutes=15)
_STARTING = timedelta(minutes=2)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outlier:
    """The one pod of a workload that stands out from its peers, and the evidence."""

    pod: str
    ready: bool
    why: str


def _live_pods(view: ClusterView, target: Target) -> list[Pod]:
    return [
        p
        for p in view.pods_of(target)
        if p.metadata.deletion_timestamp is None and p.status.phase in ("Running", "Pending")
    ]


def _per_pod_values(incident: Incident, names: set[str]) -> dict[str, float]:
    """The newest per-pod value of each live pod among the burn signals' details."""
    values: dict[str, float] = {}
    for signal in sorted(incident.signals, key=lambda s: (s.observed_at, s.id)):
        if signal.kind not in _GOLDEN_KINDS:
            continue
        for key, value in signal.details.items():
            name = key.removeprefix(POD_VALUE_PREFIX)
            if (
                name != key
                and name in names
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value >= 0
            ):
                values[name] = float(value)
    return values


def _settled(pod: Pod, now: datetime) -> bool:
    """Old enough that being unready means something (scale-outs start unready pods)."""
    born = pod.metadata.creation_timestamp or pod.status.start_time
    return born is not None and now - born >= _STARTING


def _restarted_recently(pod: Pod, now: datetime) -> bool:
    for status in pod.status.container_statuses:
        last = status.last_state.terminated
        finished = last.finished_at if last is not None else None
        if status.restart_count and finished is not None and now - finished <= _RECENT_RESTART:
            return True
    return False


def outlier_pod(
    incident: Incident, view: ClusterView, *, now: datetime, ratio: float = 3.0
) -> Outlier | None:
    """The one pod of the incident's workload that a golden-signal burn points at, or None.

    Needs at least three live pods (the suspect and two peers to compare against) and at
    least one ready peer (deleting the suspect never leaves the workload without a ready
    replica). In order:

    1. per-pod values carried by the burn's signals (``pod:<name>`` details, at least three
       pods): the worst pod, if its value is at least ``ratio`` times every peer's;
    2. an alert of the burn whose ``pod`` label names one live pod of the workload;
    3. the only pod that is not ready, or the only one whose container restarted in the last
       15 minutes, while every peer is ready and did not (and no pod is younger than two
       minutes: a pod still starting is unready by nature).
    """
    pods = _live_pods(view, incident.target)
    if len(pods) < 3:
        return None
    by_name = {p.metadata.name: p for p in pods}

    def found(name: str, why: str) -> Outlier | None:
        suspect = by_name[name]
        if not any(p.ready for p in pods if p.metadata.name != name):
            return None
        return Outlier(pod=name, ready=suspect.ready, why=why)

    values = _per_pod_values(incident, set(by_name))
    if len(values) >= 3:
        ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        (worst, top), (_, second) = ranked[0], ranked[1]
        if top > 0 and top >= ratio * second:
            peers = f"{second:.4g}" if second else "0"
            return found(
                worst,
                f"pod {worst}: {top:.4g}, its {len(ranked) - 1} peers at most {peers} "
                f"(>= {ratio:g}x)",
            )
        return None
    named = {
        s.labels.get("pod", "")
        for s in incident.signals
        if s.kind is SignalKind.ALERT and s.labels.get("pod", "") in by_name
    }
    if len(named) == 1:
        name = named.pop()
        alert = next(
            str(s.details.get("alertname", ""))
            for s in incident.signals
            if s.kind is SignalKind.ALERT and s.labels.get("pod") == name
        )
        return found(name, f"alert {alert} names pod {name} alone of {len(pods)} pods")
    unready = [p.metadata.name for p in pods if not p.ready and _settled(p, now)]
    starting = [p.metadata.name for p in pods if not p.ready and not _settled(p, now)]
    if starting:
        return None  # a pod still starting is unready by nature: no peer group to judge
    restarted = [p.metadata.name for p in pods if _restarted_recently(p, now)]
    suspects = set(unready) | set(restarted)
    if len(suspects) == 1:
        name = suspects.pop()
        what = "is not ready" if name in unready else "restarted in the last 15 minutes"
        return found(name, f"pod {name} {what}; its {len(pods) - 1} peers are ready")
    return None
