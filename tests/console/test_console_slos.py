"""The SLO page: every SLO the operator's SLO source evaluated, with its budget left, its burn
rate per window and the alerts that hold; and what it says without SLOs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.async_api import async_playwright
from prometheus_client import CollectorRegistry

from kubeheal.config import Settings
from kubeheal.server.app import create_app
from kubeheal.server.auth import Authenticator
from kubeheal.server.console import ConsoleBrowser, ConsoleContext, ConsoleGate, console_router
from kubeheal.server.serving import serving
from kubeheal.slo.status import SloStatus, WindowBurn
from kubeheal.store import Ledger

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"

STATUSES = [
    SloStatus(
        slo_id="checkout-availability",
        service="checkout",
        name="availability",
        objective=99.9,
        period=30 * 86400,
        at=NOW.timestamp(),
        sli=0.9982,
        error_ratio=0.0018,
        budget_remaining=-0.8,
        windows=(WindowBurn(window=300, error_ratio=0.02, burn_rate=20.0),
                 WindowBurn(window=3600, error_ratio=0.016, burn_rate=16.0)),
        time_to_exhaustion=0.0,
        page=True,
        ticket=True,
    ),
    SloStatus(
        slo_id="search-latency",
        service="search",
        name="latency",
        objective=99.0,
        period=30 * 86400,
        at=NOW.timestamp(),
        sli=0.9995,
        error_ratio=0.0005,
        budget_remaining=0.95,
        windows=(WindowBurn(window=300, error_ratio=0.0, burn_rate=0.0),
                 WindowBurn(window=3600, error_ratio=None, burn_rate=None)),
        time_to_exhaustion=None,
        page=False,
        ticket=False,
    ),
]  # fmt: skip


def _app(ledger: Ledger, statuses: Sequence[SloStatus] | None) -> object:
    auth = Authenticator.static(token="t")
    gate = ConsoleGate(auth=auth)
    context = ConsoleContext(
        ledger=ledger,
        settings=Settings,
        clock=lambda: NOW,
        gate=gate,
        slo_statuses=(lambda: statuses) if statuses is not None else None,
    )
    return create_app(
        registry=CollectorRegistry(),
        routers=[console_router(context)],
        auth=auth,
        browser=ConsoleBrowser(gate),
    )


async def test_the_slo_page_shows_budgets_burn_rates_and_alerts(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        async with serving(_app(ledger, STATUSES)) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            try:
                ctx = await browser.new_context(
                    viewport={"width": 1360, "height": 500},
                    extra_http_headers={"Authorization": "Bearer t"},
                )
                page = await ctx.new_page()
                await page.goto(f"{base}/console/slos")
                burning = await page.inner_text("tr[data-slo='checkout-availability']")
                assert "-80.0 %" in burning and "20.00x" in burning and "16.00x" in burning
                assert "page, ticket" in burning
                quiet = await page.inner_text("tr[data-slo='search-latency']")
                assert "95.0 %" in quiet and "none" in quiet and "0.00x" in quiet
                headers = await page.text_content("#slos thead") or ""
                assert "Burn 5m" in headers and "Burn 1h" in headers
                SHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SHOTS / "slos.png"), full_page=True)
            finally:
                await browser.close()


async def test_without_slos_the_page_says_so(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        for statuses, words in ((None, "No SLO is configured"), ([], "No SLO evaluated yet")):
            async with serving(_app(ledger, statuses)) as base, httpx.AsyncClient() as client:
                answer = await client.get(
                    f"{base}/console/slos", headers={"Authorization": "Bearer t"}
                )
                assert answer.status_code == 200 and words in answer.text
