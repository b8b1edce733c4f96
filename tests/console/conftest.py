"""Browser kit for the console tests: a real operator on the twin, served over HTTP on
127.0.0.1, and Debian's Chromium driven headless by Playwright.

`console` starts one harness (twin at accelerated speed, the operator and its HTTP app with a
bearer token, a basic-auth password and a viewer token) and a browser; the kill switch
ConfigMap exists (off), as an administrator creates it. Every wait is on a page or ledger
condition with a deadline. Screenshots go to docs/console/ (`Console.shot`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from pydantic import SecretStr

from kubeheal.cli.harness import Harness, running_harness
from kubeheal.config import Settings
from kubeheal.config.settings import ServerSettings
from kubeheal.server.auth import Authenticator
from kubeheal.store import Ledger
from kubeheal.twin.pgserver import LocalPostgres, find_binaries
from kubeheal.twin.sim.faults import FaultSpec
from support import until

CHROMIUM = "/usr/bin/chromium"
TOKEN = "console-operator-token"
PASSWORD = "console-password"
VIEWER = "console-viewer-token"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
DEADLINE = 60.0
"""Wall seconds a page condition may take on a loaded 2-core machine."""


async def reload_until(
    page: Page, url: str, probe: Callable[[Page], Awaitable[bool]], *, what: str
) -> None:
    """Load ``url`` again until ``probe(page)`` holds (pages that change only on reload)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        await page.goto(url)
        if await probe(page):
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {DEADLINE:.0f}s waiting for {what}")
        await page.wait_for_timeout(200)


@dataclass
class Console:
    """One running operator with its console, and a browser."""

    h: Harness
    browser: Browser
    base: str
    until = staticmethod(until)
    reload_until = staticmethod(reload_until)

    async def context(self) -> BrowserContext:
        ctx = await self.browser.new_context(viewport={"width": 1360, "height": 900})
        ctx.set_default_timeout(DEADLINE * 1000)
        return ctx

    async def login(self, ctx: BrowserContext, *, secret: str = TOKEN, user: str = "") -> Page:
        page = await ctx.new_page()
        await page.goto(f"{self.base}/console/incidents")
        await page.wait_for_url("**/console/login**")
        if user:
            await page.fill("input[name=user]", user)
        await page.fill("input[name=secret]", secret)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/console/incidents")
        return page

    def inject(self, spec: dict[str, Any]) -> str:
        faults = self.h.twin.faults
        assert faults is not None
        return faults.inject(FaultSpec.model_validate(spec))

    def configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        store = self.h.twin.store
        found: dict[str, Any] | None = store.find(
            store.rtype("", "v1", "configmaps"), namespace, name
        )
        return found

    @staticmethod
    async def shot(page: Page, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    settings = Settings(
        server=ServerSettings(viewer_token=SecretStr(VIEWER)),
    )
    auth = Authenticator.static(token=TOKEN, username="ops", password=PASSWORD)
    async with running_harness(
        scenario="sample-app",
        speed=20.0,
        settings=settings,
        sweep_interval=0.3,
        listen="127.0.0.1:0",
        auth=auth,
    ) as h:
        store = h.twin.store
        store.create(
            store.rtype("", "v1", "namespaces"),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeheal-system"}},
        )
        store.create(
            store.rtype("", "v1", "configmaps"),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kubeheal-kill-switch", "namespace": "kubeheal-system"},
                "data": {"disabled": "false"},
            },
        )
        assert h.http_url is not None
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                yield Console(h=h, browser=browser, base=h.http_url)
            finally:
                await browser.close()


@pytest.fixture(scope="session")
def console_postgres() -> Iterator[LocalPostgres]:
    """One local PostgreSQL server for the console tests of the session."""
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def console_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """An empty ledger in a SQLite file, and in PostgreSQL (the same `Ledger` API)."""
    if request.param == "postgres":
        server: LocalPostgres = request.getfixturevalue("console_postgres")
        url = server.create_database()
        try:
            with Ledger.open(url) as ledger:
                yield ledger
        finally:
            server.drop_database(url)
    else:
        with Ledger.open(tmp_path / "ledger.db") as ledger:
            yield ledger
