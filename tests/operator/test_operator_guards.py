"""The negative cases end to end: guards that block, dry-run, PDBs that refuse, budgets,
GitOps-owned workloads. Each checks that the twin was not changed and the ledger says why."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kubeheal.config import Settings
from kubeheal.store import records as rec
from kubeheal.twin.sim.nodes import NodeConfig, memory_threshold

ESCALATED = rec.IncidentState.ESCALATED


def _bad_image(kh: Any) -> str:
    return kh.SAMPLE_IMAGE.replace(":1.4.2", ":crash-1.4.2")


async def test_kill_switch_configmap_blocks_every_action_until_lifted(kh: Any) -> None:
    async with kh.run() as r:
        r.create(
            "namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeheal-system"}},
        )
        r.create(
            "configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kubeheal-kill-switch", "namespace": "kubeheal-system"},
                "data": {"disabled": "true"},
            },
        )
        await r.until(
            lambda: r.h.operator.kill_switch.state == "on", what="the kill switch to be seen"
        )
        r.inject(kh.BAD_ROLLOUT)
        inc = await r.until(
            lambda: (i := r.incident()) and r.blocked_plan(i, "kill_switch") and i,
            what="a plan blocked by the kill switch",
        )
        await r.settled(sweeps=6)  # several sweeps: still nothing done
        assert r.actions(inc) == [] and r.all_actions() == []
        assert r.image() == _bad_image(kh)
        assert r.events("demo", reason="KubehealAction") == []
        assert kh.last_action_note(r.deployment()) is None
        assert (
            r.blocked_plan(inc, "kill_switch").reason == "kill_switch: the global kill switch is on"
        )
        # lifting the switch lets the same incident proceed: the block was the only obstacle
        r.delete("configmaps", "kubeheal-system", "kubeheal-kill-switch")
        done = await r.until(r.closed, what="the incident to close")
        assert done.id == inc.id
        assert [a.action for a in r.actions(done)] == ["rollback_deployment"]
        assert r.image() == kh.SAMPLE_IMAGE


async def test_disabled_annotation_on_the_workload_blocks_actions(kh: Any) -> None:
    async with kh.run() as r:

        def disable(dep: dict[str, Any]) -> None:
            dep["metadata"].setdefault("annotations", {})["kubeheal.io/disabled"] = "true"

        r.mutate("deployments", "demo", "sample-app", disable)
        await r.until(
            lambda: (
                (d := r.h.operator.view.deployment_for(_sample_target()))
                and d.metadata.annotations.get("kubeheal.io/disabled") == "true"
            ),
            what="the operator to see the annotation",
        )
        r.inject(kh.BAD_ROLLOUT)
        inc = await r.until(
            lambda: (i := r.incident()) and r.blocked_plan(i, "kill_switch") and i,
            what="a plan blocked by the annotation",
        )
        await r.settled(sweeps=6)
        assert "kubeheal.io/disabled=true" in r.blocked_plan(inc, "kill_switch").reason
        assert r.all_actions() == []
        assert r.image() == _bad_image(kh)
        assert r.events("demo", reason="KubehealAction") == []


def _sample_target() -> Any:
    from kubeheal.model.core import Target, TargetKind

    return Target(kind=TargetKind.DEPLOYMENT, namespace="demo", name="sample-app")


async def test_excluded_namespace_is_left_alone(kh: Any) -> None:
    async with kh.run() as r:
        template = copy.deepcopy(r.deployment())
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "sys-app",
                "namespace": "kube-system",
                "labels": {"app": "sys-app"},
            },
            "spec": copy.deepcopy(template["spec"]),
        }
        body["spec"]["replicas"] = 1
        body["spec"]["selector"] = {"matchLabels": {"app": "sys-app"}}
        body["spec"]["template"]["metadata"]["labels"] = {"app": "sys-app"}
        r.create("deployments", body)
        await r.until(
            lambda: (
                (r.deployment("kube-system", "sys-app").get("status") or {}).get(
                    "availableReplicas"
                )
                == 1
            ),
            what="sys-app to be available",
        )
        r.inject(
            {
                "kind": "crash-on-start",
                "target": {"namespace": "kube-system", "deployment": "sys-app"},
            }
        )
        bad = r.image("kube-system", "sys-app")
        inc = await r.until(
            lambda: (
                (i := r.incident("sys-app", namespace="kube-system"))
                and r.blocked_plan(i, "excluded_namespace")
                and i
            ),
            what="a plan blocked by the excluded namespace",
        )
        await r.settled(sweeps=6)
        assert r.all_actions() == []
        assert r.image("kube-system", "sys-app") == bad
        assert r.events("kube-system", reason="KubehealAction") == []
        assert (
            "namespace kube-system is excluded" in r.blocked_plan(inc, "excluded_namespace").reason
        )
        # and sample-app, outside it, was never touched
        assert r.incidents() == []


async def test_dry_run_records_the_plan_and_changes_nothing(kh: Any) -> None:
    settings = Settings.model_validate({"guards": {"dry_run": True}})
    async with kh.run(settings=settings) as r:
        r.inject(kh.BAD_ROLLOUT)
        await r.until(
            lambda: (
                r.deployment()["metadata"]["annotations"].get("deployment.kubernetes.io/revision")
                == "2"
            ),
            what="the bad rollout to start",
        )
        before = r.deployment()
        inc = await r.until(r.closed, what="the incident to close")
        assert inc.state is ESCALATED
        plans = [p for p in r.plans(inc) if p.action == "rollback_deployment"]
        assert len(plans) == 1 and plans[0].dry_run
        actions = r.actions(inc)
        assert [(a.action, a.state) for a in actions] == [
            ("rollback_deployment", rec.ActionState.SKIPPED)
        ]
        assert "dry-run" in r.transitions(inc)[-1].reason
        await r.settled(sweeps=4)
        after = r.deployment()
        assert after["spec"] == before["spec"]
        assert after["metadata"]["generation"] == before["metadata"]["generation"]
        assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
        assert r.image() == _bad_image(kh)
        assert r.events("demo", reason="KubehealAction") == []
        assert len(r.incidents()) == 1, r.describe()


SHORT_DRAIN = """
name: node-pressure-drain
description: The built-in drain with a short eviction timeout, for a fast test.
enabled: true
mode: enforce
priority: 60
triggers:
  signals: [NodeMemoryPressure]
  target_kinds: [Node]
