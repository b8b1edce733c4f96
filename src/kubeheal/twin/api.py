"""The twin's HTTP API: the Kubernetes REST API over the `ObjectStore`, as a Starlette app.

Serves what kubectl, lightkube and kubeheal use: discovery (`/api`, `/apis`, resource lists
with subresources), `/version`, health checks, a minimal OpenAPI v3, and for every resource
list (label/field selectors, `limit`/`continue`), watch (chunked JSON lines, bookmarks,
`timeoutSeconds`, 410 as an ERROR event), get, create, replace, the four patch types,
delete (DeleteOptions), deletecollection, `dryRun=All` and `fieldValidation`. Subresources:
`status`, `scale` (autoscaling/v1 Scale), `pods/log`, `pods/eviction`, `pods/binding`.
`kubectl get` receives server-side Tables (`kubeheal.twin.tables`).

Every error is a Kubernetes `Status` body (`kubeheal.twin.errors.ApiError`); an unexpected
exception becomes a 500 Status and the server keeps serving. Control endpoints under
`/twin/` (API faults, pod/node faults) and `/metrics` sit beside the API and are never faulted.

Server-side apply (`application/apply-patch+yaml`) is approximated: the applied configuration
is strategic-merged into the live object (created when absent); there is no field ownership,
so fields dropped from the applied configuration are not removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from kubeheal.twin import openapi, tables
from kubeheal.twin.apifaults import ApiFaultSettings
from kubeheal.twin.clock import format_time
from kubeheal.twin.cluster import Twin
from kubeheal.twin.defaults import pod_spec_defaults as _pod_spec_defaults
from kubeheal.twin.errors import (
    ApiError,
    BadRequest,
    Conflict,
    InternalError,
    Invalid,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
)
from kubeheal.twin.metrics import render_metrics
from kubeheal.twin.patch import (
    PatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)
from kubeheal.twin.resources import ResourceType, UnknownResourceError
from kubeheal.twin.selectors import FieldSelector, LabelSelector, SelectorError
from kubeheal.twin.sim.control_plane import evict
from kubeheal.twin.sim.faults import FaultError, FaultSpec
from kubeheal.twin.sim.kubelet import read_logs
from kubeheal.twin.sim.objects import qos_class
from kubeheal.twin.store import Watcher

__all__ = [
    "KUBERNETES_VERSION",
    "ApiOptions",
    "AuditRecord",
    "add_global_audit",
    "create_app",
    "remove_global_audit",
]

_GLOBAL_AUDIT: list[Callable[[AuditRecord], None]] = []


def add_global_audit(callback: Callable[[AuditRecord], None]) -> None:
    """Also hand every resource request of every twin API server in this process to
    ``callback`` (the test suite's RBAC proof records kubeheal's calls this way)."""
    _GLOBAL_AUDIT.append(callback)


def remove_global_audit(callback: Callable[[AuditRecord], None]) -> None:
    """Undo `add_global_audit`."""
    _GLOBAL_AUDIT.remove(callback)


log = logging.getLogger(__name__)

Obj = dict[str, Any]
KUBERNETES_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0"}

_JSON = "application/json"
_PROTOBUF = "application/vnd.kubernetes.protobuf"
_MERGE = "application/merge-patch+json"
_JSON_PATCH = "application/json-patch+json"
_STRATEGIC = "application/strategic-merge-patch+json"
_APPLY_YAML = "application/apply-patch+yaml"
_APPLY_CBOR = "application/apply-patch+cbor"
_PATCH_TYPES = (_JSON_PATCH, _MERGE, _STRATEGIC, _APPLY_YAML)
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One resource request as RBAC sees it (verb, group, resource, subresource, namespace)."""

    verb: str  # get list watch create update patch delete deletecollection
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class ApiOptions:
    """Tunables of the API server."""

    bookmark_interval: float = 60.0  # seconds between BOOKMARK events (real servers: ~1 min)
    watch_timeout: float = 1800.0  # longest watch without timeoutSeconds
    log_follow_poll: float = 0.25  # how often `logs -f` looks for new lines
    audit: Callable[[AuditRecord], None] | None = None  # sees every resource request; off: None


@dataclass(frozen=True, slots=True)
class _Target:
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    watch_path: bool


def _dumps(value: object) -> bytes:
    return orjson.dumps(value)


def _json_response(value: object, *, status: int = 200, warnings: Sequence[str] = ()) -> Response:
    response = Response(_dumps(value), status_code=status, media_type=_JSON)
    for warning in warnings:
        response.headers.append("Warning", f'299 - "{_escape(warning)}"')
    return response


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _error_response(err: ApiError) -> Response:
    response = Response(_dumps(err.status()), status_code=err.code, media_type=_JSON)
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def _success(*, code: int = 200, details: Obj | None = None) -> Obj:
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


