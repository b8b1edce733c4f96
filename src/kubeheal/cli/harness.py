"""The operator running against an in-process cluster twin: for the demo and game days.

Starts the twin (API server in a background thread, simulated time optionally accelerated),
then the operator in the caller's event loop, talking to the twin over HTTP exactly as to a
real API server. The operator's clock is the twin's clock, at the twin's speed
(`kubeheal.runtime.clock.OperatorClock`), so durations measured by the ledger, a drain's
back-off and timeout and a retry's delay are in simulated (cluster) time.

The operator is assembled as `kubeheal run` assembles it (`kubeheal.runtime.assembly`:
alert consumer, notifications, the signal sources the settings enable, health), and its HTTP
side (webhook, API, /metrics, health) is wired too; with ``listen="127.0.0.1:0"`` the app is
served by uvicorn (``Harness.http_url``), e.g. for a real Alertmanager to post to. The inbox
stamps ``received_at`` with the same clock as the operator.

``stack`` chooses what runs beside the twin:

- ``"k8s"`` (default): kubeheal reads the Kubernetes API only;
- ``"full"``: also Debian's Prometheus scraping the twin's ``/metrics`` with the rules of
  `kubeheal generate monitoring` (``MonitoringConfig.fast()``: windows for 1 s scrapes) and
  Alertmanager routing them to kubeheal's authenticated webhook (a token written to
  ``secrets/kubeheal-token`` in the work directory), and kubeheal's anomaly/forecast and SLO
  sources reading that Prometheus (`full_stack_settings`): metrics -> alerts -> incident;
- ``"auto"``: ``"full"`` when the executables are found, else ``"k8s"``, with the reason in
  ``Harness.stack_note`` (one line).

Prometheus keeps the wall's time while an accelerated twin runs ahead: its windows (rate
windows, ``for:``, the forecasts' fit) are wall seconds, and the forecasts' rates and times
are per wall second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from kubeheal.clients.kube import KubeConnection
from kubeheal.config import Settings
from kubeheal.engine.playbooks import PlaybookSet, load_builtin_playbooks
from kubeheal.monitoring import (
    RECEIVER_KUBEHEAL,
    MonitoringConfig,
    alertmanager_config,
    build_rule_groups,
    rule_file_texts,
)
from kubeheal.runtime.alerts import AlertConsumer
from kubeheal.runtime.assembly import Assembly, build
from kubeheal.runtime.clock import OperatorClock
from kubeheal.runtime.operator import Operator, OperatorEvent, OperatorOptions
from kubeheal.server.auth import Authenticator
from kubeheal.server.serving import OperatorHttp, operator_http, serving, split_listen
from kubeheal.server.webhook import ALERTMANAGER_PATH
from kubeheal.store import Ledger
from kubeheal.store.inbox import AlertInbox
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.promstack import PromStack, PromStackError, find_binaries
from kubeheal.twin.server import serve_in_thread, write_kubeconfig

__all__ = [
    "Harness",
    "StackMode",
    "full_stack_settings",
    "local_alertmanager_config",
    "running_harness",
]

StackMode = Literal["full", "k8s", "auto"]
TOKEN_FILE = "kubeheal-token"


@dataclass
class Harness:
    """A twin and an operator wired together."""

    twin: Twin
    url: str
    kubeconfig: Path
    operator: Operator
    ledger: Ledger
    http: OperatorHttp
    http_url: str | None = None
    """Base URL of the operator's HTTP server when started with ``listen``."""
    assembly: Assembly | None = None
    """Everything built around the operator (`kubeheal.runtime.assembly`)."""
    stack: Literal["full", "k8s"] = "k8s"
    """What runs beside the twin (see the module docstring)."""
    stack_note: str = ""
    """Why ``stack="auto"`` runs K8s-only (one line; empty otherwise)."""
    promstack: PromStack | None = None
    """Prometheus and Alertmanager of the full stack."""
    token_file: Path | None = None
    """The webhook's bearer token (full stack), as Alertmanager reads it."""
    workdir: Path | None = None
    """Kubeconfig, ledger, token and the Prometheus/Alertmanager files and logs."""

    @property
    def sources(self) -> list[str]:
        """The signal sources the settings enabled (one line each)."""
        return self.assembly.sources.names if self.assembly is not None else []

    @property
    def inbox(self) -> AlertInbox:
        """The webhook's durable alert inbox."""
        return self.http.inbox

    @property
    def alerts(self) -> AlertConsumer | None:
        """The alert consumer (None when ``webhook.enabled`` is off)."""
        return self.http.consumer

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.twin.clock.now(), tz=UTC)


