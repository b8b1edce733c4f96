"""Server-side `Table` rendering for `kubectl get`, with the columns kubectl shows.

kubectl asks the API server for a `meta.k8s.io/v1` Table (Accept `as=Table;v=v1;g=meta.k8s.io`)
and prints its cells as they come, so the printing logic of kubectl (pod STATUS, READY, AGE,
node ROLES, ...) lives on the server. This module reproduces those columns for the resources
the twin serves; columns with priority 1 are the ones `-o wide` adds.

Pure: no I/O, no clock (the current time is a parameter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kubeheal.twin.clock import parse_time
from kubeheal.twin.resources import ResourceType

__all__ = [
    "Column",
    "IncludeObject",
    "columns_for",
    "human_duration",
    "node_status",
    "partial_metadata",
    "pod_status",
    "table_for",
    "table_row",
]

Obj = Mapping[str, Any]
IncludeObject = Literal["None", "Metadata", "Object"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column definition of a Table."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


# ----------------------------------------------------------------------------- helpers


def human_duration(seconds: float) -> str:
    """A duration as kubectl prints ages: `45s`, `3m20s`, `17m`, `5h3m`, `3d4h`, `2y10d`."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(timestamp: object, now: float) -> str:
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        return human_duration(now - parse_time(timestamp))
    except ValueError:
        return "<unknown>"


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _get(obj: Obj, *path: str) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _or_none(text: str) -> str:
    return text if text else "<none>"


def _selector_text(selector: Any) -> str:
    if not isinstance(selector, Mapping):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in _list(selector.get("matchExpressions")):
        if not isinstance(expr, Mapping):
            continue
        op = str(expr.get("operator", ""))
        key = str(expr.get("key", ""))
        values = ",".join(str(v) for v in _list(expr.get("values")))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) if parts else "<none>"


def _containers_images(template_spec: Any) -> tuple[str, str]:
    containers = _list(_get(template_spec, "containers")) if template_spec else []
    names = ",".join(str(c.get("name", "")) for c in containers if isinstance(c, Mapping))
    images = ",".join(str(c.get("image", "")) for c in containers if isinstance(c, Mapping))
    return names, images


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ----------------------------------------------------------------------------- pods


def _condition_true(conditions: Any, kind: str) -> bool:
    return any(
        isinstance(c, Mapping) and c.get("type") == kind and c.get("status") == "True"
        for c in _list(conditions)
    )


