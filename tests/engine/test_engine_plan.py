"""decide(): playbook choice, concrete parameters, guards, dry-run, escalation."""

from __future__ import annotations

import msgspec
import pytest

from kubeheal.config import (
    DetectionSettings,
    GuardSettings,
    IncidentSettings,
    RemediationSettings,
    Settings,
)
from kubeheal.engine.detect import alert_signal, detect
from kubeheal.engine.incidents import correlate
from kubeheal.engine.params import (
    CordonNode,
    CreatePdb,
    DrainNode,
    RaiseHpaMax,
    RaiseMemoryLimit,
    RestartPod,
    RollbackDeployment,
    ScaleOut,
)
from kubeheal.engine.plan import ActionPlan, EscalatePlan, NoAction, Plan, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model import (
    ActionState,
    ClusterView,
    History,
    Incident,
    PastAction,
    TargetKind,
)

PLAYBOOKS = load_builtin_playbooks()


def incident_for(
    view: ClusterView, k8s, kind: TargetKind = TargetKind.DEPLOYMENT, now=None
) -> Incident:
    signals = detect(view, now=now or k8s.T0, settings=DetectionSettings())
    incidents = [
        i
        for i in correlate(signals, incidents=(), now=k8s.T0, settings=IncidentSettings())
        if i.target.kind is kind
    ]
    assert len(incidents) == 1, incidents
    return incidents[0]


def plan(
    incident: Incident,
    view: ClusterView,
    *,
    history=None,
    settings=None,
    now=None,
    k8s=None,
) -> Plan:
    return decide(
        incident,
        view,
        history or History(),
        settings or Settings(),
        now=now or k8s.T0,
        playbooks=PLAYBOOKS,
    )


def crashing(k8s, name: str, rs: str = "web-3"):
    status = k8s.container_status(
        ready=False, restarts=3, waiting="CrashLoopBackOff", last_terminated="Error"
    )
    return k8s.pod(name, owner=("ReplicaSet", rs), ready=False, created=-5, statuses=[status])


def rollout_view(k8s, **dep) -> ClusterView:
    return ClusterView(
        pods=[crashing(k8s, "web-3-a"), k8s.pod("web-2-a", owner=("ReplicaSet", "web-2"))],
        deployments=[k8s.deployment(revision=3, **dep)],
        replica_sets=[
            k8s.replica_set("web-1", revision=1, created=-3000),
            k8s.replica_set("web-2", revision=2, created=-600, image="web:good", replicas=2),
            k8s.replica_set("web-3", revision=3, created=-5, image="web:bad", replicas=1),
        ],
        nodes=[k8s.node("n1"), k8s.node("n2")],
        pdbs=[k8s.pdb()],
    )


def test_crash_after_rollout_rolls_back_to_previous_revision(k8s) -> None:
    view = rollout_view(k8s)
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert result.playbook == "crashloop-after-rollout"
    assert result.params == RollbackDeployment(
        namespace="shop",
        deployment="web",
        from_revision=3,
        to_revision=2,
        to_replica_set="web-2",
        images={"app": "web:good"},
    )
    assert result.verification.check == "workload_ready"
    assert not result.dry_run
    again = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(again, ActionPlan)
    assert again.idempotency_key == result.idempotency_key


def test_gitops_workload_escalates_with_the_rollback_patch(k8s) -> None:
    view = rollout_view(k8s, labels={"argocd.argoproj.io/instance": "shop"})
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, EscalatePlan)
    assert (
        result.patch
        == '{"spec":{"template":{"spec":{"containers":[{"image":"web:good","name":"app"}]}}}}'
    )
    assert result.include_logs
    assert result.pod == "web-3-a"
    assert [b.guard for b in result.blocks] == ["gitops"]


def _crash_no_rollout(k8s) -> ClusterView:
    return ClusterView(
        pods=[
            crashing(k8s, "web-2-a", rs="web-2"),
            k8s.pod("web-2-b", owner=("ReplicaSet", "web-2")),
        ],
        deployments=[k8s.deployment(replicas=2)],
        replica_sets=[k8s.replica_set("web-2", revision=2, created=-600)],
        pdbs=[k8s.pdb()],
    )


