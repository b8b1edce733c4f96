"""Which earlier incidents count toward flapping, with plain data: an incident counts when it
had the same problem (a signal kind in common) or kubeheal disrupted the target in it; an
incident about another problem met with no disruptive action (a PodDisruptionBudget created,
a cordon, an escalation, a dry run) does not."""

from __future__ import annotations

from datetime import timedelta

from kubeheal.config import IncidentSettings
from kubeheal.engine.incidents import counts_toward_flapping, disrupted_by, open_incident
from kubeheal.model import (
    ActionState,
    IncidentOpening,
    PastAction,
    Signal,
    SignalKind,
    Target,
    TargetKind,
)

S = IncidentSettings()
"""The defaults: three openings within an hour."""
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
NODE = Target(kind=TargetKind.NODE, name="worker-2")
CRASH = frozenset({SignalKind.CRASH_LOOP_BACK_OFF, SignalKind.NEW_REPLICASET_UNHEALTHY})


def sig(k8s, kind: SignalKind, target: Target = WEB) -> Signal:
    return Signal(
        id=Signal.make_id(kind, target, "pod/web-1"),
        kind=kind,
        target=target,
        subject="pod/web-1",
        observed_at=k8s.T0,
    )


def opening(
    k8s, minutes_ago: float, kinds: frozenset[SignalKind], *, disrupted: bool, target=WEB
) -> IncidentOpening:
    return IncidentOpening(target=target, at=k8s.at(-minutes_ago), kinds=kinds, disrupted=disrupted)


def past(k8s, action: str, outcome: ActionState = ActionState.SUCCEEDED) -> PastAction:
    return PastAction(target=WEB, action=action, at=k8s.at(-1), outcome=outcome)


def test_a_pdb_created_before_two_crash_loops_is_no_flap(k8s) -> None:
    """The reported case: kubeheal created a PDB for web, then rolled back a crash loop, and
    the next crash loop opened a third incident within minutes: not flapping (two openings
    count), so the rollback is decided by its own guards (the cooldown) instead of an
    escalation as flapping."""
    openings = [
        opening(k8s, 4, frozenset({SignalKind.PDB_MISSING}), disrupted=False),
        opening(k8s, 2, CRASH, disrupted=True),
    ]
    third = open_incident(
        WEB, [sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF)], now=k8s.T0, openings=openings, settings=S
    )
    assert not third.flapping
    # two crash loops rolled back before it: the fix does not stick, that is flapping
    rolled_back_twice = [opening(k8s, 4, CRASH, disrupted=True), *openings[1:]]
    rolled_back_twice.append(opening(k8s, 3, CRASH, disrupted=True))
    assert open_incident(
        WEB, [sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF)], now=k8s.T0, openings=rolled_back_twice,
        settings=S,
    ).flapping  # fmt: skip


def test_the_same_problem_coming_back_counts_without_any_disruption(k8s) -> None:
    """A node that went NotReady twice (each time only cordoned) and goes again is flapping;
    so is a PDB that something deletes again and again (a GitOps tool fighting kubeheal)."""
    not_ready = frozenset({SignalKind.NODE_NOT_READY})
    node_openings = [
        opening(k8s, 30, not_ready, disrupted=False, target=NODE),
        opening(k8s, 10, not_ready, disrupted=False, target=NODE),
    ]
    again = [sig(k8s, SignalKind.NODE_NOT_READY, target=NODE)]
    assert open_incident(NODE, again, now=k8s.T0, openings=node_openings, settings=S).flapping
    pdb = frozenset({SignalKind.PDB_MISSING})
    pdb_openings = [opening(k8s, 30, pdb, disrupted=False), opening(k8s, 10, pdb, disrupted=False)]
    missing = [sig(k8s, SignalKind.PDB_MISSING)]
    assert open_incident(WEB, missing, now=k8s.T0, openings=pdb_openings, settings=S).flapping
    # ... while a crash loop after those two PDB incidents is the first of its kind
    crash = [sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF)]
    assert not open_incident(WEB, crash, now=k8s.T0, openings=pdb_openings, settings=S).flapping


def test_disruptions_count_whatever_the_problem(k8s) -> None:
    """An OOM kill met with a higher limit, a crash loop met with a rollback, and a third
    problem on the same Deployment: kubeheal has disrupted it twice already, so it escalates."""
    openings = [
        opening(k8s, 20, frozenset({SignalKind.OOM_KILLED}), disrupted=True),
        opening(k8s, 10, CRASH, disrupted=True),
    ]
    readiness = [sig(k8s, SignalKind.READINESS_FAILING)]
    assert open_incident(WEB, readiness, now=k8s.T0, openings=openings, settings=S).flapping
    # outside the window they no longer count
    old = [opening(k8s, 90, frozenset({SignalKind.OOM_KILLED}), disrupted=True), openings[1]]
    assert not open_incident(WEB, readiness, now=k8s.T0, openings=old, settings=S).flapping


def test_counts_toward_flapping(k8s) -> None:
    pdb = opening(k8s, 5, frozenset({SignalKind.PDB_MISSING}), disrupted=False)
    assert not counts_toward_flapping(pdb, kinds={SignalKind.CRASH_LOOP_BACK_OFF})
    assert counts_toward_flapping(pdb, kinds={SignalKind.PDB_MISSING, SignalKind.OOM_KILLED})
    rollback = opening(k8s, 5, CRASH, disrupted=True)
    assert counts_toward_flapping(rollback, kinds={SignalKind.HPA_MAXED_OUT})
    # an opening known by its time only (no kinds, nothing said about disruption) counts
    assert counts_toward_flapping(
        IncidentOpening(target=WEB, at=k8s.T0), kinds={SignalKind.HPA_MAXED_OUT}
    )


def test_disrupted_by_reads_each_action_class_and_outcome(k8s) -> None:
    assert not disrupted_by([])
    assert not disrupted_by([past(k8s, "create_pdb"), past(k8s, "escalate")])
    assert not disrupted_by([past(k8s, "cordon_node"), past(k8s, "raise_hpa_max")])
    # a dry run changed nothing
    assert not disrupted_by([past(k8s, "rollback_deployment", ActionState.SKIPPED)])
    assert disrupted_by([past(k8s, "create_pdb"), past(k8s, "rollback_deployment")])
    # a failed or unfinished restart may still have disrupted the pods
    assert disrupted_by([past(k8s, "restart_pod", ActionState.FAILED)])
    assert disrupted_by([past(k8s, "drain_node", ActionState.PENDING)])


def test_a_shorter_window_and_threshold_apply_the_same_rule(k8s) -> None:
    settings = IncidentSettings(flapping_threshold=2, flapping_window=timedelta(minutes=10))
    pdb = [opening(k8s, 5, frozenset({SignalKind.PDB_MISSING}), disrupted=False)]
    crash = [sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF)]
    assert not open_incident(WEB, crash, now=k8s.T0, openings=pdb, settings=settings).flapping
    rollback = [opening(k8s, 5, CRASH, disrupted=True)]
    assert open_incident(WEB, crash, now=k8s.T0, openings=rollback, settings=settings).flapping
