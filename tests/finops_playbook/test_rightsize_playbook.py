"""The gradual right-sizing playbook, pure: the step rules, planning from a Rightsize signal
to a ``set_resources`` plan, and every guard on the way (plain data, no cluster)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from kubeheal.config import Settings
from kubeheal.engine.guards import gitops_patch
from kubeheal.engine.params import SetResources
from kubeheal.engine.plan import ActionPlan, EscalatePlan, NoAction, decide
from kubeheal.engine.playbooks import PlaybookSet, load_builtin_playbooks
from kubeheal.engine.playbooks.schema import ActionName, SetResourcesStep, VerificationCheck
from kubeheal.engine.rightsize import ResourceTargets, plan_step
from kubeheal.model.cluster import ClusterView, Container, Deployment
from kubeheal.model.core import (
    Incident,
    IncidentId,
    Signal,
    SignalKind,
    SignalSource,
    Target,
    TargetKind,
)
from kubeheal.model.history import (
    ActionState,
    ErrorBudget,
    History,
    KillSwitch,
    KillSwitchState,
    PastAction,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
MI = 2**20


def container(
    *, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None
) -> Container:
    body = {"name": "app", "resources": {"requests": requests or {}, "limits": limits or {}}}
    return msgspec.json.decode(msgspec.json.encode(body), type=Container)


def deployment(
    *,
    labels: dict[str, str] | None = None,
    available: int = 3,
    updated: int = 3,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
) -> Deployment:
    body: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "shop", "generation": 4, "labels": labels or {}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "web:1",
                            "resources": {
                                "requests": requests or {"cpu": "200m", "memory": "1Gi"},
                                "limits": limits or {"cpu": "1", "memory": "1Gi"},
                            },
                        }
                    ]
                },
            },
        },
        "status": {
            "observedGeneration": 4,
            "replicas": updated,
            "updatedReplicas": updated,
            "readyReplicas": available,
            "availableReplicas": available,
        },
    }
    return msgspec.json.decode(msgspec.json.encode(body), type=Deployment)


def targets(**values: Any) -> ResourceTargets:
    return ResourceTargets(container="app", **values)


def signal(rec: ResourceTargets, *, at: datetime = NOW) -> Signal:
    return Signal(
        id=Signal.make_id(SignalKind.RIGHTSIZE, WEB, "container/app"),
        kind=SignalKind.RIGHTSIZE,
        target=WEB,
        observed_at=at,
        subject="container/app",
        details={**rec.details(), "confidence": "high"},
        source=SignalSource.FINOPS,
    )


def incident(*signals: Signal) -> Incident:
    return Incident(
        id=IncidentId("inc-rs"), target=WEB, opened_at=NOW, updated_at=NOW, signals=signals
    )


RECOMMENDED = targets(cpu_request=0.05, memory_request=320 * MI, memory_limit=768 * MI)


def playbooks(*, enabled: bool = True, conditions: bool = True) -> PlaybookSet:
    builtin = load_builtin_playbooks()
    found = builtin.get("rightsize-gradual")
    assert found is not None
    update: dict[str, Any] = {"enabled": enabled}
    if not conditions:
        update["conditions"] = found.conditions.model_copy(update={"owned_by_gitops": None})
    others = [p for p in builtin if p.name != "rightsize-gradual"]
    return PlaybookSet.of([*others, found.model_copy(update=update)])


def settings(**sections: Any) -> Settings:
    return Settings.model_validate(sections)


def plan_for(
    dep: Deployment | None = None,
    *,
    history: History | None = None,
    config: Settings | None = None,
    books: PlaybookSet | None = None,
    rec: ResourceTargets = RECOMMENDED,
) -> Any:
    view = ClusterView(deployments=[dep or deployment()])
    return decide(
        incident(signal(rec)),
        view,
        history or History(),
        config or settings(),
        now=NOW,
        playbooks=books or playbooks(),
    )


def values(params: SetResources) -> dict[str, tuple[str | None, str, str]]:
    return {f"{c.field}.{c.resource}": (c.current, c.new, c.target) for c in params.changes}


# -- the step rules ------------------------------------------------------------------------


def test_a_decrease_moves_at_most_the_step_share_and_an_increase_at_once() -> None:
    step = plan_step(
        container(requests={"cpu": "100m", "memory": "1Gi"}, limits={"memory": "1Gi"}),
        targets(cpu_request=0.05, memory_request=320 * MI, memory_limit=1536 * MI),
        max_step_change=0.25,
        min_change=0.05,
    )
    moved = {f"{c.field}.{c.resource}": c.new for c in step.changes}
    assert moved == {
        "requests.cpu": "75m",  # 100m - 25%, not the 50m recommended
        "requests.memory": "768Mi",  # 1Gi - 25%
        "limits.memory": "1536Mi",  # an increase: at once
    }
    assert not step.final


def test_a_step_never_goes_below_the_recommendation() -> None:
    step = plan_step(
        container(requests={"cpu": "60m", "memory": "335Mi"}),
        targets(cpu_request=0.05, memory_request=320 * MI),
        max_step_change=0.25,
        min_change=0.05,
    )
    moved = {f"{c.field}.{c.resource}": c.new for c in step.changes}
    assert moved == {"requests.cpu": "50m"}  # 335Mi is within 5% of 320Mi: left alone
    assert step.final


def test_steps_converge_and_none_exceeds_the_share() -> None:
    current = {"cpu": "2", "memory": "4Gi"}
    rec = targets(cpu_request=0.1, memory_request=300 * MI)
    steps = 0
    while True:
        step = plan_step(container(requests=current), rec, max_step_change=0.25, min_change=0.05)
        if not step.changes:
            break
        steps += 1
        for change in step.changes:
            before = _amount(change.resource, change.current)
            after = _amount(change.resource, change.new)
            assert after < before
            assert after >= 0.75 * before - 1  # rounding up only
            current[change.resource] = change.new
        assert steps < 30
    # Within 5% of the recommendation counts as arrived.
    assert current == {"cpu": "100m", "memory": "309Mi"}
    assert steps == STEPS_FROM_2_CORES


STEPS_FROM_2_CORES = 11
"""2 cores x 0.75^10 = 113m, rounded up at each step; the 11th step lands on 100m."""


def _amount(resource: str, raw: str | None) -> float:
    from kubeheal.model.quantity import parse_cpu, parse_memory

    assert raw is not None
    return parse_cpu(raw) if resource == "cpu" else float(parse_memory(raw))


def test_a_missing_limit_is_not_added_but_a_missing_request_is_set() -> None:
    step = plan_step(
        container(requests={"memory": "128Mi"}),
        targets(cpu_request=0.05, memory_request=128 * MI, memory_limit=512 * MI),
        max_step_change=0.25,
        min_change=0.05,
    )
    assert [(c.field, c.resource, c.current, c.new) for c in step.changes] == [
        ("requests", "cpu", None, "50m")
    ]


def test_a_request_never_ends_above_its_limit() -> None:
    # A limit already below the request (inconsistent spec): the request follows the limit.
    step = plan_step(
        container(requests={"memory": "1Gi"}, limits={"memory": "1Gi"}),
        targets(memory_request=900 * MI, memory_limit=400 * MI),
        max_step_change=0.25,
        min_change=0.05,
    )
    moved = {f"{c.field}.{c.resource}": c.new for c in step.changes}
    assert moved == {"requests.memory": "768Mi", "limits.memory": "768Mi"}


def test_targets_round_trip_through_signal_details() -> None:
    rec = targets(cpu_request=0.075, memory_limit=768 * MI)
    assert ResourceTargets.from_details(rec.details()) == rec
    assert ResourceTargets.from_details({"container": "app"}) is None
    assert ResourceTargets.from_details({"cpu_request": 0.1}) is None


# -- planning ------------------------------------------------------------------------------


def test_the_playbook_ships_disabled_and_valid() -> None:
    found = load_builtin_playbooks().get("rightsize-gradual")
    assert found is not None and not found.enabled
    assert isinstance(found.steps[0], SetResourcesStep)
    assert found.verification.check is VerificationCheck.ROLLOUT_HEALTHY
    assert found.conditions.owned_by_gitops is False
    plan = plan_for(books=load_builtin_playbooks())
    assert isinstance(plan, NoAction)
    assert plan.reasons[0].guard == "playbook"


def test_a_recommendation_becomes_one_bounded_set_resources_step() -> None:
    plan = plan_for()
    assert isinstance(plan, ActionPlan), plan
    assert plan.action is ActionName.SET_RESOURCES
    assert plan.playbook == "rightsize-gradual"
    assert plan.verification.check == "rollout_healthy"
    assert plan.verification.on_failure == "escalate"
    assert plan.verification.stable_for_seconds == 600
    params = plan.params
    assert isinstance(params, SetResources)
    assert values(params) == {
        "requests.cpu": ("200m", "150m", "50m"),
        "requests.memory": ("1Gi", "768Mi", "320Mi"),
        "limits.memory": ("1Gi", "768Mi", "768Mi"),
    }
    assert not params.final
    assert params.max_step_change == 0.25


def test_the_newest_recommendation_of_a_container_wins() -> None:
    old = signal(targets(cpu_request=0.01), at=NOW - timedelta(hours=1))
    new = signal(targets(cpu_request=0.15), at=NOW)
    view = ClusterView(deployments=[deployment()])
    # Same signal id: the incident keeps the newest; planning also picks it if both are there.
    inc = msgspec.structs.replace(incident(old), signals=(old, new))
    plan = decide(inc, view, History(), settings(), now=NOW, playbooks=playbooks())
    assert isinstance(plan, ActionPlan)
    assert isinstance(plan.params, SetResources)
    assert values(plan.params) == {"requests.cpu": ("200m", "150m", "150m")}
    assert plan.params.final


def test_gitops_workloads_are_skipped_silently_by_the_playbook_condition() -> None:
    argo = deployment(labels={"argocd.argoproj.io/instance": "shop"})
    plan = plan_for(argo)
    assert isinstance(plan, NoAction)
    assert plan.reasons[0].guard == "playbook"


def test_without_the_condition_the_gitops_guard_hands_over_the_patch() -> None:
    argo = deployment(labels={"argocd.argoproj.io/instance": "shop"})
    plan = plan_for(argo, books=playbooks(conditions=False))
    assert isinstance(plan, EscalatePlan)
    assert plan.blocks[0].guard == "gitops"
    assert '"requests":{"cpu":"150m","memory":"768Mi"}' in plan.patch
    assert '"limits":{"memory":"768Mi"}' in plan.patch


def test_gitops_patch_of_set_resources_lists_each_container_once() -> None:
    plan = plan_for()
    assert isinstance(plan, ActionPlan)
    patch = msgspec.json.decode(gitops_patch(plan.params))
    containers = patch["spec"]["template"]["spec"]["containers"]
    assert containers == [
        {
            "name": "app",
            "resources": {
                "limits": {"memory": "768Mi"},
                "requests": {"cpu": "150m", "memory": "768Mi"},
            },
        }
    ]


def test_nothing_to_change_is_a_skipped_step() -> None:
    plan = plan_for(rec=targets(cpu_request=0.2, memory_request=1024 * MI))
    assert isinstance(plan, EscalatePlan)
    assert "already at its recommendation" in plan.reason


def _acted(minutes_ago: float, action: str = "set_resources") -> History:
    record = PastAction(
        target=WEB,
        action=action,
        at=NOW - timedelta(minutes=minutes_ago),
        outcome=ActionState.SUCCEEDED,
    )
    return History(actions=(record,))


@pytest.mark.parametrize(
    ("case", "guard"),
    [
        ("cooldown", "cooldown"),
        ("kill_switch", "kill_switch"),
        ("configmap_kill_switch", "kill_switch"),
        ("error_budget", "error_budget"),
        ("unavailable", "blast_radius"),
        ("rolling_out", "blast_radius"),
        ("excluded", "excluded_namespace"),
    ],
)
def test_every_guard_can_hold_a_step(case: str, guard: str) -> None:
    dep = deployment()
    history = History()
    config = settings()
    if case == "cooldown":
        history = _acted(5)
    elif case == "kill_switch":
        config = settings(guards={"kill_switch": True})
    elif case == "configmap_kill_switch":
        history = History(kill_switch=KillSwitch(state=KillSwitchState.ON))
    elif case == "error_budget":
        budget = ErrorBudget(target=WEB, slo="web-availability", remaining=0.02, observed_at=NOW)
        history = History(error_budgets=(budget,))
    elif case == "unavailable":
        dep = deployment(available=2)
    elif case == "rolling_out":
        dep = deployment(updated=1)
    elif case == "excluded":
        config = settings(guards={"excluded_namespaces": ["shop"]})
    plan = plan_for(dep, history=history, config=config)
    assert isinstance(plan, NoAction), plan
    assert plan.reasons[0].guard == guard


def test_after_the_cooldown_the_next_step_may_go() -> None:
    plan = plan_for(history=_acted(11))
    assert isinstance(plan, ActionPlan)


def test_spent_budgets_escalate_instead_of_acting() -> None:
    records = tuple(
        PastAction(
            target=Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name=f"other-{i}"),
            action="set_resources",
            at=NOW - timedelta(minutes=30),
            outcome=ActionState.SUCCEEDED,
        )
        for i in range(10)
    )
    plan = plan_for(history=History(actions=records))
    assert isinstance(plan, EscalatePlan)
    assert plan.blocks[0].guard == "budget_namespace"


def test_dry_run_plans_are_marked_and_dry_runs_spend_no_cooldown() -> None:
    plan = plan_for(config=settings(guards={"dry_run": True}))
    assert isinstance(plan, ActionPlan) and plan.dry_run
    dry = History(
        actions=(
            PastAction(
                target=WEB,
                action="set_resources",
                at=NOW - timedelta(minutes=1),
                outcome=ActionState.SKIPPED,
            ),
        )
    )
    assert isinstance(plan_for(history=dry), ActionPlan)


def test_set_resources_is_disruptive_by_default() -> None:
    assert "set_resources" in Settings().slo.disruptive_actions


def test_plans_round_trip_through_the_ledger_json() -> None:
    plan = plan_for()
    assert isinstance(plan, ActionPlan)
    again = msgspec.json.decode(msgspec.json.encode(plan), type=ActionPlan)
    assert again == plan
