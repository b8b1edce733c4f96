"""The twin's scheduler: binds pending pods to nodes as kube-scheduler's default profile does.

Filters, in the default plugin order, stopping at the first failure per node:
NodeUnschedulable (cordoned nodes), TaintToleration (NoSchedule/NoExecute taints, plus the
taints the node lifecycle controller derives from NotReady/pressure conditions),
NodeAffinity (nodeSelector and required node affinity) and NodeResourcesFit (pod count,
cpu and memory requests against allocatable). Feasible nodes are scored by
LeastAllocated (the non-zero request defaults for pods that request nothing), ties broken
by node name so runs are deterministic. When no node fits, the pod gets a PodScheduled
condition False/Unschedulable with kube-scheduler's message and a FailedScheduling event;
it is retried every tick.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeheal.model.quantity import QuantityError, parse_quantity
from kubeheal.twin.clock import format_time
from kubeheal.twin.errors import ApiError
from kubeheal.twin.sim.objects import get_condition
from kubeheal.twin.store import ObjectStore

__all__ = [
    "SCHEDULER_NAME",
    "Requests",
    "Scheduler",
    "condition_taints",
    "container_requests",
    "node_allocatable",
    "pod_requests",
    "tolerates",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SCHEDULER_NAME = "default-scheduler"
_DEFAULT_MILLI_CPU = 100  # non-zero request used for scoring pods that request no cpu
_DEFAULT_MEMORY = 200 * 1024 * 1024  # ... and no memory
_DEFAULT_MAX_PODS = 110
_EVENT_BACKOFF_MAX = 10.0

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
# Node condition -> (condition status that taints, taint key), as TaintNodesByCondition does.
_CONDITION_TAINTS: tuple[tuple[str, str, str], ...] = (
    ("Ready", "False", "node.kubernetes.io/not-ready"),
    ("Ready", "Unknown", "node.kubernetes.io/unreachable"),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
)


@dataclass(frozen=True, slots=True)
class Requests:
    """A pod's resource requests: millicores and bytes, and the non-zero variants for scoring."""

    milli_cpu: int = 0
    memory: int = 0
    nonzero_milli_cpu: int = 0
    nonzero_memory: int = 0


def _quantity(value: object, *, milli: bool) -> int:
    try:
        number = parse_quantity(str(value))
    except QuantityError:
        return 0
    return math.ceil(number * 1000) if milli else math.ceil(number)


def container_requests(container: Mapping[str, Any]) -> tuple[int, int]:
    """(millicores, bytes) one container requests; a limit alone counts as the request."""
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    cpu = requests.get("cpu", limits.get("cpu"))
    memory = requests.get("memory", limits.get("memory"))
    return (
        _quantity(cpu, milli=True) if cpu is not None else 0,
        _quantity(memory, milli=False) if memory is not None else 0,
    )


def pod_requests(pod: Mapping[str, Any]) -> Requests:
    """Effective requests: sum of containers, at least the largest init container, + overhead.

    A container that sets only a limit requests that limit (API defaulting).
    """
    spec = pod.get("spec") or {}
    cpu = mem = nz_cpu = nz_mem = 0
    for container in spec.get("containers") or ():
        c_cpu, c_mem = container_requests(container)
        cpu += c_cpu
        mem += c_mem
        nz_cpu += c_cpu or _DEFAULT_MILLI_CPU
        nz_mem += c_mem or _DEFAULT_MEMORY
    for container in spec.get("initContainers") or ():
        c_cpu, c_mem = container_requests(container)
        cpu, mem = max(cpu, c_cpu), max(mem, c_mem)
        nz_cpu, nz_mem = max(nz_cpu, c_cpu), max(nz_mem, c_mem)
    overhead = spec.get("overhead") or {}
    if "cpu" in overhead:
        extra = _quantity(overhead["cpu"], milli=True)
        cpu, nz_cpu = cpu + extra, nz_cpu + extra
    if "memory" in overhead:
        extra = _quantity(overhead["memory"], milli=False)
        mem, nz_mem = mem + extra, nz_mem + extra
    return Requests(cpu, mem, nz_cpu, nz_mem)


def node_allocatable(node: Mapping[str, Any]) -> tuple[int, int, int]:
    """(millicores, bytes, pods) a node offers: status.allocatable, else capacity."""
    status = node.get("status") or {}
    values = status.get("allocatable") or status.get("capacity") or {}
    cpu = _quantity(values["cpu"], milli=True) if "cpu" in values else 0
    memory = _quantity(values["memory"], milli=False) if "memory" in values else 0
    pods = int(_quantity(values["pods"], milli=False)) if "pods" in values else _DEFAULT_MAX_PODS
    return cpu, memory, pods


