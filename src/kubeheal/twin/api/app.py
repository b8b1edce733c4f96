"""The Starlette application: routes a request to discovery, reads, writes, subresources or
the control endpoints, applies the twin's API faults, hands every resource request to the
audit, and turns every error into a Kubernetes `Status` body (an unexpected exception into a
500 Status, and the server keeps serving).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kubeheal.twin.api import discovery
from kubeheal.twin.api.admission import Admission
from kubeheal.twin.api.audit import Audit, audit_record
from kubeheal.twin.api.control import Control
from kubeheal.twin.api.reads import Reads
from kubeheal.twin.api.requests import NOT_FOUND, Target, error_response, json_response, truthy
from kubeheal.twin.api.subresources import Subresources
from kubeheal.twin.api.writes import Writes
from kubeheal.twin.cluster import Twin
from kubeheal.twin.errors import ApiError, InternalError, MethodNotAllowed, NotFound
from kubeheal.twin.resources import UnknownResourceError

__all__ = ["ApiOptions", "create_app"]

log = logging.getLogger(__name__)

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True, slots=True)
class ApiOptions:
    """Tunables of the API server."""

    bookmark_interval: float = 60.0  # seconds between BOOKMARK events (real servers: ~1 min)
    watch_timeout: float = 1800.0  # longest watch without timeoutSeconds
    log_follow_poll: float = 0.25  # how often `logs -f` looks for new lines
    audit: Audit | None = None  # sees every resource request; off: None


class _Api:
    """Routes the requests of one twin's API server to the room that serves them."""

    def __init__(self, twin: Twin, options: ApiOptions) -> None:
        self.twin = twin
        self.store = twin.store
        self.audit = options.audit
        self.reads = Reads(
            twin, watch_timeout=options.watch_timeout, bookmark_interval=options.bookmark_interval
        )
        self.subresources = Subresources(twin, log_follow_poll=options.log_follow_poll)
        self.writes = Writes(twin, admission=Admission(), subresources=self.subresources)
        self.control = Control(twin)

    async def dispatch(self, request: Request) -> Response:
        path = request.url.path
        decision = self.twin.api_faults.decide(request.method, path)
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        if decision.error is not None:
            return error_response(decision.error)
        try:
            return await self._route(request, path)
        except ApiError as err:
            return error_response(err)
        except Exception as exc:
            log.exception("unexpected error serving %s %s", request.method, path)
            return error_response(InternalError(f"internal error in the cluster twin: {exc}"))

    async def _route(self, request: Request, path: str) -> Response:
        parts = [p for p in path.split("/") if p]
        registry = self.store.registry
        if not parts:
            return json_response({"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version"]})
        head = parts[0]
        if head in ("healthz", "readyz", "livez") and request.method == "GET":
            return PlainTextResponse("ok")
        if head == "version" and len(parts) == 1:
            return json_response(discovery.version())
        if head == "openapi":
            return json_response(discovery.openapi_document(registry, parts))
        if head == "api":
            if len(parts) == 1:
                return json_response(discovery.api_versions(request))
            return await self._resource(request, "", parts[1], parts[2:])
        if head == "apis":
            if len(parts) == 1:
                return json_response(discovery.group_list(registry))
            if len(parts) == 2:
                return json_response(discovery.group(registry, parts[1]))
            return await self._resource(request, parts[1], parts[2], parts[3:])
        raise NotFound(NOT_FOUND, details={})

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
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
            raise NotFound(NOT_FOUND, details={})
        try:
            rtype = self.store.registry.get(group, version, rest[0])
        except UnknownResourceError:
            raise NotFound(NOT_FOUND, details={}) from None
        if namespace is not None and not rtype.namespaced:
            raise NotFound(NOT_FOUND, details={})
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and sub not in rtype.subresources:
            raise NotFound(NOT_FOUND, details={})
        return Target(rtype, namespace, name, sub, watch_path)

    async def _resource(
        self, request: Request, group: str, version: str, rest: list[str]
    ) -> Response:
        if not rest:
            if request.method != "GET":
                raise MethodNotAllowed(
                    f"the server does not allow this method on {request.url.path}"
                )
            return json_response(discovery.resource_list(self.store.registry, group, version))
        target = self._target(group, version, rest)
        method = request.method
        watch = target.watch_path or truthy(request.query_params.get("watch"))
        if self.audit is not None:
            self.audit(audit_record(request, target, watch=watch))
        if watch:
            if method != "GET":
                raise MethodNotAllowed("watch is only served for GET")
            return self.reads.watch(request, target)
        if target.name is None:
            if method == "GET":
                return self.reads.list_collection(request, target)
            if method == "POST":
                return await self.writes.create(request, target)
            if method == "DELETE":
                return await self.writes.delete_collection(request, target)
            raise MethodNotAllowed(
                f"the server does not allow this method on the requested resource ({method})"
            )
        sub = target.subresource
        if sub == "log":
            if method != "GET":
                raise MethodNotAllowed("pods/log only serves GET")
            return await self.subresources.logs(request, target)
        if sub in ("eviction", "binding"):
            if method != "POST":
                raise MethodNotAllowed(f"pods/{sub} only serves POST")
            if sub == "eviction":
                return await self.subresources.evict(request, target)
            return await self.subresources.bind(request, target)
        if method == "GET":
            return self.reads.get_one(request, target)
        if method == "PUT":
            return await self.writes.replace(request, target)
        if method == "PATCH":
            return await self.writes.patch(request, target)
        if method == "DELETE" and sub is None:
            return await self.writes.delete(request, target)
        raise MethodNotAllowed(
            f"the server does not allow this method on the requested resource ({method})"
        )


def create_app(twin: Twin, *, options: ApiOptions | None = None) -> Starlette:
    """The Starlette application serving `twin` over the Kubernetes REST API."""
    api = _Api(twin, options or ApiOptions())
    control = api.control
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/twin/faults/api", control.api_faults, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/twin/faults/api/drop-watches", control.drop_watches, methods=["POST"]),
        Route("/twin/faults/api/compact", control.compact, methods=["POST"]),
        Route("/twin/faults", control.faults, methods=["GET", "POST", "DELETE"]),
        Route("/twin/faults/{fault_id}", control.faults, methods=["DELETE"]),
        Route("/twin/status", control.status, methods=["GET"]),
        Route("/metrics", control.metrics, methods=["GET"]),
        Route("/{path:path}", api.dispatch, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.state.twin = twin
    return app
