"""Every guard, blocking and allowing, with plain data."""

from __future__ import annotations

from datetime import timedelta

from kubeheal.config import GuardSettings, IncidentSettings, Settings
from kubeheal.engine import guards as g
from kubeheal.engine.guards import Allow, Block, GuardContext
from kubeheal.engine.incidents import open_incident
from kubeheal.engine.params import CordonNode, DrainNode, RaiseMemoryLimit, RestartPod, ScaleOut
from kubeheal.model import (
    ActionState,
    ClusterView,
    History,
    PastAction,
    Target,
    TargetKind,
)
from kubeheal.model.history import KillSwitch, KillSwitchState

WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
N1 = Target(kind=TargetKind.NODE, name="n1")


def ctx(
    k8s,
    *,
    target=WEB,
    view=None,
    history=None,
    guards=None,
    params=None,
    attempts=0,
    flapping=False,
):
    incident = open_incident(target, [], now=k8s.T0, settings=IncidentSettings())
    incident = type(incident)(
        **{
            **{f: getattr(incident, f) for f in incident.__struct_fields__},
            "attempts": attempts,
            "flapping": flapping,
        }
    )
    return GuardContext(
        incident=incident,
        view=view or ClusterView(deployments=[k8s.deployment()]),
        history=history or History(),
        settings=Settings(guards=guards or GuardSettings()),
        now=k8s.T0,
        params=params,
    )


def action(k8s, minutes_ago: float, *, target=WEB, outcome=ActionState.SUCCEEDED) -> PastAction:
    return PastAction(target=target, action="restart_pod", at=k8s.at(-minutes_ago), outcome=outcome)


def test_excluded_namespace(k8s) -> None:
    system = Target(kind=TargetKind.DEPLOYMENT, namespace="kube-system", name="coredns")
    assert isinstance(g.excluded_namespace(ctx(k8s, target=system)), Block)
    assert isinstance(g.excluded_namespace(ctx(k8s)), Allow)
    assert isinstance(
        g.excluded_namespace(ctx(k8s, guards=GuardSettings(excluded_namespaces=("shop",)))), Block
    )


def test_kill_switch_sources(k8s) -> None:
    assert isinstance(g.kill_switch(ctx(k8s)), Allow)
    assert isinstance(g.kill_switch(ctx(k8s, guards=GuardSettings(kill_switch=True))), Block)
    switch_on = History(kill_switch=KillSwitch(state=KillSwitchState.ON))
    assert isinstance(g.kill_switch(ctx(k8s, history=switch_on)), Block)
    annotated = ClusterView(
        deployments=[k8s.deployment(annotations={"kubeheal.io/disabled": "true"})]
    )
    verdict = g.kill_switch(ctx(k8s, view=annotated))
    assert isinstance(verdict, Block)
    assert "annotated" in verdict.reason
    ns_off = ClusterView(
        deployments=[k8s.deployment()],
        namespaces=[k8s.namespace("shop", annotations={"kubeheal.io/disabled": "true"})],
    )
    verdict = g.kill_switch(ctx(k8s, view=ns_off))
    assert isinstance(verdict, Block)
    assert "namespace shop" in verdict.reason
    ns_on = ClusterView(
        deployments=[k8s.deployment()],
        namespaces=[k8s.namespace("shop", annotations={"kubeheal.io/disabled": "false"})],
    )
    assert isinstance(g.kill_switch(ctx(k8s, view=ns_on)), Allow)


def test_flapping_escalates(k8s) -> None:
    verdict = g.flapping(ctx(k8s, flapping=True))
    assert isinstance(verdict, Block)
    assert verdict.escalate
    assert isinstance(g.flapping(ctx(k8s)), Allow)


def test_max_attempts(k8s) -> None:
    assert isinstance(g.max_attempts(ctx(k8s, attempts=2)), Allow)
    verdict = g.max_attempts(ctx(k8s, attempts=3))
    assert isinstance(verdict, Block)
    assert verdict.escalate


