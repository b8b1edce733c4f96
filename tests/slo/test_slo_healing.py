"""Burn as a signal: the SLO source signals fast burns, playbooks act on them (rollback when
a rollout is recent, else scale out), and the budget policy freezes disruptive actions."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from kubeheal.config import Settings
from kubeheal.config.settings import SloSettings
from kubeheal.engine.guards import (
    ACTION_GUARDS,
    Allow,
    Block,
    GuardContext,
    budget_allows,
    budget_blocker,
    error_budget,
)
from kubeheal.engine.incidents import correlate
from kubeheal.engine.params import (
    DrainNode,
    RaiseMemoryLimit,
    RestartPod,
    RollbackDeployment,
    ScaleOut,
)
from kubeheal.engine.plan import ActionPlan, NoAction, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model.cluster import ClusterView, Deployment, Pod, ReplicaSet
from kubeheal.model.core import Incident, Signal, SignalKind, SignalSource, Target, TargetKind
from kubeheal.model.history import ErrorBudget, History
from kubeheal.runtime.slo_source import SloSource, burn_signal, workload_target
from kubeheal.slo.model import SLO, EventsSLI, Workload
from kubeheal.slo.status import evaluate_status

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = 86_400
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
PLAYBOOKS = load_builtin_playbooks()

SLO_ = SLO(
    service="shop",
    name="errors",
    objective=Decimal("99.9"),
    period=30 * DAY,
    sli=EventsSLI('sum(rate(r{code="500"}[{{.window}}]))', "sum(rate(r[{{.window}}]))"),
    workload=Workload(kind="Deployment", namespace="shop", name="web"),
)
WINDOWS = (300, 1800, 3600, 7200, 21600, DAY, 3 * DAY, 30 * DAY)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(data: dict[str, Any], kind: type[Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(data), type=kind)


def view(*, rollout_age: timedelta, replicas: int = 3) -> ClusterView:
    """Deployment shop/web at revision 2, rolled out ``rollout_age`` ago."""

    def rs(revision: int, created: datetime, count: int) -> ReplicaSet:
        return _decode(
            {
                "metadata": {
                    "name": f"web-{revision}", "namespace": "shop",
                    "creationTimestamp": _iso(created),
                    "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                         "name": "web", "controller": True}],
                },
                "spec": {"replicas": count, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                             "containers": [{"name": "app", "image": f"web:{revision}"}]}}},
                "status": {"replicas": count, "readyReplicas": count},
            },
            ReplicaSet,
        )  # fmt: skip

    def pod(name: str) -> Pod:
        return _decode(
            {
                "metadata": {"name": name, "namespace": "shop", "labels": {"app": "web"},
                             "creationTimestamp": _iso(T0 - rollout_age),
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                  "name": "web-2", "controller": True}]},
                "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "web:2"}]},
                "status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": _iso(T0)}]},
            },
            Pod,
        )  # fmt: skip

    deployment = _decode(
        {
            "metadata": {"name": "web", "namespace": "shop", "generation": 2,
                         "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "web:2"}]}}},
            "status": {"observedGeneration": 2, "replicas": replicas,
                       "readyReplicas": replicas},
        },
        Deployment,
    )  # fmt: skip
    return ClusterView(
        deployments=[deployment],
        replica_sets=[rs(1, T0 - timedelta(days=3), 0), rs(2, T0 - rollout_age, replicas)],
        pods=[pod(f"web-2-{i}") for i in range(replicas)],
    )


def burning_status(budget_left: float = 0.5):
    ratios = {("ratio", w): 0.0 for w in WINDOWS}
    ratios |= {
        ("ratio", 300): 0.5,
        ("ratio", 3600): 0.2,
        ("ratio", 30 * DAY): (1 - budget_left) * 0.001,
    }
    ratios |= {("events", w): 5000.0 for w in (300, 1800, 7200, 21600)}
    return evaluate_status(SLO_, ratios, at=T0.timestamp())


def incident_of(signals: Sequence[Signal]) -> Incident:
    (incident,) = correlate(signals, incidents=(), now=T0, settings=Settings().incidents)
    return incident


def test_a_fast_burn_becomes_a_signal_about_the_workload() -> None:
    signal = burn_signal(SLO_, burning_status(), now=T0)
    assert signal is not None
    assert signal.kind is SignalKind.SLO_BURN
    assert signal.source is SignalSource.SLO
    assert signal.target == WEB == workload_target(SLO_.workload)
    assert signal.subject == "slo/shop-errors"
    assert signal.details["burn_rate_5m"] == 500.0
    assert signal.details["burn_rate_1h"] == 200.0
    assert signal.details["budget_remaining"] == pytest.approx(0.5)
    assert signal.labels["slo_id"] == "shop-errors"
    calm = evaluate_status(SLO_, {("ratio", w): 0.0 for w in WINDOWS}, at=0)
    assert burn_signal(SLO_, calm, now=T0) is None
    nowhere = dataclasses.replace(SLO_, workload=None)
    assert burn_signal(nowhere, burning_status(), now=T0) is None


def test_burn_after_a_recent_rollout_rolls_back() -> None:
    signal = burn_signal(SLO_, burning_status(), now=T0)
    assert signal is not None
    snapshot = view(rollout_age=timedelta(minutes=20))
    plan = decide(incident_of([signal]), snapshot, History(), Settings(), now=T0,
                  playbooks=PLAYBOOKS)  # fmt: skip
    assert isinstance(plan, ActionPlan), plan
    assert plan.playbook == "slo-burn-rollback"
    assert isinstance(plan.params, RollbackDeployment)
    assert (plan.params.from_revision, plan.params.to_revision) == (2, 1)
    assert plan.verification.check == "signals_cleared"


def test_burn_without_a_recent_rollout_scales_out() -> None:
    signal = burn_signal(SLO_, burning_status(), now=T0)
    assert signal is not None
    snapshot = view(rollout_age=timedelta(hours=5))
    plan = decide(incident_of([signal]), snapshot, History(), Settings(), now=T0,
                  playbooks=PLAYBOOKS)  # fmt: skip
    assert isinstance(plan, ActionPlan), plan
    assert plan.playbook == "slo-burn-scale-out"
    assert plan.params == ScaleOut(
        namespace="shop", workload_kind="Deployment", workload="web", current_replicas=3,
        replicas=5,
    )  # fmt: skip


def _budget(remaining: float, age: timedelta = timedelta(0), target: Target = WEB) -> ErrorBudget:
    return ErrorBudget(target=target, slo="shop-errors", remaining=remaining,
                       observed_at=T0 - age)  # fmt: skip


def test_budget_allows_is_a_pure_check() -> None:
    kwargs = {"min_remaining": 0.1, "now": T0, "max_age": timedelta(minutes=10)}
    assert budget_allows([], [WEB], **kwargs)
    assert budget_allows([_budget(0.5)], [WEB], **kwargs)
    assert not budget_allows([_budget(0.05)], [WEB], **kwargs)
    assert not budget_allows([_budget(-2.0)], [WEB], **kwargs)
    assert budget_allows([_budget(0.05, age=timedelta(minutes=11))], [WEB], **kwargs)
    other = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="api")
    assert budget_allows([_budget(0.05, target=other)], [WEB], **kwargs)
    lowest = budget_blocker([_budget(0.05), _budget(-1.0)], [WEB], **kwargs)
    assert lowest is not None and lowest.remaining == -1.0


def _ctx(params: Any, budgets: Iterable[ErrorBudget], settings: Settings | None = None,
         snapshot: ClusterView | None = None) -> GuardContext:  # fmt: skip
    incident = Incident(id="i", target=WEB, opened_at=T0, updated_at=T0)  # type: ignore[arg-type]
    return GuardContext(
        incident=incident,
        view=snapshot or view(rollout_age=timedelta(hours=5)),
        history=History(error_budgets=tuple(budgets)),
        settings=settings or Settings(),
        now=T0,
        params=params,
    )


def test_the_budget_policy_freezes_disruptive_actions_only() -> None:
    assert error_budget in ACTION_GUARDS
    ready = RestartPod(namespace="shop", pod="web-2-0", pod_ready=True)
    broken = RestartPod(namespace="shop", pod="web-2-0", pod_ready=False)
    raise_memory = RaiseMemoryLimit(namespace="shop", workload_kind="Deployment", workload="web",
                                    container="app", current_bytes=1, new_bytes=2,
                                    new_limit="2")  # fmt: skip
    scale = ScaleOut(namespace="shop", workload_kind="Deployment", workload="web",
                     current_replicas=3, replicas=5)  # fmt: skip
    low = [_budget(0.05)]
    blocked = error_budget(_ctx(ready, low))
    assert isinstance(blocked, Block)
    assert blocked.guard == "error_budget" and not blocked.escalate
    assert "5.0% of the error budget of SLO shop-errors is left, below 10%" in blocked.reason
    assert isinstance(error_budget(_ctx(raise_memory, low)), Block)
    assert isinstance(error_budget(_ctx(broken, low)), Allow)  # a broken pod costs nothing
    assert isinstance(error_budget(_ctx(scale, low)), Allow)  # not disruptive
    assert isinstance(error_budget(_ctx(ready, [_budget(0.5)])), Allow)
    assert isinstance(error_budget(_ctx(ready, [_budget(0.05, timedelta(hours=1))])), Allow)
    assert isinstance(error_budget(_ctx(None, low)), Allow)
    off = Settings(slo=SloSettings(budget_policy=False))
    assert isinstance(error_budget(_ctx(ready, low, off)), Allow)
    stricter = Settings(slo=SloSettings(freeze_below=0.6))
    assert isinstance(error_budget(_ctx(ready, [_budget(0.5)], stricter)), Block)


def test_draining_a_node_is_frozen_by_the_budgets_of_the_workloads_on_it() -> None:
    drain = DrainNode(node="n1", grace_period_seconds=30, timeout_seconds=600,
                      pods=("shop/web-2-0", "shop/gone"))  # fmt: skip
    node_incident_ctx = dataclasses.replace(
        _ctx(drain, [_budget(0.01)]),
        incident=Incident(id="n", target=Target(kind=TargetKind.NODE, name="n1"),  # type: ignore[arg-type]
                          opened_at=T0, updated_at=T0),
    )  # fmt: skip
    verdict = error_budget(node_incident_ctx)
    assert isinstance(verdict, Block) and "Deployment/shop/web" in verdict.reason


def test_decide_waits_instead_of_acting_while_the_budget_is_low() -> None:
    snapshot = view(rollout_age=timedelta(hours=5))
    oom = Signal(
        id=Signal.make_id(SignalKind.OOM_KILLED, WEB, "pod/web-2-0/container/app"),
        kind=SignalKind.OOM_KILLED, target=WEB, observed_at=T0,
        subject="pod/web-2-0/container/app",
    )  # fmt: skip
    # the template has no memory limit to raise in this view: give it one
    dep = snapshot.deployment("shop", "web")
    assert dep is not None
    containers = dep.spec.template.spec.containers
    limited = msgspec.structs.replace(
        containers[0],
        resources=msgspec.structs.replace(containers[0].resources, limits={"memory": "256Mi"}),
    )
    spec = msgspec.structs.replace(
        dep.spec,
        template=msgspec.structs.replace(
            dep.spec.template,
            spec=msgspec.structs.replace(dep.spec.template.spec, containers=(limited,)),
        ),
    )
    snapshot = ClusterView(
        deployments=[msgspec.structs.replace(dep, spec=spec)],
        replica_sets=snapshot.replica_sets_of("shop", "web"),
        pods=snapshot.pods_of(WEB),
    )
    incident = incident_of([oom])
    acting = decide(incident, snapshot, History(), Settings(), now=T0, playbooks=PLAYBOOKS)
    assert isinstance(acting, ActionPlan) and isinstance(acting.params, RaiseMemoryLimit)
    frozen = decide(incident, snapshot, History(error_budgets=(_budget(0.02),)), Settings(),
                    now=T0, playbooks=PLAYBOOKS)  # fmt: skip
    assert isinstance(frozen, NoAction)
    assert [b.guard for b in frozen.reasons] == ["error_budget"]


# -- the source ----------------------------------------------------------------------------


class Sample:
    def __init__(self, labels: dict[str, str], value: float) -> None:
        self.labels = labels
        self.value = value


class ScriptedPrometheus:
    """Answers status queries with the ratios of the current script step."""

    def __init__(self) -> None:
        self.ratios: dict[int, float] = dict.fromkeys(WINDOWS, 0.0)
        self.calls = 0

    async def query(self, expr: str, *, at: float | None = None) -> list[Sample]:
        self.calls += 1
        out = [Sample({"kubeheal_window": str(w), "kubeheal_part": "ratio"}, v)
               for w, v in self.ratios.items()]  # fmt: skip
        out += [Sample({"kubeheal_window": str(w), "kubeheal_part": "events"}, 1e4)
                for w in (300, 1800, 7200, 21600)]  # fmt: skip
        return out


async def test_source_signals_burns_resubmits_them_and_reports_budgets() -> None:
    prometheus = ScriptedPrometheus()
    submitted: list[list[Signal]] = []
    source = SloSource(client=prometheus, slos=[SLO_], submit=lambda s: submitted.append(list(s)),
                       clock=lambda: T0)  # fmt: skip
    assert await source.evaluate_once() == []
    assert submitted == []
    (budget,) = source.budgets()
    assert budget == ErrorBudget(target=WEB, slo="shop-errors", remaining=1.0, observed_at=T0)
    prometheus.ratios |= {300: 0.5, 3600: 0.3, 30 * DAY: 0.0009}
    (signal,) = await source.evaluate_once()
    assert submitted == [[signal]]
    assert signal.target == WEB and signal.kind is SignalKind.SLO_BURN
    assert source.budgets()[0].remaining == pytest.approx(0.1)
    (status,) = source.statuses()
    assert status.page
    # between evaluations the burning signal is re-submitted, then it stops with the burn
    task = asyncio.create_task(source.run(interval=0.3, resubmit_interval=0.05))
    await asyncio.sleep(0.2)
    assert len(submitted) >= 3 and all(batch == [signal] for batch in submitted)
    prometheus.ratios |= {300: 0.0, 3600: 0.0}
    await asyncio.sleep(0.35)
    count = len(submitted)
    await asyncio.sleep(0.15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(submitted) == count  # quiet again
    assert source.burning() == []


async def test_source_survives_prometheus_failures() -> None:
    class Down:
        async def query(self, expr: str, *, at: float | None = None) -> list[Sample]:
            from kubeheal.clients.prometheus import PrometheusUnavailable

            raise PrometheusUnavailable("connection refused")

    source = SloSource(client=Down(), slos=[SLO_], submit=lambda s: None, clock=lambda: T0)
    assert await source.evaluate_once() == []
    assert source.failures == 1
    assert source.statuses() == [] and source.budgets() == ()


async def test_source_asks_prometheus_at_its_time_and_stamps_the_operators() -> None:
    """Against an accelerated twin the operator's clock runs ahead of Prometheus': queries
    ask about Prometheus' now, while signals and budgets carry the operator's, so the
    budget guard never sees them as stale (nor a burn as old)."""
    asked: list[float | None] = []

    class Recording(ScriptedPrometheus):
        async def query(self, expr: str, *, at: float | None = None) -> list[Sample]:
            asked.append(at)
            return await super().query(expr, at=at)

    prometheus = Recording()
    prometheus.ratios |= {300: 0.5, 3600: 0.3, 30 * DAY: 0.0009}
    ahead = T0 + timedelta(hours=3)
    source = SloSource(client=prometheus, slos=[SLO_], submit=lambda s: None,
                       clock=lambda: T0, stamp=lambda: ahead)  # fmt: skip
    (signal,) = await source.evaluate_once()
    assert asked and set(asked) == {T0.timestamp()}
    assert signal.observed_at == ahead
    (budget,) = source.budgets()
    assert budget.observed_at == ahead
    assert not budget_allows(
        source.budgets(), [WEB], min_remaining=0.2, now=ahead, max_age=timedelta(minutes=10)
    )


def test_source_from_settings_loads_the_specs() -> None:
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples" / "slo"
    settings = SloSettings(specs=(examples,), default_period=timedelta(days=28), min_events=5)
    source = SloSource.from_settings(settings, client=ScriptedPrometheus(), submit=lambda s: None)
    assert len(source.slos) == 6
    sample = [s for s in source.slos if s.service == "sample-app"]
    assert {s.period for s in sample} == {28 * DAY}  # the Sloth spec takes the default
    assert source.options.min_events == 5
