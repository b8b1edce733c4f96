"""Schemas for the twin's API: a minimal OpenAPI v3, and unknown-field detection.

* `openapi_index` / `openapi_document` serve `/openapi/v3` and `/openapi/v3/<api path>`:
  one PATCH operation per resource carrying `x-kubernetes-group-version-kind` and a
  `fieldValidation` query parameter. That is what `kubectl apply` / `create -f` look for before
  they leave validation to the server (kubectl then sends `fieldValidation=Strict`). It holds
  no object schemas, so `kubectl explain` does not work against the twin.
* `unknown_fields` walks an object against the Kubernetes type it claims to be, taken from the
  `lightkube-models` classes (msgspec Structs generated from the Kubernetes OpenAPI), and
  returns the paths of fields the type does not have, spelled as the API server spells them in
  `strict decoding error: unknown field "spec.template.spec.containers[0].foo"`.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import msgspec
import msgspec.inspect as mi

from kubeheal.twin.resources import ResourceRegistry, ResourceType

__all__ = [
    "api_path",
    "model_type",
    "openapi_document",
    "openapi_index",
    "unknown_fields",
]


def api_path(group: str, version: str) -> str:
    """The path prefix of a group/version without the leading slash: `api/v1`, `apis/apps/v1`."""
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32].upper()


def openapi_index(registry: ResourceRegistry) -> dict[str, Any]:
    """The `/openapi/v3` discovery document: one entry per served group/version."""
    paths: dict[str, Any] = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            path = api_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(path)}"}
    return {"paths": paths}


def _gvk(rtype: ResourceType) -> dict[str, str]:
    return {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}


_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "Strict, Warn or Ignore: what to do with unknown or duplicate fields.",
    "schema": {"type": "string", "uniqueItems": True},
}
_DRY_RUN = {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
_FIELD_MANAGER = {
    "name": "fieldManager",
    "in": "query",
    "schema": {"type": "string", "uniqueItems": True},
}


def _operation(rtype: ResourceType, action: str, op_id: str) -> dict[str, Any]:
    params: list[dict[str, Any]] = [_DRY_RUN]
    if action in ("patch", "put", "post"):
        params += [_FIELD_MANAGER, _FIELD_VALIDATION]
    return {
        "operationId": op_id,
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rtype),
    }


def openapi_document(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any]:
    """The OpenAPI v3 document of one group/version (operations only, no object schemas).

    Raises LookupError when the group/version is not served.
    """
    types = registry.in_group_version(group, version)
    if not types:
        raise LookupError(f"{api_path(group, version)} is not served")
    prefix = "/" + api_path(group, version)
    paths: dict[str, Any] = {}
    for rtype in types:
        ident = f"{rtype.kind}{rtype.group.split('.')[0].title()}{version.title()}"
        if rtype.namespaced:
            collection = f"{prefix}/namespaces/{{namespace}}/{rtype.plural}"
        else:
            collection = f"{prefix}/{rtype.plural}"
        item = f"{collection}/{{name}}"
        paths[collection] = {
            "get": _operation(rtype, "list", f"list{ident}"),
            "post": _operation(rtype, "post", f"create{ident}"),
        }
        paths[item] = {
            "get": _operation(rtype, "get", f"read{ident}"),
            "put": _operation(rtype, "put", f"replace{ident}"),
            "patch": _operation(rtype, "patch", f"patch{ident}"),
            "delete": _operation(rtype, "delete", f"delete{ident}"),
        }
        for sub in rtype.subresources:
            if sub in ("status", "scale"):
                paths[f"{item}/{sub}"] = {
                    "get": _operation(rtype, "get", f"read{ident}{sub.title()}"),
                    "put": _operation(rtype, "put", f"replace{ident}{sub.title()}"),
                    "patch": _operation(rtype, "patch", f"patch{ident}{sub.title()}"),
                }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubeheal cluster twin)", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": {}},
    }


# ----------------------------------------------------------------------------- field schemas


def _module_name(group: str, version: str) -> str:
    prefix = group.split(".", maxsplit=1)[0] if group else "core"
    return f"lightkube.models.{prefix}_{version}"


@lru_cache(maxsize=256)
def model_type(api_version: str, kind: str) -> mi.Type | None:
    """The msgspec type description of `kind` in `api_version`, or None when unknown."""
    group, _, version = api_version.rpartition("/")
    try:
        module = importlib.import_module(_module_name(group, version))
    except ImportError:
        return None
    cls = getattr(module, kind, None)
    if not isinstance(cls, type) or not issubclass(cls, msgspec.Struct):
        return None
    return mi.type_info(cls)


def _pick(t: mi.Type, value: object) -> mi.Type | None:
    """The member of a (possibly union) type that describes `value`'s container shape."""
    members: Iterable[mi.Type] = t.types if isinstance(t, mi.UnionType) else (t,)
    for member in members:
        if isinstance(value, dict) and isinstance(member, mi.StructType | mi.DictType):
            return member
        if isinstance(value, list) and isinstance(member, mi.ListType):
            return member
    return None


def _walk(value: object, t: mi.Type, path: str, out: list[str]) -> None:
    shape = _pick(t, value)
    if shape is None:
        return
    if isinstance(shape, mi.StructType) and isinstance(value, dict):
        known = {f.encode_name: f.type for f in shape.fields}
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            field_type = known.get(key)
            if field_type is None:
                out.append(where)
            else:
                _walk(sub, field_type, where, out)
    elif isinstance(shape, mi.ListType) and isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, shape.item_type, f"{path}[{index}]", out)
    elif isinstance(shape, mi.DictType) and isinstance(value, dict):
        if isinstance(shape.value_type, mi.AnyType):
            return
        for key, sub in value.items():
            _walk(sub, shape.value_type, f"{path}[{key}]", out)


def unknown_fields(obj: dict[str, Any], *, api_version: str, kind: str) -> list[str]:
    """Paths of the fields of `obj` that `kind` does not define (empty if the type is unknown)."""
    t = model_type(api_version, kind)
    if t is None:
        return []
    out: list[str] = []
    _walk(obj, t, "", out)
    return out
