"""`kubeheal chaos ...`: chaos experiments that measure self-healing, and the game day.

* `kubeheal chaos run EXP.yaml... --report out.json [--html out.html]`: against the cluster
  of the kubeconfig (kubeheal deployed there; ``--ledger`` is its ledger, for the times to
  detect and act) or, with ``--twin SCENARIO``, against an embedded cluster twin at
  ``--speed`` with kubeheal running in process (``--without-kubeheal``: not running).
* `kubeheal chaos gameday [--report ...] [--html ...] [--without-kubeheal] [--scale 0.5]
  [--only NAME]... [--compare]`: the mission's experiments (`kubeheal.chaos.gameday`)
  against an embedded twin; ``--compare`` runs them twice on fresh twins, with kubeheal and
  without it, and prints both per fault (replica-outage seconds, ratio, MTTR, verdict).
* `kubeheal chaos schema`: the JSON Schema of experiment files.

Exit status: 0 every expectation held; 1 an expectation failed, a run aborted, errored or
was interrupted (130 on Ctrl-C, after the rollbacks); 2 bad input or a refused start
(invalid file, empty target, unreachable probe, steady state not met, budget below policy):
nothing was injected. ``--prometheus`` and ``--slo SPEC`` give PromQL probes their server
and make runs budget-aware (SLO specs of the targeted workloads, evaluated like
`kubeheal slo report`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kubeheal.chaos.errors import ChaosError
from kubeheal.chaos.gameday import GAMEDAY_SCENARIO, MISSION_MTTR, gameday_names, gameday_phases
from kubeheal.chaos.journal import Journal, RunStatus, TimelineEvent
from kubeheal.chaos.probes import QueryClient
from kubeheal.chaos.report import (
    WORSE,
    CompareRow,
    compare_dict,
    compare_runs,
    render_html,
    report_json,
)
from kubeheal.chaos.runner import (
    BudgetReading,
    ChaosEnv,
    ExperimentRunner,
    statuses_exit_code,
)
from kubeheal.chaos.sampling import OutageSampler, from_kube
from kubeheal.chaos.spec import Experiment, experiment_json_schema, load_experiment
from kubeheal.cli.demo import demo_settings, twin_deployments
from kubeheal.cli.harness import running_harness
from kubeheal.clients.httpcheck import HttpChecker
from kubeheal.clients.kube import KubeConnection, KubeError
from kubeheal.clients.prometheus import PrometheusClient
from kubeheal.clients.writer import KubeWriter
from kubeheal.config import Settings
from kubeheal.model.core import Target
from kubeheal.model.history import ErrorBudget
from kubeheal.runtime.slo_source import workload_target
from kubeheal.runtime.tasks import Tasks
from kubeheal.slo.errors import SloError
from kubeheal.slo.model import SLO
from kubeheal.slo.specs import load_specs, spec_files
from kubeheal.slo.status import fetch_status
from kubeheal.store import Ledger
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig
from kubeheal.twin.sim.faults import FaultSpec as TwinFaultSpec

__all__ = ["ChaosRunOptions", "chaos_app", "run_gameday", "run_on_twin"]

log = logging.getLogger(__name__)
CHAOS_AGENT = "kubeheal-chaos"
"""User-Agent product of chaos faults (granted by deploy/chaos-rbac.yaml, not kubeheal's role)."""

chaos_app = typer.Typer(
    name="chaos",
    help="Chaos experiments that measure self-healing (MTTR) and gate CI.",
    no_args_is_help=True,
)

EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------- adapters


class TwinSimulator:
    """The twin's fault injector as a `kubeheal.chaos.faults.Simulator`."""

    def __init__(self, twin: Twin) -> None:
        if twin.faults is None:
            raise ChaosError("this twin has no fault injector")
        self.twin = twin
        self.injector = twin.faults

    def inject(self, spec: Mapping[str, Any]) -> str:
        parsed = TwinFaultSpec.model_validate(dict(spec))
        with self.twin.store.lock:
            return self.injector.inject(parsed)

    def clear(self, fault_id: str) -> None:
        with self.twin.store.lock:
            self.injector.clear(fault_id)


@dataclass
class SloBudgets:
    """Error budgets and fast burns of SLO specs, evaluated against Prometheus."""

    client: PrometheusClient
    slos: Sequence[SLO]
    clock: Callable[[], datetime]

    async def read(self) -> BudgetReading:
        budgets: list[ErrorBudget] = []
        burning: list[Target] = []
        for slo in self.slos:
            if slo.workload is None:
                continue
            try:
                status = await fetch_status(self.client, slo, at=time.time())
            except SloError as e:
                raise ChaosError(f"cannot evaluate SLO {slo.id}: {e}") from e
            target = workload_target(slo.workload)
            if status.budget_remaining is not None:
                budgets.append(
                    ErrorBudget(
                        target=target,
                        slo=slo.id,
                        remaining=status.budget_remaining,
                        observed_at=self.clock(),
                    )
                )
            if status.page:
                burning.append(target)
        return BudgetReading(budgets=tuple(budgets), fast_burning=tuple(burning))


@dataclass
class ChaosRunOptions:
    """Options shared by `chaos run` and `chaos gameday`."""

    prometheus: str | None = None
    slo_specs: Sequence[Path] = ()
    settings: Settings = field(default_factory=Settings)
    on_event: Callable[[TimelineEvent], None] | None = None


@contextlib.asynccontextmanager
async def _prometheus(
    options: ChaosRunOptions, clock: Callable[[], datetime]
) -> AsyncIterator[tuple[Callable[[str | None], QueryClient | None], SloBudgets | None]]:
    clients: dict[str, PrometheusClient] = {}

    def factory(url: str | None) -> QueryClient | None:
        url = url or options.prometheus
        if url is None:
            return None
        if url not in clients:
            clients[url] = PrometheusClient(url, timeout=5.0)
        return clients[url]

    budgets: SloBudgets | None = None
    try:
        if options.slo_specs:
            if options.prometheus is None:
                raise ChaosError("--slo needs --prometheus")
            try:
                slos = load_specs(spec_files(options.slo_specs))
            except SloError as e:
                raise ChaosError(str(e)) from e
            client = factory(options.prometheus)
            assert isinstance(client, PrometheusClient)
            budgets = SloBudgets(client=client, slos=slos, clock=clock)
        yield factory, budgets
    finally:
        for client in clients.values():
            await client.aclose()


# --------------------------------------------------------------------------- running


async def _run_phases(
    phases: Sequence[Sequence[Experiment]],
    env: ChaosEnv,
    runners: list[ExperimentRunner],
    between: Callable[[], Awaitable[None]] | None = None,
) -> list[Journal]:
    journals: list[Journal] = []
    for index, phase in enumerate(phases):
        if index and between is not None:
            await between()
        mine = [ExperimentRunner(e, env) for e in phase]
        runners += mine
        journals += await asyncio.gather(*(r.run() for r in mine))
    return journals


def _cluster_now(twin: Twin) -> Callable[[], datetime]:
    def now() -> datetime:
        return datetime.fromtimestamp(twin.clock.now(), tz=UTC)

    return now


async def _sampling(stack: contextlib.AsyncExitStack, sampler: OutageSampler) -> OutageSampler:
    """Take a first sample now and keep sampling until ``stack`` closes."""
    tasks = Tasks()
    stack.push_async_callback(tasks.stop)
    await sampler.sample()
    tasks.spawn("chaos-outage-sampler", sampler.run())
    return sampler


def _deployments_ready(twin: Twin) -> bool:
    store = twin.store
    with store.lock:
        deps = store.list_objects(store.rtype("apps", "v1", "deployments"))
    for d in deps:
        want = int(d.get("spec", {}).get("replicas", 1))
        status = d.get("status", {})
        if (
            int(status.get("availableReplicas", 0)) < want
            or int(status.get("updatedReplicas", 0)) < want
        ):
            return False
    return bool(deps)


async def run_on_twin(
    phases: Sequence[Sequence[Experiment]],
    *,
    scenario: str,
    speed: float,
    with_kubeheal: bool,
    options: ChaosRunOptions,
    runners: list[ExperimentRunner] | None = None,
    settle_s: float = 30.0,
) -> list[Journal]:
    """Run the experiments against an embedded twin (kubeheal in process, or not)."""
    runners = [] if runners is None else runners
    async with contextlib.AsyncExitStack() as stack:
        if with_kubeheal:
            h = await stack.enter_async_context(
                running_harness(
                    scenario=scenario, speed=speed, settings=demo_settings(), sweep_interval=0.5
                )
            )
            twin, kubeconfig, ledger = h.twin, h.kubeconfig, h.ledger
            busy: Callable[[], bool] = lambda: bool(h.operator.open_incidents())  # noqa: E731
        else:
            twin = build_twin(scenario=scenario, clock=WallClock(speed=speed))
            url = stack.enter_context(serve_in_thread(twin))
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubeheal-")))
            kubeconfig = write_kubeconfig(workdir / "kubeconfig", server=url)
            ledger = Ledger.open(workdir / "ledger.db")  # stays empty: nobody heals
            stack.callback(ledger.close)
            busy = lambda: False  # noqa: E731
        now = _cluster_now(twin)

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(max(0.0, seconds) / speed)

        started = now()
        while (
            (now() - started).total_seconds() < settle_s or not _deployments_ready(twin) or busy()
        ):
            await sleep(2.0)
            if (now() - started).total_seconds() > 900:
                raise ChaosError("the twin's workloads did not become ready")
        writer = KubeWriter(KubeConnection.from_kubeconfig(kubeconfig).with_agent(CHAOS_AGENT))
        stack.push_async_callback(writer.aclose)
        http = await stack.enter_async_context(HttpChecker())
        factory, budgets = await stack.enter_async_context(_prometheus(options, now))
        sampler = await _sampling(
            stack, OutageSampler(read=twin_deployments(twin), clock=now, sleep=sleep)
        )
        env = ChaosEnv(
            kube=writer,
            http=http,
            clock=now,
            sleep=sleep,
            outages=sampler,
            simulator=TwinSimulator(twin),
            prometheus=factory,
            ledger=ledger,
            budgets=budgets,
            settings=options.settings,
            kubeheal="running" if with_kubeheal else "stopped",
            on_event=options.on_event,
        )

        async def between() -> None:
            """Let the cluster settle before the next phase (bounded: a cluster that does
            not settle meets the next preflight as it is)."""
            began = now()
            while not _deployments_ready(twin):
                if (now() - began).total_seconds() > 600:
                    log.warning("chaos: the twin's workloads did not settle between phases")
                    return
                await sleep(2.0)

        return await _run_phases(phases, env, runners, between)
    raise AssertionError("unreachable")  # pragma: no cover


async def run_on_cluster(
    experiments: Sequence[Experiment],
    *,
    connection: KubeConnection,
    ledger: Ledger | None,
    options: ChaosRunOptions,
    runners: list[ExperimentRunner],
) -> list[Journal]:
    """Run the experiments one after the other against a real cluster (wall time)."""

    def now() -> datetime:
        return datetime.now(tz=UTC)

    async with contextlib.AsyncExitStack() as stack:
        writer = KubeWriter(connection.with_agent(CHAOS_AGENT))
        stack.push_async_callback(writer.aclose)
        http = await stack.enter_async_context(HttpChecker())
        factory, budgets = await stack.enter_async_context(_prometheus(options, now))
        sampler = await _sampling(
            stack, OutageSampler(read=from_kube(writer), clock=now, sleep=asyncio.sleep)
        )
        env = ChaosEnv(
            kube=writer,
            http=http,
            clock=now,
            sleep=asyncio.sleep,
            outages=sampler,
            prometheus=factory,
            ledger=ledger,
            budgets=budgets,
            settings=options.settings,
            kubeheal="unknown" if ledger is None else "running",
            on_event=options.on_event,
        )
        return await _run_phases([[e] for e in experiments], env, runners)
    raise AssertionError("unreachable")  # pragma: no cover


async def run_gameday(
    *,
    speed: float = 20.0,
    scale: float = 1.0,
    with_kubeheal: bool = True,
    options: ChaosRunOptions | None = None,
    runners: list[ExperimentRunner] | None = None,
    only: Sequence[str] | None = None,
) -> list[Journal]:
    """The game day against an embedded twin (see `kubeheal.chaos.gameday`); ``only``
    keeps the named experiments."""
    return await run_on_twin(
        gameday_phases(scale=scale, only=only),
        scenario=GAMEDAY_SCENARIO,
        speed=speed,
        with_kubeheal=with_kubeheal,
        options=options or ChaosRunOptions(),
        runners=runners,
    )


async def run_compare(
    *,
    speed: float = 20.0,
    scale: float = 1.0,
    options: ChaosRunOptions | None = None,
    runners: list[ExperimentRunner] | None = None,
    only: Sequence[str] | None = None,
) -> tuple[list[Journal], list[Journal]]:
    """The same game day twice on fresh twins, with kubeheal and then without it (nothing
    runs the operator: the ledger stays empty)."""
    options = options or ChaosRunOptions()
    runners = [] if runners is None else runners
    with_kubeheal = await run_gameday(
        speed=speed, scale=scale, with_kubeheal=True, options=options, runners=runners, only=only
    )
    without = await run_gameday(
        speed=speed, scale=scale, with_kubeheal=False, options=options, runners=runners, only=only
    )
    return with_kubeheal, without


def print_compare(console: Console, rows: Sequence[CompareRow]) -> None:
    """The side-by-side table of ``--compare``."""
    table = Table(
        title="with kubeheal vs without (replica-outage seconds; MTTR: cluster seconds "
        "until every replica was back)"
    )
    for col in (
        "experiment",
        "outage",
        "without",
        "ratio",
        "MTTR",
        "MTTR without",
        "detected",
        "acted",
        "escalated",
        "kubeheal actions",
        "verdict",
        "target",
    ):
        table.add_column(
            col, justify="left" if col in ("experiment", "verdict", "target") else "right"
        )

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}s"

    def never(value: float | None, outage: float | None) -> str:
        return "never" if value is None and outage is not None else fmt(value)

    for r in rows:
        colour = {WORSE: "red", "better": "green"}.get(r.verdict, "white")
        table.add_row(
            r.experiment,
            fmt(r.outage_s),
            fmt(r.outage_without_s),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            never(r.mttr_s, r.outage_s),
            never(r.mttr_without_s, r.outage_without_s),
            fmt(r.detect_s),
            fmt(r.act_s),
            fmt(r.escalated_after_s),
            ", ".join(r.actions) or "none",
            f"[{colour}]{r.verdict}[/{colour}]",
            r.target + (" (escalate)" if r.no_safe_fix else ""),
        )
    console.print(table)
    known = [r for r in rows if r.outage_s is not None and r.outage_without_s is not None]
    total = sum(r.outage_s or 0.0 for r in known)
    total_without = sum(r.outage_without_s or 0.0 for r in known)
    console.print(
        f"replica-outage seconds over {len(known)} faults: {total:.0f} with kubeheal, "
        f"{total_without:.0f} without"
        + (f" (ratio {total / total_without:.2f})" if total_without > 0 else "")
    )
    met = sum(1 for r in rows if r.target == "met")
    console.print(
        f"mission bar (outage at most 20 % of doing nothing's or under 30 s; with no safe fix, "
        f"an escalation in time): {met}/{len(rows)} faults"
    )