def test_namespace_budget(k8s) -> None:
    guards = GuardSettings(namespace_budget_per_hour=2, global_budget_per_hour=100)
    other = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="api")
    spent = History(actions=(action(k8s, 10, target=other), action(k8s, 50)))
    verdict = g.budget_namespace(ctx(k8s, history=spent, guards=guards))
    assert isinstance(verdict, Block)
    assert verdict.escalate
    aged = History(actions=(action(k8s, 10), action(k8s, 70)))
    assert isinstance(g.budget_namespace(ctx(k8s, history=aged, guards=guards)), Allow)
    dry = History(actions=(action(k8s, 10), action(k8s, 20, outcome=ActionState.SKIPPED)))
    assert isinstance(g.budget_namespace(ctx(k8s, history=dry, guards=guards)), Allow)
    elsewhere = Target(kind=TargetKind.DEPLOYMENT, namespace="blog", name="web")
    other_ns = History(
        actions=(action(k8s, 10, target=elsewhere), action(k8s, 20, target=elsewhere))
    )
    assert isinstance(g.budget_namespace(ctx(k8s, history=other_ns, guards=guards)), Allow)


def test_global_budget(k8s) -> None:
    guards = GuardSettings(global_budget_per_hour=2)
    elsewhere = Target(kind=TargetKind.DEPLOYMENT, namespace="blog", name="web")
    spent = History(actions=(action(k8s, 10, target=elsewhere), action(k8s, 20, target=N1)))
    verdict = g.budget_global(ctx(k8s, history=spent, guards=guards))
    assert isinstance(verdict, Block)
    assert verdict.escalate
    assert isinstance(
        g.budget_global(ctx(k8s, history=History(actions=spent.actions[:1]), guards=guards)), Allow
    )


def test_cooldown(k8s) -> None:
    recent = History(actions=(action(k8s, 5),))
    verdict = g.cooldown(ctx(k8s, history=recent))
    assert isinstance(verdict, Block)
    assert not verdict.escalate
    assert "cooling down until 2024-05-01T12:05:00" in verdict.reason
    assert isinstance(g.cooldown(ctx(k8s, history=History(actions=(action(k8s, 11),)))), Allow)
    other = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="api")
    assert isinstance(
        g.cooldown(ctx(k8s, history=History(actions=(action(k8s, 1, target=other),)))), Allow
    )
    short = GuardSettings(cooldown=timedelta(minutes=2))
    assert isinstance(g.cooldown(ctx(k8s, history=recent, guards=short)), Allow)


def _pods(k8s, ready_flags: list[bool]):
    return [
        k8s.pod(f"web-2-{i}", labels={"app": "web"}, ready=r) for i, r in enumerate(ready_flags)
    ]


def _rs(k8s):
    return [k8s.replica_set("web-2", revision=2, created=-100)]


def test_blast_radius(k8s) -> None:
    four = ClusterView(
        pods=_pods(k8s, [True, True, False, True]),
        deployments=[k8s.deployment(replicas=4)],
        replica_sets=_rs(k8s),
    )
    restart_ready = RestartPod(namespace="shop", pod="web-2-0", pod_ready=True)
    verdict = g.blast_radius(ctx(k8s, view=four, params=restart_ready))
    assert isinstance(verdict, Block)  # 1 of 4 down, 25% share allows 1
    restart_broken = RestartPod(namespace="shop", pod="web-2-2", pod_ready=False)
    assert isinstance(g.blast_radius(ctx(k8s, view=four, params=restart_broken)), Allow)
    healthy = ClusterView(
        pods=_pods(k8s, [True] * 4), deployments=[k8s.deployment(replicas=4)], replica_sets=_rs(k8s)
    )
    assert isinstance(g.blast_radius(ctx(k8s, view=healthy, params=restart_ready)), Allow)
    wide = GuardSettings(max_disrupted_share=0.5)
    assert isinstance(g.blast_radius(ctx(k8s, view=four, params=restart_ready, guards=wide)), Allow)
    strict = ClusterView(
        pods=_pods(k8s, [True, True, False, True]),
        deployments=[k8s.deployment(replicas=4, max_unavailable="25%")],
        replica_sets=_rs(k8s),
    )
    assert isinstance(
        g.blast_radius(ctx(k8s, view=strict, params=restart_ready, guards=wide)), Block
    )


