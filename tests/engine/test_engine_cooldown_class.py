"""Cooldown per target and disruption class, with plain data: an action that touches no
running pod (a PDB, a cordon) neither waits for the cooldown nor starts one; two disruptive
actions on one target are still kept ``guards.cooldown`` apart."""

from __future__ import annotations

import typing
from datetime import timedelta
from pathlib import Path

from kubeheal.config import GuardSettings, IncidentSettings, Settings
from kubeheal.engine import guards as g
from kubeheal.engine.guards import Allow, Block, GuardContext
from kubeheal.engine.incidents import open_incident
from kubeheal.engine.params import (
    ActionParams,
    CordonNode,
    CreatePdb,
    Disruption,
    DrainNode,
    RollbackDeployment,
    ScaleOut,
    disruption_of,
)
from kubeheal.engine.playbooks.schema import ActionName
from kubeheal.model import ActionState, ClusterView, History, PastAction, Target, TargetKind

WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
N1 = Target(kind=TargetKind.NODE, name="n1")
ROOT = Path(__file__).resolve().parents[2]

SCALE = ScaleOut(
    namespace="shop", workload_kind="Deployment", workload="web", current_replicas=2, replicas=4
)
ROLLBACK = RollbackDeployment(
    namespace="shop",
    deployment="web",
    from_revision=3,
    to_revision=2,
    to_replica_set="web-2",
)
PDB = CreatePdb(
    namespace="shop", name="web-kubeheal", match_labels={"app": "web"}, max_unavailable=1
)


def ctx(k8s, *, params, history, target=WEB, guards=None) -> GuardContext:
    incident = open_incident(target, [], now=k8s.T0, settings=IncidentSettings())
    return GuardContext(
        incident=incident,
        view=ClusterView(deployments=[k8s.deployment()]),
        history=history,
        settings=Settings(guards=guards or GuardSettings()),
        now=k8s.T0,
        params=params,
    )


def past(k8s, action: str, minutes_ago: float, *, target=WEB, outcome=ActionState.SUCCEEDED):
    return PastAction(target=target, action=action, at=k8s.at(-minutes_ago), outcome=outcome)


def test_a_scale_out_right_after_a_pdb_creation_on_the_same_deployment_is_allowed(k8s) -> None:
    history = History(actions=(past(k8s, "create_pdb", 0.1),))
    assert isinstance(g.cooldown(ctx(k8s, params=SCALE, history=history)), Allow)
    # and through the whole action guard chain, as planning runs it
    assert g.first_block(g.ACTION_GUARDS, ctx(k8s, params=SCALE, history=history)) is None


def test_two_disruptive_actions_on_one_target_are_kept_apart(k8s) -> None:
    history = History(actions=(past(k8s, "create_pdb", 1), past(k8s, "rollback_deployment", 4)))
    verdict = g.cooldown(ctx(k8s, params=SCALE, history=history))
    assert isinstance(verdict, Block)
    assert not verdict.escalate
    # names the previous disruptive action (not the PDB a minute ago) and the time left
    assert verdict.reason.startswith("rollback_deployment on Deployment/shop/web at ")
    assert "waits 6 min more" in verdict.reason
    assert "cooling down until 2024-05-01T12:06:00" in verdict.reason
    # seconds are rounded up: never "0 s more" while the window is still open
    history = History(actions=(past(k8s, "restart_pod", 9.99),))
    verdict = g.cooldown(ctx(k8s, params=ROLLBACK, history=history))
    assert isinstance(verdict, Block)
    assert "waits 1 s more" in verdict.reason
    # guards.cooldown keeps its meaning for disruptive actions
    history = History(actions=(past(k8s, "scale_out", 3),))
    short = GuardSettings(cooldown=timedelta(minutes=2))
    assert isinstance(g.cooldown(ctx(k8s, params=ROLLBACK, history=history, guards=short)), Allow)
    assert isinstance(g.cooldown(ctx(k8s, params=ROLLBACK, history=history)), Block)


def test_non_disruptive_actions_never_wait_for_a_cooldown(k8s) -> None:
    history = History(actions=(past(k8s, "rollback_deployment", 1),))
    assert isinstance(g.cooldown(ctx(k8s, params=PDB, history=history)), Allow)
    drained = History(actions=(past(k8s, "drain_node", 1, target=N1),))
    cordon = CordonNode(node="n1")
    assert isinstance(g.cooldown(ctx(k8s, params=cordon, history=drained, target=N1)), Allow)


def test_a_cordon_does_not_delay_the_drain_that_follows(k8s) -> None:
    history = History(actions=(past(k8s, "cordon_node", 0.5, target=N1),))
    drain = DrainNode(node="n1", grace_period_seconds=30, timeout_seconds=600)
    assert isinstance(g.cooldown(ctx(k8s, params=drain, history=history, target=N1)), Allow)


def test_dry_runs_and_other_targets_start_no_cooldown(k8s) -> None:
    dry = History(actions=(past(k8s, "rollback_deployment", 1, outcome=ActionState.SKIPPED),))
    assert isinstance(g.cooldown(ctx(k8s, params=SCALE, history=dry)), Allow)
    api = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="api")
    elsewhere = History(actions=(past(k8s, "rollback_deployment", 1, target=api),))
    assert isinstance(g.cooldown(ctx(k8s, params=SCALE, history=elsewhere)), Allow)


def test_an_unknown_past_action_counts_as_disruptive(k8s) -> None:
    """A ledger record of an action this version does not know (newer or older kubeheal)
    fails closed: it holds back the next disruptive action."""
    assert disruption_of("replace_node_pods") is Disruption.DISRUPTIVE
    history = History(actions=(past(k8s, "replace_node_pods", 2),))
    verdict = g.cooldown(ctx(k8s, params=SCALE, history=history))
    assert isinstance(verdict, Block)
    assert verdict.reason.startswith("replace_node_pods on ")


def test_every_action_has_a_class_and_the_docs_list_it() -> None:
    classes = {name.value: disruption_of(name.value) for name in ActionName}
    assert classes["escalate"] is Disruption.NONE
    for params in typing.get_args(ActionParams):
        tag = params.__struct_config__.tag
        assert params.disruption is classes[tag], tag
    assert {a for a, c in classes.items() if c is Disruption.NONE} == {
        "create_pdb",
        "delete_pdb",
        "cordon_node",
        "uncordon_node",
        "raise_hpa_max",
        "escalate",
    }
    docs = (ROOT / "docs" / "playbooks.md").read_text()
    for action, disruption in classes.items():
        assert f"| `{action}` | {disruption.value} |" in docs, action
