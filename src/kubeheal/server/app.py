"""kubeheal's own HTTP app: health, /metrics, the Alertmanager webhook and the API routers.

One ASGI app (FastAPI, served by uvicorn), so the HTTP API has an OpenAPI description
(``/openapi.json``) that the test suite fuzzes. Health reflects the API server connection
(every reflector synced and not failing) and the ledger; /metrics serves the operator's
registry. Authentication (`kubeheal.server.auth`) is a middleware over every path except
/healthz, /livez, /readyz and (unless configured) /metrics: routers added through
``routers`` are protected without doing anything themselves and must not authenticate on
their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from kubeheal import __version__
from kubeheal.server.auth import Authenticator, AuthMiddleware, auth_failures_counter

__all__ = ["create_app"]

_SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer"},
    "basicAuth": {"type": "http", "scheme": "basic"},
}


def create_app(
    *,
    registry: CollectorRegistry,
    ready: Callable[[], tuple[bool, dict[str, Any]]],
    webhook: APIRouter | None = None,
    routers: Sequence[APIRouter] = (),
    auth: Authenticator | None = None,
) -> FastAPI:
    """The operator's HTTP app.

    ``ready()`` returns (ready?, details) for /readyz; ``webhook`` is the Alertmanager
    receiver (`kubeheal.server.webhook.webhook_router`); ``routers`` are further API routers.
    ``auth`` defaults to an authenticator without secrets, which refuses every protected
    request: pass ``Authenticator.from_settings(settings.server)`` (or ``Authenticator.off()``
    to serve without authentication).
    """
    authenticator = auth if auth is not None else Authenticator()
    app = FastAPI(
        title="kubeheal",
        version=__version__,
        description="kubeheal's HTTP API: Alertmanager webhook, incidents, metrics, health.",
        docs_url=None,
        redoc_url=None,
    )

    async def metrics() -> Response:
        """The operator's Prometheus metrics (text exposition format)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz() -> JSONResponse:
        """Liveness: the process serves HTTP."""
        return JSONResponse({"status": "ok"})

    async def livez() -> JSONResponse:
        """Liveness (alias of /healthz)."""
        return JSONResponse({"status": "ok"})

    async def readyz() -> JSONResponse:
        """Readiness: every watch of the API server synced and healthy (503 otherwise)."""
        ok, details = ready()
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": details},
            status_code=200 if ok else 503,
        )

    for path, endpoint in (
        ("/metrics", metrics),
        ("/healthz", healthz),
        ("/livez", livez),
        ("/readyz", readyz),
    ):
        app.add_api_route(
            path, endpoint, methods=["GET"], tags=["operations"], response_class=Response
        )
        # HEAD as well (probes and load balancers use it), without a second OpenAPI entry.
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)

    if webhook is not None:
        app.include_router(webhook)
    for router in routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            if not authenticator.disabled:
                schema.setdefault("components", {})["securitySchemes"] = _SECURITY_SCHEMES
                for path, operations in schema.get("paths", {}).items():
                    if authenticator.exempt(path):
                        continue
                    for operation in operations.values():
                        operation["security"] = [{"bearerAuth": []}, {"basicAuth": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(
        AuthMiddleware,
        authenticator=authenticator,
        failures=auth_failures_counter(registry),
    )
    return app
