"""kubeheal's own HTTP app: health, /metrics, the Alertmanager webhook and the API routers.

One ASGI app (FastAPI, served by uvicorn), so the HTTP API has an OpenAPI description
(``/openapi.json``) that the test suite fuzzes. Health comes from a ``HealthSource``
(`kubeheal.runtime.health.OperatorHealth`: the API server's watches, the ledger, leadership,
Prometheus and Alertmanager), or from a plain ``ready`` callable; /metrics serves the
operator's registry. Authentication (`kubeheal.server.auth`) is a middleware over every path except
/healthz, /livez, /readyz and (unless configured) /metrics: routers added through
``routers`` are protected without doing anything themselves and must not authenticate on
their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from kubeheal import __version__
from kubeheal.server.auth import (
    Authenticator,
    AuthMiddleware,
    BrowserSessions,
    auth_failures_counter,
)

__all__ = ["HealthSource", "create_app"]


class HealthSource(Protocol):
    """Readiness and liveness, each as (ok?, the whole JSON body)."""

    async def readiness(self) -> tuple[bool, dict[str, Any]]: ...

    def liveness(self) -> tuple[bool, dict[str, Any]]: ...


_SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer"},
    "basicAuth": {"type": "http", "scheme": "basic"},
}


def create_app(
    *,
    registry: CollectorRegistry,
    ready: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
    health: HealthSource | None = None,
    webhook: APIRouter | None = None,
    routers: Sequence[APIRouter] = (),
    auth: Authenticator | None = None,
    browser: BrowserSessions | None = None,
) -> FastAPI:
    """The operator's HTTP app.

    ``health`` answers /readyz and /healthz (200 when ok, 503 otherwise); without it,
    ``ready()`` returns (ready?, details) for /readyz and /healthz only says the process
    serves (neither: always ready). ``webhook`` is the Alertmanager
    receiver (`kubeheal.server.webhook.webhook_router`); ``routers`` are further API routers.
    ``auth`` defaults to an authenticator without secrets, which refuses every protected
    request: pass ``Authenticator.from_settings(settings.server)`` (or ``Authenticator.off()``
    to serve without authentication). ``browser`` adds the console's login sessions to the
    middleware (`kubeheal.server.auth.BrowserSessions`); its router comes in ``routers``.
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
        """Liveness: the process serves HTTP and its operator's own tasks run (503 otherwise;
        an unreachable dependency never fails liveness)."""
        if health is None:
            return JSONResponse({"status": "ok"})
        ok, body = health.liveness()
        return JSONResponse(body, status_code=200 if ok else 503)

    async def livez() -> JSONResponse:
        """Liveness (alias of /healthz)."""
        return await healthz()

    async def readyz() -> JSONResponse:
        """Readiness: the API server's watches synced and healthy and the ledger answering
        (503 otherwise); ``status`` is ``degraded`` while Prometheus or Alertmanager is
        unreachable (still ready); ``role`` is leader, standby or single; ``checks`` lists
        every check."""
        if health is not None:
            ok, body = await health.readiness()
        else:
            ok, details = ready() if ready is not None else (True, {})
            body = {"status": "ready" if ok else "not ready", "checks": details}
        return JSONResponse(body, status_code=200 if ok else 503)

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
        browser=browser,
    )
    return app
