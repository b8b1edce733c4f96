"""HPA at its ceiling and saturation: bounds raised in steps within the caps and the room
left on the schedulable nodes; escalations carry the figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from kubeheal.config import DetectionSettings, IncidentSettings, Settings
from kubeheal.engine.detect import alert_signal, detect
from kubeheal.engine.facts import pod_requests, schedulable_capacity
from kubeheal.engine.incidents import correlate
from kubeheal.engine.params import RaiseHpaMax, ScaleOut
from kubeheal.engine.plan import ActionPlan, EscalatePlan, Plan, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model import ActionState, ClusterView, History, Incident, PastAction, TargetKind
from kubeheal.model.cluster import PodSpec, Taint

PLAYBOOKS = load_builtin_playbooks()


def _decide(
    incident: Incident, view: ClusterView, k8s: Any, history: History | None = None
) -> Plan:
    return decide(incident, view, history or History(), Settings(), now=k8s.T0, playbooks=PLAYBOOKS)


def _hpa_incident(view: ClusterView, k8s: Any) -> Incident:
    signals = detect(view, now=k8s.T0, settings=DetectionSettings())
    found = [
        i
        for i in correlate(signals, incidents=(), now=k8s.T0, settings=IncidentSettings())
        if i.target.kind is TargetKind.DEPLOYMENT
    ]
    assert len(found) == 1, found
    return found[0]


def _pods(k8s: Any, node: str, count: int, *, prefix: str = "web-2-") -> list[Any]:
    return [k8s.pod(f"{prefix}{node}-{i}", node=node) for i in range(count)]


def _maxed(k8s: Any, *nodes: Any, pods: list[Any]) -> ClusterView:
    """shop/web at its HPA's maximum of 6 (its template requests 128Mi, no CPU)."""
    return ClusterView(
        deployments=[k8s.deployment(replicas=6)],
        hpas=[k8s.hpa(max_replicas=6, current=6, desired=6)],
        replica_sets=[k8s.replica_set("web-2", revision=2, created=-600)],
        pdbs=[k8s.pdb()],
        nodes=list(nodes),
        pods=pods,
    )


def test_pod_requests_and_capacity_node_by_node(k8s) -> None:
    spec = k8s.pod("p").spec
    assert pod_requests(spec).cpu == 0.1 and pod_requests(spec).memory == 128 * 2**20
    view = ClusterView(
        nodes=[k8s.node("n1", allocatable_memory="1Gi"), k8s.node("n2", allocatable_memory="1Gi")],
        pods=_pods(k8s, "n1", 7) + _pods(k8s, "n2", 2),
    )
    capacity = schedulable_capacity(view, spec)
    assert capacity is not None
    # n1: 1Gi - 7 x 128Mi = 128Mi -> 1 pod; n2: 1Gi - 256Mi = 768Mi -> 6 pods (a pod does not
    # span nodes, so the free memory is not pooled)
    assert capacity.pods_fit == 7 and capacity.nodes == 2
    assert capacity.free_memory == 896 * 2**20
    assert "7 more pod(s) of 100m CPU / 128Mi fit on 2 schedulable node(s)" in (capacity.describe())
    assert schedulable_capacity(ClusterView(), PodSpec()) is None  # no node: unknown


def test_cordoned_unready_and_tainted_nodes_are_no_room(k8s) -> None:
    roomy = k8s.node("n4")
    tainted = msgspec.structs.replace(
        roomy,
        spec=msgspec.structs.replace(roomy.spec, taints=(Taint(key="x", effect="NoSchedule"),)),
    )
    view = ClusterView(
        nodes=[
            k8s.node("n1", allocatable_memory="768Mi"),
            k8s.node("n2", unschedulable=True),
            k8s.node("n3", ready="Unknown"),
            tainted,
        ],
        pods=_pods(k8s, "n1", 6),
    )
    capacity = schedulable_capacity(view, k8s.pod("p").spec)
    assert capacity is not None and capacity.nodes == 1 and capacity.pods_fit == 0


def test_hpa_max_raised_by_its_factor_when_the_nodes_have_room(k8s) -> None:
    view = _maxed(
        k8s,
        k8s.node("n1", allocatable_memory="1Gi"),
        k8s.node("n2", allocatable_memory="1Gi"),
        pods=_pods(k8s, "n1", 4) + _pods(k8s, "n2", 2),
    )
    result = _decide(_hpa_incident(view, k8s), view, k8s)
    assert isinstance(result, ActionPlan) and result.playbook == "hpa-maxed-raise"
    assert result.params == RaiseHpaMax(namespace="shop", hpa="web", current_max=6, new_max=9)
    assert any("maxReplicas 6 -> 9: 10 more pod(s)" in n for n in result.notes), result.notes