def pod_status(pod: Obj, *, now: float) -> tuple[str, int, str, str]:
    """STATUS, restart count, RESTARTS cell and READY cell of a pod, computed as kubectl does."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    reason = str(status.get("phase") or "")
    if status.get("reason"):
        reason = str(status["reason"])
    restarts = 0
    last_restart = 0.0
    total = len(_list(spec.get("containers")))
    ready = 0

    init_specs = _list(spec.get("initContainers"))
    restartable = {
        str(c.get("name"))
        for c in init_specs
        if isinstance(c, Mapping) and c.get("restartPolicy") == "Always"
    }
    total += len(restartable)
    initializing = False
    for index, cs in enumerate(_list(status.get("initContainerStatuses"))):
        if not isinstance(cs, Mapping):
            continue
        restarts += _int(cs.get("restartCount"))
        last_restart = max(last_restart, _terminated_at(cs))
        state = cs.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if isinstance(terminated, Mapping) and _int(terminated.get("exitCode")) == 0:
            continue
        if cs.get("name") in restartable and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if isinstance(terminated, Mapping):
            if terminated.get("reason"):
                reason = f"Init:{terminated['reason']}"
            elif _int(terminated.get("signal")):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
        elif (
            isinstance(waiting, Mapping)
            and waiting.get("reason")
            and waiting.get("reason") != "PodInitializing"
        ):
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts = 0
        has_running = False
        for cs in reversed(_list(status.get("containerStatuses"))):
            if not isinstance(cs, Mapping):
                continue
            restarts += _int(cs.get("restartCount"))
            last_restart = max(last_restart, _terminated_at(cs))
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, Mapping) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, Mapping):
                if _int(terminated.get("signal")):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif cs.get("ready") and isinstance(state.get("running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"

    deleting = bool(_meta(pod).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart:
        restarts_cell = f"{restarts} ({human_duration(now - last_restart)} ago)"
    return reason, restarts, restarts_cell, f"{ready}/{total}"


def _terminated_at(cs: Mapping[str, Any]) -> float:
    finished = _get(cs, "lastState", "terminated", "finishedAt")
    if isinstance(finished, str) and finished:
        try:
            return parse_time(finished)
        except ValueError:
            return 0.0
    return 0.0


def _pod_cells(pod: Obj, now: float) -> list[Any]:
    reason, _, restarts_cell, ready = pod_status(pod, now=now)
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    gates = _list(spec.get("readinessGates"))
    gates_cell = "<none>"
    if gates:
        conditions = status.get("conditions")
        ok = sum(
            1
            for g in gates
            if isinstance(g, Mapping) and _condition_true(conditions, str(g.get("conditionType")))
        )
        gates_cell = f"{ok}/{len(gates)}"
    return [
        _meta(pod).get("name", ""),
        ready,
        reason,
        restarts_cell,
        _age(_meta(pod).get("creationTimestamp"), now),
        _or_none(str(status.get("podIP") or "")),
        _or_none(str(spec.get("nodeName") or "")),
        _or_none(str(status.get("nominatedNodeName") or "")),
        gates_cell,
    ]


# ----------------------------------------------------------------------------- nodes


def node_status(node: Obj) -> str:
    """STATUS of a node as kubectl prints it (`Ready`, `NotReady,SchedulingDisabled`, ...)."""
    ready = "Unknown"
    for cond in _list(_get(node, "status", "conditions")):
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            ready = {"True": "Ready", "False": "NotReady"}.get(str(cond.get("status")), "Unknown")
    parts = [ready]
    if _get(node, "spec", "unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def _node_cells(node: Obj, now: float) -> list[Any]:
    labels = _meta(node).get("labels") or {}
    roles = sorted(
        key.split("/", 1)[1]
        for key in labels
        if key.startswith("node-role.kubernetes.io/") and key.split("/", 1)[1]
    )
    if not roles and labels.get("kubernetes.io/role"):
        roles = [str(labels["kubernetes.io/role"])]
    addresses = {
        str(a.get("type")): str(a.get("address"))
        for a in _list(_get(node, "status", "addresses"))
        if isinstance(a, Mapping)
    }
    info = _get(node, "status", "nodeInfo") or {}
    return [
        _meta(node).get("name", ""),
        node_status(node),
        ",".join(roles) if roles else "<none>",
        _age(_meta(node).get("creationTimestamp"), now),
        str(info.get("kubeletVersion", "")),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        str(info.get("osImage", "<unknown>")),
        str(info.get("kernelVersion", "<unknown>")),
        str(info.get("containerRuntimeVersion", "<unknown>")),
    ]


# ----------------------------------------------------------------------------- workloads


def _deployment_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    names, images = _containers_images(_get(spec, "template", "spec"))
    desired = spec.get("replicas", 1)
    return [
        _meta(obj).get("name", ""),
        f"{_int(status.get('readyReplicas'))}/{_int(desired)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(_meta(obj).get("creationTimestamp"), now),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


def _replicaset_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    names, images = _containers_images(_get(spec, "template", "spec"))
    return [
        _meta(obj).get("name", ""),
        _int(spec.get("replicas", 1)),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _age(_meta(obj).get("creationTimestamp"), now),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


def _statefulset_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    names, images = _containers_images(_get(spec, "template", "spec"))
    return [
        _meta(obj).get("name", ""),
        f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas', 1))}",
        _age(_meta(obj).get("creationTimestamp"), now),
        names,
        images,
    ]


def _daemonset_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    node_selector = _get(spec, "template", "spec", "nodeSelector") or {}
    names, images = _containers_images(_get(spec, "template", "spec"))
    return [
        _meta(obj).get("name", ""),
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        _or_none(",".join(f"{k}={v}" for k, v in sorted(node_selector.items()))),
        _age(_meta(obj).get("creationTimestamp"), now),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


def _job_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    conditions = status.get("conditions")
    state = "Running"
    if _condition_true(conditions, "Complete"):
        state = "Complete"
    elif _condition_true(conditions, "Failed"):
        state = "Failed"
    elif _condition_true(conditions, "Suspended"):
        state = "Suspended"
    completions = spec.get("completions")
    succeeded = _int(status.get("succeeded"))
    done = f"{succeeded}/{completions}" if completions is not None else f"{succeeded}/1"
    duration = ""
    start = status.get("startTime")
    if isinstance(start, str) and start:
        end = status.get("completionTime")
        end_ts = parse_time(end) if isinstance(end, str) and end else now
        duration = human_duration(end_ts - parse_time(start))
    return [
        _meta(obj).get("name", ""),
        state,
        done,
        duration,
        _age(_meta(obj).get("creationTimestamp"), now),
    ]


# ----------------------------------------------------------------------------- others


def _namespace_cells(obj: Obj, now: float) -> list[Any]:
    return [
        _meta(obj).get("name", ""),
        str(_get(obj, "status", "phase") or ""),
        _age(_meta(obj).get("creationTimestamp"), now),
    ]


def _port_text(ports: Any) -> str:
    out = []
    for p in _list(ports):
        if not isinstance(p, Mapping):
            continue
        text = f"{p.get('port', '')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        text += f"/{p.get('protocol', 'TCP')}"
        out.append(text)
    return ",".join(out) if out else "<none>"


def _service_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    kind = str(spec.get("type") or "ClusterIP")
    external = ",".join(str(x) for x in _list(spec.get("externalIPs")))
    ingress = _list(_get(obj, "status", "loadBalancer", "ingress"))
    lb = ",".join(
        str(i.get("ip") or i.get("hostname") or "") for i in ingress if isinstance(i, Mapping)
    )
    if kind == "ExternalName":
        external = str(spec.get("externalName") or "")
    elif kind == "LoadBalancer":
        external = ",".join(x for x in (lb, external) if x) or "<pending>"
    selector = spec.get("selector") or {}
    return [
        _meta(obj).get("name", ""),
        kind,
        str(spec.get("clusterIP") or "<none>"),
        external or "<none>",
        _port_text(spec.get("ports")),
        _age(_meta(obj).get("creationTimestamp"), now),
        _or_none(",".join(f"{k}={v}" for k, v in sorted(selector.items()))),
    ]


def _event_cells(obj: Obj, now: float) -> list[Any]:
    inv = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or ""
    first = obj.get("firstTimestamp") or ""
    source = obj.get("source") or {}
    source_text = str(source.get("component") or obj.get("reportingComponent") or "")
    if source.get("host"):
        source_text += f", {source['host']}"
    return [
        _age(last, now) if last else "<unknown>",
        str(obj.get("type") or ""),
        str(obj.get("reason") or ""),
        f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}",
        str(inv.get("fieldPath") or ""),
        source_text,
        str(obj.get("message") or "").strip(),
        _age(first, now) if first else "<unknown>",
        _int(obj.get("count")) or 1,
        _meta(obj).get("name", ""),
    ]


def _configmap_cells(obj: Obj, now: float) -> list[Any]:
    size = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [_meta(obj).get("name", ""), size, _age(_meta(obj).get("creationTimestamp"), now)]


def _secret_cells(obj: Obj, now: float) -> list[Any]:
    size = len(obj.get("data") or {}) + len(obj.get("stringData") or {})
    return [
        _meta(obj).get("name", ""),
        str(obj.get("type") or "Opaque"),
        size,
        _age(_meta(obj).get("creationTimestamp"), now),
    ]


_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _modes(modes: Any) -> str:
    return ",".join(_ACCESS_MODES.get(str(m), str(m)) for m in _list(modes))


def _pv_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    claim = spec.get("claimRef") or {}
    claim_text = f"{claim.get('namespace')}/{claim.get('name')}" if claim else ""
    return [
        _meta(obj).get("name", ""),
        str(_get(spec, "capacity", "storage") or ""),
        _modes(spec.get("accessModes")),
        str(spec.get("persistentVolumeReclaimPolicy") or ""),
        str(_get(obj, "status", "phase") or ""),
        claim_text,
        str(spec.get("storageClassName") or ""),
        _or_none(str(spec.get("volumeAttributesClassName") or "")),
        str(_get(obj, "status", "reason") or ""),
        _age(_meta(obj).get("creationTimestamp"), now),
        str(spec.get("volumeMode") or "Filesystem"),
    ]


def _pvc_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    bound = status.get("phase") == "Bound"
    return [
        _meta(obj).get("name", ""),
        str(status.get("phase") or ""),
        str(spec.get("volumeName") or ""),
        str(_get(status, "capacity", "storage") or "") if bound else "",
        _modes(status.get("accessModes")) if bound else "",
        str(spec.get("storageClassName") or ""),
        _or_none(str(spec.get("volumeAttributesClassName") or "")),
        _age(_meta(obj).get("creationTimestamp"), now),
        str(spec.get("volumeMode") or "Filesystem"),
    ]


def _pdb_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    return [
        _meta(obj).get("name", ""),
        "N/A" if min_available is None else str(min_available),
        "N/A" if max_unavailable is None else str(max_unavailable),
        _int(_get(obj, "status", "disruptionsAllowed")),
        _age(_meta(obj).get("creationTimestamp"), now),
    ]


def _hpa_targets(obj: Obj) -> str:
    metrics = _list(_get(obj, "spec", "metrics"))
    current = _list(_get(obj, "status", "currentMetrics"))
    parts = []
    for index, metric in enumerate(metrics):
        if not isinstance(metric, Mapping):
            continue
        kind = metric.get("type")
        if kind not in ("Resource", "ContainerResource"):
            parts.append("<unknown>")
            continue
        key = "resource" if kind == "Resource" else "containerResource"
        target = _get(metric, key, "target") or {}
        name = str(_get(metric, key, "name") or "")
        cur = current[index] if index < len(current) and isinstance(current[index], Mapping) else {}
        cur_val = _get(cur, key, "current") or {}
        if target.get("type") == "Utilization":
            now_text = (
                f"{cur_val['averageUtilization']}%"
                if cur_val.get("averageUtilization") is not None
                else "<unknown>"
            )
            parts.append(f"{name}: {now_text}/{target.get('averageUtilization')}%")
        else:
            now_text = str(cur_val.get("averageValue") or "<unknown>")
            parts.append(f"{name}: {now_text}/{target.get('averageValue') or target.get('value')}")
    return ", ".join(parts) if parts else "<none>"


def _hpa_cells(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    return [
        _meta(obj).get("name", ""),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _hpa_targets(obj),
        str(spec.get("minReplicas", 1)),
        _int(spec.get("maxReplicas")),
        _int(_get(obj, "status", "currentReplicas")),
        _age(_meta(obj).get("creationTimestamp"), now),
    ]


def _lease_cells(obj: Obj, now: float) -> list[Any]:
    return [
        _meta(obj).get("name", ""),
        str(_get(obj, "spec", "holderIdentity") or ""),
        _age(_meta(obj).get("creationTimestamp"), now),
    ]


def _default_cells(obj: Obj, now: float) -> list[Any]:
    return [_meta(obj).get("name", ""), _age(_meta(obj).get("creationTimestamp"), now)]


def _c(name: str, *, fmt: str = "", typ: str = "string", wide: bool = False) -> Column:
    return Column(name=name, type=typ, format=fmt, priority=1 if wide else 0)


_NAME = _c("Name", fmt="name")
_AGE = _c("Age")
_Cells = Callable[[Obj, float], list[Any]]

_TABLES: dict[str, tuple[tuple[Column, ...], _Cells]] = {
    "Pod": (
        (
            _NAME, _c("Ready"), _c("Status"), _c("Restarts", typ="string"), _AGE,
            _c("IP", wide=True), _c("Node", wide=True), _c("Nominated Node", wide=True),
            _c("Readiness Gates", wide=True),
        ),
        _pod_cells,
    ),
    "Node": (
        (
            _NAME, _c("Status"), _c("Roles"), _AGE, _c("Version"),
            _c("Internal-IP", wide=True), _c("External-IP", wide=True),
            _c("OS-Image", wide=True), _c("Kernel-Version", wide=True),
            _c("Container-Runtime", wide=True),
        ),
        _node_cells,
    ),
    "Deployment": (
        (
            _NAME, _c("Ready"), _c("Up-to-date", typ="integer"), _c("Available", typ="integer"),
            _AGE, _c("Containers", wide=True), _c("Images", wide=True),
            _c("Selector", wide=True),
        ),
        _deployment_cells,
    ),
    "ReplicaSet": (
        (
            _NAME, _c("Desired", typ="integer"), _c("Current", typ="integer"),
            _c("Ready", typ="integer"), _AGE, _c("Containers", wide=True),
            _c("Images", wide=True), _c("Selector", wide=True),
        ),
        _replicaset_cells,
    ),
    "StatefulSet": (
        (_NAME, _c("Ready"), _AGE, _c("Containers", wide=True), _c("Images", wide=True)),
        _statefulset_cells,
    ),
    "DaemonSet": (
        (
            _NAME, _c("Desired", typ="integer"), _c("Current", typ="integer"),
            _c("Ready", typ="integer"), _c("Up-to-date", typ="integer"),
            _c("Available", typ="integer"), _c("Node Selector"), _AGE,
            _c("Containers", wide=True), _c("Images", wide=True), _c("Selector", wide=True),
        ),
        _daemonset_cells,
    ),
    "Job": (
        (_NAME, _c("Status"), _c("Completions"), _c("Duration"), _AGE),
        _job_cells,
    ),
    "Namespace": ((_NAME, _c("Status"), _AGE), _namespace_cells),
    "Service": (
        (
            _NAME, _c("Type"), _c("Cluster-IP"), _c("External-IP"), _c("Port(s)"), _AGE,
            _c("Selector", wide=True),
        ),
        _service_cells,
    ),
    "Event": (
        (
            _c("Last Seen"), _c("Type"), _c("Reason"), _c("Object"),
            _c("Subobject", wide=True), _c("Source", wide=True), _c("Message"),
            _c("First Seen", wide=True), _c("Count", typ="integer", wide=True),
            _c("Name", fmt="name", wide=True),
        ),
        _event_cells,
    ),
    "ConfigMap": ((_NAME, _c("Data", typ="integer"), _AGE), _configmap_cells),
    "Secret": ((_NAME, _c("Type"), _c("Data", typ="integer"), _AGE), _secret_cells),
    "PersistentVolume": (
        (
            _NAME, _c("Capacity"), _c("Access Modes"), _c("Reclaim Policy"), _c("Status"),
            _c("Claim"), _c("StorageClass"), _c("VolumeAttributesClass"), _c("Reason"), _AGE,
            _c("VolumeMode", wide=True),
        ),
        _pv_cells,
    ),
    "PersistentVolumeClaim": (
        (
            _NAME, _c("Status"), _c("Volume"), _c("Capacity"), _c("Access Modes"),
            _c("StorageClass"), _c("VolumeAttributesClass"), _AGE,
            _c("VolumeMode", wide=True),
        ),
        _pvc_cells,
    ),
    "PodDisruptionBudget": (
        (
            _NAME, _c("Min Available"), _c("Max Unavailable"),
            _c("Allowed Disruptions", typ="integer"), _AGE,
        ),
        _pdb_cells,
    ),
    "HorizontalPodAutoscaler": (
        (
            _NAME, _c("Reference"), _c("Targets"), _c("MinPods"),
            _c("MaxPods", typ="integer"), _c("Replicas", typ="integer"), _AGE,
        ),
        _hpa_cells,
    ),
    "Lease": ((_NAME, _c("Holder"), _AGE), _lease_cells),
}  # fmt: skip

_DEFAULT: tuple[tuple[Column, ...], _Cells] = ((_NAME, _AGE), _default_cells)


def columns_for(rtype: ResourceType) -> tuple[Column, ...]:
    """The column definitions of `rtype`'s Table."""
    return _TABLES.get(rtype.kind, _DEFAULT)[0]


