"""Running an experiment in phases: preflight, method, rollbacks, verdict.

1. **Preflight** (nothing is injected until it passes): every fault's target must select
   something and be makeable here, every probe must be evaluable and pass (steady state),
   and the error-budget policy must allow the experiment (`BudgetSource` + the engine's
   ``budget_blocker``, the same check as the remediation guard). A failure ends the run as
   ``refused`` with the reason.
2. **Method**: faults one after the other. Each is injected (again every ``interval``),
   left for its ``duration``, undone, then watched until its probes have passed for
   ``stable_for`` or ``observe_after`` has gone by. Meanwhile the probes run every
   ``probe_interval``, and the abort conditions are watched: a listed probe failing beyond
   tolerance for longer than ``max_probe_outage``, a fast-burning SLO or a budget below the
   policy, and the API server not answering for ``dead_man`` (the dead-man switch: every
   generated or simulated fault also carries its own duration and ends by itself).
3. **Rollbacks** always run: the undo of every injection still in effect (newest first),
   then the experiment's ``rollbacks``; also when a fault failed to inject, an abort
   condition fired or the run was cancelled (Ctrl-C), shielded from further cancellation.
4. **Verdict**: the steady state is checked once more, the ledger is read, and every fault's
   figures and expectations are computed (`kubeheal.chaos.measure`).

Times are cluster time: ``clock`` and ``sleep`` come from the caller (the twin's accelerated
clock, or wall time on a real cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from kubeheal.aio.tasks import named_task
from kubeheal.chaos.errors import (
    BudgetRefused,
    ChaosError,
    FaultFailed,
    SteadyStateNotMet,
)
from kubeheal.chaos.faults import FaultDriver, Injection, Resolved, Simulator
from kubeheal.chaos.journal import FaultRun, Journal, RollbackRun, RunStatus, TimelineEvent
from kubeheal.chaos.measure import LedgerFacts, measure_fault, resilience_score
from kubeheal.chaos.outage import DeploymentKey, OutageFigures
from kubeheal.chaos.probes import Check, ProbeEvaluator, QueryClient, failing_flags
from kubeheal.chaos.sampling import OutageSampler
from kubeheal.chaos.spec import Experiment, FaultSpec, Rollback
from kubeheal.clients.httpcheck import HttpChecker
from kubeheal.clients.kube import KubeError, KubeNotFound
from kubeheal.clients.writer import Kind, KubeWriter, PatchKind
from kubeheal.config import Settings
from kubeheal.engine.guards import budget_blocker
from kubeheal.model.core import Target, TargetKind
from kubeheal.model.history import ErrorBudget
from kubeheal.store.records import ActionRecord, IncidentRecord, SignalRecord

__all__ = [
    "BudgetReading",
    "BudgetSource",
    "ChaosEnv",
    "ExperimentRunner",
    "LedgerView",
    "run_experiment",
    "statuses_exit_code",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BudgetReading:
    """Error budgets of workloads and the workloads whose SLOs burn fast right now."""

    budgets: tuple[ErrorBudget, ...] = ()
    fast_burning: tuple[Target, ...] = ()


class BudgetSource(Protocol):
    """Where budgets come from (the CLI evaluates SLO specs against Prometheus)."""

    async def read(self) -> BudgetReading: ...


class LedgerView(Protocol):
    """The ledger queries the verdict needs (``kubeheal.store.Ledger``)."""

    def list_incidents(self, *, since: datetime, until: datetime) -> list[IncidentRecord]: ...

    def actions_for_incident(self, incident_id: str) -> list[ActionRecord]: ...

    def list_signals(self, *, since: datetime, until: datetime) -> list[SignalRecord]: ...


def _no_prometheus(url: str | None) -> QueryClient | None:
    return None


@dataclass
class ChaosEnv:
    """What an experiment runs against."""

    kube: KubeWriter
    http: HttpChecker
    clock: Callable[[], datetime]
    """Cluster time (timezone-aware)."""
    sleep: Callable[[float], Awaitable[None]]
    """Sleep for this many cluster seconds."""
    simulator: Simulator | None = None
    prometheus: Callable[[str | None], QueryClient | None] = _no_prometheus
    ledger: LedgerView | None = None
    budgets: BudgetSource | None = None
    settings: Settings = field(default_factory=Settings)
    kubeheal: str = "unknown"
    """Whether kubeheal runs against the target ("running", "stopped", "unknown")."""
    heartbeat_namespace: str = "default"
    on_event: Callable[[TimelineEvent], None] | None = None
    wall: Callable[[], float] = time.monotonic
    outages: OutageSampler | None = None
    """Samples of every Deployment's replicas (the caller runs it): a fault's window then
    lasts until its Deployments have every replica back too, and its result carries the
    replica-outage seconds."""


async def _always(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``make()`` to the end even if the caller is cancelled meanwhile; re-raise the
    cancellation afterwards."""
    task = named_task(f"chaos:{getattr(make, '__name__', 'step')}", make())
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


