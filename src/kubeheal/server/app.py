"""kubeheal's own HTTP server: /metrics, /healthz, /readyz (webhook and API come later).

One ASGI app (Starlette, served by uvicorn). Health reflects the API server connection (every
reflector synced and not failing) and the ledger; /metrics serves the operator's registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["create_app"]


def create_app(
    *,
    registry: CollectorRegistry,
    ready: Callable[[], tuple[bool, dict[str, Any]]],
) -> Starlette:
    """The operator's HTTP app. `ready()` returns (ready?, details) for /readyz."""

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ok, details = ready()
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": details},
            status_code=200 if ok else 503,
        )

    return Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/livez", healthz),
            Route("/readyz", readyz),
        ]
    )
