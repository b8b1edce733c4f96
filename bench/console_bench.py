"""Benchmark of the web console: page loads with 10,000 incidents in the ledger.

    .venv/bin/python bench/console_bench.py [--incidents 10000] [--rounds 30] [--no-browser]
        [--ledger FILE] [--out FILE]

1. fill: a SQLite ledger in a temporary directory gets ``--incidents`` incidents spread over
   the last 30 days across 40 namespaces and 5 playbooks, each as the operator records one
   (a signal, the opening, a plan — one in ten blocked by a guard —, an action begun and
   finished, the resolution; one in twenty escalated instead), through the `Ledger` API.
   ``--ledger FILE`` keeps the filled ledger there and reuses it when it exists.
2. server: the console is served exactly as `kubeheal run` serves it (uvicorn, the FastAPI
   app with bearer authentication and the console's session hook) and each page is fetched
   ``--rounds`` times over loopback with a session cookie (httpx); the latency of a page is
   request sent -> last byte received. Pages: the incident list (default filters, and
   filtered by severity, which reads every signal of the window), one incident's timeline,
   the KPI charts, the safety panel; and /healthz, the HTTP server's own floor on this
   machine. The console reads and decodes the window once into a snapshot, reused for 15 s
   and read again in a worker thread after that (the rounds include such reads);
   ``first_page_after_start_ms`` is the one page that waits for the first read.
3. browser: Debian's Chromium (Playwright, headless) loads the incident list and the KPI page
   ``--rounds`` times; the figure is navigation start -> load event (HTML, CSS, JS, the
   vendored chart library from cache, charts drawn), from the Navigation Timing API.

The target is < 300 ms per page load. Prints one JSON document (and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from kubeheal.config import Settings
from kubeheal.server.app import create_app
from kubeheal.server.auth import Authenticator
from kubeheal.server.console import (
    ConsoleBrowser,
    ConsoleContext,
    ConsoleGate,
    Role,
    console_router,
)
from kubeheal.server.serving import serving
from kubeheal.store import ActionState, IncidentState, Ledger, Resolution, SignalRecord, TargetRef

TOKEN = "bench-token"
PLAYBOOKS = (
    "crashloop-after-rollout",
    "crashloop-restart",
    "oom-raise-memory",
    "hpa-maxed-raise",
    "node-pressure-drain",
)
KINDS = ("CrashLoopBackOff", "CrashLoopBackOff", "OOMKilled", "HPAMaxedOut", "NodeMemoryPressure")


def fill(ledger: Ledger, *, count: int, now: datetime) -> None:
    """``count`` incidents over the last 30 days (see the module docstring)."""
    span = timedelta(days=30).total_seconds()
    for n in range(count):
        opened = now - timedelta(seconds=span * (count - n) / count)
        detected = opened - timedelta(seconds=5 + n % 20)
        which = n % len(PLAYBOOKS)
        target = TargetRef(kind="Deployment", namespace=f"team-{n % 40:02d}", name=f"app-{n % 250}")
        incident_id = f"inc-{n:06d}"
        signal = SignalRecord(
            id=f"sig-{n:06d}",
            kind=KINDS[which],
            target=target,
            subject=f"pod/app-{n % 250}-{n:06d}/container/app",
            source="detector",
            observed_at=detected,
        )
        ledger.record_signal(signal)
        ledger.open_incident(
            incident_id=incident_id, target=target, opened_at=opened, detected_at=detected
        )
        ledger.link_signal(signal.id, incident_id)
        if n % 10 == 0:
            ledger.record_plan(
                incident_id=incident_id,
                decided_at=opened,
                reason="namespace_budget: the namespace's hourly budget is spent",
                playbook=PLAYBOOKS[which],
                blocked_by="namespace_budget",
            )
        ledger.record_plan(
            incident_id=incident_id,
            decided_at=opened + timedelta(seconds=1),
            reason="matched",
            playbook=PLAYBOOKS[which],
            step=0,
            action="rollback",
        )
        key = f"act-{n:06d}"
        ledger.begin_action(
            key,
            incident_id=incident_id,
            action="rollback",
            target=target,
            params={},
            requested_at=opened + timedelta(seconds=2),
        )
        ledger.transition_incident(
            incident_id,
            from_state=IncidentState.OPEN,
            to_state=IncidentState.ACTING,
            at=opened + timedelta(seconds=2),
            reason="acting",
        )
        failed = n % 20 == 0
        ledger.finish_action(
            key,
            state=ActionState.FAILED if failed else ActionState.SUCCEEDED,
            finished_at=opened + timedelta(seconds=4),
            error="the API server refused" if failed else None,
        )
        done = opened + timedelta(seconds=60 + n % 180)
        if failed:
            ledger.transition_incident(
                incident_id,
                from_state=IncidentState.ACTING,
                to_state=IncidentState.ESCALATED,
                at=done,
                reason="the action failed",
                resolution=Resolution.ESCALATED,
            )
        else:
            ledger.transition_incident(
                incident_id,
                from_state=IncidentState.ACTING,
                to_state=IncidentState.RESOLVED,
                at=done,
                reason="recovered",
                resolution=Resolution.AUTO,
            )


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(tz=UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="kubeheal-console-bench-") as tmp:
        path = args.ledger or Path(tmp) / "ledger.db"
        reuse = path.exists()
        ledger = Ledger.open(path)
        started = time.perf_counter()
        if reuse:
            first = ledger.get_incident(f"inc-{args.incidents - 1:06d}")
            now = first.opened_at + timedelta(minutes=5)
        else:
            fill(ledger, count=args.incidents, now=now)
        fill_s = time.perf_counter() - started
        auth = Authenticator.static(token=TOKEN)
        gate = ConsoleGate(auth=auth)
        context = ConsoleContext(
            ledger=ledger, settings=Settings, clock=lambda: now, gate=gate, safety=None
        )
        app = create_app(
            registry=CollectorRegistry(),
            routers=[console_router(context)],
            auth=auth,
            browser=ConsoleBrowser(gate),
        )
        session, _csrf = gate.issue(role=Role.OPERATOR, credential="token", user="bench")
        pages = {
            "/healthz (floor)": "/healthz",
            "incident list": "/console/incidents",
            "incident list, severity filter": "/console/incidents?severity=critical",
            "incident timeline": f"/console/incidents/inc-{args.incidents - 1:06d}",
            "KPI charts": "/console/kpis",
            "safety panel": "/console/safety",
        }
        result: dict[str, Any] = {
            "incidents": args.incidents,
            "fill_seconds": round(fill_s, 1),
            "rounds": args.rounds,
            "server": {},
            "browser": {},
        }
        async with serving(app) as base:
            cookies = {"kubeheal_session": session}
            async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60) as client:
                for name, path in pages.items():
                    t0 = time.perf_counter()
                    answer = await client.get(path)
                    if name == "incident list":
                        # The first page after a start reads and decodes the whole window.
                        result["first_page_after_start_ms"] = round(
                            (time.perf_counter() - t0) * 1000, 1
                        )
                    assert answer.status_code == 200, (path, answer.status_code)
                    times = []
                    for _ in range(args.rounds):
                        t0 = time.perf_counter()
                        answer = await client.get(path)
                        times.append(time.perf_counter() - t0)
                        assert answer.status_code == 200
                    result["server"][name] = {**_stats(times), "bytes": len(answer.content)}
            if args.browser:
                result["browser"] = await _browser(base, session, args.rounds)
        ledger.close()
    return result


async def _browser(base: str, session: str, rounds: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    out: dict[str, Any] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        ctx = await browser.new_context()
        host = base.split("//", 1)[1].split(":", maxsplit=1)[0]
        await ctx.add_cookies(
            [{"name": "kubeheal_session", "value": session, "domain": host, "path": "/console"}]
        )
        page = await ctx.new_page()
        for name, path, ready in (
            ("incident list", "/console/incidents", "#incidents"),
            ("KPI charts", "/console/kpis", "body[data-charts=drawn]"),
        ):
            await page.goto(base + path)  # warm: the assets into the cache
            times = []
            for _ in range(rounds):
                await page.goto(base + path, wait_until="load")
                await page.wait_for_selector(ready)
                load = await page.evaluate(
                    "() => { const e = performance.getEntriesByType('navigation')[0];"
                    " return e.loadEventEnd - e.startTime; }"
                )
                times.append(load / 1000)
            out[name] = _stats(times)
        await browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    parser.add_argument("--ledger", type=Path, help="keep (and reuse) the filled ledger here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