def _to_target(kind: str, namespace: str, name: str) -> Target | None:
    try:
        return Target(kind=TargetKind(kind), namespace=namespace, name=name)
    except ValueError:
        return None


class ExperimentRunner:
    """Runs one experiment (see the module docstring); the journal is ``self.journal``."""

    def __init__(self, experiment: Experiment, env: ChaosEnv) -> None:
        self.experiment = experiment
        self.env = env
        self.driver = FaultDriver(
            experiment=experiment, kube=env.kube, simulator=env.simulator, clock=env.clock
        )
        self.evaluator = ProbeEvaluator(
            kube=env.kube, http=env.http, prometheus=env.prometheus, clock=env.clock
        )
        self.journal = Journal(
            experiment=experiment.name,
            description=experiment.description,
            kubeheal=env.kubeheal,
            tolerances={p.name: p.tolerance for p in experiment.steady_state},
        )
        self.resolved: dict[str, Resolved] = {}
        self._active: list[Injection] = []
        self._abort: str | None = None
        self._last_api_ok: datetime | None = None
        self._failing_since: dict[str, datetime] = {}
        self._last_budget_read: datetime | None = None

    # ----------------------------------------------------------------- helpers

    def _now(self) -> datetime:
        return self.env.clock()

    def _event(self, kind: str, subject: str, detail: str = "") -> None:
        event = TimelineEvent(self._now(), kind, subject, detail)
        self.journal.events.append(event)
        if self.env.on_event is not None:
            self.env.on_event(event)

    def _secs(self, value: timedelta) -> float:
        return value.total_seconds()

    async def _wait_until(self, when: datetime, *, stop: Callable[[], bool] | None = None) -> None:
        step = self._secs(self.experiment.settings.probe_interval) / 2
        while self._abort is None and not (stop is not None and stop()):
            remaining = (when - self._now()).total_seconds()
            if remaining <= 0:
                return
            await self.env.sleep(min(remaining, step))

    # ----------------------------------------------------------------- preflight

    def _workload_targets(self) -> list[Target]:
        found: set[Target] = set()
        for resolved in self.resolved.values():
            for w in resolved.workloads:
                target = _to_target(w.kind, w.namespace, w.name)
                if target is not None and target.kind is not TargetKind.NODE:
                    found.add(target)
        for ref in self.experiment.budget.workloads:
            target = _to_target(ref.kind, ref.namespace, ref.name)
            if target is not None:
                found.add(target)
        return sorted(found)

    async def _budget_problem(self) -> str | None:
        """Why the budget policy forbids chaos now (None: it allows it)."""
        spec = self.experiment.budget
        source = self.env.budgets
        if not spec.enabled or source is None:
            return None
        policy = self.env.settings.slo
        reading = await source.read()
        targets = self._workload_targets()
        burning = sorted(set(reading.fast_burning) & set(targets))
        if burning and self.experiment.abort.slo_fast_burn:
            return f"the SLO of {burning[0]} burns its error budget fast"
        minimum = policy.freeze_below if spec.min_remaining is None else spec.min_remaining
        blocker = budget_blocker(
            reading.budgets,
            targets,
            min_remaining=minimum,
            now=self._now(),
            max_age=spec.max_age or policy.budget_max_age,
        )
        if blocker is None:
            return None
        return (
            f"{blocker.target}: {blocker.remaining:.1%} of the error budget of SLO "
            f"{blocker.slo} is left, below the policy's {minimum:.0%}"
        )

    async def preflight(self) -> None:
        """Check everything before the first fault; raise the `ChaosError` that says why
        the experiment must not start."""
        for fault in self.experiment.method:
            self.resolved[fault.name] = await self.driver.resolve(fault)
        checks = [await self.evaluator.check_strict(p) for p in self.experiment.steady_state]
        self.journal.steady_before = checks
        failing = [c for c in checks if not c.ok]
        if failing:
            raise SteadyStateNotMet(
                "steady state not met before any fault: "
                + "; ".join(f"probe {c.probe!r}: {c.detail}" for c in failing)
            )
        if self.experiment.budget.enabled and self.env.budgets is None:
            self.journal.notes.append("error budgets not checked: no SLO source was given")
        problem = await self._budget_problem()
        if problem is not None:
            raise BudgetRefused(f"error-budget policy refuses the experiment: {problem}")
        self._last_api_ok = self._now()

    # ----------------------------------------------------------------- probing

    async def _heartbeat(self) -> bool:
        try:
            await self.env.kube.get(Kind.NAMESPACE, None, self.env.heartbeat_namespace)
        except KubeNotFound:
            return True  # the API answered
        except KubeError:
            return False
        return True

    async def _probe_once(self) -> None:
        probes = self.experiment.steady_state
        checks: list[Check] = list(await asyncio.gather(*(self.evaluator.check(p) for p in probes)))
        self.journal.checks.extend(checks)
        now = self._now()
        if await self._heartbeat():
            self._last_api_ok = now
        abort = self.experiment.abort
        last_ok = self._last_api_ok or now
        if (now - last_ok) > abort.dead_man:
            self._trigger_abort(
                f"dead-man switch: the API server has not answered for "
                f"{self._secs(now - last_ok):.0f}s"
            )
        for name in abort.probes:
            series = [c for c in self.journal.checks if c.probe == name]
            flags = failing_flags(series, self.journal.tolerances.get(name, 0))
            if flags and flags[-1]:
                since = self._failing_since.setdefault(name, series[-1].at)
                if now - since >= abort.max_probe_outage:
                    self._trigger_abort(
                        f"probe {name!r} failed beyond its tolerance "
                        f"({series[-1].detail}) for {self._secs(now - since):.0f}s"
                    )
            else:
                self._failing_since.pop(name, None)
        last = self._last_budget_read
        if self.env.budgets is not None and (last is None or now - last >= timedelta(seconds=30)):
            self._last_budget_read = now
            try:
                problem = await self._budget_problem()
            except ChaosError as e:
                problem = None
                log.warning("chaos: cannot read error budgets: %s", e)
            if problem is not None:
                self._trigger_abort(f"error-budget policy: {problem}")

    def _trigger_abort(self, reason: str) -> None:
        if self._abort is None:
            self._abort = reason
            self.journal.abort_reason = reason
            self._event("abort", self.experiment.name, reason)
            log.warning("chaos: aborting %s: %s", self.experiment.name, reason)

    async def _probe_loop(self) -> None:
        interval = self._secs(self.experiment.settings.probe_interval)
        while True:
            started = self._now()
            try:
                await self._probe_once()
            except Exception:  # a probe bug must not stop the watch over the abort conditions
                log.exception("chaos: probing failed")
            spent = (self._now() - started).total_seconds()
            await self.env.sleep(max(0.0, interval - spent))

    # ----------------------------------------------------------------- method

    async def _undo(self, injection: Injection) -> None:
        if injection.undone:
            return
        injection.undone = True
        if injection.undo is None:
            return
        what = f"undo {injection.fault}: {injection.description}"
        try:
            await injection.undo()
        except (KubeError, ChaosError, LookupError, ValueError, RuntimeError) as e:
            self.journal.rollbacks.append(RollbackRun(what, self._now(), ok=False, error=str(e)))
            self._event("rollback", injection.fault, f"FAILED: {e}")
            return
        self.journal.rollbacks.append(RollbackRun(what, self._now(), ok=True))
        self._event("fault-cleared", injection.fault, injection.description)

    @staticmethod
    def _scope(run: FaultRun) -> frozenset[DeploymentKey] | None:
        """The Deployments a fault hit; None (every Deployment) for a node fault or a fault
        on no Deployment, since their effects reach everyone's pods."""
        if any(kind == TargetKind.NODE.value for kind, _, _ in run.targets):
            return None
        found = frozenset((ns, name) for kind, ns, name in run.targets if kind == "Deployment")
        return found or None

    def _replicas_back(self, run: FaultRun, since: datetime) -> bool:
        sampler = self.env.outages
        if sampler is None:
            return True
        return sampler.back_for(
            since=since, scope=self._scope(run), stable=self.experiment.settings.stable_for
        )

    def _outage(self, run: FaultRun) -> OutageFigures | None:
        sampler = self.env.outages
        if sampler is None or run.started_at is None:
            return None
        end = run.window_end or run.ended_at
        return sampler.figures(start=run.started_at, end=end, scope=self._scope(run))

    def _recovered(self, fault: FaultSpec, since: datetime) -> bool:
        """The fault's probes have passed without a break for ``stable_for``."""
        stable = self.experiment.settings.stable_for
        names = {p.name for p in self.experiment.probes_of(fault)}
        now = self._now()
        for name in names:
            series = [c for c in self.journal.checks if c.probe == name and c.at >= since]
            bad = [c.at for c in series if not c.ok]
            last_bad = max(bad) if bad else since
            good_after = [c for c in series if c.at > last_bad]
            if not good_after or now - good_after[0].at < stable:
                return False
        return True

    async def _inject(self, fault: FaultSpec, mine: list[Injection]) -> Injection:
        """One round of ``fault``, shielded from cancellation: a round that reached the
        cluster is registered (in ``mine`` and for the rollbacks) before a cancellation that
        came meanwhile is re-raised, so its undo always runs."""
        task = named_task(f"chaos-inject:{fault.name}", self.driver.inject(fault))
        cancelled = False
        while True:
            try:
                injection = await asyncio.shield(task)
                break
            except asyncio.CancelledError:
                if task.done():
                    raise
                cancelled = True
        mine.append(injection)
        self._active.append(injection)
        if cancelled:
            raise asyncio.CancelledError
        return injection

    async def _run_fault(self, fault: FaultSpec) -> None:
        run = FaultRun(name=fault.name, fault=fault.fault)
        self.journal.faults.append(run)
        settings = self.experiment.settings
        start = self._now()
        run.started_at = start
        end_at = start + fault.duration
        interval: timedelta | None = getattr(fault, "interval", None)
        mine: list[Injection] = []
        try:
            while self._abort is None:
                injection = await self._inject(fault, mine)
                run.rounds.append(injection.description)
                run.targets |= {(t.kind, t.namespace, t.name) for t in injection.targets}
                self._event("fault", fault.name, injection.description)
                if interval is None:
                    break
                next_at = injection.at + interval
                if next_at >= end_at:
                    break
                await self._wait_until(next_at)
            await self._wait_until(end_at)
        except ChaosError as e:
            run.error = str(e)
            raise
        finally:
            for injection in reversed(mine):
                await _always(lambda i=injection: self._undo(i))  # type: ignore[misc]
            run.ended_at = self._now()
        settle_until = run.ended_at + settings.observe_after
        floor = run.ended_at + settings.stable_for
        await self._wait_until(
            settle_until,
            stop=lambda: (
                self._now() >= floor
                and self._recovered(fault, start)
                and self._replicas_back(run, start)
            ),
        )
        run.window_end = self._now()
        if fault.wait_after > timedelta(0):
            await self._wait_until(self._now() + fault.wait_after)

    # ----------------------------------------------------------------- rollbacks

    async def _rollback(self, rollback: Rollback) -> None:
        kube = self.env.kube
        if rollback.action == "uncordon":
            what = f"rollback: uncordon node {rollback.node}"
            call = kube.patch(
                Kind.NODE,
                None,
                rollback.node or "",
                {"spec": {"unschedulable": None}},
                patch_kind=PatchKind.MERGE,
            )
        else:
            ref = rollback.workload
            assert ref is not None
            kind = Kind.DEPLOYMENT if ref.kind == "Deployment" else Kind.STATEFULSET
            if rollback.action == "scale":
                what = (
                    f"rollback: scale {ref.kind} {ref.namespace}/{ref.name} to {rollback.replicas}"
                )
                body: dict[str, Any] = {"spec": {"replicas": rollback.replicas}}
                call = kube.patch(kind, ref.namespace, ref.name, body, patch_kind=PatchKind.MERGE)
            else:
                current = await kube.get(kind, ref.namespace, ref.name)
                containers = current["spec"]["template"]["spec"].get("containers") or []
                cname = rollback.container or (str(containers[0]["name"]) if containers else "")
                what = f"rollback: set image of {ref.namespace}/{ref.name}/{cname}"
                body = {
                    "spec": {
                        "template": {
                            "spec": {"containers": [{"name": cname, "image": rollback.image}]}
                        }
                    }
                }
                call = kube.patch(kind, ref.namespace, ref.name, body)
        try:
            await call
        except KubeError as e:
            self.journal.rollbacks.append(RollbackRun(what, self._now(), ok=False, error=str(e)))
            self._event("rollback", self.experiment.name, f"{what} FAILED: {e}")
            return
        self.journal.rollbacks.append(RollbackRun(what, self._now(), ok=True))
        self._event("rollback", self.experiment.name, what)

    async def _rollbacks(self) -> None:
        for injection in reversed(self._active):
            await self._undo(injection)
        for rollback in self.experiment.rollbacks:
            try:
                await self._rollback(rollback)
            except KubeError as e:
                what = f"rollback {rollback.action}"
                self.journal.rollbacks.append(
                    RollbackRun(what, self._now(), ok=False, error=str(e))
                )

    # ----------------------------------------------------------------- verdict

    def _ledger_facts(self) -> LedgerFacts:
        ledger = self.env.ledger
        start, end = self.journal.started_at, self._now()
        if ledger is None or start is None:
            return LedgerFacts()
        since, until = start - timedelta(seconds=1), end + timedelta(seconds=1)
        incidents = tuple(ledger.list_incidents(since=since, until=until))
        actions: dict[str, tuple[ActionRecord, ...]] = {
            i.id: tuple(ledger.actions_for_incident(i.id)) for i in incidents
        }
        targets = {t for f in self.journal.faults for t in f.targets}

        def about(kind: str, namespace: str, name: str) -> bool:
            return (kind, namespace, name) in targets

        for inc in incidents:
            if not about(inc.target.kind, inc.target.namespace, inc.target.name):
                continue
            subject = f"{inc.target.kind}/{inc.target.namespace}/{inc.target.name}".replace(
                "//", "/"
            )
            self.journal.events.append(
                TimelineEvent(inc.opened_at, "incident", subject, inc.playbook or "")
            )
            for a in actions[inc.id]:
                self.journal.events.append(
                    TimelineEvent(a.requested_at, "action", subject, f"{a.action} ({a.state})")
                )
            if inc.resolved_at is not None:
                self.journal.events.append(TimelineEvent(inc.resolved_at, "resolved", subject))
            if inc.escalated_at is not None:
                self.journal.events.append(TimelineEvent(inc.escalated_at, "escalated", subject))
        for sig in ledger.list_signals(since=since, until=until):
            if about(sig.target.kind, sig.target.namespace, sig.target.name):
                self.journal.events.append(
                    TimelineEvent(sig.observed_at, "signal", sig.kind, sig.subject)
                )
        return LedgerFacts(incidents=incidents, actions=actions)

    def _verdict(self) -> None:
        journal = self.journal
        facts = self._ledger_facts()
        specs = {f.name: f for f in self.experiment.method}
        for run in journal.faults:
            spec = specs[run.name]
            journal.results.append(
                measure_fault(
                    run,
                    spec,
                    checks=journal.checks,
                    probes=[p.name for p in self.experiment.probes_of(spec)],
                    tolerances=journal.tolerances,
                    ledger=facts,
                    outage=self._outage(run),
                )
            )
        journal.resilience_score = resilience_score(journal.results)
        closed = [r.mttr_s for r in journal.results if r.mttr_s is not None and r.outages]
        journal.mttr_s = sum(closed) / len(closed) if closed else 0.0

    # ----------------------------------------------------------------- the run

    async def run(self) -> Journal:
        """Run the experiment; returns the journal (`RunStatus` says how it ended). A
        cancellation is re-raised after the rollbacks, with the journal filled in."""
        journal = self.journal
        wall0 = self.env.wall()
        journal.started_at = self._now()
        try:
            await self.preflight()
        except ChaosError as e:
            journal.status = RunStatus.REFUSED
            journal.error = str(e)
            journal.ended_at = self._now()
            journal.wall_seconds = self.env.wall() - wall0
            return journal
        prober = named_task(f"chaos-probes:{self.experiment.name}", self._probe_loop())
        interrupted = False
        try:
            for fault in self.experiment.method:
                if self._abort is not None:
                    break
                await self._run_fault(fault)
        except asyncio.CancelledError:
            interrupted = True
            self._event("interrupted", self.experiment.name, "the run was cancelled")
        except FaultFailed as e:
            journal.error = str(e)
            self._event("error", self.experiment.name, str(e))
        except ChaosError as e:
            journal.error = str(e)
            self._event("error", self.experiment.name, str(e))
        finally:
            try:
                await _always(self._rollbacks)
            except asyncio.CancelledError:
                interrupted = True
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober

        async def finish() -> None:
            journal.steady_after = [
                await self.evaluator.check(p) for p in self.experiment.steady_state
            ]
            self._verdict()

        try:
            await _always(finish)
        except asyncio.CancelledError:
            interrupted = True
        journal.ended_at = self._now()
        journal.wall_seconds = self.env.wall() - wall0
        if interrupted:
            journal.status = RunStatus.INTERRUPTED
        elif journal.error is not None:
            journal.status = RunStatus.ERROR
        elif self._abort is not None:
            journal.status = RunStatus.ABORTED
        elif journal.failed_expectations:
            journal.status = RunStatus.FAILED
        else:
            journal.status = RunStatus.PASSED
        if interrupted:
            raise asyncio.CancelledError
        return journal


async def run_experiment(experiment: Experiment, env: ChaosEnv) -> Journal:
    """Run ``experiment`` against ``env`` (see `ExperimentRunner`)."""
    return await ExperimentRunner(experiment, env).run()


def statuses_exit_code(journals: Sequence[Journal]) -> int:
    """0 when every run passed; 2 when one was refused; 1 otherwise."""
    if all(j.status is RunStatus.PASSED for j in journals):
        return 0
    if any(j.status is RunStatus.REFUSED for j in journals):
        return 2
    return 1