def condition_taints(node: Mapping[str, Any]) -> list[Obj]:
    """Taints the node lifecycle controller puts on a node because of its conditions."""
    out: list[Obj] = []
    for cond_type, cond_status, key in _CONDITION_TAINTS:
        cond = get_condition(node, cond_type)
        if cond is not None and cond.get("status") == cond_status:
            out.append({"key": key, "effect": "NoSchedule"})
    return out


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Whether any toleration matches the taint (key, operator Equal/Exists, value, effect)."""
    for tol in tolerations:
        effect = tol.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = tol.get("key") or ""
        operator = tol.get("operator") or "Equal"
        if key and key != taint.get("key"):
            continue
        if not key and operator != "Exists":
            continue
        if operator == "Exists":
            return True
        if operator == "Equal" and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _match_expression(expr: Mapping[str, Any], values_of: Mapping[str, str]) -> bool:
    key = str(expr.get("key") or "")
    operator = expr.get("operator")
    values = [str(v) for v in expr.get("values") or ()]
    present = key in values_of
    value = values_of.get(key, "")
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _matches_affinity(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    labels = {str(k): str(v) for k, v in (node["metadata"].get("labels") or {}).items()}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != str(value):
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return True
    fields = {"metadata.name": str(node["metadata"]["name"])}
    for term in terms:
        exprs = term.get("matchExpressions") or []
        field_exprs = term.get("matchFields") or []
        if not exprs and not field_exprs:
            continue  # an empty term matches no objects
        if all(_match_expression(e, labels) for e in exprs) and all(
            _match_expression(e, fields) for e in field_exprs
        ):
            return True
    return False


@dataclass(slots=True)
class _NodeState:
    node: Obj
    cpu: int
    memory: int
    max_pods: int
    taints: list[Obj]  # NoSchedule/NoExecute taints, with those implied by conditions
    used_cpu: int = 0
    used_memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    pods: int = 0

    def add(self, req: Requests) -> None:
        self.used_cpu += req.milli_cpu
        self.used_memory += req.memory
        self.nonzero_cpu += req.nonzero_milli_cpu
        self.nonzero_memory += req.nonzero_memory
        self.pods += 1


@dataclass(slots=True)
class _Backoff:
    message: str
    next_event: float
    delay: float = 1.0


class Scheduler:
    """Binds every schedulable pending pod to the best node, once per tick."""

    name = SCHEDULER_NAME

    def __init__(self, *, store: ObjectStore) -> None:
        self.store = store
        self._pods = store.rtype("", "v1", "pods")
        self._nodes = store.rtype("", "v1", "nodes")
        self._requests: dict[str, Requests] = {}  # pod uid -> requests (pod specs are immutable)
        self._failing: dict[str, _Backoff] = {}

    def _requests_of(self, uid: str, pod: Obj | None, raw: Any) -> Requests:
        cached = self._requests.get(uid)
        if cached is None:
            cached = pod_requests(pod if pod is not None else raw.obj())
            self._requests[uid] = cached
        return cached

    def step(self, now: float) -> None:
        with self.store.lock:
            pending = [
                s
                for s in self.store.iter_stored(self._pods)
                if not s.fields.get("spec.nodeName")
                and s.fields.get("status.phase") in ("", "Pending")
                and not s.deleting
                and s.fields.get("spec.schedulerName") in ("", SCHEDULER_NAME)
            ]
            if not pending:
                self._failing.clear()
                return
            nodes = self._node_states()
            pods = [s.obj() for s in pending]
            pods.sort(
                key=lambda p: (
                    -int((p.get("spec") or {}).get("priority") or 0),
                    p["metadata"].get("creationTimestamp") or "",
                    p["metadata"].get("namespace") or "",
                    p["metadata"]["name"],
                )
            )
            waiting: set[str] = set()
            for pod in pods:
                uid = pod["metadata"]["uid"]
                try:
                    if not self._schedule(pod, nodes, now):
                        waiting.add(uid)
                except ApiError as err:
                    log.debug("scheduling %s: %s", pod["metadata"]["name"], err)
                    waiting.add(uid)
            for uid in list(self._failing):
                if uid not in waiting:
                    del self._failing[uid]

    def _node_states(self) -> list[_NodeState]:
        states: dict[str, _NodeState] = {}
        for node in self.store.list_objects(self._nodes):
            cpu, memory, max_pods = node_allocatable(node)
            taints = [
                t
                for t in (node.get("spec") or {}).get("taints") or []
                if t.get("effect") in ("NoSchedule", "NoExecute")
            ]
            present = {(t.get("key"), t.get("effect")) for t in taints}
            taints += [t for t in condition_taints(node) if (t["key"], t["effect"]) not in present]
            states[node["metadata"]["name"]] = _NodeState(node, cpu, memory, max_pods, taints)
        live: set[str] = set()
        for stored in self.store.iter_stored(self._pods):
            node_name = stored.fields.get("spec.nodeName")
            live.add(stored.uid)
            if not node_name or stored.fields.get("status.phase") in ("Succeeded", "Failed"):
                continue
            state = states.get(node_name)
            if state is not None:
                state.add(self._requests_of(stored.uid, None, stored))
        for uid in [u for u in self._requests if u not in live]:
            del self._requests[uid]
        return [states[name] for name in sorted(states)]

    # ------------------------------------------------------------ one pod

    def _filter(self, pod: Obj, state: _NodeState, req: Requests) -> list[str]:
        """Why the pod cannot go to this node (empty when it can)."""
        spec = pod.get("spec") or {}
        tolerations = spec.get("tolerations") or []
        node = state.node
        node_spec = node.get("spec") or {}
        if node_spec.get("unschedulable") and not tolerates(
            tolerations, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
        ):
            return ["node(s) were unschedulable"]
        for taint in state.taints:
            if not tolerates(tolerations, taint):
                return [
                    f"node(s) had untolerated taint {{{taint.get('key', '')}: "
                    f"{taint.get('value') or ''}}}"
                ]
        if not _matches_affinity(pod, node):
            return ["node(s) didn't match Pod's node affinity/selector"]
        reasons: list[str] = []
        if state.pods + 1 > state.max_pods:
            reasons.append("Too many pods")
        if req.milli_cpu > 0 and req.milli_cpu > state.cpu - state.used_cpu:
            reasons.append("Insufficient cpu")
        if req.memory > 0 and req.memory > state.memory - state.used_memory:
            reasons.append("Insufficient memory")
        return reasons

    @staticmethod
    def _score(state: _NodeState, req: Requests) -> float:
        def least(requested: int, capacity: int) -> float:
            if capacity <= 0 or requested > capacity:
                return 0.0
            return (capacity - requested) * 100.0 / capacity

        cpu = least(state.nonzero_cpu + req.nonzero_milli_cpu, state.cpu)
        memory = least(state.nonzero_memory + req.nonzero_memory, state.memory)
        return (cpu + memory) / 2

    def _schedule(self, pod: Obj, nodes: list[_NodeState], now: float) -> bool:
        uid = pod["metadata"]["uid"]
        req = self._requests_of(uid, pod, None)
        histogram: dict[str, int] = {}
        best: _NodeState | None = None
        best_score = -1.0
        for state in nodes:
            reasons = self._filter(pod, state, req)
            if reasons:
                for reason in reasons:
                    histogram[reason] = histogram.get(reason, 0) + 1
                continue
            score = self._score(state, req)
            if score > best_score:
                best, best_score = state, score
        if best is None:
            self._unschedulable(pod, len(nodes), histogram, now)
            return False
        self._bind(pod, best, now)
        best.add(req)
        return True

    def _bind(self, pod: Obj, state: _NodeState, now: float) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        node_name = state.node["metadata"]["name"]

        def bind(obj: Obj) -> None:
            obj.setdefault("spec", {})["nodeName"] = node_name

        bound = self.store.mutate(self._pods, ns, name, bind)

        def scheduled(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            conds.append(
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": format_time(now),
                }
            )
            status["conditions"] = conds
            status.setdefault("phase", "Pending")

        self.store.mutate(self._pods, ns, name, scheduled, subresource="status")
        self.store.record_event(
            bound,
            reason="Scheduled",
            message=f"Successfully assigned {ns}/{name} to {node_name}",
            component=SCHEDULER_NAME,
        )

    def _unschedulable(
        self, pod: Obj, node_count: int, histogram: Mapping[str, int], now: float
    ) -> None:
        if node_count == 0:
            message = "no nodes available to schedule pods"
        else:
            parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
            message = f"0/{node_count} nodes are available: {', '.join(parts)}."
        uid = pod["metadata"]["uid"]
        current = get_condition(pod, "PodScheduled")
        if (
            current is None
            or current.get("status") != "False"
            or current.get("message") != message
            or current.get("reason") != "Unschedulable"
        ):
            stamp = format_time(now)
            if current is not None and current.get("status") == "False":
                stamp = current.get("lastTransitionTime") or stamp

            def mark(obj: Obj) -> None:
                status = obj.setdefault("status", {})
                conds = [
                    c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"
                ]
                conds.append(
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": stamp,
                        "reason": "Unschedulable",
                        "message": message,
                    }
                )
                status["conditions"] = conds
                status["phase"] = "Pending"

            meta = pod["metadata"]
            self.store.mutate(
                self._pods, meta["namespace"], meta["name"], mark, subresource="status"
            )
        backoff = self._failing.get(uid)
        if backoff is not None and backoff.message == message and now < backoff.next_event:
            return
        delay = 1.0 if backoff is None or backoff.message != message else backoff.delay
        self._failing[uid] = _Backoff(
            message=message,
            next_event=now + delay,
            delay=min(delay * 2, _EVENT_BACKOFF_MAX),
        )
        self.store.record_event(
            pod,
            reason="FailedScheduling",
            message=message,
            type_="Warning",
            component=SCHEDULER_NAME,
        )