# --------------------------------------------------------------------------- output


def _print(console: Console, journals: Sequence[Journal], *, target_mttr: float | None) -> None:
    table = Table(title="chaos results (cluster seconds after each fault's first injection)")
    for col in (
        "experiment",
        "fault",
        "detected",
        "acted",
        "escalated",
        "recovered",
        "MTTR",
        "replica-outage",
        "probes ok",
        "kubeheal actions",
        "verdict",
    ):
        table.add_column(col)

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}s"

    for j in journals:
        if not j.results:
            table.add_row(
                j.experiment,
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                f"[red]{j.status.value}[/red]: {j.error or j.abort_reason or ''}",
            )
        for r in j.results:
            verdict = "[green]passed[/green]" if r.passed else "[red]FAILED[/red]"
            table.add_row(
                j.experiment,
                r.name,
                fmt(r.detect_s),
                fmt(r.act_s),
                fmt(r.escalated_after_s),
                fmt(r.recover_s),
                fmt(r.mttr_s),
                fmt(r.outage_s),
                f"{r.probe_success_pct:.0f}%",
                ", ".join(sorted(set(r.actions))) or "none",
                verdict,
            )
    console.print(table)
    for j in journals:
        for e in j.failed_expectations:
            console.print(
                f"[red]expectation failed[/red] {j.experiment}/{e.fault}: {e.name}: "
                f"wanted {e.wanted}, measured {e.measured}"
            )
        if j.status not in (RunStatus.PASSED, RunStatus.FAILED):
            console.print(
                f"[red]{j.experiment}: {j.status.value}[/red] {j.error or j.abort_reason or ''}"
            )
    if target_mttr is not None:
        worst = [r.recover_s for j in journals for r in j.results]
        known = [w for w in worst if w is not None]
        console.print(
            f"mission target: recovery within {target_mttr:.0f}s; worst measured: "
            + (f"{max(known):.0f}s" if known and len(known) == len(worst) else "not recovered")
        )


