"""`kubeheal demo` serves the web console: its URL and token are printed, and with a hold
(`--keep`) the console answers after the faults, with the demo's incidents in it."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from rich.console import Console

from kubeheal.cli.demo import SUITE, DemoResult, run_demo


@pytest.mark.slow
async def test_the_demo_prints_the_console_url_and_serves_it_while_held() -> None:
    out = io.StringIO()
    seen: dict[str, object] = {}

    async def hold(results: list[DemoResult]) -> None:
        found = re.search(r"web console: (\S+) \(log in with the token (\S+)\)", out.getvalue())
        assert found is not None, out.getvalue()
        url, token = found.groups()
        async with httpx.AsyncClient() as client:
            anonymous = await client.get(url + "incidents")
            seen["anonymous"] = (anonymous.status_code, anonymous.headers.get("location", ""))
            page = await client.get(url + "incidents", headers={"Authorization": f"Bearer {token}"})
            seen["page"] = (page.status_code, page.text.count('<tr id="row-'))
        seen["results"] = [r.handled for r in results]

    await run_demo(speed=20.0, console=Console(file=out, width=200), suite=SUITE[:1], hold=hold)
    assert seen["anonymous"] == (303, "/console/login?next=%2Fconsole%2Fincidents")
    status, rows = seen["page"]  # type: ignore[misc]
    assert status == 200 and rows >= 1
    assert seen["results"] == [True]
