"""Verification checks on plain decoded Kubernetes JSON: recovered, pending and failed for
every check, the stability window, the timeout, and the baseline."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from kubeheal.engine.plan import VerificationPlan
from kubeheal.engine.verify import (
    CHECKS,
    Baseline,
    VerifyResult,
    VerifyState,
    baseline_for,
    evaluate,
)
from kubeheal.model.cluster import ClusterView, Deployment, Pod
from kubeheal.model.core import Target, TargetKind

WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
N1 = Target(kind=TargetKind.NODE, name="n1")


def plan(check: str, *, timeout: float = 300, stable: float = 0) -> VerificationPlan:
    return VerificationPlan(
        check=check, timeout_seconds=timeout, stable_for_seconds=stable, on_failure="next_step"
    )


def dep(
    *,
    replicas: int = 3,
    generation: int = 6,
    observed: int = 6,
    updated: int = 3,
    total: int = 3,
    available: int = 3,
    revision: int = 2,
) -> Deployment:
    data = {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "generation": generation,
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}},
        },
        "status": {
            "observedGeneration": observed,
            "replicas": total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": available,
        },
    }
    return msgspec.json.decode(msgspec.json.encode(data), type=Deployment)


def run(check, view, k8s, *, minutes: float = 1, baseline=None, state=None, target=WEB, **kw):
    verification = kw.pop("verification", None) or plan(check, **kw.pop("plan_kw", {}))
    return evaluate(
        verification,
        target=target,
        view=view,
        started_at=k8s.at(0),
        now=k8s.at(minutes),
        baseline=baseline or Baseline(target=target),
        state=state,
        **kw,
    )


# -- workload_ready ------------------------------------------------------------------------


def test_workload_ready_when_the_rollout_is_complete(k8s) -> None:
    result = run("workload_ready", ClusterView(deployments=[dep()]), k8s)
    assert result.state == "recovered"
    assert "3/3 replicas available" in result.detail
    assert result.outcome == result.state


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ({"observed": 5}, "not observed yet"),
        ({"updated": 2}, "2/3 replicas updated"),
        ({"total": 4}, "1 old replica(s) still running"),
        ({"available": 2}, "2/3 replicas available"),
    ],
)
def test_workload_not_ready_is_pending_then_failed(k8s, status, why) -> None:
    view = ClusterView(deployments=[dep(**status)])
    pending = run("workload_ready", view, k8s, minutes=1)
    assert pending.state == "pending" and why in pending.detail
    failed = run("workload_ready", view, k8s, minutes=5)
    assert failed.state == "failed"
    assert failed.detail.startswith("not recovered within 5m00s") and why in failed.detail


def test_workload_ready_for_a_missing_deployment_is_pending(k8s) -> None:
    assert run("workload_ready", ClusterView(), k8s).state == "pending"


def test_workload_ready_of_a_statefulset_looks_at_its_pods(k8s) -> None:
    db = Target(kind=TargetKind.STATEFULSET, namespace="shop", name="db")
    ready = k8s.pod("db-0", owner=("StatefulSet", "db"))
    unready = k8s.pod("db-1", owner=("StatefulSet", "db"), ready=False)
    assert run("workload_ready", ClusterView(pods=[ready]), k8s, target=db).state == "recovered"
    result = run("workload_ready", ClusterView(pods=[ready, unready]), k8s, target=db)
    assert result.state == "pending" and "db-1" in result.detail
    assert run("workload_ready", ClusterView(), k8s, target=db).state == "pending"


# -- the stability window and the timeout --------------------------------------------------


def test_recovered_needs_the_check_to_hold_for_the_window(k8s) -> None:
    view = ClusterView(deployments=[dep()])
    kw = {"plan_kw": {"stable": 60}}
    first = run("workload_ready", view, k8s, minutes=1, **kw)
    assert first.state == "pending" and first.first_ok_at == k8s.at(1)
    assert "holding for 0s of 1m00s" in first.detail
    half = run("workload_ready", view, k8s, minutes=1.5, state=first.state_after, **kw)
    assert half.state == "pending" and half.first_ok_at == k8s.at(1)
    done = run("workload_ready", view, k8s, minutes=2, state=half.state_after, **kw)
    assert done.state == "recovered" and "held for 1m00s" in done.detail


def test_an_interruption_restarts_the_window(k8s) -> None:
    good = ClusterView(deployments=[dep()])
    bad = ClusterView(deployments=[dep(available=1)])
    kw = {"plan_kw": {"stable": 60}}
    s1 = run("workload_ready", good, k8s, minutes=1, **kw)
    s2 = run("workload_ready", bad, k8s, minutes=1.5, state=s1.state_after, **kw)
    assert s2.state == "pending" and s2.first_ok_at is None
    s3 = run("workload_ready", good, k8s, minutes=2, state=s2.state_after, **kw)
    assert s3.state == "pending" and s3.first_ok_at == k8s.at(2)
    s4 = run("workload_ready", good, k8s, minutes=3, state=s3.state_after, **kw)
    assert s4.state == "recovered"
    assert s4.state_after.evaluations == 4


def test_a_streak_started_before_the_timeout_may_finish_after_it(k8s) -> None:
    view = ClusterView(deployments=[dep()])
    kw = {"plan_kw": {"stable": 60, "timeout": 120}}
    s1 = run("workload_ready", view, k8s, minutes=1.5, **kw)
    assert s1.state == "pending"
    s2 = run("workload_ready", view, k8s, minutes=2.5, state=s1.state_after, **kw)
    assert s2.state == "recovered"


def test_first_good_look_after_the_timeout_is_too_late(k8s) -> None:
    view = ClusterView(deployments=[dep()])
    result = run("workload_ready", view, k8s, minutes=3, plan_kw={"stable": 60, "timeout": 120})
    assert result.state == "failed" and "only now" in result.detail


def test_without_a_window_the_first_good_look_at_the_deadline_counts(k8s) -> None:
    view = ClusterView(deployments=[dep()])
    assert (
        run("workload_ready", view, k8s, minutes=5, plan_kw={"timeout": 300}).state == "recovered"
    )


def test_unknown_check_fails(k8s) -> None:
    result = run("made_up", ClusterView(), k8s)
    assert result.state == "failed" and "made_up" in result.detail


# -- no_new_restarts_for -------------------------------------------------------------------


def _crashy(k8s, name: str, restarts: int, **kw) -> Pod:
    return k8s.pod(name, statuses=[k8s.container_status(restarts=restarts)], **kw)


def _rs_view(k8s, *pods, revision: int = 2) -> ClusterView:
    return ClusterView(
        pods=pods,
        deployments=[dep(revision=revision)],
        replica_sets=[
            k8s.replica_set("web-1", revision=1, created=-300),
            k8s.replica_set("web-2", revision=2, created=-60),
        ],
    )


def test_no_new_restarts_holds_and_recovers_after_the_window(k8s) -> None:
    before = _rs_view(k8s, _crashy(k8s, "web-a", 5))
    baseline = baseline_for(WEB, before)
    assert baseline.restarts == {"uid-web-a/app": 5}
    kw = {"plan_kw": {"stable": 300, "timeout": 600}}
    s1 = run("no_new_restarts_for", before, k8s, minutes=1, baseline=baseline, **kw)
    assert s1.state == "pending"
    s2 = run(
        "no_new_restarts_for", before, k8s, minutes=6, baseline=baseline, state=s1.state_after, **kw
    )
    assert s2.state == "recovered" and "no container of 1 pod(s) restarted" in s2.detail


def test_a_new_restart_fails_at_once(k8s) -> None:
    baseline = baseline_for(WEB, _rs_view(k8s, _crashy(k8s, "web-a", 5)))
    after = _rs_view(k8s, _crashy(k8s, "web-a", 6))
    result = run(
        "no_new_restarts_for", after, k8s, minutes=1, baseline=baseline, plan_kw={"stable": 300}
    )
    assert result.state == "failed" and "(5 -> 6)" in result.detail


def test_a_replacement_pod_is_compared_with_zero(k8s) -> None:
    baseline = baseline_for(WEB, _rs_view(k8s, _crashy(k8s, "web-a", 5)))
    fresh = _rs_view(k8s, _crashy(k8s, "web-b", 0))
    assert run("no_new_restarts_for", fresh, k8s, baseline=baseline).state == "recovered"
    crashed = _rs_view(k8s, _crashy(k8s, "web-b", 1))
    assert run("no_new_restarts_for", crashed, k8s, baseline=baseline).state == "failed"


def test_a_recreated_pod_with_the_same_name_is_a_new_pod(k8s) -> None:
    old = _crashy(k8s, "db-0", 5)
    baseline = baseline_for(WEB, _rs_view(k8s, old))
    new_meta = msgspec.structs.replace(old.metadata, uid="uid-db-0-new")
    new = msgspec.structs.replace(_crashy(k8s, "db-0", 2), metadata=new_meta)
    result = run("no_new_restarts_for", _rs_view(k8s, new), k8s, baseline=baseline)
    assert result.state == "failed" and "(0 -> 2)" in result.detail


def test_pods_of_an_old_revision_are_ignored(k8s) -> None:
    old = _crashy(k8s, "web-old", 9, owner=("ReplicaSet", "web-1"))
    new = _crashy(k8s, "web-new", 0, owner=("ReplicaSet", "web-2"))
    baseline = baseline_for(
        WEB, _rs_view(k8s, _crashy(k8s, "web-old", 3, owner=("ReplicaSet", "web-1")))
    )
    assert (
        run("no_new_restarts_for", _rs_view(k8s, old, new), k8s, baseline=baseline).state
        == "recovered"
    )


@pytest.mark.parametrize(
    ("pod_kw", "why"),
    [
        ({"phase": "Pending"}, "is Pending"),
        ({"statuses": "crashloop"}, "CrashLoopBackOff"),
    ],
)
def test_no_new_restarts_pending_while_not_running(k8s, pod_kw, why) -> None:
    if pod_kw.get("statuses") == "crashloop":
        pod_kw = {"statuses": [k8s.container_status(restarts=0, waiting="CrashLoopBackOff")]}
    view = _rs_view(k8s, k8s.pod("web-a", **pod_kw))
    baseline = baseline_for(WEB, view)
    result = run("no_new_restarts_for", view, k8s, baseline=baseline)
    assert result.state == "pending" and why in result.detail


def test_no_new_restarts_without_pods_is_pending_then_failed(k8s) -> None:
    view = _rs_view(k8s)
    assert run("no_new_restarts_for", view, k8s, minutes=1).state == "pending"
    assert run("no_new_restarts_for", view, k8s, minutes=6).state == "failed"


# -- nodes ---------------------------------------------------------------------------------


def test_node_ready(k8s) -> None:
    assert run("node_ready", ClusterView(nodes=[k8s.node()]), k8s, target=N1).state == "recovered"
    down = ClusterView(nodes=[k8s.node(ready="Unknown")])
    pending = run("node_ready", down, k8s, target=N1)
    assert pending.state == "pending" and "NodeStatusUnknown" in pending.detail
    assert run("node_ready", down, k8s, target=N1, minutes=6).state == "failed"
    assert run("node_ready", ClusterView(), k8s, target=N1).state == "pending"


def test_node_drained(k8s) -> None:
    cordoned = k8s.node(unschedulable=True)
    daemon = k8s.pod("agent", owner=("DaemonSet", "agent"))
    mirror = msgspec.structs.replace(
        k8s.pod("etcd", owner=None),
        metadata=msgspec.structs.replace(
            k8s.pod("etcd", owner=None).metadata,
            annotations={"kubernetes.io/config.mirror": "x"},
        ),
    )
    done_pod = k8s.pod("job-1", owner=("Job", "job"), phase="Succeeded")
    leaving = k8s.pod("web-a", deleting=True)
    view = ClusterView(nodes=[cordoned], pods=[daemon, mirror, done_pod, leaving])
    assert run("node_drained", view, k8s, target=N1).state == "recovered"
    left = ClusterView(nodes=[cordoned], pods=[daemon, k8s.pod("web-b")])
    result = run("node_drained", left, k8s, target=N1)
    assert result.state == "pending" and "shop/web-b" in result.detail
    assert run("node_drained", left, k8s, target=N1, minutes=6).state == "failed"
    schedulable = ClusterView(nodes=[k8s.node()])
    assert "not cordoned" in run("node_drained", schedulable, k8s, target=N1).detail


# -- pdb, hpa, alert, signals --------------------------------------------------------------


def test_pdb_exists(k8s) -> None:
    with_pdb = ClusterView(deployments=[dep()], pdbs=[k8s.pdb()])
    assert run("pdb_exists", with_pdb, k8s).state == "recovered"
    without = ClusterView(deployments=[dep()])
    assert run("pdb_exists", without, k8s).state == "pending"
    assert run("pdb_exists", without, k8s, minutes=6).state == "failed"


def test_hpa_not_maxed(k8s) -> None:
    room = ClusterView(hpas=[k8s.hpa(max_replicas=9, current=6, desired=6)])
    assert run("hpa_not_maxed", room, k8s).state == "recovered"
    pinned = ClusterView(hpas=[k8s.hpa(max_replicas=6, current=6, desired=8)])
    result = run("hpa_not_maxed", pinned, k8s)
    assert result.state == "pending" and "maxReplicas 6" in result.detail
    assert run("hpa_not_maxed", pinned, k8s, minutes=6).state == "failed"
    not_limited = ClusterView(hpas=[k8s.hpa(scaling_limited="False")])
    assert run("hpa_not_maxed", not_limited, k8s).state == "recovered"
    assert run("hpa_not_maxed", ClusterView(), k8s).state == "pending"


def test_alert_resolved(k8s) -> None:
    view = ClusterView()
    assert run("alert_resolved", view, k8s, alert_firing=False).state == "recovered"
    assert run("alert_resolved", view, k8s, alert_firing=True).state == "pending"
    assert run("alert_resolved", view, k8s, alert_firing=True, minutes=6).state == "failed"
    # without alert_firing, the incident's signals stand in for the alert
    assert run("alert_resolved", view, k8s, signals_active=False).state == "recovered"
    assert run("alert_resolved", view, k8s, signals_active=True).state == "pending"
    unknown = run("alert_resolved", view, k8s)
    assert unknown.state == "pending" and "unknown" in unknown.detail


def test_signals_cleared(k8s) -> None:
    view = ClusterView()
    assert run("signals_cleared", view, k8s, signals_active=False).state == "recovered"
    assert run("signals_cleared", view, k8s, signals_active=True).state == "pending"
    assert run("signals_cleared", view, k8s, signals_active=True, minutes=6).state == "failed"
    assert run("signals_cleared", view, k8s).state == "pending"


def test_every_playbook_check_is_implemented() -> None:
    from kubeheal.engine.playbooks.schema import VerificationCheck

    assert {c.value for c in VerificationCheck} <= set(CHECKS)


# -- baseline and state --------------------------------------------------------------------


def test_baseline_captures_what_the_checks_compare(k8s) -> None:
    view = ClusterView(
        pods=[_crashy(k8s, "web-a", 4), _crashy(k8s, "web-b", 0), k8s.pod("web-c", deleting=True)],
        deployments=[dep(revision=2, generation=6)],
        replica_sets=[
            k8s.replica_set("web-1", revision=1, created=-300),
            k8s.replica_set("web-2", revision=2, created=-60),
        ],
        hpas=[k8s.hpa()],
        pdbs=[k8s.pdb()],
        nodes=[k8s.node(unschedulable=True)],
    )
    base = baseline_for(WEB, view)
    assert base.restarts == {"uid-web-a/app": 4, "uid-web-b/app": 0}
    assert base.pods == ("uid-web-a", "uid-web-b")
    assert (base.generation, base.revision, base.replica_set) == (6, 2, "web-2")
    assert base.hpa_max_replicas == {"web": 6}
    assert base.pdbs == ("web-pdb",)
    node_base = baseline_for(N1, view)
    assert (node_base.node_ready, node_base.node_unschedulable) == (True, True)
    assert node_base.restarts == {}


def test_results_and_baselines_round_trip_as_json(k8s) -> None:
    view = ClusterView(deployments=[dep()])
    base = baseline_for(WEB, view)
    assert msgspec.json.decode(msgspec.json.encode(base), type=Baseline) == base
    result = run("workload_ready", view, k8s, plan_kw={"stable": 60})
    back = msgspec.json.decode(msgspec.json.encode(result), type=VerifyResult)
    assert back == result and back.state_after.first_ok_at == k8s.at(1)


def test_evaluate_does_not_mutate_its_inputs(k8s) -> None:
    state = VerifyState(first_ok_at=k8s.at(0) + timedelta(seconds=10), evaluations=2)
    base = Baseline(target=WEB)
    run(
        "workload_ready",
        ClusterView(deployments=[dep(available=0)]),
        k8s,
        state=state,
        baseline=base,
    )
    assert state.first_ok_at == k8s.at(0) + timedelta(seconds=10) and state.evaluations == 2
    assert base == Baseline(target=WEB)
