"""The resource types the cluster twin serves, as discovery describes them.

One `ResourceType` per REST resource: its group/version/kind, plural and short names, scope,
verbs, subresources, and which fields a field selector may use (with a function extracting
them from an object). Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REGISTRY", "ResourceRegistry", "ResourceType", "UnknownResourceError"]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

Obj = Mapping[str, Any]
FieldExtractor = Callable[[Obj], dict[str, str]]


class UnknownResourceError(LookupError):
    """No resource of that name (plural, singular, kind or short name) is served."""


def _meta_fields(obj: Obj) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}


def _pod_fields(obj: Obj) -> dict[str, str]:
    fields = _meta_fields(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    fields["spec.nodeName"] = spec.get("nodeName") or ""
    fields["spec.restartPolicy"] = spec.get("restartPolicy") or ""
    fields["spec.schedulerName"] = spec.get("schedulerName") or ""
    fields["spec.serviceAccountName"] = spec.get("serviceAccountName") or ""
    fields["status.phase"] = status.get("phase") or ""
    fields["status.podIP"] = status.get("podIP") or ""
    fields["status.nominatedNodeName"] = status.get("nominatedNodeName") or ""
    return fields


def _node_fields(obj: Obj) -> dict[str, str]:
    fields = _meta_fields(obj)
    unschedulable = (obj.get("spec") or {}).get("unschedulable", False)
    fields["spec.unschedulable"] = "true" if unschedulable else "false"
    return fields


def _event_fields(obj: Obj) -> dict[str, str]:
    fields = _meta_fields(obj)
    inv = obj.get("involvedObject") or {}
    for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
        fields[f"involvedObject.{key}"] = str(inv.get(key) or "")
    fields["reason"] = obj.get("reason") or ""
    fields["type"] = obj.get("type") or ""
    fields["source"] = (obj.get("source") or {}).get("component") or ""
    fields["reportingComponent"] = obj.get("reportingComponent") or ""
    return fields


def _namespace_fields(obj: Obj) -> dict[str, str]:
    fields = _meta_fields(obj)
    fields["status.phase"] = (obj.get("status") or {}).get("phase") or ""
    return fields


def _secret_fields(obj: Obj) -> dict[str, str]:
    fields = _meta_fields(obj)
    fields["type"] = obj.get("type") or ""
    return fields


@dataclass(frozen=True)
class ResourceType:
    """One REST resource as the API serves it."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    field_extractor: FieldExtractor = field(default=_meta_fields, compare=False, repr=False)
    has_status: bool = False
    custom: bool = False
    """Served for a CustomResourceDefinition (JSON and merge patches only, no strategic)."""

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `group/version` otherwise."""
        return self.version if not self.group else f"{self.group}/{self.version}"

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def selectable_fields(self) -> frozenset[str]:
        """Field names a field selector may use on this resource."""
        return frozenset(self.field_extractor({}).keys())

    def fields_of(self, obj: Obj) -> dict[str, str]:
        return self.field_extractor(obj)


def _core(kind: str, plural: str, *, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType(
        group="", version="v1", kind=kind, plural=plural, singular=kind.lower(),
        namespaced=namespaced, **kw,
    )  # fmt: skip


def _grouped(group: str, version: str, kind: str, plural: str, **kw: Any) -> ResourceType:
    kw.setdefault("namespaced", True)
    return ResourceType(
        group=group, version=version, kind=kind, plural=plural, singular=kind.lower(), **kw
    )


_BUILTIN: tuple[ResourceType, ...] = (
    _core("Namespace", "namespaces", namespaced=False, short_names=("ns",),
          subresources=("status", "finalize"), field_extractor=_namespace_fields, has_status=True),
    _core("Node", "nodes", namespaced=False, short_names=("no",), subresources=("status",),
          field_extractor=_node_fields, has_status=True),
    _core("Pod", "pods", short_names=("po",), categories=("all",),
          subresources=("status", "log", "eviction", "binding"), field_extractor=_pod_fields,
          has_status=True),
    _core("Event", "events", short_names=("ev",), field_extractor=_event_fields),
    _core("Service", "services", short_names=("svc",), categories=("all",),
          subresources=("status",), has_status=True),
    _core("Endpoints", "endpoints", short_names=("ep",)),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Secret", "secrets", field_extractor=_secret_fields),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _core("ResourceQuota", "resourcequotas", short_names=("quota",), subresources=("status",),
          has_status=True),
    _core("LimitRange", "limitranges", short_names=("limits",)),
    _core("PersistentVolume", "persistentvolumes", namespaced=False, short_names=("pv",),
          subresources=("status",), has_status=True),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",),
          subresources=("status",), has_status=True),
    _grouped("apps", "v1", "Deployment", "deployments", short_names=("deploy",),
             categories=("all",), subresources=("status", "scale"), has_status=True),
    _grouped("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), categories=("all",),
             subresources=("status", "scale"), has_status=True),
    _grouped("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",),
             categories=("all",), subresources=("status", "scale"), has_status=True),
    _grouped("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), categories=("all",),
             subresources=("status",), has_status=True),
    _grouped("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _grouped("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=("pdb",),
             subresources=("status",), has_status=True),
    _grouped("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
             short_names=("hpa",), categories=("all",), subresources=("status",),
             has_status=True),
    _grouped("coordination.k8s.io", "v1", "Lease", "leases"),
    _grouped("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
             "customresourcedefinitions", namespaced=False, short_names=("crd", "crds"),
             subresources=("status",), has_status=True),
    _grouped("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _grouped("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
             namespaced=False),
    _grouped("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _grouped("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _grouped("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies",
             short_names=("netpol",)),
    _grouped("batch", "v1", "Job", "jobs", categories=("all",), subresources=("status",),
             has_status=True),
    # Prometheus Operator kinds (stored, not acted on): what deployment manifests ship.
    _grouped("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors",
             short_names=("smon",)),
    _grouped("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules",
             short_names=("promrule",)),
)  # fmt: skip


class ResourceRegistry:
    """Lookup of served resource types by plural, group and version.

    The built-in types are fixed; `add` and `remove` serve the types of
    CustomResourceDefinitions (`kubeheal.twin.crd`), so each store has its own registry.
    """

    def __init__(self, types: tuple[ResourceType, ...] = _BUILTIN) -> None:
        self._types = types
        self._by_gvr = {(t.group, t.version, t.plural): t for t in types}
        self._by_gvk = {(t.group, t.version, t.kind): t for t in types}

    def add(self, rtype: ResourceType) -> None:
        """Serve one more type (replacing a custom type of the same group/version/plural)."""
        key = (rtype.group, rtype.version, rtype.plural)
        old = self._by_gvr.get(key)
        if old is not None:
            self.remove(old)
        self._types = (*self._types, rtype)
        self._by_gvr[key] = rtype
        self._by_gvk[(rtype.group, rtype.version, rtype.kind)] = rtype

    def remove(self, rtype: ResourceType) -> None:
        """Stop serving a type (a CustomResourceDefinition was deleted)."""
        self._types = tuple(t for t in self._types if t is not rtype)
        self._by_gvr.pop((rtype.group, rtype.version, rtype.plural), None)
        if self._by_gvk.get((rtype.group, rtype.version, rtype.kind)) is rtype:
            self._by_gvk.pop((rtype.group, rtype.version, rtype.kind))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._types)

    def get(self, group: str, version: str, plural: str) -> ResourceType:
        try:
            return self._by_gvr[(group, version, plural)]
        except KeyError:
            gv = version if not group else f"{group}/{version}"
            raise UnknownResourceError(
                f'the server could not find the requested resource "{plural}" in {gv}'
            ) from None

    def by_kind(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        try:
            return self._by_gvk[(group, version, kind)]
        except KeyError:
            raise UnknownResourceError(
                f'no matches for kind "{kind}" in version "{api_version}"'
            ) from None

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> its versions, in registration order ("" is the core group)."""
        out: dict[str, list[str]] = {}
        for t in self._types:
            versions = out.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types if t.group == group and t.version == version]


REGISTRY = ResourceRegistry()