steps:
  - action: drain_node
    params:
      grace_period: 30s
      timeout: 4s
      ignore_daemonsets: true
  - action: escalate
    params:
      reason: Draining the node did not relieve its memory pressure.
verification:
  check: signals_cleared
  timeout: 15m
on_failure: next_step
"""


async def test_pdb_refusing_evictions_fails_the_drain_without_deleting_pods(
    kh: Any, tmp_path: Path
) -> None:
    playbooks = kh.playbooks_with(SHORT_DRAIN, tmp_path)
    async with kh.run(playbooks=playbooks) as r:

        def all_needed(pdb: dict[str, Any]) -> None:
            pdb["spec"].pop("minAvailable", None)
            pdb["spec"]["maxUnavailable"] = 0  # however many replicas: no eviction allowed

        r.mutate("poddisruptionbudgets", "demo", "sample-app", all_needed)

        def settled() -> bool:
            status = r.get("poddisruptionbudgets", "demo", "sample-app").get("status") or {}
            return status.get("currentHealthy") == 3 and status.get("disruptionsAllowed") == 0

        await r.until(settled, what="3 healthy pods and a PDB that allows no disruption")
        await asyncio.sleep(0.5)  # memory use of the fresh pods settles
        spy = r.spy_pod_writes()
        # just below the kubelet's eviction threshold: it evicts one pod itself, the rest
        # are left to the drain (and the PDB)
        nrt = r.h.twin.runtime.nodes["worker-1"]
        threshold = memory_threshold(r.get("nodes", None, "worker-1"), NodeConfig())
        squeeze = nrt.memory_available_bytes - threshold + 4 * 2**20
        r.inject(
            {
                "kind": "node-memory-pressure",
                "target": {"node": "worker-1"},
                "params": {"bytes": squeeze},
            }
        )
        inc = await r.until(
            lambda: r.closed("worker-1", kind="Node"), what="the node incident to close"
        )
        assert inc.state is ESCALATED, r.describe()
        actions = r.actions(inc)
        assert [(a.action, a.state) for a in actions] == [("drain_node", rec.ActionState.FAILED)]
        assert "PodDisruptionBudget" in (actions[0].error or "")
        assert spy.pod_deletes == [], "a drain never deletes pods directly"
        refused = [ref for ref in spy.evictions if ref.startswith("demo/sample-app")]
        assert len(refused) > len(set(refused)), "refused evictions are retried"
        assert "did not relieve its memory pressure" in r.transitions(inc)[-1].reason
        # the pods the PDB protected are still running on the node
        kept = [
            p
            for p in r.pods_of()
            if p["spec"].get("nodeName") == "worker-1" and p["status"].get("phase") == "Running"
        ]
        assert kept, "the PDB-protected pod stays"
        assert all(f"demo/{p['metadata']['name']}" in refused for p in kept)


async def test_spent_budget_escalates_instead_of_acting(kh: Any) -> None:
    settings = Settings.model_validate(
        {"guards": {"global_budget_per_hour": 1}, "detection": {"missing_pdb_grace": "0s"}}
    )
    async with kh.run(settings=settings) as r:
        r.delete("poddisruptionbudgets", "demo", "sample-app")  # spends the one action
        first = await r.until(r.closed, what="the PDB incident to close")
        assert [a.action for a in r.actions(first)] == ["create_pdb"]
        r.inject(kh.BAD_ROLLOUT)
        second = await r.until(
            lambda: (i := r.closed()) and i.id != first.id and i, what="a second incident to close"
        )
        assert second.state is ESCALATED, r.describe()
        assert r.actions(second) == []
        plan = r.blocked_plan(second, "budget_global")
        assert plan is not None and "global budget spent: 1 of 1" in plan.reason
        assert "global budget spent" in r.transitions(second)[-1].reason
        assert r.image() == _bad_image(kh)
        assert len(r.all_actions()) == 1


@pytest.mark.parametrize(
    ("label", "value", "owner"),
    [
        ("app.kubernetes.io/managed-by", "Helm", "Helm"),
        ("argocd.argoproj.io/instance", "demo-apps", "Argo CD"),
    ],
)
async def test_gitops_owned_workload_is_escalated_with_the_patch(
    kh: Any, label: str, value: str, owner: str
) -> None:
    async with kh.run() as r:

        def own(dep: dict[str, Any]) -> None:
            dep["metadata"].setdefault("labels", {})[label] = value

        r.mutate("deployments", "demo", "sample-app", own)
        await r.until(
            lambda: (
                (d := r.h.operator.view.deployment_for(_sample_target()))
                and d.metadata.labels.get(label) == value
            ),
            what="the operator to see the label",
        )
        r.inject(kh.BAD_ROLLOUT)
        generation = r.deployment()["metadata"]["generation"]
        inc = await r.until(r.closed, what="the incident to close")
        assert inc.state is ESCALATED, r.describe()
        assert r.actions(inc) == []
        expected = {
            "spec": {
                "template": {"spec": {"containers": [{"image": kh.SAMPLE_IMAGE, "name": "app"}]}}
            }
        }
        escalation = [p for p in r.plans(inc) if p.action == "escalate"]
        assert len(escalation) == 1
        assert json.loads(str(escalation[0].params["patch"])) == expected
        reason = r.transitions(inc)[-1].reason
        assert f"managed by {owner}" in reason
        assert "patch to commit" in reason and kh.SAMPLE_IMAGE in reason
        # the template was not patched
        assert r.image() == _bad_image(kh)
        assert r.deployment()["metadata"]["generation"] == generation
        assert r.events("demo", reason="KubehealAction") == []