def test_crash_without_rollout_restarts_once_then_escalates(k8s) -> None:
    view = _crash_no_rollout(k8s)
    incident = incident_for(view, k8s)
    first = plan(incident, view, k8s=k8s)
    assert isinstance(first, ActionPlan)
    assert first.playbook == "crashloop-restart"
    assert first.params == RestartPod(namespace="shop", pod="web-2-a", pod_ready=False)
    done = History(
        actions=(
            PastAction(
                target=incident.target,
                action="restart_pod",
                at=k8s.at(-20),
                outcome=ActionState.SUCCEEDED,
                incident_id=incident.id,
            ),
        )
    )
    second = plan(incident, view, history=done, k8s=k8s)
    assert isinstance(second, EscalatePlan)
    assert second.include_logs and second.log_lines == 200
    assert second.pod == "web-2-a"
    assert second.reason == "The container keeps crashing after a restart."


def oom_view(
    k8s, *, limit: str = "256Mi", allocatable: str = "8Gi", hpa: bool = False, labels=None
) -> ClusterView:
    status = k8s.container_status(restarts=2, last_terminated="OOMKilled", last_exit=137)
    return ClusterView(
        pods=[
            k8s.pod("web-2-a", owner=("ReplicaSet", "web-2"), memory_limit=limit, statuses=[status])
        ],
        deployments=[k8s.deployment(replicas=3, memory_limit=limit, labels=labels)],
        replica_sets=[k8s.replica_set("web-2", revision=2, created=-600)],
        nodes=[k8s.node("n1", allocatable_memory=allocatable)],
        pdbs=[k8s.pdb()],
        hpas=[k8s.hpa(current=3, desired=3, min_replicas=3, max_replicas=6)] if hpa else [],
    )


def test_oom_raises_memory_by_factor(k8s) -> None:
    view = oom_view(k8s)
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert isinstance(result.params, RaiseMemoryLimit)
    assert (result.params.new_limit, result.params.bounded_by) == ("384Mi", "factor")
    assert result.params.container == "app"


def test_oom_limit_bounded_by_playbook_max(k8s) -> None:
    view = oom_view(k8s, limit="1536Mi")
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert isinstance(result.params, RaiseMemoryLimit)
    assert (result.params.new_limit, result.params.bounded_by) == ("2Gi", "playbook max")


def test_oom_limit_bounded_by_settings_cap(k8s) -> None:
    view = oom_view(k8s)
    capped = Settings(remediation=RemediationSettings(max_memory_limit="300Mi"))
    result = plan(incident_for(view, k8s), view, settings=capped, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert isinstance(result.params, RaiseMemoryLimit)
    assert (result.params.new_limit, result.params.bounded_by) == ("300Mi", "settings max")


def test_oom_limit_bounded_by_node_allocatable(k8s) -> None:
    view = oom_view(k8s, allocatable="320Mi")
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert isinstance(result.params, RaiseMemoryLimit)
    assert (result.params.new_bytes, result.params.bounded_by) == (320 * 2**20, "node allocatable")


def test_oom_at_bound_scales_out_instead(k8s) -> None:
    view = oom_view(k8s, limit="2Gi")
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert result.step == 2
    assert result.params == ScaleOut(
        namespace="shop", workload_kind="Deployment", workload="web", current_replicas=3, replicas=5
    )
    assert len(result.notes) == 2 and "already at its bound" in result.notes[0]


def test_oom_gitops_scales_through_hpa(k8s) -> None:
    view = oom_view(k8s, hpa=True, labels={"app.kubernetes.io/managed-by": "Helm"})
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert isinstance(result.params, ScaleOut)
    assert (result.params.hpa, result.params.hpa_min_replicas, result.params.hpa_max_replicas) == (
        "web",
        5,
        6,
    )
    assert "managed by Helm" in result.notes[0]


def test_oom_gitops_without_hpa_escalates_with_memory_patch(k8s) -> None:
    view = oom_view(k8s, labels={"kustomize.toolkit.fluxcd.io/name": "apps"})
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, EscalatePlan)
    assert '"memory":"384Mi"' in result.patch
    assert [b.guard for b in result.blocks] == ["gitops", "gitops", "gitops"]