def test_hpa_max_bounded_by_the_room_on_the_nodes(k8s) -> None:
    view = _maxed(k8s, k8s.node("n1", allocatable_memory="1Gi"), pods=_pods(k8s, "n1", 6))
    result = _decide(_hpa_incident(view, k8s), view, k8s)
    assert isinstance(result, ActionPlan)
    # 1Gi - 6 x 128Mi = 256Mi: two more pods, not the three the factor wants
    assert result.params == RaiseHpaMax(namespace="shop", hpa="web", current_max=6, new_max=8)


def test_pending_pods_of_the_workload_take_the_room_first(k8s) -> None:
    pending = k8s.pod("web-2-pending", node="", phase="Pending", ready=False)
    view = _maxed(
        k8s, k8s.node("n1", allocatable_memory="1Gi"), pods=[*_pods(k8s, "n1", 6), pending]
    )
    result = _decide(_hpa_incident(view, k8s), view, k8s)
    assert isinstance(result, ActionPlan)
    assert result.params == RaiseHpaMax(namespace="shop", hpa="web", current_max=6, new_max=7)


def test_no_room_escalates_at_once_with_the_capacity_figures(k8s) -> None:
    view = _maxed(k8s, k8s.node("n1", allocatable_memory="768Mi"), pods=_pods(k8s, "n1", 6))
    result = _decide(_hpa_incident(view, k8s), view, k8s)
    assert isinstance(result, EscalatePlan) and result.playbook == "hpa-maxed-raise"
    assert result.reason.startswith("The HPA is at its ceiling and still wants more replicas.")
    assert "HPA web: 6 current / 6 max replicas (desired 6)" in result.reason
    assert "0 more pod(s) of 0 CPU / 128Mi fit on 1 schedulable node(s)" in result.reason


def test_raises_come_in_bounded_steps_then_escalate(k8s) -> None:
    view = _maxed(k8s, k8s.node("n1", allocatable_memory="8Gi"), pods=_pods(k8s, "n1", 6))
    incident = _hpa_incident(view, k8s)
    playbook = PLAYBOOKS.get("hpa-maxed-raise")
    assert playbook is not None
    raises = [s for s in playbook.steps if s.action.value == "raise_hpa_max"]
    assert len(raises) == 2 and playbook.steps[-1].action.value == "escalate"
    second = msgspec.structs.replace(incident, step=1, playbook="hpa-maxed-raise", attempts=1)
    done = History(
        actions=(
            PastAction(
                target=incident.target,
                action="raise_hpa_max",
                at=k8s.T0 - timedelta(hours=1),
                outcome=ActionState.SUCCEEDED,
                incident_id=incident.id,
            ),
        )
    )
    result = _decide(second, view, k8s, history=done)
    assert isinstance(result, ActionPlan) and result.step == 1
    last = msgspec.structs.replace(incident, step=2, playbook="hpa-maxed-raise", attempts=2)
    escalated = _decide(last, view, k8s, history=done)
    assert isinstance(escalated, EscalatePlan)
    assert "HPA web: 6 current / 6 max replicas" in escalated.reason


def test_saturation_without_hpa_scales_out_only_as_far_as_the_nodes_hold(k8s) -> None:
    view = ClusterView(
        deployments=[k8s.deployment(replicas=3)],
        pdbs=[k8s.pdb()],
        nodes=[k8s.node("n1", allocatable_memory="512Mi")],
        pods=_pods(k8s, "n1", 3),
    )
    signal = alert_signal(
        alertname="HighCPUSaturation",
        labels={"namespace": "shop", "deployment": "web"},
        observed_at=k8s.T0,
    )
    assert signal is not None
    (incident,) = correlate([signal], incidents=(), now=k8s.T0, settings=IncidentSettings())
    result = _decide(incident, view, k8s)
    assert isinstance(result, ActionPlan) and result.playbook == "saturation-scale-out"
    assert result.params == ScaleOut(
        namespace="shop", workload_kind="Deployment", workload="web", current_replicas=3, replicas=4
    )
