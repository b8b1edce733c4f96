"""What the twin reads off a Kubernetes object, computed once for every room of the twin.

`qos_class` is the pod's quality-of-service class as the API server computes it
(`pkg/apis/core/helper/qos.GetPodQOS`); `get_condition`, `is_pod_ready`, `pod_ready_since`,
`is_pod_available` and `is_pod_active` read a pod's status as the controllers do;
`controller_ref`, `owner_ref`, `selector_of`, `spec_replicas`, `scaled_value` and
`creation_time` read ownership, selectors and int-or-percent fields. The API server
(admission), the controllers, the kubelet and the metrics exposition all use these, so a pod
has one QoS class and one readiness everywhere.

Pure: plain mappings in, values out; no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from kubeheal.model.quantity import QuantityError, parse_quantity
from kubeheal.twin.clock import parse_time
from kubeheal.twin.selectors import LabelSelector, SelectorError

__all__ = [
    "QOS_RESOURCES",
    "controller_ref",
    "creation_time",
    "get_condition",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "owner_ref",
    "pod_ready_since",
    "qos_class",
    "scaled_value",
    "selector_of",
    "spec_replicas",
]

Obj = dict[str, Any]

#: The compute resources that decide the QoS class (extended resources, storage do not).
QOS_RESOURCES = ("cpu", "memory")


def get_condition(obj: Mapping[str, Any], type_: str) -> Obj | None:
    """The status condition of that type, if present."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == type_:
            result: Obj = cond
            return result
    return None


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's Ready condition is True."""
    cond = get_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def _containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = pod.get("spec") or {}
    if not isinstance(spec, Mapping):
        return
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or ():
            if isinstance(container, Mapping):
                yield container


def _amount(value: object) -> Decimal | None:
    """A quantity's value; None when it is not a quantity (the API server refuses those)."""
    if isinstance(value, str | int | float):
        try:
            return parse_quantity(value)
        except QuantityError:
            return None
    return None


def _positive(section: object) -> dict[str, Decimal]:
    """The cpu and memory amounts above zero in a requests or limits mapping."""
    if not isinstance(section, Mapping):
        return {}
    found: dict[str, Decimal] = {}
    for name in QOS_RESOURCES:
        amount = _amount(section.get(name))
        if amount is not None and amount > 0:
            found[name] = amount
    return found


def qos_class(pod: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, by Kubernetes' rules (`GetPodQOS`).

    Over every container and init container, with a request defaulting to its limit as the
    API server's defaulting does: BestEffort when no container requests or limits any cpu
    or memory; Guaranteed when every container limits both cpu and memory and the summed
    requests equal the summed limits (as quantities: "1000m" is "1", "1Gi" is
    "1073741824"); Burstable otherwise. Zero amounts count as unset.
    """
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for container in _containers(pod):
        resources = container.get("resources") or {}
        if not isinstance(resources, Mapping):
            resources = {}
        raw_limits = resources.get("limits") or {}
        raw_requests = resources.get("requests") or {}
        if isinstance(raw_limits, Mapping) and isinstance(raw_requests, Mapping):
            raw_requests = {**raw_limits, **raw_requests}
        container_limits = _positive(raw_limits)
        for name, amount in _positive(raw_requests).items():
            requests[name] = requests.get(name, Decimal(0)) + amount
        for name, amount in container_limits.items():
            limits[name] = limits.get(name, Decimal(0)) + amount
        if not set(QOS_RESOURCES) <= container_limits.keys():
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    equal = requests.keys() == limits.keys() and all(
        limits[name] == amount for name, amount in requests.items()
    )
    if guaranteed and equal:
        return "Guaranteed"
    return "Burstable"


# --------------------------------------------------------------------------- ownership, pods


def controller_ref(obj: Mapping[str, Any]) -> Obj | None:
    """The owner reference with `controller: true`, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            result: Obj = ref
            return result
    return None


def owner_ref(owner: Mapping[str, Any]) -> Obj:
    """The controller owner reference that points at `owner`."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def selector_of(obj: Mapping[str, Any]) -> LabelSelector | None:
    """`spec.selector` parsed; None when it is missing or invalid (the object is skipped)."""
    raw = (obj.get("spec") or {}).get("selector")
    if raw is None:
        return None
    try:
        return LabelSelector.from_api(raw)
    except SelectorError:
        return None


def pod_ready_since(pod: Mapping[str, Any]) -> float | None:
    """When the pod last became Ready (None when it is not Ready)."""
    cond = get_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    stamp = cond.get("lastTransitionTime")
    if not stamp:
        return 0.0
    return parse_time(str(stamp))


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least `minReadySeconds` (what ReplicaSet and Deployment call available)."""
    since = pod_ready_since(pod)
    if since is None:
        return False
    return min_ready_seconds <= 0 or since + min_ready_seconds <= now


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Not terminated (Succeeded/Failed) and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def scaled_value(value: object, total: int, *, round_up: bool) -> int:
    """An int-or-percent field resolved against `total` (`"25%"` of 10 is 3 up, 2 down)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise TypeError(f"invalid int-or-string value {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        percent = int(text[:-1])
        exact = percent * total
        return -(-exact // 100) if round_up else exact // 100
    return int(text)


def spec_replicas(obj: Mapping[str, Any], default: int = 1) -> int:
    """`spec.replicas`, `default` when unset."""
    value = (obj.get("spec") or {}).get("replicas")
    return default if value is None else int(value)


def creation_time(obj: Mapping[str, Any]) -> float:
    """`metadata.creationTimestamp` in seconds (0 when unset)."""
    stamp = obj["metadata"].get("creationTimestamp")
    return parse_time(str(stamp)) if stamp else 0.0
