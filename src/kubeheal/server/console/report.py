"""``kubeheal report --html FILE``: the console's KPIs and incident list as one standalone
HTML file (styles, the chart library and the data inlined; no server, works offline).

The figures are the console's (`kubeheal.server.console.data`): the same snapshot of the
window, the same KPI series with the mission's targets, the newest incidents first.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from markupsafe import Markup

from kubeheal import __version__
from kubeheal.server.console import data
from kubeheal.server.console.views import environment
from kubeheal.store import Ledger

__all__ = ["html_report"]

_STATIC = Path(__file__).parent / "static"


def html_report(ledger: Ledger, *, now: datetime, days: float, limit: int = 500) -> str:
    """The report over the ``days`` before ``now`` (blocks on the ledger)."""
    snapshot = data.read_snapshot(ledger, now=now, days=days)
    listing = data.incident_page(ledger, snapshot, recent={}, filters=data.Filters(), limit=limit)
    # The inlined assets are the package's own files, not input: marked safe as they are.
    assets = {
        name: Markup((_STATIC / name).read_text(encoding="utf-8"))
        for name in ("console.css", "vendor/chart.umd.min.js", "kpis.js")
    }
    return (
        environment()
        .get_template("report.html")
        .render(
            kpi=snapshot.kpis,
            totals=snapshot.kpis["totals"],
            rows=listing.rows,
            total=listing.total,
            now=now,
            days=days,
            version=__version__,
            css=assets["console.css"],
            chart_js=assets["vendor/chart.umd.min.js"],
            kpis_js=assets["kpis.js"],
        )
    )
