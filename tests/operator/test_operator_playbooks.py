"""Every built-in playbook end to end: a fault in the twin, the operator heals (or escalates),
and the twin's store and the ledger show exactly what was done."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeheal.config import Settings
from kubeheal.model.quantity import parse_memory
from kubeheal.store import records as rec

RESOLVED = rec.IncidentState.RESOLVED
ESCALATED = rec.IncidentState.ESCALATED


async def test_bad_rollout_is_rolled_back(kh: Any) -> None:
    async with kh.run() as r:
        revision_before = int(
            r.deployment()["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        )
        r.inject(kh.BAD_ROLLOUT)
        assert r.image() != kh.SAMPLE_IMAGE
        inc = await r.until(r.closed, what="the incident to close")
        assert inc.state is RESOLVED, r.describe()
        assert inc.resolution is rec.Resolution.AUTO
        assert inc.playbook == "crashloop-after-rollout"
        actions = r.actions(inc)
        assert [(a.action, a.state) for a in actions] == [
            ("rollback_deployment", rec.ActionState.SUCCEEDED)
        ]
        assert actions[0].params["to_revision"] == revision_before
        # the twin: template back to the previous image, a new revision, event + annotation
        dep = r.deployment()
        assert r.image() == kh.SAMPLE_IMAGE
        assert int(dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) > 2
        note = kh.last_action_note(dep)
        assert note is not None and note["action"] == "rollback_deployment"
        assert note["incident"] == inc.id and note["key"] == actions[0].idempotency_key
        events = r.events("demo", reason="KubehealAction", name="sample-app")
        assert len(events) == 1
        assert events[0]["involvedObject"]["kind"] == "Deployment"
        assert "rolled Deployment demo/sample-app back" in events[0]["message"]
        assert r.h.ledger.verifications_for_action(actions[0].idempotency_key)[-1].recovered


async def test_crash_loop_without_rollout_restarts_once_then_escalates_with_logs(kh: Any) -> None:
    async with kh.run() as r:
        rs_before = {rs["metadata"]["name"] for rs in r.list("replicasets", "demo")}
        # every (re)start of the pods crashes; killing one starts the crash loop
        r.inject(
            {
                "kind": "crash-on-start",
                "target": {"namespace": "demo", "labels": {"app": "sample-app"}},
            }
        )
        r.inject(
            {"kind": "pod-kill", "target": {"namespace": "demo", "labels": {"app": "sample-app"}}}
        )
        inc = await r.until(r.closed, what="the incident to close")
        assert inc.state is ESCALATED, r.describe()
        assert inc.playbook == "crashloop-restart"
        actions = r.actions(inc)
        assert [(a.action, a.state) for a in actions] == [
            ("restart_pod", rec.ActionState.SUCCEEDED)
        ]
        restarted = str(actions[0].params["pod"])
        assert r.get("pods", "demo", restarted) is None, "the restarted pod was deleted"
        reason = r.transitions(inc)[-1].reason
        assert "keeps crashing after a restart" in reason
        assert "last logs of" in reason and "cannot start without configuration" in reason
        # The Event follows the ledger's transition: wait for it rather than race it.
        escalation = await r.until(
            lambda: r.events("demo", reason="KubehealEscalated", name="sample-app"),
            what="the KubehealEscalated event",
        )
        assert len(escalation) == 1
        # no rollback, no rollout: the same ReplicaSets as before
        assert {rs["metadata"]["name"] for rs in r.list("replicasets", "demo")} == rs_before
        # the problem persists: it stays one escalated incident (no re-open storm)
        await asyncio.sleep(8 * kh.SWEEP)
        assert r.pods_of() and r.h.operator.event_count > 0
        assert len(r.incidents()) == 1, r.describe()


async def test_oom_raises_the_memory_limit_within_bounds(kh: Any) -> None:
    async with kh.run() as r:
        r.inject(
            {
                "kind": "memory-leak",
                "target": {"namespace": "demo", "deployment": "sample-app"},
                "params": {"bytes_per_second": "5Mi"},
            }
        )

        def raised() -> Any:
            return next(
                (
                    a
                    for a in r.all_actions()
                    if a.action == "raise_memory_limit" and a.state is rec.ActionState.SUCCEEDED
                ),
                None,
            )

        action = await r.until(raised, what="a memory limit raise")
        limits = r.deployment()["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["memory"] == "384Mi"  # 256Mi x 1.5
        assert action.params["new_limit"] == "384Mi"
        assert action.params["bounded_by"] == "factor"
        allocatable = min(
            parse_memory(n["status"]["allocatable"]["memory"]) for n in r.list("nodes")
        )
        assert parse_memory(limits["memory"]) <= min(parse_memory("2Gi"), allocatable)
        inc = r.incident()
        assert inc is not None and inc.playbook == "oom-raise-memory"
        note = kh.last_action_note(r.deployment())
        assert note is not None and note["action"] == "raise_memory_limit"


async def test_oom_limit_stops_at_the_cap_then_scales_out(kh: Any) -> None:
    settings = Settings.model_validate(
        {"remediation": {"max_memory_limit": "300Mi"}, "guards": {"cooldown": "20s"}}
    )
    async with kh.run(settings=settings) as r:
        hpa_min_before = r.get("horizontalpodautoscalers", "demo", "sample-app")["spec"][
            "minReplicas"
        ]
        r.inject(
            {
                "kind": "memory-leak",
                "target": {"namespace": "demo", "deployment": "sample-app"},
                "params": {"bytes_per_second": "8Mi"},
            }
        )

        def scaled() -> Any:
            return next((a for a in r.all_actions() if a.action == "scale_out"), None)

        await r.until(scaled, what="the scale-out after the capped raise")
        raises = [a for a in r.all_actions() if a.action == "raise_memory_limit"]
        assert len(raises) == 1, r.describe()
        assert raises[0].params["new_limit"] == "300Mi"
        assert raises[0].params["bounded_by"] == "settings max"
        limits = r.deployment()["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["memory"] == "300Mi"
        inc = r.incident()
        assert inc is not None
        notes = " ".join(p.reason for p in r.plans(inc))
        assert "already at its bound" in notes
        # The ledger records the action before its request is sent: wait for the HPA itself.
        await r.until(
            lambda: (
                r.get("horizontalpodautoscalers", "demo", "sample-app")["spec"]["minReplicas"]
                > hpa_min_before
            ),
            what="the HPA's minReplicas to rise",
        )


@pytest.mark.slow
async def test_node_memory_pressure_drains_one_node_through_evictions(kh: Any) -> None:
    # faster cluster time: the kubelet holds MemoryPressure 5 minutes after it eased
    async with kh.run(speed=30) as r:
        spy = r.spy_pod_writes()
        on_node = {
            p["metadata"]["name"] for p in r.pods_of() if p["spec"].get("nodeName") == "worker-1"
        }
        assert on_node, "the scenario puts sample-app pods on worker-1"
        r.inject({"kind": "node-memory-pressure", "target": {"node": "worker-1"}, "duration": 60})
        inc = await r.until(
            lambda: r.closed("worker-1", kind="Node"), what="the node incident to close"
        )
        assert inc.state is RESOLVED, r.describe()
        assert inc.playbook == "node-pressure-drain"
        actions = r.actions(inc)
        assert [(a.action, a.state) for a in actions] == [("drain_node", rec.ActionState.SUCCEEDED)]
        assert r.get("nodes", None, "worker-1")["spec"].get("unschedulable") is True
        # every pod left through the Eviction API, none was deleted directly
        assert spy.pod_deletes == []
        assert {ref.split("/", 1)[1] for ref in spy.evictions} >= on_node
        assert not [p for p in r.pods_of() if p["spec"].get("nodeName") == "worker-1"]
        # the PDB (minAvailable 2) held: the workload is whole again elsewhere
        await r.until(lambda: len([p for p in r.pods_of() if _ready(p)]) >= 3, what="3 ready pods")
        # one node at a time: pressure on a second node is not drained while worker-1 is
        r.inject({"kind": "node-memory-pressure", "target": {"node": "worker-2"}, "duration": 60})
        second = await r.until(
            lambda: (i := r.incident("worker-2", kind="Node")) and r.blocked_plan(i, "node_drain"),
            what="the second node to be blocked",
        )
        assert "worker-1" in second.reason
        assert r.get("nodes", None, "worker-2")["spec"].get("unschedulable") is not True
        assert r.get("nodes", None, "cp-1")["spec"].get("unschedulable") is not True
        assert not [a for a in r.all_actions() if a.target.name == "worker-2"]


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


async def test_multi_replica_workload_without_pdb_gets_one(kh: Any) -> None:
    # sample-app is as old as the twin: no grace period (tests/operator/test_operator_pdb.py)
    settings = Settings.model_validate({"detection": {"missing_pdb_grace": "0s"}})
    async with kh.run(settings=settings) as r:
        r.delete("poddisruptionbudgets", "demo", "sample-app")
        inc = await r.until(r.closed, what="the incident to close")
        assert inc.state is RESOLVED, r.describe()
        assert inc.playbook == "pdb-missing-create"
        assert [a.action for a in r.actions(inc)] == ["create_pdb"]
        pdb = r.get("poddisruptionbudgets", "demo", "sample-app-kubeheal")
        assert pdb is not None
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"] == {"matchLabels": {"app": "sample-app"}}
        assert pdb["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubeheal"


async def test_hpa_at_max_gets_its_max_raised(kh: Any) -> None:
    async with kh.run() as r:

        def small_max(hpa: dict[str, Any]) -> None:
            hpa["spec"]["maxReplicas"] = 4

        r.mutate("horizontalpodautoscalers", "demo", "sample-app", small_max)
        r.inject(
            {
                "kind": "traffic-spike",
                "target": {"namespace": "demo", "service": "sample-app"},
                "params": {"multiplier": 10},
            }
        )

        def raised() -> Any:
            return next(
                (
                    a
                    for a in r.all_actions()
                    if a.action == "raise_hpa_max" and a.state is not rec.ActionState.PENDING
                ),
                None,
            )

        action = await r.until(raised, what="maxReplicas to be raised")
        assert action.state is rec.ActionState.SUCCEEDED
        assert action.params["current_max"] == 4 and action.params["new_max"] == 6  # x1.5
        hpa = r.get("horizontalpodautoscalers", "demo", "sample-app")
        assert hpa["spec"]["maxReplicas"] == 6
        inc = r.incident()
        assert inc is not None and inc.playbook == "hpa-maxed-raise"
        # the HPA uses its new room
        await r.until(
            lambda: (
                r.get("horizontalpodautoscalers", "demo", "sample-app")["status"].get(
                    "currentReplicas", 0
                )
                > 4
            ),
            what="the HPA to scale past the old max",
        )


@pytest.mark.slow
async def test_drained_node_is_uncordoned_once_healthy_again(kh: Any) -> None:
    from datetime import timedelta

    from kubeheal.config import Settings

    base = Settings()
    settings = base.model_copy(
        update={
            "detection": base.detection.model_copy(update={"uncordon_after": timedelta(minutes=2)}),
            "guards": base.guards.model_copy(update={"cooldown": timedelta(minutes=1)}),
        }
    )
    async with kh.run(speed=30, settings=settings) as r:
        r.inject({"kind": "node-memory-pressure", "target": {"node": "worker-1"}, "duration": 30})
        drained = await r.until(
            lambda: r.closed("worker-1", kind="Node"), what="the drain incident to close"
        )
        assert drained.playbook == "node-pressure-drain", r.describe()
        assert r.get("nodes", None, "worker-1")["spec"].get("unschedulable") is True
        back = await r.until(
            lambda: (i := r.closed("worker-1", kind="Node")) and i.id != drained.id and i,
            what="the node to be uncordoned",
            timeout=60,
        )
        assert back.playbook == "node-recovered-uncordon", r.describe()
        assert [a.action for a in r.actions(back)] == ["uncordon_node"]
        assert not r.get("nodes", None, "worker-1")["spec"].get("unschedulable")
        # a node someone else cordoned is left alone
        assert not [a for a in r.all_actions() if a.target.name in ("worker-2", "cp-1")]
