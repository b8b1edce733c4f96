"""A lost node on plain data: detected at once when Unknown, cordoned first, its ReplicaSet
pods planned for deletion only after the step's grace, StatefulSet pods never (escalated with
the commands), nothing moved in a wide outage."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pydantic
import pytest

from kubeheal.config import DetectionSettings, IncidentSettings, Settings
from kubeheal.engine.detect import detect
from kubeheal.engine.incidents import correlate
from kubeheal.engine.node_loss import needs_a_human, wide_outage
from kubeheal.engine.params import CordonNode, DeletePodsOnNode
from kubeheal.engine.plan import ActionPlan, EscalatePlan, NoAction, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.engine.playbooks.schema import DeletePodsOnNodeParams
from kubeheal.model import ClusterView, History, Incident, SignalKind, TargetKind

PLAYBOOKS = load_builtin_playbooks()


def _view(k8s, *, down_for_minutes: float, extra_nodes=(), pods=()) -> ClusterView:
    nodes = [
        k8s.node("n1", ready="Unknown", ready_since=-down_for_minutes),
        k8s.node("n2"),
        k8s.node("n3"),
        *extra_nodes,
    ]
    return ClusterView(nodes=nodes, pods=list(pods))


def _pods(k8s):
    return [
        k8s.pod("web-2-a", owner=("ReplicaSet", "web-2"), ready=False),
        k8s.pod("web-2-b", owner=("ReplicaSet", "web-2"), node="n2"),
        k8s.pod("db-0", owner=("StatefulSet", "db"), ready=False, labels={"app": "db"}),
        k8s.pod("agent-n1", owner=("DaemonSet", "agent"), ready=False, labels={"app": "a"}),
        k8s.pod("dns-1", ns="kube-system", owner=("ReplicaSet", "dns-1"), ready=False),
    ]


def _incident(view: ClusterView, k8s, *, step: int = 0) -> Incident:
    signals = detect(view, now=k8s.T0, settings=DetectionSettings())
    (incident,) = [
        i
        for i in correlate(signals, incidents=(), now=k8s.T0, settings=IncidentSettings())
        if i.target.kind is TargetKind.NODE and i.target.name == "n1"
    ]
    return msgspec.structs.replace(incident, step=step)


def _decide(incident: Incident, view: ClusterView, k8s, *, after_s: float = 0):
    return decide(
        incident,
        view,
        History(),
        Settings(),
        now=k8s.T0 + timedelta(seconds=after_s),
        playbooks=PLAYBOOKS,
    )


def test_unknown_is_reported_at_once_kubelet_reported_false_after_the_setting(k8s) -> None:
    unknown = ClusterView(nodes=[k8s.node("n1", ready="Unknown", ready_since=0)])
    assert [s.kind for s in detect(unknown, now=k8s.T0, settings=DetectionSettings())] == [
        SignalKind.NODE_NOT_READY
    ]
    false = ClusterView(nodes=[k8s.node("n1", ready="False", ready_since=-0.5)])
    assert detect(false, now=k8s.T0, settings=DetectionSettings()) == []
    short = DetectionSettings(node_not_ready_for=timedelta(seconds=20))
    assert [s.kind for s in detect(false, now=k8s.T0, settings=short)] == [
        SignalKind.NODE_NOT_READY
    ]


def test_cordon_first_then_wait_for_the_grace_then_delete_replicaset_pods(k8s) -> None:
    view = _view(k8s, down_for_minutes=1 / 6, pods=_pods(k8s))
    first = _decide(_incident(view, k8s), view, k8s)
    assert isinstance(first, ActionPlan) and first.params == CordonNode(node="n1")
    # the cordon's verification ran out: the next step waits until 30 s after the node went down
    waiting = _decide(_incident(view, k8s, step=1), view, k8s)
    assert isinstance(waiting, NoAction)
    assert waiting.reasons[0].guard == "node_not_ready_for"
    assert "not Ready for 10s" in waiting.reasons[0].reason
    act = _decide(_incident(view, k8s, step=1), view, k8s, after_s=20)
    assert isinstance(act, ActionPlan)
    assert act.params == DeletePodsOnNode(
        node="n1",
        not_ready_since=k8s.at(-1 / 6),
        planned_at=k8s.T0 + timedelta(seconds=20),
        not_ready_for_seconds=30,
        excluded_namespaces=("kube-system",),
        seen=("shop/web-2-a",),  # not the StatefulSet, DaemonSet, other-node or excluded pods
    )


def test_escalation_names_the_statefulset_pod_and_the_commands(k8s) -> None:
    view = _view(k8s, down_for_minutes=3, pods=_pods(k8s))
    escalation = _decide(_incident(view, k8s, step=2), view, k8s)
    assert isinstance(escalation, EscalatePlan)
    assert "shop/db-0" in escalation.reason
    assert "kubectl delete pod -n shop db-0 --grace-period=0 --force" in escalation.reason
    assert "kubectl taint nodes n1 node.kubernetes.io/out-of-service=nodeshutdown:NoExecute" in (
        escalation.reason
    )
    assert [p.metadata.name for p in needs_a_human(view, "n1")] == ["db-0"]


def test_nothing_is_moved_in_a_wide_outage(k8s) -> None:
    more = [k8s.node("n4", ready="Unknown", ready_since=-3), k8s.node("n5", ready="False")]
    view = _view(k8s, down_for_minutes=3, extra_nodes=more, pods=_pods(k8s))
    assert wide_outage(view) is not None  # 3 of 5 down
    result = _decide(_incident(view, k8s, step=1), view, k8s)
    assert isinstance(result, EscalatePlan)
    assert "no pod was moved: 3 of 5 nodes are not Ready" in result.reason
    assert wide_outage(_view(k8s, down_for_minutes=3)) is None  # 1 of 3 down: a lost node


def test_grace_must_stay_under_the_toleration() -> None:
    assert DeletePodsOnNodeParams().not_ready_for == timedelta(seconds=60)
    with pytest.raises(pydantic.ValidationError, match="under 260s"):
        DeletePodsOnNodeParams(not_ready_for=timedelta(seconds=270))
    with pytest.raises(pydantic.ValidationError):
        DeletePodsOnNodeParams(not_ready_for=timedelta(0))


def test_disk_pressure_drains_like_memory_pressure(k8s) -> None:
    view = ClusterView(
        nodes=[k8s.node("n1", disk_pressure=True), k8s.node("n2"), k8s.node("n3")],
        pods=[k8s.pod("web-2-a")],
    )
    signals = detect(view, now=k8s.T0, settings=DetectionSettings())
    assert SignalKind.NODE_DISK_PRESSURE in {s.kind for s in signals}
    result = _decide(_incident(view, k8s), view, k8s)
    assert isinstance(result, ActionPlan)
    assert result.playbook == "node-pressure-drain"
    assert result.action.value == "drain_node"


def test_a_node_back_after_its_pods_were_moved_is_uncordoned(k8s) -> None:
    back = k8s.node("n1", ready="True", ready_since=-11, unschedulable=True)
    note = '{"action": "delete_pods_on_node", "incident": "inc-1"}'
    back = msgspec.structs.replace(
        back,
        metadata=msgspec.structs.replace(
            back.metadata, annotations={"kubeheal.io/last-action": note}
        ),
    )
    view = ClusterView(nodes=[back, k8s.node("n2"), k8s.node("n3")])
    signals = detect(view, now=k8s.T0, settings=DetectionSettings())
    assert [(s.target.name, s.kind) for s in signals] == [("n1", SignalKind.NODE_RECOVERED)]
    result = _decide(_incident_of(view, k8s), view, k8s)
    assert isinstance(result, ActionPlan) and result.action.value == "uncordon_node"


def _incident_of(view: ClusterView, k8s) -> Incident:
    signals = detect(view, now=k8s.T0, settings=DetectionSettings())
    (incident,) = correlate(signals, incidents=(), now=k8s.T0, settings=IncidentSettings())
    return incident