def full_stack_settings(
    settings: Settings, *, prometheus_url: str, slo_specs: Sequence[Path] = ()
) -> Settings:
    """``settings`` with the anomaly/forecast source and (given specs) the SLO source reading
    ``prometheus_url``, paced for a Prometheus that scrapes and evaluates every second."""
    anomaly = settings.anomaly.model_copy(
        update={
            "enabled": True,
            "prometheus_url": prometheus_url,
            "interval": timedelta(seconds=1),
            "step": timedelta(seconds=1),
            "history": timedelta(minutes=5),
            "forecast_window": timedelta(minutes=2),
            "forecast_horizon": timedelta(hours=1),
            "min_forecast_points": 10,
            "confirm_window": timedelta(minutes=5),
        }
    )
    slo = settings.slo.model_copy(
        update={
            "prometheus_url": prometheus_url,
            "specs": tuple(slo_specs) or settings.slo.specs,
            "evaluation_interval": timedelta(seconds=5),
        }
    )
    return settings.model_copy(update={"anomaly": anomaly, "slo": slo})


async def _start_promstack(workdir: Path, search_path: str | None) -> PromStack:
    promstack = PromStack(workdir / "promstack", search_path=search_path)
    await asyncio.to_thread(promstack.start)
    return promstack


def _write_token(directory: Path) -> tuple[str, Path]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path = directory / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token, path


@contextlib.asynccontextmanager
async def running_harness(
    *,
    scenario: str,
    speed: float = 1.0,
    settings: Settings | None = None,
    playbooks: PlaybookSet | None = None,
    ledger_path: Path | None = None,
    sweep_interval: float = 1.0,
    on_event: Callable[[OperatorEvent], None] | None = None,
    seed: int = 0,
    tick: float = 0.1,
    listen: str | None = None,
    auth: Authenticator | None = None,
    stack: StackMode = "k8s",
    slo_specs: Sequence[Path] = (),
    monitoring: MonitoringConfig | None = None,
    workdir: Path | None = None,
    search_path: str | None = None,
) -> AsyncIterator[Harness]:
    """Start the twin with `scenario` and the operator against it; stop both on exit.

    ``listen`` (``host:port``, port 0 for a free one) also serves the operator's HTTP app;
    ``auth`` defaults to the one ``settings.server`` describes. ``stack`` (module docstring):
    "full" and "auto" always serve the HTTP app (on a free 127.0.0.1 port unless ``listen``
    says otherwise) and, unless ``auth`` is given, authenticate it with a fresh token
    (``Harness.token_file``; with ``auth``, ``monitoring`` names the secrets directory
    Alertmanager reads the token from). ``slo_specs`` feed the full stack's SLO source;
    ``monitoring`` replaces its rules' and routes' configuration (the webhook URL is always
    kubeheal's).
    ``search_path`` is where the Prometheus/Alertmanager executables are looked up (PATH's
    syntax; None: PATH). ``workdir`` (default: a temporary directory, removed on exit) holds
    the kubeconfig, ledger, token and the stack's files.
    Raises `PromStackError` when ``stack="full"`` and the stack cannot start.
    """
    clock = WallClock(speed=speed)
    twin = build_twin(scenario=scenario, clock=clock, seed=seed)
    with contextlib.ExitStack() as exits:
        url = exits.enter_context(serve_in_thread(twin, tick=tick))
        if workdir is None:
            workdir = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="kubeheal-")))
        workdir.mkdir(parents=True, exist_ok=True)
        kubeconfig = write_kubeconfig(workdir / "kubeconfig", server=url)
        ledger = Ledger.open(ledger_path or workdir / "ledger.db", manual_checkpoints=True)
        exits.callback(ledger.close)

        def twin_now() -> datetime:
            return datetime.fromtimestamp(clock.now(), tz=UTC)

        settings = settings or Settings()
        promstack: PromStack | None = None
        note = ""
        if stack != "k8s":
            try:
                find_binaries(search_path)
            except PromStackError as e:
                if stack == "full":
                    raise
                note = f"K8s-only (no metrics, alerts or forecasts): {e}"
            else:
                promstack = await _start_promstack(workdir, search_path)
                exits.callback(promstack.stop)
        token_file: Path | None = None
        if stack != "k8s":
            listen = listen or "127.0.0.1:0"
            if auth is None:
                token, token_file = _write_token(workdir / "secrets")
                auth = Authenticator.static(token=token)
        if promstack is not None:
            settings = full_stack_settings(
                settings, prometheus_url=promstack.prometheus_url, slo_specs=slo_specs
            )
        async with contextlib.AsyncExitStack() as servers:
            assembly = await build(
                settings,
                KubeConnection.from_kubeconfig(kubeconfig),
                ledger,
                playbooks=playbooks or load_builtin_playbooks(),
                stack=servers,
                # the twin's time at the twin's pace: drains and retries wait cluster seconds
                clock=OperatorClock(now=twin_now, speed=speed),
                options=OperatorOptions(sweep_interval=sweep_interval),
                on_event=on_event,
            )
            operator = assembly.operator
            http = operator_http(assembly, auth=auth, received_clock=twin_now)
            http_url = None
            if listen is not None:
                host, port = split_listen(listen)
                http_url = await servers.enter_async_context(
                    serving(http.app, host=host, port=port)
                )
            try:
                await operator.start()
                if promstack is not None:
                    assert http_url is not None
                    await _configure_promstack(
                        promstack,
                        twin_url=url,
                        webhook_url=http_url + ALERTMANAGER_PATH,
                        secrets_dir=token_file.parent if token_file is not None else None,
                        monitoring=monitoring,
                    )
                yield Harness(
                    twin=twin,
                    url=url,
                    kubeconfig=kubeconfig,
                    operator=operator,
                    ledger=ledger,
                    http=http,
                    http_url=http_url,
                    assembly=assembly,
                    stack="full" if promstack is not None else "k8s",
                    stack_note=note,
                    promstack=promstack,
                    token_file=token_file,
                    workdir=workdir,
                )
            finally:
                await operator.stop()


