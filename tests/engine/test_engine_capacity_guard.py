"""The capacity guard: a drain or cordon only when the rest of the cluster holds the pods that
leave the node, or a node group can grow; waits while a node is added or another drain runs;
escalates with the figures otherwise (pure, plain data)."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from kubeheal.config import GuardSettings, IncidentSettings, Settings
from kubeheal.config.settings import NodeGroupSettings, load_settings
from kubeheal.engine import guards as g
from kubeheal.engine.capacity import Room, drain_capacity, leaving_pods
from kubeheal.engine.guards import Allow, Block, GuardContext
from kubeheal.engine.incidents import open_incident
from kubeheal.engine.params import CordonNode, DrainNode, RestartPod
from kubeheal.model import ClusterView, History, Target, TargetKind
from kubeheal.model.cluster import Node

N1 = Target(kind=TargetKind.NODE, name="n1")
GROUP = NodeGroupSettings(name="workers", match_labels={"pool": "workers"}, max_nodes=3)


def _ctx(k8s, view, params, *, history=None, groups=()) -> GuardContext:
    incident = open_incident(N1, [], now=k8s.T0, settings=IncidentSettings())
    return GuardContext(
        incident=incident,
        view=view,
        history=history or History(),
        settings=Settings(guards=GuardSettings(node_groups=groups)),
        now=k8s.T0,
        params=params,
    )


def _in_pool(node: Node, *, created: object = None) -> Node:
    meta = msgspec.structs.replace(
        node.metadata,
        labels={**node.metadata.labels, "pool": "workers"},
        creation_timestamp=created or node.metadata.creation_timestamp,
    )
    return msgspec.structs.replace(node, metadata=meta)


def _full(k8s, *, n2_memory: str = "768Mi", pool: bool = False) -> ClusterView:
    """n1 under pressure with two 128Mi pods; n2 holds six 128Mi pods of its 768Mi."""
    n1 = k8s.node("n1", memory_pressure=True)
    n2 = k8s.node("n2", allocatable_memory=n2_memory)
    nodes = [_in_pool(n1), _in_pool(n2)] if pool else [n1, n2]
    pods = [k8s.pod(f"a{i}", node="n1") for i in range(2)]
    pods += [k8s.pod(f"b{i}", node="n2") for i in range(6)]
    return ClusterView(nodes=nodes, pods=pods)


def _drain(view: ClusterView) -> DrainNode:
    refs = tuple(f"{p.metadata.namespace}/{p.metadata.name}" for p in view.pods_on_node("n1"))
    return DrainNode(node="n1", grace_period_seconds=30, timeout_seconds=600, pods=refs)


def test_a_drain_whose_pods_fit_elsewhere_is_allowed(k8s) -> None:
    view = _full(k8s, n2_memory="8Gi")
    assert isinstance(g.capacity(_ctx(k8s, view, _drain(view))), Allow)


def test_no_room_escalates_with_the_figures(k8s) -> None:
    view = _full(k8s)
    verdict = g.capacity(_ctx(k8s, view, _drain(view)))
    assert isinstance(verdict, Block) and verdict.escalate and verdict.guard == "capacity"
    # the pods that do not fit with their requests, and the free room per node
    assert "2 of 2 pod(s) of node n1 do not fit" in verdict.reason
    assert "shop/a0 (100m CPU / 128Mi), shop/a1 (100m CPU / 128Mi)" in verdict.reason
    assert "n2: 3300m CPU, 0" in verdict.reason
    assert "no node group can grow" in verdict.reason


def test_some_room_is_not_enough(k8s) -> None:
    view = _full(k8s, n2_memory="896Mi")  # room for one of the two
    verdict = g.capacity(_ctx(k8s, view, _drain(view)))
    assert isinstance(verdict, Block) and verdict.escalate
    assert "1 of 2 pod(s)" in verdict.reason and "shop/a1 (100m CPU / 128Mi)" in verdict.reason
    assert "n2: 3300m CPU, 128Mi" in verdict.reason


def test_a_node_group_that_can_grow_lets_the_drain_go_on(k8s) -> None:
    view = _full(k8s, pool=True)
    assert isinstance(g.capacity(_ctx(k8s, view, _drain(view), groups=(GROUP,))), Allow)
    check = drain_capacity(
        view, node="n1", pods=leaving_pods(view, "n1"), groups=(GROUP,), now=k8s.T0
    )
    assert check.room is Room.GROW and "node group workers can grow (2 of 3 nodes" in check.reason


def test_a_node_group_at_its_maximum_or_too_small_does_not_count(k8s) -> None:
    view = _full(k8s, pool=True)
    at_max = NodeGroupSettings(name="workers", match_labels={"pool": "workers"}, max_nodes=2)
    verdict = g.capacity(_ctx(k8s, view, _drain(view), groups=(at_max,)))
    assert isinstance(verdict, Block) and verdict.escalate
    assert "node group workers is at its maximum (2 nodes)" in verdict.reason
    other = NodeGroupSettings(name="gpu", match_labels={"pool": "gpu"}, max_nodes=5)
    verdict = g.capacity(_ctx(k8s, view, _drain(view), groups=(other,)))
    assert isinstance(verdict, Block) and "node group gpu has no node to size" in verdict.reason


def test_a_node_being_added_makes_the_drain_wait(k8s) -> None:
    view = _full(k8s)
    booting = _in_pool(k8s.node("n3", ready="False"), created=k8s.at(-0.5))
    view = ClusterView(nodes=[*view.nodes, booting], pods=list(view.pods))
    verdict = g.capacity(_ctx(k8s, view, _drain(view)))
    assert isinstance(verdict, Block) and not verdict.escalate
    assert "node(s) n3 being added" in verdict.reason
    old = _in_pool(k8s.node("n3", ready="False"), created=k8s.at(-60))
    view = ClusterView(nodes=[*view.nodes[:2], old], pods=list(view.pods))
    verdict = g.capacity(_ctx(k8s, view, _drain(view)))
    assert isinstance(verdict, Block) and verdict.escalate  # a long-broken node is no promise


def test_another_drain_in_progress_waits_instead_of_escalating(k8s) -> None:
    view = _full(k8s)
    busy = History(cordoned_nodes=("n2",))
    verdict = g.capacity(_ctx(k8s, view, _drain(view), history=busy))
    assert isinstance(verdict, Block) and not verdict.escalate
    assert "n2 still being handled" in verdict.reason


def test_the_one_node_at_a_time_guard_answers_first(k8s) -> None:
    """With another node being drained, the plan is blocked by node_drain (not now), never
    escalated by capacity: the room of a cluster in the middle of a drain says nothing."""
    view = _full(k8s)
    busy = History(cordoned_nodes=("n2",))
    block = g.first_block(g.ACTION_GUARDS, _ctx(k8s, view, _drain(view), history=busy))
    assert block is not None and block.guard == "node_drain" and not block.escalate
    order = [guard.__name__ for guard in g.ACTION_GUARDS]
    assert order.index("capacity") == order.index("node_drain_limits") + 1


def test_cordon_of_a_ready_node_is_checked_and_of_a_lost_node_is_not(k8s) -> None:
    view = _full(k8s)
    verdict = g.capacity(_ctx(k8s, view, CordonNode(node="n1")))
    assert isinstance(verdict, Block) and verdict.escalate and "cordon" in verdict.reason
    lost = ClusterView(nodes=[k8s.node("n1", ready="Unknown"), view.nodes[1]], pods=list(view.pods))
    assert isinstance(g.capacity(_ctx(k8s, lost, CordonNode(node="n1"))), Allow)


def test_daemonset_finished_and_terminating_pods_need_no_room(k8s) -> None:
    pods = [
        k8s.pod("ds", node="n1", owner=("DaemonSet", "agent")),
        k8s.pod("done", node="n1", phase="Succeeded"),
        k8s.pod("going", node="n1", deleting=True),
    ]
    view = ClusterView(nodes=list(_full(k8s).nodes), pods=[*pods, *_full(k8s).pods_on_node("n2")])
    assert leaving_pods(view, "n1") == []
    assert isinstance(g.capacity(_ctx(k8s, view, _drain(view))), Allow)


def test_other_actions_are_not_its_business(k8s) -> None:
    view = _full(k8s)
    restart = RestartPod(namespace="shop", pod="a0", pod_ready=True)
    assert isinstance(g.capacity(_ctx(k8s, view, restart)), Allow)


def test_node_groups_read_from_settings(tmp_path) -> None:
    path = tmp_path / "kubeheal.yaml"
    path.write_text(
        "guards:\n  node_groups:\n    - name: workers\n      match_labels: {pool: workers}\n"
        "      max_nodes: 5\n"
    )
    settings = load_settings(path, env={})
    assert settings.guards.node_groups == (
        NodeGroupSettings(name="workers", match_labels={"pool": "workers"}, max_nodes=5),
    )
    with pytest.raises(ValueError):
        NodeGroupSettings(name="x", match_labels={}, max_nodes=1)
    assert timedelta(minutes=10)  # ADDING_WITHIN's order of magnitude is documented
