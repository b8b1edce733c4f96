"""`kubeheal generate ...`: write the monitoring kubeheal relies on.

* `kubeheal generate monitoring --out DIR [--config FILE] [--webhook-url URL]` writes the
  rule files, PrometheusRule CRs, promtool tests, Alertmanager configuration, Grafana
  dashboards and a kube-prometheus-stack values overlay (see `kubeheal.monitoring.bundle`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from kubeheal.monitoring import (
    MonitoringConfig,
    MonitoringConfigError,
    parse_monitoring_config,
    render_bundle,
)

__all__ = ["generate_app", "write_bundle"]

log = logging.getLogger(__name__)

generate_app = typer.Typer(
    name="generate",
    help="Generate the monitoring kubeheal relies on (rules, routes, dashboards).",
    no_args_is_help=True,
)


def write_bundle(files: dict[str, str], out: Path) -> list[Path]:
    """Write every file under `out` (directories created, existing files replaced)."""
    written = []
    for relative, text in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _load_config(path: Path | None, webhook_url: str | None) -> MonitoringConfig:
    if path is None:
        config = MonitoringConfig()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise MonitoringConfigError(f"cannot read {path}: {e.strerror or e}") from e
        try:
            config = parse_monitoring_config(text)
        except MonitoringConfigError as e:
            raise MonitoringConfigError(f"{path}: {e}") from e
    if webhook_url is not None:
        data = config.model_dump(by_alias=True)
        data["alertmanager"]["webhook_url"] = webhook_url
        try:
            config = MonitoringConfig.model_validate(data)
        except ValueError as e:
            raise MonitoringConfigError(f"--webhook-url: {_first_message(e)}") from e
    return config


def _first_message(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        items = errors()
        if items:
            return str(items[0]["msg"]).removeprefix("Value error, ")
    return str(error)


OutOpt = Annotated[
    Path, typer.Option("--out", help="Directory to write into (created if missing).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="YAML file overriding thresholds, windows, routing, ..."),
]
WebhookOpt = Annotated[
    str | None, typer.Option("--webhook-url", help="kubeheal's Alertmanager webhook URL.")
]


@generate_app.command()
def monitoring(*, out: OutOpt, config: ConfigOpt = None, webhook_url: WebhookOpt = None) -> None:
    """Write Prometheus rules (+ promtool tests), Alertmanager config, Grafana dashboards."""
    try:
        settings = _load_config(config, webhook_url)
    except MonitoringConfigError as e:
        typer.echo(f"error: invalid monitoring configuration: {e}", err=True)
        raise typer.Exit(2) from e
    files = render_bundle(settings)
    try:
        written = write_bundle(files, out)
    except OSError as e:
        typer.echo(f"error: cannot write to {out}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from e
    counts: dict[str, int] = {}
    for path in written:
        top = path.relative_to(out).parts[0]
        counts[top] = counts.get(top, 0) + 1
    summary = ", ".join(f"{n} in {name}" for name, n in sorted(counts.items()))
    typer.echo(f"wrote {len(written)} files to {out}: {summary}")
    typer.echo(f"check them: cd {out} && promtool test rules tests/*.yaml")
