"""The web console in a real browser against a real operator on the twin.

The story an SRE lives through: the login redirect, the live incident list (a fault injected
into the twin appears without a reload), the incident's timeline with the guard that blocked
the action, the acknowledgement (recorded as `kubeheal incident ack` records it), the kill
switch pulled and released from the safety panel (the ConfigMap changes, the operator reads
it), the KPI charts drawn; and what is refused: a cross-site POST, a viewer's change, a
request without credentials.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Page

from kubeheal.store.outbox import NotificationStore

BAD_ROLLOUT = {
    "kind": "crash-on-start",
    "target": {"namespace": "demo", "deployment": "sample-app"},
}


def _incidents(h: Any) -> list[Any]:
    since = datetime(2000, 1, 1, tzinfo=UTC)
    return list(h.ledger.list_incidents(since=since, until=h.now() + timedelta(days=1)))


async def _switch_state(c: Any, page: Page, want: str) -> None:
    """Reload the safety panel until the operator's read of the switch is ``want``."""

    async def shown(p: Page) -> bool:
        return (await p.inner_text("#kill-switch-state")).strip() == want

    await c.reload_until(page, f"{c.base}/console/safety", shown, what=f"kill switch {want}")


async def _canvas_drawn(page: Page, selector: str) -> bool:
    drawn: bool = await page.eval_on_selector(
        selector,
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; }
                  return false; }""",
    )
    return drawn


async def test_an_sre_follows_an_incident_from_login_to_acknowledgement(console: Any) -> None:
    c = console
    ctx = await c.context()

    # Unauthenticated: redirected to the login form, which is the only page without auth.
    page = await ctx.new_page()
    await page.goto(f"{c.base}/console/kpis")
    assert "/console/login?next=%2Fconsole%2Fkpis" in page.url
    await c.shot(page, "login")
    await page.fill("input[name=secret]", "wrong")
    await page.click("button[type=submit]")
    assert "Wrong credentials" in await page.inner_text(".problem")
    cookies = {x["name"]: x for x in await ctx.cookies()}
    assert "kubeheal_session" not in cookies
    await page.close()

    page = await c.login(ctx, user="alice")
    cookies = {x["name"]: x for x in await ctx.cookies()}
    session = cookies["kubeheal_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert await page.get_attribute(".role", "data-role") == "operator"
    await page.wait_for_selector("#live[data-state=open]")

    # Pull the kill switch, so the incident waits (blocked by the kill-switch guard).
    await page.goto(f"{c.base}/console/safety")
    await page.click("#pull")
    await page.wait_for_selector("#notice")
    cm = c.configmap("kubeheal-system", "kubeheal-kill-switch")
    assert cm is not None and cm["data"]["disabled"] == "true"
    assert cm["metadata"]["annotations"]["kubeheal.io/kill-switch-changed-by"] == "alice"
    await _switch_state(c, page, "on")

    # The list is open; a fault injected into the twin appears in it without a reload.
    await page.goto(f"{c.base}/console/incidents")
    await page.wait_for_selector("#live[data-state=open]")
    before = await page.locator("#incidents tbody tr").count()
    c.inject(BAD_ROLLOUT)
    row = page.locator("#incidents tbody tr").first
    await page.locator("#incidents tbody tr").nth(before).wait_for()
    await page.wait_for_selector(f"#count:text('{before + 1}')")
    incident_id = await row.get_attribute("data-id")
    assert incident_id in {i.id for i in _incidents(c.h)}
    assert "sample-app" in await row.inner_text()
    await c.shot(page, "incidents")

    # Its timeline, once the operator has decided (blocked by the kill switch).
    async def blocked(p: Page) -> bool:
        return bool(await p.locator("#plans tr.blocked").count())

    url = f"{c.base}/console/incidents/{incident_id}"
    await c.reload_until(page, url, blocked, what="a decision blocked by the kill switch")
    plans = await page.inner_text("#plans")
    assert "blocked by kill_switch" in plans
    timeline = await page.inner_text("#timeline")
    assert "signal" in timeline and "incident opened" in timeline
    assert "kubectl -n demo" in await page.inner_text("#commands")

    # Acknowledge it from the page: recorded like `kubeheal incident ack`.
    await page.fill("#ack-form input[name=reason]", "looking at the rollout")
    await page.click("#ack")
    await page.wait_for_selector("#acked")
    assert "alice" in await page.inner_text("#acked")
    escalation = NotificationStore(c.h.ledger).get_escalation(incident_id)
    assert escalation is not None
    assert escalation.acknowledged_by == "alice"
    assert escalation.ack_note == "looking at the rollout"
    await c.shot(page, "incident")

    # Resolve the escalation from the page: paging ends, recorded with who and why.
    await page.fill("#resolve-form input[name=reason]", "rollout paused by hand")
    await page.click("#resolve")
    await page.wait_for_selector("#resolved")
    escalation = NotificationStore(c.h.ledger).get_escalation(incident_id)
    assert escalation is not None and escalation.resolved_at is not None
    assert escalation.resolve_reason == (
        "resolved by alice from the console: rollout paused by hand"
    )
    assert await page.locator("#resolve").count() == 0

    # The list shows the acknowledgement live (the row changes in place).
    await page.goto(f"{c.base}/console/incidents")
    await page.wait_for_selector(f"tr[data-id='{incident_id}'] >> text=alice")

    # Release the switch: the ConfigMap says false and the operator reads it as off.
    await page.goto(f"{c.base}/console/safety")
    await page.click("#release")
    await page.wait_for_selector("#notice")
    cm = c.configmap("kubeheal-system", "kubeheal-kill-switch")
    assert cm is not None and cm["data"]["disabled"] == "false"
    await _switch_state(c, page, "off")
    await c.shot(page, "safety")

    # Released, kubeheal heals the rollout: the timeline shows the action and its outcome.
    def closed() -> bool:
        return any(i.id == incident_id and i.is_terminal for i in _incidents(c.h))

    await c.until(closed, what="the incident to close after the release")
    await page.goto(f"{c.base}/console/incidents/{incident_id}")
    assert await page.locator("#actions tbody tr").count() >= 1
    assert "every guard passed" in await page.inner_text("#plans")
    await c.shot(page, "incident-healed")

    # The playbooks page: the one that healed it, built in, with its match and success.
    await page.goto(f"{c.base}/console/playbooks")
    healed_by = next(i.playbook for i in _incidents(c.h) if i.id == incident_id)
    row = await page.inner_text(f"#playbooks tr[data-playbook='{healed_by}']")
    assert "built-in" in row and "100.0 %" in row
    assert await page.locator("#playbooks tbody tr").count() >= 5
    await c.shot(page, "playbooks")

    # KPIs: every chart is drawn on its canvas, with the ledger's incidents counted.
    await page.goto(f"{c.base}/console/kpis")
    await page.wait_for_selector("body[data-charts=drawn]")
    for chart in ("detect", "act", "recover", "rates", "actions", "guards"):
        assert await _canvas_drawn(page, f"#chart-{chart}"), chart
    assert "1" in await page.inner_text("#totals")
    await c.shot(page, "kpis")
    await ctx.close()


async def test_cross_site_and_viewer_changes_are_refused(console: Any) -> None:
    c = console
    ctx = await c.context()
    page = await c.login(ctx)
    csrf = await page.get_attribute("meta[name=csrf-token]", "content")
    assert csrf

    # A POST from another origin, even with the session cookie and the right token: 403.
    answer = await ctx.request.post(
        f"{c.base}/console/safety/kill-switch",
        form={"csrf": csrf, "disabled": "true"},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )
    assert answer.status == 403
    # Same origin but without the CSRF token: 403.
    answer = await ctx.request.post(
        f"{c.base}/console/safety/kill-switch",
        form={"disabled": "true"},
        headers={"Origin": c.base},
        max_redirects=0,
    )
    assert answer.status == 403
    cm = c.configmap("kubeheal-system", "kubeheal-kill-switch")
    assert cm is not None and cm["data"]["disabled"] == "false"

    # A real cross-site form post from another site's page: the SameSite=Strict cookie
    # stays home, nothing changes.
    attack = await ctx.new_page()
    evil_page = f"""<!doctype html>
        <form id=f method=post action="{c.base}/console/safety/kill-switch">
        <input name=csrf value="{csrf}"><input name=disabled value=true></form>"""

    async def evil(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/html", body=evil_page)

    await attack.route("http://evil.example/**", evil)
    await attack.goto("http://evil.example/")
    async with attack.expect_response(f"{c.base}/console/safety/kill-switch") as answered:
        await attack.evaluate("document.getElementById('f').submit()")
    assert (await answered.value).status in (401, 403)
    cm = c.configmap("kubeheal-system", "kubeheal-kill-switch")
    assert cm is not None and cm["data"]["disabled"] == "false"
    await ctx.close()

    # The viewer sees the panel without its buttons; a forged change is refused.
    viewer = await c.context()
    page = await c.login(viewer, secret="console-viewer-token")
    assert await page.get_attribute(".role", "data-role") == "viewer"
    await page.goto(f"{c.base}/console/safety")
    assert await page.locator("#pull").count() == 0
    csrf = await page.get_attribute("meta[name=csrf-token]", "content")
    answer = await viewer.request.post(
        f"{c.base}/console/safety/kill-switch",
        form={"csrf": csrf or "", "disabled": "true"},
        headers={"Origin": c.base},
        max_redirects=0,
    )
    assert answer.status == 403
    for action in ("ack", "resolve"):
        answer = await viewer.request.post(
            f"{c.base}/console/incidents/any-incident/{action}",
            form={"csrf": csrf or ""},
            headers={"Origin": c.base},
            max_redirects=0,
        )
        assert answer.status == 403, action
    cm = c.configmap("kubeheal-system", "kubeheal-kill-switch")
    assert cm is not None and cm["data"]["disabled"] == "false"
    await viewer.close()


async def test_nothing_but_health_and_the_login_form_is_served_without_credentials(
    console: Any,
) -> None:
    c = console
    async with httpx.AsyncClient(base_url=c.base, follow_redirects=False) as client:
        for path in ("/healthz", "/readyz", "/console/login"):
            assert (await client.get(path)).status_code in (200, 503), path
        for path in (
            "/console",
            "/console/incidents",
            "/console/static/console.css",
            "/console/events",
        ):
            answer = await client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/console/login?next="), path
        assert (await client.get("/api/v1/incidents")).status_code == 401
        assert (
            await client.post("/console/safety/kill-switch", data={"disabled": "true"})
        ).status_code == 401
        # With the bearer token, the assets are served with cache headers.
        auth = {"Authorization": "Bearer console-operator-token"}
        asset = await client.get("/console/static/vendor/chart.umd.min.js", headers=auth)
        assert asset.status_code == 200
        assert "immutable" in asset.headers["cache-control"]
        assert "Chart.js" in asset.text[:200]
