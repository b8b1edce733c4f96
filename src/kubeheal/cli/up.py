"""`kubeheal up`: the whole stack on this machine, until Ctrl-C.

::

    twin (sample-app + bookinfo, accelerated) ──/metrics──> Prometheus (Debian's, 1 s scrapes,
        ▲                                                    the rules of `generate monitoring`)
        │ API                                                    │ alerts
    kubeheal (the operator, the webhook, the anomaly/forecast      ▼
              and SLO sources over that Prometheus) <──webhook── Alertmanager (its routes)

Everything listens on 127.0.0.1; the command prints where (API server and kubeconfig,
kubeheal's HTTP side and the webhook's token file, Prometheus, Alertmanager) and then one
line per thing kubeheal does. Without the Debian packages (`prometheus`,
`prometheus-alertmanager`) it runs kubeheal against the twin's API only and says so in one
line. The wiring is the harness's (`kubeheal.cli.harness.running_harness`, ``stack=``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kubeheal.cli.harness import Harness, StackMode, running_harness
from kubeheal.cli.logs import setup_logging
from kubeheal.config import Settings, SettingsError, load_settings
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.server.webhook import ALERTMANAGER_PATH
from kubeheal.twin.promstack import PromStackError
from kubeheal.twin.scenarios import ScenarioError, scenario_files

__all__ = ["default_slo_specs", "register", "up_lines"]

_EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "slo"
_COLOURS = {
    "incident": "yellow",
    "action": "cyan",
    "resolved": "green",
    "escalated": "red",
    "blocked": "magenta",
    "verify": "blue",
}


def default_slo_specs(scenario: str) -> list[Path]:
    """The example SLO specs of the scenario's apps, when run from a source checkout."""
    apps = scenario.split("+")
    return [p for p in (_EXAMPLES / f"{app}.yaml" for app in apps) if p.is_file()]


def up_lines(h: Harness, *, scenario: str, speed: float) -> list[str]:
    """What `kubeheal up` prints once everything runs (plain text, one fact a line)."""
    lines = [
        f"kubeheal up: twin {scenario} at x{speed:g} (cluster time), "
        + (
            "full stack: metrics -> alerts -> incident"
            if h.stack == "full"
            else "K8s-only: kubeheal reads the Kubernetes API only"
        ),
    ]
    if h.stack_note:
        lines.append(h.stack_note)
    lines += [
        f"  Kubernetes API  {h.url}",
        f"  kubeconfig      {h.kubeconfig}",
    ]
    if h.http_url is not None:
        lines.append(f"  kubeheal        {h.http_url} (webhook {ALERTMANAGER_PATH}, /metrics)")
    if h.token_file is not None:
        lines.append(f"  webhook token   {h.token_file}")
    if h.promstack is not None:
        lines += [
            f"  Prometheus      {h.promstack.prometheus_url}",
            f"  Alertmanager    {h.promstack.alertmanager_url}",
        ]
    for source in h.sources:
        lines.append(f"  source          {source}")
    lines += [
        f"  inject a fault  kubeheal twin fault error-burst --server {h.url} -n demo "
        "--deployment sample-app -p error_rate=0.6",
        "Ctrl-C stops everything.",
    ]
    return lines


async def _serve(
    *,
    console: Console,
    scenario: str,
    speed: float,
    settings: Settings,
    stack: StackMode,
    slo_specs: list[Path],
    workdir: Path | None,
    listen: str | None,
    run_for: float | None,
) -> None:
    started = time.monotonic()

    def show(event: OperatorEvent) -> None:
        colour = _COLOURS.get(event.kind, "white")
        first = event.message.splitlines()[0][:160] if event.message else ""
        console.print(
            f"[dim]{time.monotonic() - started:7.1f}s[/dim] [{colour}]{event.kind:9}[/{colour}] "
            f"{escape(event.target.key)}: {escape(first)}",
            highlight=False,
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        async with running_harness(
            scenario=scenario,
            speed=speed,
            settings=settings,
            stack=stack,
            slo_specs=slo_specs,
            workdir=workdir,
            listen=listen,
            sweep_interval=0.5,
            on_event=show,
        ) as h:
            for line in up_lines(h, scenario=scenario, speed=speed):
                console.print(escape(line), highlight=False, soft_wrap=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=run_for)
            console.print("stopping")
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def register(app: typer.Typer) -> None:
    """Add `kubeheal up` to ``app``."""

    @app.command()
    def up(
        scenario: Annotated[
            str, typer.Option(help="Scenario of the twin (sample-app, bookinfo, ...).")
        ] = "sample-app+bookinfo",
        speed: Annotated[
            float, typer.Option(help="Simulated time runs this much faster (as the demo).")
        ] = 15.0,
        stack: Annotated[
            str,
            typer.Option(
                help="full: Prometheus + Alertmanager too (fails without them); k8s: the API "
                "only; auto: full when the Debian packages are installed."
            ),
        ] = "auto",
        slo_spec: Annotated[
            list[Path] | None,
            typer.Option(
                "--slo-spec",
                help="SLO spec file for the SLO source (repeatable; default: the examples of "
                "the scenario's apps in a source checkout).",
            ),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(help="Settings file (YAML/JSON); default: the demo's settings."),
        ] = None,
        workdir: Annotated[
            Path | None,
            typer.Option(help="Keep kubeconfig, ledger, token and logs here (default: temporary)."),
        ] = None,
        listen: Annotated[
            str | None,
            typer.Option(
                help="host:port of kubeheal's HTTP side (default: a free 127.0.0.1 port)."
            ),
        ] = None,
        run_for: Annotated[
            float | None,
            typer.Option("--for", help="Stop after this many wall seconds (default: Ctrl-C)."),
        ] = None,
        log_level: Annotated[str, typer.Option()] = "WARNING",
    ) -> None:
        """Run the twin, Prometheus, Alertmanager and kubeheal together until Ctrl-C."""
        from kubeheal.cli.demo import demo_settings

        if stack not in ("full", "k8s", "auto"):
            raise typer.BadParameter("must be full, k8s or auto", param_hint="--stack")
        try:
            scenario_files(scenario)
        except ScenarioError as e:
            raise typer.BadParameter(str(e), param_hint="--scenario") from e
        setup_logging(level=log_level)
        try:
            settings = load_settings(config, os.environ) if config else demo_settings()
        except SettingsError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
        console = Console() if Console().is_terminal else Console(width=200)
        specs = list(slo_spec) if slo_spec else default_slo_specs(scenario)
        mode: StackMode = "full" if stack == "full" else "k8s" if stack == "k8s" else "auto"
        try:
            asyncio.run(
                _serve(
                    console=console,
                    scenario=scenario,
                    speed=speed,
                    settings=settings,
                    stack=mode,
                    slo_specs=specs,
                    workdir=workdir,
                    listen=listen,
                    run_for=run_for,
                )
            )
        except PromStackError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from e
        except KeyboardInterrupt:
            pass
