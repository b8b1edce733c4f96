"""`kubeheal slo ...`: SLO rules and alerts from specs, and where each SLO stands.

* `kubeheal slo generate SPEC... --out DIR [--period 30d] [--scrape-interval 1m]
  [--pyrra-table pyrra|workbook]
  [--min-events 20] [--absent-for 10m|0] [--namespace NS] [--cr-label k=v ...] [--no-tests]`:
  for each spec, `<stem>.rules.yml`
  (plain Prometheus rules), `<stem>.prometheusrule.yaml` (the same as a PrometheusRule) and
  `tests/` (promtool test cases: `promtool test rules DIR/tests/*.test.yml`).
* `kubeheal slo report --prometheus URL SPEC... [--json]`: SLI over the period, budget left,
  burn rates, time to exhaustion and alert state of every SLO, from a live Prometheus.

Specs are Sloth `prometheus/v1` files or `PrometheusServiceLevel` resources, OpenSLO v1 or
v1alpha files, or Pyrra `ServiceLevelObjective` resources (or directories of them). Bad specs
exit with status 2 and every problem named by file and field; what is valid but odd (an
objective of 100 %) is printed as a warning on stderr; an unreachable Prometheus exits 1.
`generate` says which burn-rate table each SLO uses (`--pyrra-table` chooses Pyrra's own or
the Workbook's for Pyrra resources; every other format uses the Workbook's).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kubeheal.clients.prometheus import PrometheusClient
from kubeheal.slo.errors import SloError, SloQueryError, SloSpecError
from kubeheal.slo.generate import GenerateOptions, render_outputs
from kubeheal.slo.model import SLO
from kubeheal.slo.rules import RenderOptions, rule_count
from kubeheal.slo.specs import load_specs, spec_files
from kubeheal.slo.status import SloStatus, fetch_status, status_to_dict
from kubeheal.slo.windows import BurnTable, format_duration, parse_duration

__all__ = ["slo_app"]

slo_app = typer.Typer(
    name="slo",
    help="Service level objectives: burn-rate rules from specs, and budget reports.",
    no_args_is_help=True,
)

SpecsArg = Annotated[
    list[Path],
    typer.Argument(
        help="SLO spec files (Sloth prometheus/v1 or sloth.slok.dev/v1, OpenSLO v1 or v1alpha, "
        "Pyrra pyrra.dev/v1alpha1) or dirs."
    ),
]
PeriodOpt = Annotated[
    str, typer.Option(help="SLO period of Sloth specs (OpenSLO specs carry their own).")
]
PyrraTableOpt = Annotated[
    BurnTable,
    typer.Option(
        help="Multi-burn table of Pyrra resources: Pyrra's own (factors 14/7/2/1, for: delays) "
        "or the Workbook's (kubeheal's)."
    ),
]
ScrapeOpt = Annotated[
    str,
    typer.Option(help="Scrape interval of the SLI metrics: every alert window holds 4 of them."),
]
MinEventsOpt = Annotated[
    int,
    typer.Option(
        min=0, help="Events a burn-rate condition's short window needs to fire (0: no guard)."
    ),
]


def _period(text: str, hint: str = "--period") -> int:
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=hint) from e
    if seconds <= 0:
        raise typer.BadParameter("must be positive", param_hint=hint)
    return seconds


def _load(
    specs: list[Path], period: int, scrape: int, table: BurnTable = BurnTable.PYRRA
) -> list[tuple[str, list[SLO]]]:
    loaded: list[tuple[str, list[SLO]]] = []
    seen: set[str] = set()
    for path in spec_files(specs):
        slos = load_specs([path], default_period=period, scrape_interval=scrape, pyrra_table=table)
        ids = {s.id for s in slos}
        clash = sorted(ids & seen)
        if clash:
            raise SloSpecError(str(path), ("", f"SLO {clash[0]!r} is also defined elsewhere"))
        seen |= ids
        loaded.append((path.stem, slos))
    for _, slos in loaded:
        for slo in slos:
            for warning in slo.warnings:
                typer.echo(f"warning: {warning}", err=True)
    return loaded


def _fail(error: SloError, code: int) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code)


@slo_app.command()
def generate(
    specs: SpecsArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the files to.")],
    period: PeriodOpt = "30d",
    scrape_interval: ScrapeOpt = "1m",
    pyrra_table: PyrraTableOpt = BurnTable.PYRRA,
    min_events: MinEventsOpt = 20,
    namespace: Annotated[
        str | None, typer.Option(help="Namespace of the PrometheusRule resources.")
    ] = None,
    cr_label: Annotated[
        list[str] | None,
        typer.Option("--cr-label", help="Extra label k=v of the PrometheusRule resources."),
    ] = None,
    absent_for: Annotated[
        str,
        typer.Option(
            help="How long an SLI may have no data before its alert fires (0: no such alert)."
        ),
    ] = "10m",
    tests: Annotated[bool, typer.Option(help="Also write the promtool test cases.")] = True,
) -> None:
    """Write Prometheus rules, PrometheusRule resources and promtool tests for SPEC files."""
    labels: dict[str, str] = {}
    for item in cr_label or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not k=v", param_hint="--cr-label")
        labels[key] = value
    absent_seconds = 0
    if absent_for.strip() != "0":
        try:
            absent_seconds = parse_duration(absent_for)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--absent-for") from e
    render = RenderOptions(
        min_events=min_events,
        absent_alerts=absent_seconds > 0,
        absent_for=absent_seconds or RenderOptions().absent_for,
    )
    try:
        loaded = _load(
            specs, _period(period), _period(scrape_interval, "--scrape-interval"), pyrra_table
        )
        outputs = render_outputs(
            loaded,
            GenerateOptions(
                render=render, namespace=namespace, cr_labels=labels or None, tests=tests
            ),
        )
    except SloError as e:
        raise _fail(e, 2) from e
    except ValueError as e:  # duplicate ids or output names across specs
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    for name, text in sorted(outputs.items()):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    count = sum(len(slos) for _, slos in loaded)
    rules = sum(rule_count(slo, render) for _, slos in loaded for slo in slos)
    tables = Counter(slo.burn_table.value for _, slos in loaded for slo in slos)
    used = ", ".join(f"{name} ({n})" for name, n in sorted(tables.items()))
    typer.echo(f"{count} SLOs, {rules} rules, {len(outputs)} files written to {out}")
    typer.echo(f"burn-rate tables: {used}")


def _pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}x"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "spent"
    return format_duration(int(seconds)) if seconds < 10 * 365 * 86_400 else "> 10y"


def _table(statuses: list[tuple[SLO, SloStatus]]) -> Table:
    table = Table(title="SLOs (burn: error ratio / budget over the fast page windows)")
    table.add_column("SLO", no_wrap=True)
    for header in ("target", "SLI", "budget left", "burn", "exhausted in", "alert"):
        table.add_column(header, justify="right", no_wrap=header != "burn")
    for slo, status in statuses:
        fast = slo.windows.page[0]
        burn = " / ".join(
            f"{_burn(status.burn(w))} {format_duration(w)}" for w in (fast.short, fast.long)
        )
        alert = "PAGE" if status.page else "ticket" if status.ticket else "ok"
        table.add_row(
            slo.id,
            f"{slo.objective}%/{format_duration(slo.period)}",
            _pct(status.sli),
            _pct(status.budget_remaining, 1),
            burn,
            _duration(status.time_to_exhaustion),
            alert,
        )
    return table


async def _statuses(
    url: str, slos: list[SLO], options: RenderOptions, timeout: float
) -> list[tuple[SLO, SloStatus]]:
    at = time.time()
    async with PrometheusClient(url, timeout=timeout) as client:
        return [(slo, await fetch_status(client, slo, at=at, options=options)) for slo in slos]


@slo_app.command()
def report(
    specs: SpecsArg,
    prometheus: Annotated[str, typer.Option(help="Prometheus base URL.")],
    period: PeriodOpt = "30d",
    scrape_interval: ScrapeOpt = "1m",
    min_events: MinEventsOpt = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = (
        False
    ),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each query.")] = 30.0,
) -> None:
    """SLI, error budget left, burn rates and time to exhaustion of every SLO in SPEC files."""
    options = RenderOptions(min_events=min_events)
    try:
        scrape = _period(scrape_interval, "--scrape-interval")
        slos = [slo for _, group in _load(specs, _period(period), scrape) for slo in group]
    except SloError as e:
        raise _fail(e, 2) from e
    try:
        results = asyncio.run(_statuses(prometheus, slos, options, timeout))
    except SloQueryError as e:
        raise _fail(e, 1) from e
    if as_json:
        typer.echo(json.dumps([status_to_dict(s) for _, s in results], indent=2))
        return
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=140)
    console.print(_table(results))