def test_pdb_respected(k8s) -> None:
    pods = _pods(k8s, [True, True, True])
    restart = RestartPod(namespace="shop", pod="web-2-0", pod_ready=True)
    locked = ClusterView(
        pods=pods,
        deployments=[k8s.deployment()],
        replica_sets=_rs(k8s),
        pdbs=[k8s.pdb(disruptions_allowed=0)],
    )
    verdict = g.pdb_respected(ctx(k8s, view=locked, params=restart))
    assert isinstance(verdict, Block)
    assert "web-pdb" in verdict.reason
    open_ = ClusterView(
        pods=pods,
        deployments=[k8s.deployment()],
        replica_sets=_rs(k8s),
        pdbs=[k8s.pdb(disruptions_allowed=1)],
    )
    assert isinstance(g.pdb_respected(ctx(k8s, view=open_, params=restart)), Allow)
    other = ClusterView(
        pods=pods,
        deployments=[k8s.deployment()],
        replica_sets=_rs(k8s),
        pdbs=[k8s.pdb(match_labels={"app": "db"}, disruptions_allowed=0)],
    )
    assert isinstance(g.pdb_respected(ctx(k8s, view=other, params=restart)), Allow)


def test_node_drain_limits(k8s) -> None:
    nodes = [k8s.node(f"n{i}") for i in range(1, 6)]
    view = ClusterView(nodes=nodes)
    drain = DrainNode(node="n1", grace_period_seconds=30, timeout_seconds=600)
    assert isinstance(g.node_drain_limits(ctx(k8s, target=N1, view=view, params=drain)), Allow)
    busy = History(cordoned_nodes=("n2",))
    verdict = g.node_drain_limits(ctx(k8s, target=N1, view=view, history=busy, params=drain))
    assert isinstance(verdict, Block)
    assert "n2" in verdict.reason
    cordoned = ClusterView(nodes=[k8s.node("n1"), k8s.node("n2", unschedulable=True), *nodes[2:]])
    verdict = g.node_drain_limits(ctx(k8s, target=N1, view=cordoned, params=CordonNode(node="n1")))
    assert isinstance(verdict, Block)  # 1 of 5 already cordoned, 20% share allows 1
    assert verdict.escalate
    single = ClusterView(nodes=[k8s.node("n1")])
    assert isinstance(g.node_drain_limits(ctx(k8s, target=N1, view=single, params=drain)), Block)
    assert isinstance(g.node_drain_limits(ctx(k8s, target=N1, view=view, params=None)), Allow)


def test_gitops(k8s) -> None:
    raise_mem = RaiseMemoryLimit(
        namespace="shop",
        workload_kind="Deployment",
        workload="web",
        container="app",
        current_bytes=256 * 2**20,
        new_bytes=384 * 2**20,
        new_limit="384Mi",
    )
    via_hpa = ScaleOut(
        namespace="shop",
        workload_kind="Deployment",
        workload="web",
        current_replicas=3,
        replicas=5,
        hpa="web",
        hpa_min_replicas=5,
        hpa_max_replicas=6,
    )
    restart = RestartPod(namespace="shop", pod="web-2-0")
    for labels, notes in (
        ({"argocd.argoproj.io/instance": "shop"}, {}),
        ({}, {"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/web"}),
        ({"kustomize.toolkit.fluxcd.io/name": "apps"}, {}),
        ({"helm.toolkit.fluxcd.io/name": "web"}, {}),
        ({"app.kubernetes.io/managed-by": "Helm"}, {}),
    ):
        view = ClusterView(deployments=[k8s.deployment(labels=labels, annotations=notes)])
        verdict = g.gitops(ctx(k8s, view=view, params=raise_mem))
        assert isinstance(verdict, Block), labels
        assert verdict.escalate
        assert verdict.patch == (
            '{"spec":{"template":{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"384Mi"}}}]}}}}'
        )
        assert isinstance(g.gitops(ctx(k8s, view=view, params=restart)), Allow)
        assert isinstance(g.gitops(ctx(k8s, view=view, params=via_hpa)), Allow)
        strict = GuardSettings(gitops_policy="escalate")
        assert isinstance(g.gitops(ctx(k8s, view=view, params=restart, guards=strict)), Block)
    plain = ClusterView(deployments=[k8s.deployment()])
    assert isinstance(g.gitops(ctx(k8s, view=plain, params=raise_mem)), Allow)