class _Api:
    """Request handlers over one twin."""

    def __init__(self, twin: Twin, options: ApiOptions) -> None:
        self.twin = twin
        self.store = twin.store
        self.options = options
        self._next_cluster_ip = 11

    # ------------------------------------------------------------------ entry

    async def dispatch(self, request: Request) -> Response:
        path = request.url.path
        decision = self.twin.api_faults.decide(request.method, path)
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        if decision.error is not None:
            return _error_response(decision.error)
        try:
            return await self._route(request, path)
        except ApiError as err:
            return _error_response(err)
        except Exception as exc:
            log.exception("unexpected error serving %s %s", request.method, path)
            return _error_response(InternalError(f"internal error in the cluster twin: {exc}"))

    async def _route(self, request: Request, path: str) -> Response:
        parts = [p for p in path.split("/") if p]
        if not parts:
            return _json_response(
                {"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version"]}
            )
        head = parts[0]
        if head in ("healthz", "readyz", "livez") and request.method == "GET":
            return PlainTextResponse("ok")
        if head == "version" and len(parts) == 1:
            return _json_response(self._version())
        if head == "openapi":
            return self._openapi(parts)
        if head == "api":
            if len(parts) == 1:
                return _json_response(
                    {
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": [
                            {"clientCIDR": "0.0.0.0/0", "serverAddress": request.url.netloc}
                        ],
                    }
                )
            return await self._resource(request, "", parts[1], parts[2:])
        if head == "apis":
            if len(parts) == 1:
                return _json_response(self._group_list())
            if len(parts) == 2:
                return _json_response(self._group(parts[1]))
            return await self._resource(request, parts[1], parts[2], parts[3:])
        raise NotFound("the server could not find the requested resource", details={})

    # ------------------------------------------------------------------ discovery

    def _version(self) -> Obj:
        return {
            **KUBERNETES_VERSION,
            "gitCommit": "kubeheal-twin",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def _group_entry(self, group: str, versions: list[str]) -> Obj:
        listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": listed, "preferredVersion": listed[0]}

    def _group_list(self) -> Obj:
        groups = [
            self._group_entry(group, versions)
            for group, versions in self.store.registry.group_versions().items()
            if group
        ]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _group(self, group: str) -> Obj:
        versions = self.store.registry.group_versions().get(group)
        if not group or not versions:
            raise NotFound("the server could not find the requested resource", details={})
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group, versions)}

    def _resource_list(self, group: str, version: str) -> Obj:
        types = self.store.registry.in_group_version(group, version)
        if not types:
            raise NotFound("the server could not find the requested resource", details={})
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
                resources.append(self._subresource_entry(t, sub))
        gv = version if not group else f"{group}/{version}"
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources,
        }

    @staticmethod
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

    def _openapi(self, parts: list[str]) -> Response:
        if len(parts) >= 2 and parts[1] == "v3":
            if len(parts) == 2:
                return _json_response(openapi.openapi_index(self.store.registry))
            rest = parts[2:]
            group, version = "", ""
            if rest[0] == "api" and len(rest) == 2:
                version = rest[1]
            elif rest[0] == "apis" and len(rest) == 3:
                group, version = rest[1], rest[2]
            try:
                doc = openapi.openapi_document(self.store.registry, group, version)
            except LookupError:
                raise NotFound(
                    "the server could not find the requested resource", details={}
                ) from None
            return _json_response(doc)
        raise NotFound("the server could not find the requested resource", details={})

    # ------------------------------------------------------------------ resource routing

    def _target(self, group: str, version: str, rest: list[str]) -> _Target:
        watch_path = False
        if rest and rest[0] == "watch":
            watch_path = True
            rest = rest[1:]
        namespace: str | None = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and not (len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES)
        ):
            namespace = rest[1]
            rest = rest[2:]
        if not rest or len(rest) > 3:
            raise NotFound("the server could not find the requested resource", details={})
        try:
            rtype = self.store.registry.get(group, version, rest[0])
        except UnknownResourceError:
            raise NotFound("the server could not find the requested resource", details={}) from None
        if namespace is not None and not rtype.namespaced:
            raise NotFound("the server could not find the requested resource", details={})
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and sub not in rtype.subresources:
            raise NotFound("the server could not find the requested resource", details={})
        return _Target(rtype, namespace, name, sub, watch_path)

    async def _resource(
        self, request: Request, group: str, version: str, rest: list[str]
    ) -> Response:
        if not rest:
            if request.method != "GET":
                raise MethodNotAllowed(
                    f"the server does not allow this method on {request.url.path}"
                )
            return _json_response(self._resource_list(group, version))
        target = self._target(group, version, rest)
        method = request.method
        q = request.query_params
        watch = target.watch_path or _truthy(q.get("watch"))
        if self.options.audit is not None or _GLOBAL_AUDIT:
            record = _audit_record(request, target, watch=watch)
            if self.options.audit is not None:
                self.options.audit(record)
            for callback in tuple(_GLOBAL_AUDIT):
                callback(record)
        if watch:
            if method != "GET":
                raise MethodNotAllowed("watch is only served for GET")
            return self._watch(request, target)
        if target.name is None:
            if method == "GET":
                return self._list(request, target)
            if method == "POST":
                return await self._create(request, target)
            if method == "DELETE":
                return await self._delete_collection(request, target)
            raise MethodNotAllowed(
                f"the server does not allow this method on the requested resource ({method})"
            )
        sub = target.subresource
        if sub == "log":
            if method != "GET":
                raise MethodNotAllowed("pods/log only serves GET")
            return await self._logs(request, target)
        if sub in ("eviction", "binding"):
            if method != "POST":
                raise MethodNotAllowed(f"pods/{sub} only serves POST")
            if sub == "eviction":
                return await self._evict(request, target)
            return await self._bind(request, target)
        if method == "GET":
            return self._get(request, target)
        if method == "PUT":
            return await self._replace(request, target)
        if method == "PATCH":
            return await self._patch(request, target)
        if method == "DELETE" and sub is None:
            return await self._delete(request, target)
        raise MethodNotAllowed(
            f"the server does not allow this method on the requested resource ({method})"
        )

    # ------------------------------------------------------------------ body handling

    async def _body(self, request: Request, *, allow_empty: bool = False) -> Any:
        raw = await request.body()
        media = _media_type(request)
        if media.startswith(_PROTOBUF):
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json, application/yaml (the cluster twin does not "
                "accept protobuf; send JSON, e.g. generate with --dry-run=client -o yaml "
                "and pipe to kubectl create -f -)"
            )
        if not raw.strip():
            if allow_empty:
                return None
            raise BadRequest("the request body is empty: expected a JSON or YAML object")
        if media in ("", _JSON, "*/*", "text/json"):
            return self._parse_json(raw)
        if media in ("application/yaml", "application/x-yaml", "text/yaml"):
            return self._parse_yaml(raw)
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format ({media!r}) - accepted media "
            "types include: application/json, application/yaml"
        )

    @staticmethod
    def _parse_json(raw: bytes) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise BadRequest(f"the request body is not valid JSON: json parse error: {e}") from None

    @staticmethod
    def _parse_yaml(raw: bytes) -> Any:
        try:
            return yaml.load(raw, Loader=_YAML_LOADER)
        except yaml.YAMLError as e:
            raise BadRequest(
                f"the request body is not valid YAML: yaml parse error: {e}".replace("\n", " ")
            ) from None

    @staticmethod
    def _object_body(value: Any, what: str) -> Obj:
        if not isinstance(value, dict):
            raise BadRequest(
                f"the request body must be a {what} object, got a JSON {type(value).__name__}"
            )
        return value

    @staticmethod
    def _dry_run(request: Request) -> bool:
        values = request.query_params.getlist("dryRun")
        for value in values:
            if value != "All":
                raise BadRequest(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return bool(values)

    def _validate_fields(
        self, request: Request, obj: Obj, *, api_version: str, kind: str
    ) -> list[str]:
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

    # ------------------------------------------------------------------ defaulting

    def _defaults(self, rtype: ResourceType, obj: Obj, *, creating: bool) -> None:
        """The defaults the real API server fills in (the subset the simulation relies on)."""
        kind = rtype.kind
        spec = obj.get("spec")
        if creating and kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}
        elif creating and kind in _RESET_STATUS_ON_CREATE:
            obj.pop("status", None)
        if not isinstance(spec, dict):
            return
        if kind == "Pod":
            _pod_spec_defaults(spec)
        elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
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
                _pod_spec_defaults(template_spec)
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

    # ------------------------------------------------------------------ reads

    def _selectors(
        self, request: Request, rtype: ResourceType
    ) -> tuple[LabelSelector | None, FieldSelector | None]:
        q = request.query_params
        labels: LabelSelector | None = None
        fields: FieldSelector | None = None
        if q.get("labelSelector"):
            try:
                labels = LabelSelector.parse(q["labelSelector"])
            except SelectorError as e:
                raise BadRequest(f"unable to parse requirement: {e}") from None
        if q.get("fieldSelector"):
            try:
                fields = FieldSelector.parse(q["fieldSelector"])
            except SelectorError as e:
                raise BadRequest(f"invalid field selector: {e}") from None
            unsupported = sorted(fields.fields - rtype.selectable_fields)
            if unsupported:
                supported = ", ".join(sorted(rtype.selectable_fields))
                raise BadRequest(
                    f"field label not supported: {unsupported[0]} (supported for "
                    f"{rtype.plural}: {supported})"
                )
        return labels, fields

    @staticmethod
    def _accept(request: Request) -> str:
        """ "Table", "PartialObjectMetadata" or "" (plain JSON) from the Accept header."""
        accept = request.headers.get("accept", "")
        for part in accept.split(","):
            params = {
                k.strip(): v.strip() for k, _, v in (p.partition("=") for p in part.split(";")[1:])
            }
            if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                if params.get("as") == "Table":
                    return "Table"
                if params.get("as") in ("PartialObjectMetadata", "PartialObjectMetadataList"):
                    return "PartialObjectMetadata"
            if part.split(";")[0].strip() in (_JSON, "*/*", _PROTOBUF, "application/*"):
                return ""
        return ""

    @staticmethod
    def _include(request: Request) -> tables.IncludeObject:
        value = request.query_params.get("includeObject", "Metadata")
        if value not in ("None", "Metadata", "Object"):
            raise BadRequest(
                f'includeObject: Unsupported value: "{value}": supported values: "None", '
                '"Metadata", "Object"'
            )
        return value  # type: ignore[return-value]

    def _list(self, request: Request, target: _Target) -> Response:
        rtype = target.rtype
        labels, fields = self._selectors(request, rtype)
        q = request.query_params
        limit: int | None = None
        if q.get("limit"):
            try:
                limit = int(q["limit"])
            except ValueError:
                raise BadRequest(
                    f"limit: invalid value {q['limit']!r}: must be an integer"
                ) from None
        rv = q.get("resourceVersion")
        if rv and not rv.isdigit():
            raise BadRequest(f"invalid resourceVersion {rv!r}: must be an integer")
        result = self.store.list(
            rtype,
            target.namespace,
            label_selector=labels,
            field_selector=fields,
            limit=limit or None,
            continue_token=q.get("continue") or None,
        )
        mode = self._accept(request)
        meta: Obj = {"resourceVersion": str(result.resource_version)}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
        if mode == "Table":
            objects = [orjson.loads(raw) for raw in result.items]
            table = tables.table_for(
                rtype,
                objects,
                now=self.twin.clock.now(),
                include=self._include(request),
                resource_version=str(result.resource_version),
                continue_token=result.continue_token,
                remaining=result.remaining,
            )
            return _json_response(table)
        if mode == "PartialObjectMetadata":
            items = [tables.partial_metadata(orjson.loads(raw)) for raw in result.items]
            return _json_response(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": items,
                }
            )
        head = _dumps({"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": meta})
        body = head[:-1] + b',"items":[' + b",".join(result.items) + b"]}"
        return Response(body, media_type=_JSON)

    def _render_one(
        self,
        request: Request,
        rtype: ResourceType,
        obj: Obj,
        *,
        status: int = 200,
        warnings: Sequence[str] = (),
    ) -> Response:
        mode = self._accept(request)
        if mode == "Table":
            return _json_response(
                tables.table_for(
                    rtype,
                    [obj],
                    now=self.twin.clock.now(),
                    include=self._include(request),
                    resource_version=str(obj.get("metadata", {}).get("resourceVersion", "")),
                ),
                status=status,
                warnings=warnings,
            )
        if mode == "PartialObjectMetadata":
            return _json_response(tables.partial_metadata(obj), status=status, warnings=warnings)
        return _json_response(obj, status=status, warnings=warnings)

    def _get(self, request: Request, target: _Target) -> Response:
        assert target.name is not None
        obj = self.store.get(target.rtype, target.namespace, target.name)
        if target.subresource == "scale":
            return _json_response(_scale_of(target.rtype, obj))
        return self._render_one(request, target.rtype, obj)

    # ------------------------------------------------------------------ watch

    def _watch(self, request: Request, target: _Target) -> Response:
        rtype = target.rtype
        q = request.query_params
        labels, fields = self._selectors(request, rtype)
        if target.name is not None:
            by_name = FieldSelector.parse(f"metadata.name={target.name}")
            fields = (
                by_name
                if fields is None
                else FieldSelector(fields.requirements + by_name.requirements)
            )
        timeout = self.options.watch_timeout
        if q.get("timeoutSeconds"):
            try:
                timeout = min(float(q["timeoutSeconds"]), timeout)
            except ValueError:
                raise BadRequest(f"timeoutSeconds: invalid value {q['timeoutSeconds']!r}") from None
        table = self._accept(request) == "Table"
        include = self._include(request)
        bookmarks = _truthy(q.get("allowWatchBookmarks"))
        initial_events = _truthy(q.get("sendInitialEvents"))
        rv = q.get("resourceVersion") or None
        if initial_events:
            rv = None
        try:
            watcher = self.store.watch(
                rtype,
                target.namespace,
                label_selector=labels,
                field_selector=fields,
                resource_version=rv,
            )
        except ApiError as err:
            if err.code != 410:
                raise
            line = _dumps({"type": "ERROR", "object": err.status()}) + b"\n"
            return Response(line, media_type=_JSON)
        stream = self._watch_stream(
            watcher,
            rtype=rtype,
            table=table,
            include=include,
            timeout=timeout,
            bookmarks=bookmarks,
            initial_end=initial_events,
        )
        return StreamingResponse(stream, media_type=_JSON)

    def _event_line(
        self,
        kind: str,
        raw: bytes,
        rtype: ResourceType,
        *,
        table: bool,
        include: tables.IncludeObject,
        first: bool,
    ) -> bytes:
        if table:
            obj = orjson.loads(raw)
            body = tables.table_for(
                rtype,
                [obj],
                now=self.twin.clock.now(),
                include=include,
                resource_version=str(obj.get("metadata", {}).get("resourceVersion", "")),
                headers=first,
            )
            return _dumps({"type": kind, "object": body}) + b"\n"
        return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"

    @staticmethod
    def _bookmark(rtype: ResourceType, rv: int, *, initial_end: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": meta}
        return _dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    async def _watch_stream(
        self,
        watcher: Watcher,
        *,
        rtype: ResourceType,
        table: bool,
        include: tables.IncludeObject,
        timeout: float,
        bookmarks: bool,
        initial_end: bool,
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop_thread = threading.get_ident()
        signalled = [False]

        def wake() -> None:
            # Called under the store lock for every event: wake the stream once per batch,
            # directly when the write happened on this loop's thread (the common case).
            if signalled[0]:
                return
            signalled[0] = True
            if threading.get_ident() == loop_thread:
                ready.set()
            else:
                loop.call_soon_threadsafe(ready.set)

        store = self.store
        with store.lock:
            watcher.wake = wake
        start = loop.time()
        deadline = start + timeout
        interval = self.options.bookmark_interval
        next_bookmark = start + interval
        first = True
        try:
            # Send the response headers at once, as the API server does: a client (kubectl
            # get -w, an informer) must not wait for the first change to know the watch is on.
            yield b""
            while True:
                ready.clear()
                with store.lock:
                    signalled[0] = False
                    events = watcher.drain()
                    closed, error = watcher.closed, watcher.error
                    rv = store.resource_version
                if events:
                    yield b"".join(
                        self._event_line(
                            kind, raw, rtype, table=table, include=include, first=first and i == 0
                        )
                        for i, (kind, raw, _) in enumerate(events)
                    )
                    first = False
                if initial_end:
                    yield self._bookmark(rtype, rv, initial_end=True)
                    initial_end = False
                if closed:
                    if error is not None:
                        yield _dumps({"type": "ERROR", "object": error.status()}) + b"\n"
                    return
                now = loop.time()
                if now >= deadline:
                    return
                if bookmarks and now >= next_bookmark:
                    yield self._bookmark(rtype, rv)
                    next_bookmark = now + interval
                wake_at = min(deadline, next_bookmark) if bookmarks else deadline
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), max(0.0, wake_at - now))
        finally:
            store.stop_watch(watcher)

    # ------------------------------------------------------------------ writes

    async def _create(self, request: Request, target: _Target) -> Response:
        rtype = target.rtype
        obj = self._object_body(await self._body(request), rtype.kind)
        dry = self._dry_run(request)
        warnings = self._validate_fields(
            request, obj, api_version=rtype.api_version, kind=rtype.kind
        )
        self._defaults(rtype, obj, creating=True)
        created = self.store.create(rtype, obj, namespace=target.namespace, dry_run=dry)
        return self._render_one(request, rtype, created, status=201, warnings=warnings)

    def _check_name(self, obj: Obj, target: _Target) -> None:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be an object")
        name = meta.get("name")
        if name is None:
            meta["name"] = target.name
        elif name != target.name:
            raise BadRequest(
                f"the name of the object ({name}) does not match the name on the URL "
                f"({target.name})"
            )

    async def _replace(self, request: Request, target: _Target) -> Response:
        rtype = target.rtype
        assert target.name is not None
        body = self._object_body(await self._body(request), rtype.kind)
        dry = self._dry_run(request)
        if target.subresource == "scale":
            warnings = self._validate_fields(
                request, body, api_version="autoscaling/v1", kind="Scale"
            )
            return _json_response(self._write_scale(target, body, dry=dry), warnings=warnings)
        body.setdefault("metadata", {})
        self._check_name(body, target)
        warnings = self._validate_fields(
            request, body, api_version=rtype.api_version, kind=rtype.kind
        )
        self._defaults(rtype, body, creating=False)
        updated = self.store.update(
            rtype,
            body,
            namespace=target.namespace,
            subresource="status" if target.subresource == "status" else None,
            dry_run=dry,
        )
        return self._render_one(request, rtype, updated, warnings=warnings)

    def _write_scale(self, target: _Target, scale: Obj, *, dry: bool) -> Obj:
        rtype = target.rtype
        assert target.name is not None
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise Invalid(
                f'Scale.autoscaling "{target.name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas!r}: must be greater than or equal to 0",
                details={"name": target.name, "group": "autoscaling", "kind": "Scale"},
            )
        with self.store.lock:
            current = self.store.get(rtype, target.namespace, target.name)
            sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
            if sent_rv:
                current["metadata"]["resourceVersion"] = str(sent_rv)
            current.setdefault("spec", {})["replicas"] = replicas
            updated = self.store.update(rtype, current, namespace=target.namespace, dry_run=dry)
        return _scale_of(rtype, updated)

    async def _patch(self, request: Request, target: _Target) -> Response:
        rtype = target.rtype
        assert target.name is not None
        media = _media_type(request)
        if media == _APPLY_CBOR or media.startswith(_PROTOBUF):
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format ({media}) - accepted media "
                "types include: " + ", ".join(_PATCH_TYPES)
            )
        if media not in _PATCH_TYPES:
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format ({media or 'no content type'})"
                " - accepted media types include: " + ", ".join(_PATCH_TYPES)
            )
        raw = await request.body()
        if not raw.strip():
            raise BadRequest("the patch is empty")
        patch = self._parse_yaml(raw) if media == _APPLY_YAML else self._parse_json(raw)
        if media == _JSON_PATCH:
            if not isinstance(patch, list):
                raise BadRequest(
                    "the JSON patch must be a list of operations, got a JSON "
                    f"{type(patch).__name__}"
                )
        else:
            self._object_body(patch, "patch")
        if media == _APPLY_YAML and not request.query_params.get("fieldManager"):
            raise BadRequest(
                "PATCH requests with apply content type must specify a fieldManager (the "
                "fieldManager query parameter)"
            )
        dry = self._dry_run(request)
        sub = target.subresource
        with self.store.lock:
            current = self.store.find(rtype, target.namespace, target.name)
            if current is None:
                if media == _APPLY_YAML and sub is None:
                    return self._apply_create(request, target, patch, dry=dry)
                raise self.store._not_found(rtype, target.name)
            view = _scale_of(rtype, current) if sub == "scale" else current
            current_rv = view["metadata"].get("resourceVersion")
            try:
                if media == _JSON_PATCH:
                    patched = json_patch(view, patch)
                elif media == _MERGE:
                    patched = json_merge_patch(view, patch)
                else:
                    patched = strategic_merge_patch(view, patch)
            except PatchError as e:
                raise Invalid(f"the patch cannot be applied: {e}") from None
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise Invalid("the patched object must be an object with metadata")
            if sub == "scale":
                warnings = self._validate_fields(
                    request, patched, api_version="autoscaling/v1", kind="Scale"
                )
                if patched["metadata"].get("resourceVersion") == current_rv:
                    patched["metadata"].pop("resourceVersion", None)
                return _json_response(
                    self._write_scale(target, patched, dry=dry), warnings=warnings
                )
            self._check_name(patched, target)
            if not patched["metadata"].get("resourceVersion"):
                patched["metadata"]["resourceVersion"] = current_rv
            warnings = self._validate_fields(
                request, patched, api_version=rtype.api_version, kind=rtype.kind
            )
            self._defaults(rtype, patched, creating=False)
            updated = self.store.update(
                rtype,
                patched,
                namespace=target.namespace,
                subresource="status" if sub == "status" else None,
                dry_run=dry,
            )
        return self._render_one(request, rtype, updated, warnings=warnings)

    def _apply_create(self, request: Request, target: _Target, obj: Obj, *, dry: bool) -> Response:
        rtype = target.rtype
        obj.setdefault("metadata", {})
        self._check_name(obj, target)
        warnings = self._validate_fields(
            request, obj, api_version=rtype.api_version, kind=rtype.kind
        )
        self._defaults(rtype, obj, creating=True)
        created = self.store.create(rtype, obj, namespace=target.namespace, dry_run=dry)
        return self._render_one(request, rtype, created, status=201, warnings=warnings)

    async def _delete_options(self, request: Request) -> Obj:
        body = await self._body(request, allow_empty=True)
        options: Obj = {} if body is None else self._object_body(body, "DeleteOptions")
        q = request.query_params
        if q.get("propagationPolicy"):
            options["propagationPolicy"] = q["propagationPolicy"]
        if q.get("gracePeriodSeconds"):
            try:
                options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise BadRequest("gracePeriodSeconds must be an integer") from None
        if _truthy(q.get("orphanDependents")) or options.get("orphanDependents") is True:
            options.setdefault("propagationPolicy", "Orphan")
        if q.getlist("dryRun"):
            options["dryRun"] = q.getlist("dryRun")
        for value in options.get("dryRun") or ():
            if value != "All":
                raise BadRequest(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return options

    async def _delete(self, request: Request, target: _Target) -> Response:
        rtype = target.rtype
        assert target.name is not None
        options = await self._delete_options(request)
        preconditions = options.get("preconditions")
        if preconditions is not None and not isinstance(preconditions, dict):
            raise BadRequest("preconditions must be an object")
        result = self.store.delete(
            rtype,
            target.namespace,
            target.name,
            propagation=options.get("propagationPolicy"),
            preconditions=preconditions,
            dry_run=bool(options.get("dryRun")),
        )
        meta = result.get("metadata") or {}
        still_there = self.store.find(rtype, target.namespace, target.name) is not None
        if still_there or options.get("dryRun"):
            return _json_response(result)
        return _json_response(
            _success(
                details={
                    "name": target.name,
                    "group": rtype.group,
                    "kind": rtype.plural,
                    "uid": meta.get("uid", ""),
                }
            )
        )

    async def _delete_collection(self, request: Request, target: _Target) -> Response:
        rtype = target.rtype
        labels, fields = self._selectors(request, rtype)
        options = await self._delete_options(request)
        deleted: list[Obj] = []
        with self.store.lock:
            victims = self.store.list_objects(
                rtype, target.namespace, label_selector=labels, field_selector=fields
            )
            for obj in victims:
                meta = obj["metadata"]
                try:
                    deleted.append(
                        self.store.delete(
                            rtype,
                            meta.get("namespace") or None,
                            meta["name"],
                            propagation=options.get("propagationPolicy"),
                            dry_run=bool(options.get("dryRun")),
                        )
                    )
                except NotFound:
                    continue  # collected as a dependent of an earlier victim
            rv = self.store.resource_version
        return _json_response(
            {
                "kind": rtype.list_kind,
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": deleted,
            }
        )

    # ------------------------------------------------------------------ pod subresources

    async def _logs(self, request: Request, target: _Target) -> Response:
        assert target.name is not None
        pod = self.store.get(target.rtype, target.namespace, target.name)
        q = request.query_params
        spec = pod.get("spec") or {}
        names = [str(c.get("name")) for c in spec.get("containers") or ()]
        init_names = [str(c.get("name")) for c in spec.get("initContainers") or ()]
        container = q.get("container")
        if not container:
            if len(names) != 1:
                raise BadRequest(
                    f"a container name must be specified for pod {target.name}, choose one of: "
                    f"[{' '.join(names)}]"
                    + (
                        f" or one of the init containers: [{' '.join(init_names)}]"
                        if init_names
                        else ""
                    )
                )
            container = names[0]
        if container not in names and container not in init_names:
            raise BadRequest(f"container {container} is not valid for pod {target.name}")
        previous = _truthy(q.get("previous"))
        tail: int | None = None
        if q.get("tailLines"):
            try:
                tail = int(q["tailLines"])
            except ValueError:
                raise BadRequest("tailLines must be an integer") from None
        limit_bytes: int | None = None
        if q.get("limitBytes"):
            try:
                limit_bytes = int(q["limitBytes"])
            except ValueError:
                raise BadRequest("limitBytes must be an integer") from None
        uid = str(pod["metadata"].get("uid", ""))
        if tail is not None and tail < 0:
            raise BadRequest("tailLines must be a non-negative integer")
        timestamps = _truthy(q.get("timestamps"))
        follow = _truthy(q.get("follow")) and not previous
        full = self._read_logs(uid, container, previous, timestamps=timestamps)
        text = full
        if tail is not None:
            text = "".join(full.splitlines(keepends=True)[-tail:]) if tail else ""
        if limit_bytes is not None:
            text = text.encode()[:limit_bytes].decode(errors="ignore")
        if not follow:
            return PlainTextResponse(text)
        return StreamingResponse(
            self._follow_logs(target, uid, container, text, len(full), timestamps=timestamps),
            media_type="text/plain",
        )

    def _read_logs(
        self,
        pod_uid: str,
        container: str,
        previous: bool,
        *,
        timestamps: bool = False,
    ) -> str:
        return read_logs(
            self.twin.runtime,
            pod_uid=pod_uid,
            container=container,
            previous=previous,
            timestamps=timestamps,
        )

    async def _follow_logs(
        self,
        target: _Target,
        uid: str,
        container: str,
        initial: str,
        sent: int,
        *,
        timestamps: bool,
    ) -> AsyncIterator[bytes]:
        """The log so far, then what the container writes, until the pod goes away."""
        yield initial.encode()
        while True:
            await asyncio.sleep(self.options.log_follow_poll)
            assert target.name is not None
            pod = self.store.find(target.rtype, target.namespace, target.name)
            if pod is None or pod["metadata"].get("uid") != uid:
                return
            try:
                full = self._read_logs(uid, container, False, timestamps=timestamps)
            except ApiError:
                return
            if len(full) < sent:  # the container restarted: its log starts again
                sent = 0
            if len(full) > sent:
                yield full[sent:].encode()
                sent = len(full)

    async def _evict(self, request: Request, target: _Target) -> Response:
        assert target.name is not None
        body = self._object_body(await self._body(request), "Eviction")
        warnings = self._validate_fields(request, body, api_version="policy/v1", kind="Eviction")
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, target.name):
            raise BadRequest(
                f"name in URL does not match name in Eviction object ({meta.get('name')} vs "
                f"{target.name})"
            )
        if self._dry_run(request):
            # As the API server's propagateDryRun: a dry run still checks the budgets (and the
            # more-than-one-PDB refusal); it only changes nothing.
            options = dict(body.get("deleteOptions") or {})
            options["dryRun"] = ["All"]
            body = {**body, "deleteOptions": options}
        namespace = target.namespace or "default"
        with self.store.lock:
            self.store.get(target.rtype, namespace, target.name)
            self._call_evict(namespace, target.name, body)
        return _json_response(_success(code=201), status=201, warnings=warnings)

    def _call_evict(self, namespace: str, name: str, eviction: Obj) -> None:
        evict(
            self.store, namespace=namespace, name=name, eviction=eviction, now=self.twin.clock.now()
        )

    async def _bind(self, request: Request, target: _Target) -> Response:
        assert target.name is not None
        body = self._object_body(await self._body(request), "Binding")
        node = (body.get("target") or {}).get("name")
        if not isinstance(node, str) or not node:
            raise Invalid("Binding is invalid: target.name: Required value")
        dry = self._dry_run(request)
        name = target.name

        def bind(pod: Obj) -> None:
            spec = pod.setdefault("spec", {})
            if spec.get("nodeName"):
                raise Conflict(f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            spec["nodeName"] = node

        with self.store.lock:
            pod = self.store.get(target.rtype, target.namespace, name)
            bind(pod)
            if not dry:
                self.store.mutate(target.rtype, target.namespace, name, bind)
                self.store.mutate(
                    target.rtype,
                    target.namespace,
                    name,
                    _set_scheduled_condition(format_time(self.twin.clock.now())),
                    subresource="status",
                )
        return _json_response(_success(code=201), status=201)

    # ------------------------------------------------------------------ control endpoints

    async def control_api_faults(self, request: Request) -> Response:
        faults = self.twin.api_faults
        if request.method == "GET":
            return _json_response(faults.snapshot())
        if request.method == "DELETE":
            faults.reset()
            return _json_response(faults.snapshot())
        raw = await request.body()
        try:
            settings = ApiFaultSettings.model_validate_json(raw or b"{}")
        except ValidationError as e:
            return _error_response(BadRequest(f"invalid API fault settings: {e}"))
        faults.configure(settings)
        return _json_response(faults.snapshot())

    async def control_drop_watches(self, request: Request) -> Response:
        return _json_response({"dropped": self.store.drop_watches()})

    async def control_compact(self, request: Request) -> Response:
        return _json_response({"compactedResourceVersion": str(self.store.compact())})

    async def control_faults(self, request: Request) -> Response:
        injector = self.twin.faults
        if injector is None:
            return _error_response(
                NotFound("pod/node fault injection is not available in this build of the twin")
            )
        try:
            if request.method == "GET":
                return _json_response({"faults": [f.to_dict() for f in injector.active()]})
            if request.method == "DELETE":
                fault_id = request.path_params.get("fault_id")
                with self.store.lock:
                    if not fault_id:
                        return _json_response({"cleared": injector.clear_all()})
                    injector.clear(fault_id)
                return _json_response({"cleared": fault_id})
            raw = await request.body()
            try:
                spec = FaultSpec.model_validate_json(raw or b"{}")
            except ValidationError as e:
                return _error_response(BadRequest(f"invalid fault: {e}"))
            with self.store.lock:
                fault_id = injector.inject(spec)
            return _json_response({"id": fault_id}, status=201)
        except ApiError as err:
            return _error_response(err)
        except LookupError as e:
            return _error_response(NotFound(f"fault request failed: {e}"))
        except FaultError as e:
            return _error_response(BadRequest(f"fault request failed: {e}"))

    async def control_status(self, request: Request) -> Response:
        sim = self.twin.simulation
        with self.store.lock:
            counts = {
                t.plural if not t.group else f"{t.plural}.{t.group}": self.store.count(t)
                for t in self.store.registry
                if self.store.count(t)
            }
            return _json_response(
                {
                    "resourceVersion": str(self.store.resource_version),
                    "compactedResourceVersion": str(self.store.compacted_rv),
                    "time": format_time(self.twin.clock.now()),
                    "scenario": self.twin.scenario,
                    "simulationSteps": sim.steps,
                    "controllers": [c.name for c in sim.controllers],
                    "objects": counts,
                }
            )

    async def metrics(self, request: Request) -> Response:
        with self.store.lock:
            body = render_metrics(
                store=self.store, runtime=self.twin.runtime, now=self.twin.clock.now()
            )
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


# ---------------------------------------------------------------------------- helpers


def _audit_record(request: Request, target: _Target, *, watch: bool) -> AuditRecord:
    method = request.method
    if watch:
        verb = "watch"
    elif target.name is None:
        verb = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}.get(method, method)
    else:
        verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch"}.get(
            method, "delete" if method == "DELETE" else method
        )
    return AuditRecord(
        verb=verb,
        group=target.rtype.group,
        resource=target.rtype.plural,
        subresource=target.subresource or "",
        namespace=target.namespace or "",
        name=target.name or "",
        user_agent=request.headers.get("user-agent", ""),
    )


