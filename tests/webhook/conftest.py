"""Kit for the webhook tests: Alertmanager payload builders, the app over a ledger, a fake
operator for the alert consumer, and a uvicorn server in a thread.

Helpers are handed out through the `wk` fixture (a conftest cannot be imported in importlib
mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from kubeheal.config import WebhookSettings
from kubeheal.model.cluster import ClusterView, LiveClusterView
from kubeheal.model.core import Signal, Target
from kubeheal.server import Authenticator, create_app
from kubeheal.server.serving import serving
from kubeheal.server.webhook import ALERTMANAGER_PATH, webhook_router
from kubeheal.store import Ledger
from kubeheal.store.inbox import AlertInbox

TOKEN = "test-token-4f9c"
PASSWORD = "test-password-a71"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
FIRING_ENDS = "0001-01-01T00:00:00Z"
STARTS = "2026-01-10T08:00:00.123456789Z"


def fingerprint(labels: dict[str, str]) -> str:
    """A 16-hex-digit fingerprint of a label set (Alertmanager's format)."""
    text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert(
    labels: dict[str, str],
    *,
    status: str = "firing",
    starts_at: str = STARTS,
    ends_at: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One alert of a notification, as Alertmanager 0.25 writes it."""
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations or {"summary": "something is wrong"},
        "startsAt": starts_at,
        "endsAt": ends_at or (FIRING_ENDS if status == "firing" else "2026-01-10T08:05:00Z"),
        "generatorURL": "http://prometheus.local/graph?g0.expr=up",
        "fingerprint": fingerprint(labels),
    }


def notification(alerts: list[dict[str, Any]], *, status: str | None = None) -> dict[str, Any]:
    """A version 4 notification carrying `alerts`."""
    common = alerts[0]["labels"] if len(alerts) == 1 else {}
    return {
        "receiver": "kubeheal",
        "status": status
        or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "alerts": alerts,
        "groupLabels": {"alertname": common.get("alertname", "")},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
    }


def workload_alerts(
    count: int, *, alertname: str = "HighLatency", deployment: str = "sample-app"
) -> list[dict[str, Any]]:
    """`count` distinct firing alerts about one Deployment (different instances)."""
    return [
        alert(
            {
                "alertname": alertname,
                "namespace": "demo",
                "deployment": deployment,
                "instance": f"10.1.{i // 250}.{i % 250}:8080",
                "severity": "warning",
            }
        )
        for i in range(count)
    ]


@dataclass
class FakeSink:
    """Stands in for the operator: records submissions and revisits."""

    view: ClusterView = field(default_factory=LiveClusterView)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    leader: asyncio.Event | None = None
    submitted: list[Signal] = field(default_factory=list)
    revisited: list[Target] = field(default_factory=list)
    clock: datetime = datetime(2026, 1, 10, 8, 1, tzinfo=UTC)

    def submit(self, signals: Iterable[Signal]) -> None:
        self.submitted.extend(signals)

    def revisit(self, target: Target) -> None:
        self.revisited.append(target)

    def now(self) -> datetime:
        return self.clock


@dataclass
class App:
    """The HTTP app over an inbox, and an async client for it (in process)."""

    app: Any
    inbox: AlertInbox
    registry: CollectorRegistry
    client: httpx.AsyncClient
    commits: list[int]

    async def post(self, body: Any, *, headers: dict[str, str] | None = None) -> httpx.Response:
        headers = BEARER if headers is None else headers
        if isinstance(body, bytes | str):
            return await self.client.post(ALERTMANAGER_PATH, content=body, headers=headers)
        return await self.client.post(ALERTMANAGER_PATH, json=body, headers=headers)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def build_app(
    inbox: AlertInbox,
    *,
    settings: WebhookSettings | None = None,
    auth: Authenticator | None = None,
    registry: CollectorRegistry | None = None,
    commits: list[int] | None = None,
) -> tuple[Any, CollectorRegistry, list[int]]:
    registry = registry or CollectorRegistry()
    commits = [] if commits is None else commits
    router = webhook_router(
        inbox=inbox,
        settings=settings or WebhookSettings(),
        registry=registry,
        on_accepted=lambda rows: commits.append(len(rows)),
    )
    app = create_app(
        registry=registry,
        ready=lambda: (True, {"test": "ready"}),
        webhook=router,
        auth=auth or Authenticator.static(token=TOKEN, password=PASSWORD),
    )
    return app, registry, commits


@contextlib.asynccontextmanager
async def app_over(
    inbox: AlertInbox,
    *,
    settings: WebhookSettings | None = None,
    auth: Authenticator | None = None,
) -> Any:
    app, registry, commits = build_app(inbox, settings=settings, auth=auth)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kubeheal.test") as client:
        yield App(app=app, inbox=inbox, registry=registry, client=client, commits=commits)


@contextlib.contextmanager
def server_in_thread(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 from a thread (for synchronous clients)."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    url: list[str] = []
    failure: list[BaseException] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        async with serving(app, host="127.0.0.1", port=0) as base:
            url.append(base)
            ready.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as e:  # reported to the test below
            failure.append(e)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="webhook-test-server", daemon=True)
    thread.start()
    assert ready.wait(10), "the test server did not start"
    if failure:
        raise failure[0]
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)


class Kit:
    TOKEN = TOKEN
    PASSWORD = PASSWORD
    BEARER = BEARER
    PATH = ALERTMANAGER_PATH
    alert = staticmethod(alert)
    notification = staticmethod(notification)
    workload_alerts = staticmethod(workload_alerts)
    fingerprint = staticmethod(fingerprint)
    app_over = staticmethod(app_over)
    build_app = staticmethod(build_app)
    server_in_thread = staticmethod(server_in_thread)
    FakeSink = FakeSink


@pytest.fixture
def wk() -> type[Kit]:
    return Kit


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    book = Ledger.open(tmp_path / "ledger.db")
    yield book
    book.close()


@pytest.fixture
def inbox(ledger: Ledger) -> AlertInbox:
    return AlertInbox(ledger)
