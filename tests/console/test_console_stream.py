"""The console's event stream over HTTP (uvicorn, no browser): a new incident arrives as a
server-rendered, escaped row; the stream ends once the operator stops, so the server's
shutdown does not wait for an open tab."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from kubeheal.config import Settings
from kubeheal.server.app import create_app
from kubeheal.server.auth import Authenticator
from kubeheal.server.console import (
    ConsoleBrowser,
    ConsoleContext,
    ConsoleGate,
    console_router,
    views,
)
from kubeheal.server.serving import serving
from kubeheal.store import Ledger, TargetRef

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def test_a_new_incident_arrives_on_the_stream_and_stopping_ends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "STREAM_SECONDS", 3600.0)  # only stopping can end it here
    stopping: list[bool] = []
    auth = Authenticator.static(token="t")
    gate = ConsoleGate(auth=auth)
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        context = ConsoleContext(
            ledger=ledger,
            settings=Settings,
            clock=lambda: NOW,
            gate=gate,
            stopping=lambda: bool(stopping),
            poll_seconds=0.05,
        )
        app = create_app(
            registry=CollectorRegistry(),
            routers=[console_router(context)],
            auth=auth,
            browser=ConsoleBrowser(gate),
        )
        async with serving(app) as base, httpx.AsyncClient(timeout=30) as client:
            headers = {"Authorization": "Bearer t"}
            async with client.stream("GET", f"{base}/console/events", headers=headers) as answer:
                assert answer.headers["content-type"].startswith("text/event-stream")
                lines = answer.aiter_lines()
                assert await anext(lines) == "retry: 1000"
                ledger.open_incident(
                    incident_id="inc-1",
                    target=TargetRef(kind="Deployment", namespace="shop", name="<b>cart</b>"),
                    opened_at=NOW,
                    detected_at=NOW,
                )
                event = ""
                while not event.startswith("data: "):
                    event = await asyncio.wait_for(anext(lines), timeout=30)
                row = json.loads(event.removeprefix("data: "))
                assert row["id"] == "inc-1"
                assert "&lt;b&gt;cart&lt;/b&gt;" in row["html"] and "<b>" not in row["html"]
                stopping.append(True)
                rest = [line async for line in lines]  # ends: the operator stops
                assert not any(line.startswith("data: ") for line in rest)