def _set_scheduled_condition(now: str) -> Callable[[Obj], None]:
    def change(pod: Obj) -> None:
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now})
        status["conditions"] = conditions

    return change


def _scale_of(rtype: ResourceType, obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a deployment, replica set or stateful set."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = ""
    if spec.get("selector") is not None:
        try:
            selector = str(LabelSelector.from_api(spec["selector"]))
        except SelectorError:
            selector = ""
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": int(status.get("replicas") or 0), "selector": selector},
    }


def create_app(twin: Twin, *, options: ApiOptions | None = None) -> Starlette:
    """The Starlette application serving `twin` over the Kubernetes REST API."""
    api = _Api(twin, options or ApiOptions())
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/twin/faults/api", api.control_api_faults, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/twin/faults/api/drop-watches", api.control_drop_watches, methods=["POST"]),
        Route("/twin/faults/api/compact", api.control_compact, methods=["POST"]),
        Route("/twin/faults", api.control_faults, methods=["GET", "POST", "DELETE"]),
        Route("/twin/faults/{fault_id}", api.control_faults, methods=["DELETE"]),
        Route("/twin/status", api.control_status, methods=["GET"]),
        Route("/metrics", api.metrics, methods=["GET"]),
        Route("/{path:path}", api.dispatch, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.state.twin = twin
    return app