def partial_metadata(obj: Obj) -> dict[str, Any]:
    """`obj` as a meta.k8s.io/v1 PartialObjectMetadata (what `includeObject=Metadata` embeds)."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(_meta(obj)),
    }


def table_row(
    rtype: ResourceType, obj: Obj, *, now: float, include: IncludeObject = "Metadata"
) -> dict[str, Any]:
    """One Table row for `obj`: its cells, and the object as `include` asks."""
    cells = _TABLES.get(rtype.kind, _DEFAULT)[1](obj, now)
    row: dict[str, Any] = {"cells": cells}
    if include == "Object":
        row["object"] = dict(obj)
    elif include == "Metadata":
        row["object"] = partial_metadata(obj)
    return row


def table_for(
    rtype: ResourceType,
    objects: Sequence[Obj],
    *,
    now: float,
    include: IncludeObject = "Metadata",
    resource_version: str = "",
    continue_token: str | None = None,
    remaining: int | None = None,
    headers: bool = True,
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `objects` (a list page, or one object, or one watch event)."""
    meta: dict[str, Any] = {}
    if resource_version:
        meta["resourceVersion"] = resource_version
    if continue_token:
        meta["continue"] = continue_token
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [c.as_dict() for c in columns_for(rtype)] if headers else [],
        "rows": [table_row(rtype, obj, now=now, include=include) for obj in objects],
    }