def _write(
    journals: Sequence[Journal],
    *,
    report: Path | None,
    html_path: Path | None,
    meta: dict[str, Any],
    title: str,
) -> None:
    if report is not None:
        report.write_text(report_json(journals, meta=meta))
    if html_path is not None:
        html_path.write_text(render_html(journals, meta=meta, title=title))


def _meta(mode: str, kubeheal: str, speed: float | None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "mode": mode,
        "kubeheal": kubeheal,
        "command": shlex.join(["kubeheal", *sys.argv[1:]]),
    }
    if speed is not None:
        meta["speed"] = speed
    meta.update(extra)
    return meta


def _execute(
    make: Callable[[list[ExperimentRunner]], Any],
    *,
    console: Console,
    report: Path | None,
    html_path: Path | None,
    meta: dict[str, Any],
    title: str,
    target_mttr: float | None = None,
) -> None:
    runners: list[ExperimentRunner] = []
    try:
        journals: list[Journal] = asyncio.run(make(runners))
    except KeyboardInterrupt:
        journals = [r.journal for r in runners]
        for j in journals:
            if j.status is RunStatus.ERROR and j.error is None:
                j.status = RunStatus.INTERRUPTED
        _write(journals, report=report, html_path=html_path, meta=meta, title=title)
        console.print("[red]interrupted[/red]: rollbacks ran; report written")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (ChaosError, KubeError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    _write(journals, report=report, html_path=html_path, meta=meta, title=title)
    _print(console, journals, target_mttr=target_mttr)
    for j in journals:
        if j.status is RunStatus.REFUSED:
            console.print(f"[red]refused[/red] {j.experiment}: {j.error} (nothing was injected)")
    code = statuses_exit_code(journals)
    console.print(
        "[green]all expectations held[/green]" if code == 0 else "[red]the chaos gate FAILED[/red]"
    )
    raise typer.Exit(code)


ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write the JSON report here.")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")]
SpeedOpt = Annotated[float, typer.Option(min=1.0, help="Twin: cluster seconds per wall second.")]
WithoutOpt = Annotated[
    bool, typer.Option("--without-kubeheal", help="Twin: do not run kubeheal (the gate must fail).")
]
PromOpt = Annotated[str | None, typer.Option(help="Prometheus base URL (PromQL probes, SLOs).")]
SloOpt = Annotated[
    list[Path] | None, typer.Option("--slo", help="SLO spec files: budget-aware runs.")
]


