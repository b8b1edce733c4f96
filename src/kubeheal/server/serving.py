"""Serving the operator over HTTP: the app wired to a running operator, and uvicorn.

``operator_http`` builds the whole HTTP side of `kubeheal run` (and of the test harness)
over an assembled operator (`kubeheal.runtime.assembly`): readiness and liveness from its
health (the operator, the ledger, leadership and the optional Prometheus and Alertmanager),
/metrics from the operator's registry, the Alertmanager webhook writing to the ledger's inbox
and handing what it commits to the alert consumer, the incidents API, and the web console
(`kubeheal.server.console`, under /console). It starts nothing:
the assembly runs the loops among the operator's tasks.
``serving`` runs an app under uvicorn on an address bound before it starts (port 0 picks a
free port) and yields its base URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI

from kubeheal.runtime.alerts import AlertConsumer
from kubeheal.runtime.assembly import Assembly
from kubeheal.runtime.health import OperatorHealth
from kubeheal.runtime.tasks import Tasks
from kubeheal.server.app import create_app
from kubeheal.server.auth import Authenticator, SecretSource
from kubeheal.server.console import ConsoleBrowser, ConsoleContext, ConsoleGate, console_router
from kubeheal.server.incidents_api import incidents_router
from kubeheal.server.webhook import webhook_router
from kubeheal.store.inbox import AlertInbox

__all__ = ["OperatorHttp", "operator_http", "serving", "split_listen"]

log = logging.getLogger(__name__)


@dataclass
class OperatorHttp:
    """The HTTP app of one operator, with the webhook's inbox and the alert consumer."""

    app: FastAPI
    inbox: AlertInbox
    consumer: AlertConsumer | None
    """None when the webhook is disabled."""
    health: OperatorHealth | None = None
    """What /readyz and /healthz report (`kubeheal.runtime.health`)."""


def operator_http(
    assembly: Assembly,
    *,
    auth: Authenticator | None = None,
    received_clock: Callable[[], datetime] | None = None,
) -> OperatorHttp:
    """The app of an assembled operator (`kubeheal.runtime.assembly.build`): the webhook
    (when enabled) handing what it commits to the alert consumer, the incidents API, and
    /metrics and health from the assembly. ``auth`` defaults to
    ``Authenticator.from_settings(settings.server)``; ``received_clock`` stamps the inbox's
    ``received_at`` (wall time by default). Acknowledgements are stamped with the
    operator's clock and wake the notifications."""
    operator, settings = assembly.operator, assembly.settings
    registry = operator.metrics.registry
    consumer = assembly.consumer
    webhook: APIRouter | None = None
    if consumer is not None:
        kwargs: dict[str, Any] = {} if received_clock is None else {"clock": received_clock}
        webhook = webhook_router(
            inbox=assembly.inbox,
            settings=settings.webhook,
            registry=registry,
            on_accepted=consumer.offer,
            **kwargs,
        )
    notifications = assembly.notifications
    incidents = incidents_router(
        ledger=assembly.ledger,
        settings=settings.notifications,
        clock=operator.now,
        on_ack=notifications.wake if notifications is not None else None,
    )
    authenticator = auth if auth is not None else Authenticator.from_settings(settings.server)
    gate = ConsoleGate(
        auth=authenticator,
        viewer=SecretSource.of(settings.server.viewer_token, settings.server.viewer_token_file),
        cookie_secure=settings.server.cookie_secure,
    )
    console = console_router(
        ConsoleContext(
            ledger=assembly.ledger,
            settings=lambda: operator.settings,
            clock=operator.now,
            gate=gate,
            on_ack=notifications.wake if notifications is not None else None,
            safety=lambda: _safety(assembly),
            writer=operator.writer,
            playbooks=lambda: operator.playbooks,
            stopping=lambda: operator.draining,
            slo_statuses=assembly.sources.slo_statuses,
        )
    )
    app = create_app(
        registry=registry,
        health=assembly.health,
        webhook=webhook,
        routers=[incidents, console],
        auth=authenticator,
        browser=ConsoleBrowser(gate),
    )
    return OperatorHttp(app=app, inbox=assembly.inbox, consumer=consumer, health=assembly.health)


def _safety(assembly: Assembly) -> dict[str, Any]:
    """The console's safety panel: what the running operator knows right now."""
    operator = assembly.operator
    switch = operator.kill_switch
    return {
        "kill_switch_state": switch.state.value,
        "kill_switch_reason": switch.reason,
        "kill_switch_since": switch.since,
        "role": assembly.health.role,
        "acting": operator.acting,
        "cordoned": [n.metadata.name for n in operator.targets.view.nodes if n.spec.unschedulable],
    }


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) as (host, port); raises ``ValueError`` if malformed."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address {listen!r}: use host:port, e.g. 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", int(port)


@contextlib.asynccontextmanager
async def serving(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn in the current event loop; yields ``http://host:port``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY: without it a keep-alive response written in
    # two parts waits for the client's delayed ACK (about 40 ms a request on Linux).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(
        # log_config=None: uvicorn's records go through the root logger's handler (the CLI's
        # escaping text or JSON formatter) instead of a handler of its own.
        uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=False, log_config=None)
    )
    tasks = Tasks()
    task = tasks.spawn(f"http/{bound}", server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("the HTTP server stopped before it started")
            await asyncio.sleep(0.01)
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        log.info("HTTP server listening on %s:%d", url_host, bound)
        yield f"http://{url_host}:{bound}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        await tasks.stop(timeout=5.0)
        sock.close()
