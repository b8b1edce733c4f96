"""Discovery: `/version`, `/api`, `/apis`, the resource lists and the OpenAPI v3 documents.

Functions of the resource registry only: no store, no clock.
"""

from __future__ import annotations

from starlette.requests import Request

from kubeheal.twin import openapi
from kubeheal.twin.api.requests import NOT_FOUND, Obj
from kubeheal.twin.errors import NotFound
from kubeheal.twin.resources import ResourceRegistry, ResourceType

__all__ = [
    "KUBERNETES_VERSION",
    "api_versions",
    "group",
    "group_list",
    "openapi_document",
    "resource_list",
    "version",
]

KUBERNETES_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0"}


def version() -> Obj:
    return {
        **KUBERNETES_VERSION,
        "gitCommit": "kubeheal-twin",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(request: Request) -> Obj:
    """`/api`: the core group's one version."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": request.url.netloc}
        ],
    }


def _group_entry(name: str, versions: list[str]) -> Obj:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def group_list(registry: ResourceRegistry) -> Obj:
    groups = [
        _group_entry(name, versions) for name, versions in registry.group_versions().items() if name
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(registry: ResourceRegistry, name: str) -> Obj:
    versions = registry.group_versions().get(name)
    if not name or not versions:
        raise NotFound(NOT_FOUND, details={})
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(name, versions)}


def resource_list(registry: ResourceRegistry, group_name: str, version_name: str) -> Obj:
    types = registry.in_group_version(group_name, version_name)
    if not types:
        raise NotFound(NOT_FOUND, details={})
    resources: list[Obj] = []
    for t in types:
        entry: Obj = {
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": list(t.verbs),
        }
        if t.short_names:
            entry["shortNames"] = list(t.short_names)
        if t.categories:
            entry["categories"] = list(t.categories)
        resources.append(entry)
        for sub in t.subresources:
            resources.append(_subresource_entry(t, sub))
    gv = version_name if not group_name else f"{group_name}/{version_name}"
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def _subresource_entry(t: ResourceType, sub: str) -> Obj:
    entry: Obj = {
        "name": f"{t.plural}/{sub}",
        "singularName": "",
        "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": ["get", "patch", "update"],
    }
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale")
    elif sub == "eviction":
        entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
    elif sub == "binding":
        entry.update(kind="Binding", verbs=["create"])
    elif sub == "log":
        entry.update(verbs=["get"])
    elif sub == "finalize":
        entry.update(verbs=["update"])
    return entry


def openapi_document(registry: ResourceRegistry, parts: list[str]) -> Obj:
    """`/openapi/v3` (the index) or `/openapi/v3/api[s]/...` (one group version)."""
    if len(parts) >= 2 and parts[1] == "v3":
        if len(parts) == 2:
            return openapi.openapi_index(registry)
        rest = parts[2:]
        group_name, version_name = "", ""
        if rest[0] == "api" and len(rest) == 2:
            version_name = rest[1]
        elif rest[0] == "apis" and len(rest) == 3:
            group_name, version_name = rest[1], rest[2]
        try:
            return openapi.openapi_document(registry, group_name, version_name)
        except LookupError:
            raise NotFound(NOT_FOUND, details={}) from None
    raise NotFound(NOT_FOUND, details={})