@chaos_app.command("run")
def run_command(
    experiments: Annotated[list[Path], typer.Argument(help="Experiment files (YAML).")],
    report: ReportOpt = None,
    html: HtmlOpt = None,
    twin: Annotated[
        str | None, typer.Option(help="Run against an embedded twin with this scenario.")
    ] = None,
    speed: SpeedOpt = 20.0,
    without_kubeheal: WithoutOpt = False,
    kubeconfig: Annotated[Path | None, typer.Option(help="Kubeconfig (real cluster).")] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
    ledger: Annotated[
        str | None, typer.Option(help="kubeheal's ledger (SQLite path or postgresql:// URL).")
    ] = None,
    prometheus: PromOpt = None,
    slo: SloOpt = None,
) -> None:
    """Run experiments; exit non-zero when an expectation fails (a CI gate)."""
    console = Console()
    try:
        loaded = [load_experiment(p) for p in experiments]
    except ChaosError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    options = ChaosRunOptions(prometheus=prometheus, slo_specs=tuple(slo or ()))
    title = "kubeheal chaos: " + ", ".join(e.name for e in loaded)
    if twin is not None:
        meta = _meta("twin", "stopped" if without_kubeheal else "running", speed, scenario=twin)
        _execute(
            lambda runners: run_on_twin(
                [[e] for e in loaded],
                scenario=twin,
                speed=speed,
                with_kubeheal=not without_kubeheal,
                options=options,
                runners=runners,
            ),
            console=console,
            report=report,
            html_path=html,
            meta=meta,
            title=title,
        )
        return
    try:
        if kubeconfig is not None:
            connection = KubeConnection.from_kubeconfig(kubeconfig, context=context)
        else:
            default = Path.home() / ".kube" / "config"
            connection = (
                KubeConnection.from_kubeconfig(default, context=context)
                if default.exists()
                else KubeConnection.in_cluster()
            )
    except KubeError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    opened = Ledger.open(ledger) if ledger else None
    try:
        meta = _meta("cluster", "running" if opened else "unknown", None, server=connection.server)
        _execute(
            lambda runners: run_on_cluster(
                loaded, connection=connection, ledger=opened, options=options, runners=runners
            ),
            console=console,
            report=report,
            html_path=html,
            meta=meta,
            title=title,
        )
    finally:
        if opened is not None:
            opened.close()


