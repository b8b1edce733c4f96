"""The outlier pod of a golden-signal burn: found from per-pod values, an alert naming it or
it alone unready; restarted once, never the last ready replica, PDBs respected."""

from __future__ import annotations

from typing import Any

from kubeheal.config import IncidentSettings, Settings
from kubeheal.engine.detect import alert_signal
from kubeheal.engine.facts import outlier_pod
from kubeheal.engine.guards import Allow, Block, GuardContext, last_ready_replica
from kubeheal.engine.incidents import correlate
from kubeheal.engine.params import RestartPod, ScaleOut
from kubeheal.engine.plan import ActionPlan, EscalatePlan, NoAction, Plan, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model import ActionState, ClusterView, History, Incident, PastAction
from kubeheal.model.core import Signal, SignalKind, SignalSource, Target, TargetKind

PLAYBOOKS = load_builtin_playbooks()
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")


def _burn(k8s: Any, **per_pod: float) -> Signal:
    details: dict[str, Any] = {"slo": "shop-errors", "severity": "page"}
    details.update({f"pod:{name}": value for name, value in per_pod.items()})
    return Signal(
        id=Signal.make_id(SignalKind.SLO_BURN, WEB, "slo/shop-errors"),
        kind=SignalKind.SLO_BURN,
        target=WEB,
        observed_at=k8s.T0,
        subject="slo/shop-errors",
        details=details,
        source=SignalSource.SLO,
    )


def _incident(*signals: Signal, k8s: Any) -> Incident:
    (incident,) = correlate(list(signals), incidents=(), now=k8s.T0, settings=IncidentSettings())
    return incident


def _view(k8s: Any, *pods: Any, disruptions_allowed: int = 1) -> ClusterView:
    """shop/web with 3 replicas, one ReplicaSet (no rollout) and a PDB."""
    return ClusterView(
        deployments=[k8s.deployment(replicas=3)],
        replica_sets=[k8s.replica_set("web-2", revision=2, created=-6000)],
        pdbs=[k8s.pdb(disruptions_allowed=disruptions_allowed)],
        nodes=[k8s.node("n1")],
        pods=list(pods) or [k8s.pod(f"web-2-{c}") for c in "abc"],
    )


def _decide(
    incident: Incident, view: ClusterView, k8s: Any, history: History | None = None
) -> Plan:
    return decide(incident, view, history or History(), Settings(), now=k8s.T0, playbooks=PLAYBOOKS)


def test_the_pod_far_above_its_peers_is_restarted(k8s) -> None:
    view = _view(k8s)
    incident = _incident(_burn(k8s, **{"web-2-a": 0.6, "web-2-b": 0.01, "web-2-c": 0.02}), k8s=k8s)
    result = _decide(incident, view, k8s)
    assert isinstance(result, ActionPlan), result
    assert result.playbook == "golden-outlier-restart"
    assert result.params == RestartPod(namespace="shop", pod="web-2-a", pod_ready=True)
    assert any("outlier: pod web-2-a: 0.6, its 2 peers at most 0.02" in n for n in result.notes)


def test_no_pod_stands_out_so_the_burn_scales_out_instead(k8s) -> None:
    view = _view(k8s)
    spread = _burn(k8s, **{"web-2-a": 0.6, "web-2-b": 0.3, "web-2-c": 0.01})
    assert outlier_pod(_incident(spread, k8s=k8s), view, now=k8s.T0) is None
    result = _decide(_incident(spread, k8s=k8s), view, k8s)
    assert isinstance(result, ActionPlan) and result.playbook == "slo-burn-scale-out"
    assert isinstance(result.params, ScaleOut)


def test_two_pods_are_too_few_to_name_an_outlier(k8s) -> None:
    view = _view(k8s, k8s.pod("web-2-a", ready=False), k8s.pod("web-2-b"))
    incident = _incident(_burn(k8s), k8s=k8s)
    assert outlier_pod(incident, view, now=k8s.T0) is None


