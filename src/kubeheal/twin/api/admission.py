"""Admission: what the API server checks and fills in before an object is stored.

Unknown fields per `fieldValidation`, the name in the body against the name on the URL, and
the defaults the real API server sets (the subset the simulation relies on: a new pod's
phase and QoS class, the DefaultTolerationSeconds plugin's 300 s ``not-ready``/``unreachable``
tolerations, pod spec defaults, workload, Service, HPA and PVC defaults, cluster IPs).
"""

from __future__ import annotations

from starlette.requests import Request

from kubeheal.twin import openapi
from kubeheal.twin.api.requests import Obj, Target
from kubeheal.twin.defaults import pod_spec_defaults
from kubeheal.twin.errors import BadRequest
from kubeheal.twin.resources import ResourceType
from kubeheal.twin.sim.nodes import add_default_tolerations
from kubeheal.twin.sim.objects import qos_class

__all__ = ["Admission", "check_name", "validate_fields"]

_RESET_STATUS_ON_CREATE = frozenset(
    {
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
)
_WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")


def validate_fields(request: Request, obj: Obj, *, api_version: str, kind: str) -> list[str]:
    """Unknown-field handling per `fieldValidation`: raise (Strict) or return warnings."""
    mode = request.query_params.get("fieldValidation", "Warn")
    if mode not in ("Strict", "Warn", "Ignore"):
        raise BadRequest(
            f'fieldValidation: Unsupported value: "{mode}": supported values: '
            '"Ignore", "Strict", "Warn"'
        )
    if mode == "Ignore":
        return []
    unknown = openapi.unknown_fields(obj, api_version=api_version, kind=kind)
    if not unknown:
        return []
    messages = [f'unknown field "{path}"' for path in unknown]
    if mode == "Strict":
        raise BadRequest("strict decoding error: " + ", ".join(messages))
    return messages


def check_name(obj: Obj, target: Target) -> None:
    """The object's name is the one on the URL (filled in when the body has none)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise BadRequest("metadata must be an object")
    name = meta.get("name")
    if name is None:
        meta["name"] = target.name
    elif name != target.name:
        raise BadRequest(
            f"the name of the object ({name}) does not match the name on the URL ({target.name})"
        )


class Admission:
    """The defaulting of one API server (it hands out the Services' cluster IPs)."""

    def __init__(self) -> None:
        self._next_cluster_ip = 11

    def defaults(self, rtype: ResourceType, obj: Obj, *, creating: bool) -> None:
        """The defaults the real API server fills in (the subset the simulation relies on)."""
        kind = rtype.kind
        spec = obj.get("spec")
        if creating and kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}
            add_default_tolerations(obj)  # the DefaultTolerationSeconds admission plugin
        elif creating and kind in _RESET_STATUS_ON_CREATE:
            obj.pop("status", None)
        if not isinstance(spec, dict):
            return
        if kind == "Pod":
            pod_spec_defaults(spec)
        elif kind in _WORKLOADS:
            _workload_defaults(kind, spec)
        elif kind == "Service":
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if creating and not spec.get("clusterIP") and spec["type"] != "ExternalName":
                spec["clusterIP"] = self._allocate_cluster_ip()
                spec["clusterIPs"] = [spec["clusterIP"]]
            for port in spec.get("ports") or ():
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
                    if "port" in port:
                        port.setdefault("targetPort", port["port"])
        elif kind == "HorizontalPodAutoscaler":
            spec.setdefault("minReplicas", 1)
        elif kind == "PersistentVolumeClaim":
            spec.setdefault("volumeMode", "Filesystem")

    def _allocate_cluster_ip(self) -> str:
        n = self._next_cluster_ip
        self._next_cluster_ip += 1
        return f"10.96.{n // 250}.{n % 250}"


def _workload_defaults(kind: str, spec: Obj) -> None:
    if kind not in {"DaemonSet", "Job"}:
        spec.setdefault("replicas", 1)
    if kind == "Deployment":
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxSurge", "25%")
                    rolling.setdefault("maxUnavailable", "25%")
    template_spec = (spec.get("template") or {}).get("spec")
    if isinstance(template_spec, dict):
        pod_spec_defaults(template_spec)
