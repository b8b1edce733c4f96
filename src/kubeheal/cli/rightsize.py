"""`kubeheal rightsize`: requests/limits from usage history, waste and monitoring cost.

* ``kubeheal rightsize --prometheus URL [--namespace NS]... [--history 14d]
  [--format table|json|yaml|patch] [--out DIR]`` — one recommendation per container;
  ``patch`` writes kustomize strategic-merge patches and a kustomization.yaml;
* ``kubeheal rightsize waste --prometheus URL`` — over-provisioned workloads, unused volumes,
  HPAs stuck at min and idle namespaces, each with a monthly cost;
* ``kubeheal rightsize cardinality --prometheus URL`` — the largest metrics and labels of
  Prometheus' head block and the ``metric_relabel_configs`` that would drop them.

Exit codes: 0 done (workloads without a recommendation say why), 2 bad input or Prometheus
unreachable.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from kubeheal.clients.prometheus import PrometheusClient, PrometheusError
from kubeheal.config import SettingsError, load_settings, parse_duration
from kubeheal.config.settings import FinopsSettings
from kubeheal.finops.cardinality import (
    CardinalityReport,
    cardinality_report,
    metric_names_in,
    relabel_yaml,
)
from kubeheal.finops.collect import CollectError
from kubeheal.finops.recommend import format_duration
from kubeheal.finops.render import patches, recommendation_record, table_rows
from kubeheal.finops.service import RightsizeResult, Strategy, rightsize, waste
from kubeheal.finops.waste import WasteReport

__all__ = ["rightsize_app"]

rightsize_app = typer.Typer(
    name="rightsize",
    help="Right-size requests/limits from Prometheus history; report waste and metric cost.",
    add_completion=False,
)

_FORMATS = ("table", "json", "yaml", "patch")

PrometheusOpt = Annotated[
    str | None, typer.Option("--prometheus", help="Prometheus base URL, e.g. http://prom:9090.")
]
NamespaceOpt = Annotated[
    list[str] | None,
    typer.Option("--namespace", "-n", help="Namespace to cover (repeat); default: all."),
]
HistoryOpt = Annotated[
    str | None, typer.Option(help="History window, e.g. 14d (default: finops.history).")
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="kubeheal settings YAML.")]
AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="End of the window: RFC 3339 or epoch seconds (default: now)."),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"kubeheal rightsize: {message}", err=True)
    return typer.Exit(2)


def _settings(config: Path | None) -> FinopsSettings:
    try:
        return load_settings(config, os.environ).finops
    except SettingsError as e:
        raise _fail(str(e)) from e


def _seconds(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as e:
        raise _fail(f"{what}: {e}") from e
    seconds = getattr(value, "total_seconds", None)
    if seconds is None:
        raise _fail(f"{what}: not a duration: {text!r}")
    result = float(seconds())
    if result <= 0:
        raise _fail(f"{what} must be positive")
    return result


def _end(at: str | None) -> float:
    if at is None:
        return time.time()
    try:
        return float(at)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    except ValueError as e:
        raise _fail(f"--at: not a time: {at!r} (use RFC 3339 or epoch seconds)") from e


def _url(prometheus: str | None) -> str:
    if not prometheus:
        raise _fail("--prometheus URL is required")
    if not prometheus.startswith(("http://", "https://")):
        raise _fail(f"--prometheus must be an http(s) URL, got {prometheus!r}")
    return prometheus


def _dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False)


def _print_recommendations(result: RightsizeResult, fmt: str, out: Path | None) -> None:
    recs = sorted(result.recommendations, key=lambda r: r.key)
    collection = result.collection
    console = Console(stderr=True)
    for problem in collection.problems:
        console.print(f"[yellow]warning:[/yellow] {problem}")
    if fmt in ("json", "yaml"):
        doc = {
            "window": {
                "start": collection.start,
                "end": collection.end,
                "step": collection.step,
                "history": format_duration(collection.end - collection.start),
            },
            "queries": collection.queries,
            "batches": len(collection.batches),
            "problems": list(collection.problems),
            "recommendations": [recommendation_record(r) for r in recs],
        }
        text = _dump(doc, fmt)
        if out is not None:
            out.write_text(text)
        else:
            sys.stdout.write(text)
        return
    if fmt == "patch":
        files = patches(recs)
        if out is None:
            for name, text in files.items():
                sys.stdout.write(f"# --- {name}\n{text}")
        else:
            out.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (out / name).write_text(text)
            console.print(f"wrote {len(files) - 1} patch(es) and kustomization.yaml to {out}")
        return
    table = Table(title="kubeheal rightsize", show_lines=False)
    for column in (
        "namespace",
        "workload",
        "container",
        "cpu request",
        "memory request",
        "memory limit",
        "confidence",
        "note",
    ):
        table.add_column(column, overflow="fold")
    for row in table_rows(recs):
        table.add_row(*row)
    Console(width=200).print(table)
    ok = sum(1 for r in recs if r.ok)
    console.print(
        f"{ok} of {len(recs)} containers right-sized; {collection.queries} queries in "
        f"{len(collection.batches)} batch(es), step {format_duration(collection.step)}, "
        f"window {format_duration(collection.end - collection.start)}"
    )


async def _with_client(url: str, work: Any) -> Any:
    async with PrometheusClient(url, timeout=120.0) as client:
        return await work(client)


@rightsize_app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    prometheus: PrometheusOpt = None,
    namespace: NamespaceOpt = None,
    history: HistoryOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", "-o", help="table, json, yaml or patch.")
    ] = "table",
    out: Annotated[
        Path | None, typer.Option(help="Write here (a directory for --format patch).")
    ] = None,
    strategy: Annotated[
        str, typer.Option(help="kubeheal (default) or krr (KRR's simple formula, the baseline).")
    ] = "kubeheal",
    step: Annotated[str | None, typer.Option(help="History resolution, e.g. 10m.")] = None,
    config: ConfigOpt = None,
    at: AtOpt = None,
) -> None:
    """Recommend requests and limits for every container from its usage history."""
    if ctx.invoked_subcommand is not None:
        return
    if fmt not in _FORMATS:
        raise _fail(f"--format must be one of {', '.join(_FORMATS)}")
    if strategy not in ("kubeheal", "krr"):
        raise _fail("--strategy must be kubeheal or krr")
    chosen: Strategy = "krr" if strategy == "krr" else "kubeheal"
    url = _url(prometheus)
    settings = _settings(config)
    window = _seconds(history, "--history")
    step_s = _seconds(step, "--step")
    end = _end(at)

    async def work(client: PrometheusClient) -> RightsizeResult:
        return await rightsize(
            client,
            settings=settings,
            end=end,
            namespaces=tuple(namespace or ()),
            history=window,
            step=step_s,
            strategy=chosen,
        )

    try:
        result: RightsizeResult = asyncio.run(_with_client(url, work))
    except (CollectError, ValueError) as e:
        raise _fail(str(e)) from e
    _print_recommendations(result, fmt, out)


def _print_waste(report: WasteReport, fmt: str) -> None:
    console = Console(stderr=True)
    for problem in report.problems:
        console.print(f"[yellow]warning:[/yellow] {problem}")
    if fmt in ("json", "yaml"):
        doc = {
            "monthly_total": round(report.total, 2),
            "by_category": {k: round(v, 2) for k, v in report.by_category().items()},
            "items": [
                {
                    "category": i.category,
                    "namespace": i.namespace,
                    "name": i.name,
                    "detail": i.detail,
                    "monthly_cost": round(i.monthly_cost, 2),
                }
                for i in report.items
            ],
            "problems": list(report.problems),
        }
        sys.stdout.write(_dump(doc, fmt))
        return
    table = Table(title="kubeheal waste report (estimated monthly cost)")
    for column in ("category", "namespace", "object", "monthly", "detail"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        table.add_row(
            item.category, item.namespace, item.name, f"{item.monthly_cost:,.2f}", item.detail
        )
    Console(width=200).print(table)
    console.print(f"total: {report.total:,.2f} per month")


@rightsize_app.command("waste")
def waste_command(
    prometheus: PrometheusOpt = None,
    namespace: NamespaceOpt = None,
    history: HistoryOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-o", help="table, json or yaml.")] = "table",
    config: ConfigOpt = None,
    at: AtOpt = None,
) -> None:
    """Over-provisioned workloads, unused volumes, HPAs stuck at min, idle namespaces."""
    if fmt not in ("table", "json", "yaml"):
        raise _fail("--format must be table, json or yaml")
    url = _url(prometheus)
    settings = _settings(config)
    window = _seconds(history, "--history")
    end = _end(at)

    async def work(client: PrometheusClient) -> tuple[WasteReport, RightsizeResult]:
        return await waste(
            client, settings=settings, end=end, namespaces=tuple(namespace or ()), history=window
        )

    try:
        report, _ = asyncio.run(_with_client(url, work))
    except (CollectError, ValueError) as e:
        raise _fail(str(e)) from e
    _print_waste(report, fmt)


def _cardinality_doc(report: CardinalityReport) -> dict[str, Any]:
    return {
        "total_series": report.total_series,
        "droppable_series": report.droppable_series,
        "metrics": [
            {
                "name": m.name,
                "series": m.series,
                "share": round(m.share, 4),
                "suggestion": m.suggestion,
                "drop": m.drop,
            }
            for m in report.metrics
        ],
        "labels": [
            {"name": label.name, "values": label.values, "suggestion": label.suggestion}
            for label in report.labels
        ],
        "metric_relabel_configs": yaml.safe_load(relabel_yaml(report))["metric_relabel_configs"],
    }


@rightsize_app.command("cardinality")
def cardinality_command(
    prometheus: PrometheusOpt = None,
    limit: Annotated[int, typer.Option(help="Top entries per list.")] = 20,
    fmt: Annotated[str, typer.Option("--format", "-o", help="table, json or yaml.")] = "table",
) -> None:
    """The metrics and labels that cost the most series, with relabel rules to drop them."""
    if fmt not in ("table", "json", "yaml"):
        raise _fail("--format must be table, json or yaml")
    url = _url(prometheus)

    async def work(client: PrometheusClient) -> CardinalityReport:
        status = await client.tsdb_status(limit=limit)
        groups = await client.rules()
        used = metric_names_in(rule.query for group in groups for rule in group.rules)
        return cardinality_report(status, used=used)

    try:
        report: CardinalityReport = asyncio.run(_with_client(url, work))
    except PrometheusError as e:
        raise _fail(f"cannot read Prometheus' TSDB status: {e}") from e
    if fmt in ("json", "yaml"):
        sys.stdout.write(_dump(_cardinality_doc(report), fmt))
        return
    table = Table(title=f"head series: {report.total_series:,}")
    for column in ("metric", "series", "share", "suggestion"):
        table.add_column(column, overflow="fold")
    for m in report.metrics:
        table.add_row(m.name, f"{m.series:,}", f"{m.share:.1%}", m.suggestion)
    labels = Table(title="labels by distinct values")
    for column in ("label", "values", "suggestion"):
        labels.add_column(column, overflow="fold")
    for label in report.labels:
        labels.add_row(label.name, f"{label.values:,}", label.suggestion)
    console = Console(width=200)
    console.print(table)
    console.print(labels)
    sys.stdout.write(relabel_yaml(report))