def test_latency_alert_raises_hpa_bounds(k8s) -> None:
    view = ClusterView(
        deployments=[k8s.deployment(replicas=4)],
        hpas=[k8s.hpa(current=4, desired=4, min_replicas=2, max_replicas=5)],
        pdbs=[k8s.pdb()],
    )
    signal = alert_signal(
        alertname="HighLatency",
        labels={"namespace": "shop", "deployment": "web"},
        observed_at=k8s.T0,
    )
    (incident,) = correlate([signal], incidents=(), now=k8s.T0, settings=IncidentSettings())
    result = plan(incident, view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert result.playbook == "saturation-scale-out"
    assert result.params == ScaleOut(
        namespace="shop",
        workload_kind="Deployment",
        workload="web",
        current_replicas=4,
        replicas=6,
        hpa="web",
        hpa_min_replicas=6,
        hpa_max_replicas=6,
    )
    assert result.verification.check == "alert_resolved"


def test_hpa_maxed_raises_max_within_ceiling(k8s) -> None:
    view = ClusterView(
        deployments=[k8s.deployment(replicas=6)], hpas=[k8s.hpa(max_replicas=6)], pdbs=[k8s.pdb()]
    )
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert result.params == RaiseHpaMax(namespace="shop", hpa="web", current_max=6, new_max=9)
    at_ceiling = ClusterView(
        deployments=[k8s.deployment(replicas=20)],
        hpas=[k8s.hpa(max_replicas=20, current=20, desired=20)],
        pdbs=[k8s.pdb()],
    )
    escalated = plan(incident_for(at_ceiling, k8s), at_ceiling, k8s=k8s)
    assert isinstance(escalated, EscalatePlan)
    assert escalated.playbook == "hpa-maxed-raise"
    assert escalated.reason == "The HPA is at its ceiling and still wants more replicas."


def test_node_memory_pressure_drains(k8s) -> None:
    view = ClusterView(
        nodes=[k8s.node("n1", memory_pressure=True), k8s.node("n2"), k8s.node("n3")],
        pods=[
            k8s.pod("web-2-a", owner=("ReplicaSet", "web-2")),
            k8s.pod("agent-1", owner=("DaemonSet", "agent"), labels={"app": "agent"}),
        ],
    )
    result = plan(incident_for(view, k8s, kind=TargetKind.NODE), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert result.params == DrainNode(
        node="n1",
        grace_period_seconds=30,
        timeout_seconds=600,
        pods=("shop/web-2-a",),
        lock="kube-node-lease/kubeheal-node-maintenance",
    )
    busy = plan(
        incident_for(view, k8s, kind=TargetKind.NODE),
        view,
        history=History(cordoned_nodes=("n3",)),
        k8s=k8s,
    )
    assert isinstance(busy, NoAction)
    assert busy.reasons[0].guard == "node_drain"


def test_node_not_ready_cordons(k8s) -> None:
    view = ClusterView(nodes=[k8s.node("n1", ready="Unknown", ready_since=-10), k8s.node("n2")])
    result = plan(incident_for(view, k8s, kind=TargetKind.NODE), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert result.params == CordonNode(node="n1")


def test_missing_pdb_creates_one(k8s) -> None:
    view = ClusterView(deployments=[k8s.deployment(replicas=3, created=-60)])
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    assert isinstance(result, ActionPlan)
    assert result.params == CreatePdb(
        namespace="shop",
        name="web-kubeheal",
        match_labels={"app": "web"},
        max_unavailable=1,
        pod_labels={"app": "web"},
    )


def test_dry_run_marks_the_plan(k8s) -> None:
    view = _crash_no_rollout(k8s)
    result = plan(
        incident_for(view, k8s),
        view,
        settings=Settings(guards=GuardSettings(dry_run=True)),
        k8s=k8s,
    )
    assert isinstance(result, ActionPlan)
    assert result.dry_run


@pytest.mark.parametrize(
    ("settings", "history", "guard", "kind"),
    [
        (Settings(guards=GuardSettings(kill_switch=True)), History(), "kill_switch", NoAction),
        (
            Settings(guards=GuardSettings(excluded_namespaces=("shop",))),
            History(),
            "excluded_namespace",
            NoAction,
        ),
        (
            Settings(guards=GuardSettings(global_budget_per_hour=0)),
            History(),
            "budget_global",
            EscalatePlan,
        ),
    ],
)
def test_incident_guards_stop_planning(k8s, settings, history, guard, kind) -> None:
    view = _crash_no_rollout(k8s)
    result = plan(incident_for(view, k8s), view, settings=settings, history=history, k8s=k8s)
    assert isinstance(result, kind)
    reasons = result.reasons if isinstance(result, NoAction) else result.blocks
    assert reasons[0].guard == guard


def test_cooldown_gives_no_action(k8s) -> None:
    view = _crash_no_rollout(k8s)
    incident = incident_for(view, k8s)
    other = PastAction(
        target=incident.target, action="scale_out", at=k8s.at(-1), outcome=ActionState.SUCCEEDED
    )
    result = plan(incident, view, history=History(actions=(other,)), k8s=k8s)
    assert isinstance(result, NoAction)
    assert result.reasons[0].guard == "cooldown"


def test_max_attempts_escalates(k8s) -> None:
    view = _crash_no_rollout(k8s)
    incident = msgspec.structs.replace(incident_for(view, k8s), attempts=3)
    result = plan(incident, view, k8s=k8s)
    assert isinstance(result, EscalatePlan)
    assert result.blocks[0].guard == "max_attempts"


def test_no_playbook_gives_no_action(k8s) -> None:
    view = _crash_no_rollout(k8s)
    result = decide(
        incident_for(view, k8s),
        view,
        History(),
        Settings(),
        now=k8s.T0,
        playbooks=type(PLAYBOOKS)(),
    )
    assert isinstance(result, NoAction)
    assert result.reasons[0].guard == "playbook"


def test_plans_round_trip_through_json(k8s) -> None:
    view = rollout_view(k8s)
    result = plan(incident_for(view, k8s), view, k8s=k8s)
    raw = msgspec.json.encode(result)
    assert msgspec.json.decode(raw, type=Plan) == result


def test_rollback_never_returns_to_the_revision_it_rolled_away_from() -> None:
    from datetime import UTC, datetime

    import msgspec

    from kubeheal.engine.playbooks.schema import RollbackDeploymentStep
    from kubeheal.engine.step_params import ROLLED_BACK_FROM_ANNOTATION, _rollback
    from kubeheal.model.cluster import ClusterView, Deployment, ReplicaSet
    from kubeheal.model.core import Incident, IncidentId, Target, TargetKind

    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def rs(rev: int, image: str) -> ReplicaSet:
        return msgspec.convert(
            {
                "metadata": {
                    "name": f"web-{rev}", "namespace": "shop",
                    "annotations": {"deployment.kubernetes.io/revision": str(rev)},
                    "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
                },
                "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            },
            ReplicaSet,
        )  # fmt: skip

    dep = msgspec.convert(
        {
            "metadata": {
                "name": "web", "namespace": "shop",
                "annotations": {"deployment.kubernetes.io/revision": "3",
                                ROLLED_BACK_FROM_ANNOTATION: "2"},
            },
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "good"}]}}},
        },
        Deployment,
    )  # fmt: skip
    view = ClusterView(deployments=[dep], replica_sets=[rs(2, "bad"), rs(3, "good")])
    target = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
    incident = Incident(id=IncidentId("i"), target=target, opened_at=now, updated_at=now)
    step = RollbackDeploymentStep.model_validate({"action": "rollback_deployment"})
    result = _rollback(step, incident, view, now)
    assert not hasattr(result, "to_revision"), result
    assert "rolled back from" in result.reason  # type: ignore[union-attr]