def test_the_only_unready_pod_of_a_burning_workload_is_restarted(k8s) -> None:
    view = _view(k8s, k8s.pod("web-2-a"), k8s.pod("web-2-b", ready=False), k8s.pod("web-2-c"))
    result = _decide(_incident(_burn(k8s), k8s=k8s), view, k8s)
    assert isinstance(result, ActionPlan) and result.playbook == "golden-outlier-restart"
    assert result.params == RestartPod(namespace="shop", pod="web-2-b", pod_ready=False)


def test_an_alert_naming_one_pod_points_at_it(k8s) -> None:
    view = _view(k8s)
    alert = alert_signal(
        alertname="HighLatency",
        labels={"namespace": "shop", "deployment": "web", "pod": "web-2-c"},
        observed_at=k8s.T0,
    )
    assert alert is not None
    result = _decide(_incident(alert, k8s=k8s), view, k8s)
    assert isinstance(result, ActionPlan) and result.playbook == "golden-outlier-restart"
    assert result.params == RestartPod(namespace="shop", pod="web-2-c", pod_ready=True)


def test_never_the_last_ready_replica(k8s) -> None:
    # the outlier is the only ready pod: not named
    view = _view(
        k8s, k8s.pod("web-2-a"), k8s.pod("web-2-b", ready=False), k8s.pod("web-2-c", ready=False)
    )
    burn = _burn(k8s, **{"web-2-a": 0.9, "web-2-b": 0.0, "web-2-c": 0.01})
    assert outlier_pod(_incident(burn, k8s=k8s), view, now=k8s.T0) is None
    # and the guard refuses any restart of the last ready pod, whoever planned it
    single = ClusterView(pods=[k8s.pod("web-2-a"), k8s.pod("web-2-b", ready=False)])
    ctx = GuardContext(
        incident=_incident(burn, k8s=k8s),
        view=single,
        history=History(),
        settings=Settings(),
        now=k8s.T0,
        params=RestartPod(namespace="shop", pod="web-2-a", pod_ready=True),
    )
    verdict = last_ready_replica(ctx)
    assert isinstance(verdict, Block) and "last ready replica" in verdict.reason
    unready = RestartPod(namespace="shop", pod="web-2-b", pod_ready=False)
    assert isinstance(last_ready_replica(_with(ctx, unready)), Allow)


def _with(ctx: GuardContext, params: RestartPod) -> GuardContext:
    return GuardContext(
        incident=ctx.incident,
        view=ctx.view,
        history=ctx.history,
        settings=ctx.settings,
        now=ctx.now,
        params=params,
    )


def test_a_pdb_that_allows_no_disruption_holds_the_restart(k8s) -> None:
    view = _view(k8s, *[k8s.pod(f"web-2-{c}") for c in "abc"], disruptions_allowed=0)
    incident = _incident(_burn(k8s, **{"web-2-a": 0.6, "web-2-b": 0.0, "web-2-c": 0.0}), k8s=k8s)
    result = _decide(incident, view, k8s)
    assert isinstance(result, NoAction)
    assert [b.guard for b in result.reasons] == ["pdb"]


def test_one_restart_per_incident_then_escalate(k8s) -> None:
    view = _view(k8s)
    incident = _incident(_burn(k8s, **{"web-2-a": 0.6, "web-2-b": 0.0, "web-2-c": 0.0}), k8s=k8s)
    done = History(
        actions=(
            PastAction(
                target=WEB,
                action="restart_pod",
                at=k8s.at(-30),
                outcome=ActionState.SUCCEEDED,
                incident_id=incident.id,
            ),
        )
    )
    result = _decide(incident, view, k8s, history=done)
    assert isinstance(result, EscalatePlan) and result.playbook == "golden-outlier-restart"
    assert result.reason.startswith("The burn goes on after restarting the pod")
    assert result.include_logs


def test_a_pod_still_starting_is_not_an_outlier(k8s) -> None:
    # a scale-out's new pod is unready for its first seconds: no verdict while one starts
    view = _view(
        k8s, k8s.pod("web-2-a"), k8s.pod("web-2-b"), k8s.pod("web-2-c", ready=False, created=-1)
    )
    assert outlier_pod(_incident(_burn(k8s), k8s=k8s), view, now=k8s.T0) is None