GOLDEN_GROUP = "kubeheal.golden-signals"


def local_alertmanager_config(config: MonitoringConfig) -> str:
    """The generated Alertmanager configuration, for a stack on one machine.

    The routes of `kubeheal generate monitoring`, plus one: every golden-signal alert (errors,
    latency, traffic, saturation) also goes to kubeheal, whether or not a playbook acts on it,
    so an error burst always becomes an incident. The people's receivers keep their names and
    routes but lose their Slack, PagerDuty and e-mail settings (whose secrets do not exist
    here): nothing leaves the machine.
    """
    doc: dict[str, Any] = alertmanager_config(config)
    routes: list[dict[str, Any]] = doc["route"]["routes"]
    golden = [
        n for g in build_rule_groups(config) if g.name == GOLDEN_GROUP for n in g.alert_names()
    ]
    to_kubeheal = next(r for r in routes if r.get("receiver") == RECEIVER_KUBEHEAL)
    last = max(i for i, r in enumerate(routes) if r.get("receiver") == RECEIVER_KUBEHEAL)
    if golden:
        routes.insert(
            last + 1,
            {
                **to_kubeheal,
                "matchers": [f'alertname=~"{"|".join(golden)}"', 'kubeheal!="remediate"'],
            },
        )
    doc["receivers"] = [
        r if r["name"] == RECEIVER_KUBEHEAL else {"name": r["name"]} for r in doc["receivers"]
    ]
    return yaml.safe_dump(doc, sort_keys=False)


async def _configure_promstack(
    promstack: PromStack,
    *,
    twin_url: str,
    webhook_url: str,
    secrets_dir: Path | None,
    monitoring: MonitoringConfig | None,
) -> None:
    """Scrape the twin (and kubeheal's own /metrics) with the generated rules; route the
    alerts to kubeheal's webhook (with the token in ``secrets_dir``; None: the one
    ``monitoring`` names)."""
    config = monitoring or MonitoringConfig.fast()
    update: dict[str, str] = {"webhook_url": webhook_url}
    if secrets_dir is not None:
        update["secrets_dir"] = str(secrets_dir)
    alertmanager = config.alertmanager.model_copy(update=update)
    config = config.model_copy(update={"alertmanager": alertmanager})
    kubeheal = webhook_url.split("://", 1)[1].split("/", 1)[0]
    await asyncio.to_thread(
        promstack.configure,
        scrape_targets=[twin_url],
        rule_files=rule_file_texts(config),
        alertmanager_config=local_alertmanager_config(config),
        extra_scrape_configs=[
            {
                "job_name": config.kubeheal.job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [kubeheal]}],
            }
        ],
        timeout=60.0,
    )
