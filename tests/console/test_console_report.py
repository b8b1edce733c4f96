"""`kubeheal report --html FILE`: the console's KPIs and incident list in one standalone file,
which Chromium opens from disk (no server, nothing fetched) with every chart drawn."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import async_playwright

from kubeheal.store import ActionState, IncidentState, Ledger, Resolution, SignalRecord, TargetRef


def _fill(ledger: Ledger, now: datetime) -> None:
    for n, namespace in enumerate(("shop", "pay", "<script>x</script>")):
        opened = now - timedelta(hours=3 - n)
        target = TargetRef(kind="Deployment", namespace=namespace, name=f"app-{n}")
        signal = SignalRecord(
            id=f"sig-{n}",
            kind="CrashLoopBackOff",
            target=target,
            subject="",
            source="detector",
            observed_at=opened - timedelta(seconds=10),
        )
        ledger.record_signal(signal)
        ledger.open_incident(
            incident_id=f"inc-{n}",
            target=target,
            opened_at=opened,
            detected_at=opened - timedelta(seconds=10),
        )
        ledger.link_signal(signal.id, f"inc-{n}")
        ledger.record_plan(
            incident_id=f"inc-{n}", decided_at=opened, reason="matched", playbook="p", step=0,
            action="restart_pod",
        )  # fmt: skip
        ledger.begin_action(
            f"a-{n}", incident_id=f"inc-{n}", action="restart_pod", target=target, params={},
            requested_at=opened,
        )  # fmt: skip
        ledger.transition_incident(
            f"inc-{n}", from_state=IncidentState.OPEN, to_state=IncidentState.ACTING,
            at=opened, reason="acting",
        )  # fmt: skip
        ledger.finish_action(f"a-{n}", state=ActionState.SUCCEEDED, finished_at=opened)
        ledger.transition_incident(
            f"inc-{n}", from_state=IncidentState.ACTING, to_state=IncidentState.RESOLVED,
            at=opened + timedelta(seconds=50), reason="ok", resolution=Resolution.AUTO,
        )  # fmt: skip


async def test_the_html_report_opens_offline_with_its_charts_drawn(tmp_path: Path) -> None:
    book = tmp_path / "ledger.db"
    with Ledger.open(book) as ledger:
        _fill(ledger, datetime.now(tz=UTC))
    out = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "kubeheal.cli.main", "report", "--ledger", str(book),
         "--since", "1d", "--html", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    # The namespace that looks like markup is escaped, the only scripts are the inlined ones.
    assert "&lt;script&gt;x&lt;/script&gt;" in text and "<script>x</script>" not in text
    assert "http://" not in text.replace("http://www.w3.org", "")  # nothing to fetch
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = await browser.new_page()
            fetched: list[str] = []
            page.on("request", lambda r: fetched.append(r.url))
            await page.goto(out.as_uri())
            await page.wait_for_selector("body[data-charts=drawn]")
            assert fetched == [out.as_uri()]
            assert await page.locator("#incidents tbody tr").count() == 3
            assert "100.0 %" in await page.inner_text("#totals")
            for chart in ("detect", "act", "recover", "rates", "actions", "guards"):
                drawn = await page.eval_on_selector(
                    f"#chart-{chart}",
                    """c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data
                          .some((v, i) => i % 4 === 3 && v !== 0)""",
                )
                assert drawn, chart
        finally:
            await browser.close()