@chaos_app.command("gameday")
def gameday_command(
    report: ReportOpt = None,
    html: HtmlOpt = None,
    speed: SpeedOpt = 20.0,
    scale: Annotated[
        float, typer.Option(min=0.05, max=1.0, help="Shorten every fault by this factor.")
    ] = 1.0,
    without_kubeheal: WithoutOpt = False,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Run the suite twice on fresh twins, with kubeheal and without it, and "
            "print both side by side (exit 1 when kubeheal made an outage longer).",
        ),
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this experiment (repeatable)."),
    ] = None,
    prometheus: PromOpt = None,
    slo: SloOpt = None,
) -> None:
    """The mission's experiments against an embedded twin, MTTR against 3 minutes."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    names = gameday_names()
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        console.print(
            f"[red]error:[/red] no game-day experiment named {', '.join(unknown)} "
            f"(known: {', '.join(names)})"
        )
        raise typer.Exit(2)
    if compare and without_kubeheal:
        console.print("[red]error:[/red] --compare already runs without kubeheal")
        raise typer.Exit(2)
    selected = tuple(only) if only else None
    options = ChaosRunOptions(prometheus=prometheus, slo_specs=tuple(slo or ()))
    target = MISSION_MTTR.total_seconds()
    kubeheal = "compare" if compare else "stopped" if without_kubeheal else "running"
    meta = _meta(
        "twin",
        kubeheal,
        speed,
        scenario=GAMEDAY_SCENARIO,
        scale=scale,
        target_mttr_s=target,
    )
    console.print(
        f"game day on the twin ({GAMEDAY_SCENARIO}, x{speed:g}, faults x{scale:g}), kubeheal "
        + (
            "running, then the same suite on a fresh twin without it"
            if compare
            else "STOPPED"
            if without_kubeheal
            else "running"
        )
        + "; times are cluster seconds"
    )
    if compare:
        _compare(
            console,
            speed=speed,
            scale=scale,
            only=selected,
            options=options,
            report=report,
            html_path=html,
            meta=meta,
        )
        return
    _execute(
        lambda runners: run_gameday(
            speed=speed,
            scale=scale,
            with_kubeheal=not without_kubeheal,
            options=options,
            runners=runners,
            only=selected,
        ),
        console=console,
        report=report,
        html_path=html,
        meta=meta,
        title="kubeheal game day" + (" (kubeheal stopped)" if without_kubeheal else ""),
        target_mttr=target,
    )


def _compare(
    console: Console,
    *,
    speed: float,
    scale: float,
    only: Sequence[str] | None,
    options: ChaosRunOptions,
    report: Path | None,
    html_path: Path | None,
    meta: dict[str, Any],
) -> None:
    runners: list[ExperimentRunner] = []
    try:
        with_kubeheal, without = asyncio.run(
            run_compare(speed=speed, scale=scale, options=options, runners=runners, only=only)
        )
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]: rollbacks ran; no comparison written")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (ChaosError, KubeError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    rows = compare_runs(with_kubeheal, without)
    if report is not None:
        data = compare_dict(rows, with_kubeheal=with_kubeheal, without=without, meta=meta)
        report.write_text(json.dumps(data, indent=2) + "\n")
    if html_path is not None:
        html_path.write_text(
            render_html(
                with_kubeheal,
                meta={**meta, "kubeheal": "running"},
                title="kubeheal game day, with kubeheal and without it",
                compare=rows,
            )
        )
    print_compare(console, rows)
    worse = [r for r in rows if r.verdict == WORSE]
    for r in worse:
        console.print(
            f"[red]{WORSE}[/red]: {r.experiment}/{r.fault}: {r.outage_s:.0f} replica-outage "
            f"seconds with kubeheal, {r.outage_without_s:.0f} without"
        )
    if worse:
        raise typer.Exit(1)
    console.print("[green]no fault's outage was longer with kubeheal than without it[/green]")
    raise typer.Exit(0)


@chaos_app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of experiment files."""
    typer.echo(experiment_json_schema(), nl=False)
