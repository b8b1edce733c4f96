"""Golden-signal remediations end to end on the twin: HPA at its ceiling within the room on
the nodes, the outlier pod of a burn, a burn after a config-only rollout."""

from __future__ import annotations

from typing import Any

from kubeheal.engine.detect import alert_signal
from kubeheal.model.core import Signal, SignalKind, SignalSource, Target, TargetKind
from kubeheal.store import records as rec

ESCALATED = rec.IncidentState.ESCALATED


def _cordon(node: dict[str, Any]) -> None:
    node.setdefault("spec", {})["unschedulable"] = True


async def test_hpa_at_max_without_room_on_the_nodes_escalates_with_the_figures(kh: Any) -> None:
    async with kh.run() as r:

        def small_max(hpa: dict[str, Any]) -> None:
            hpa["spec"]["maxReplicas"] = 4

        r.mutate("horizontalpodautoscalers", "demo", "sample-app", small_max)
        # Both workers cordoned (the control-plane node is tainted): no node can take a pod.
        for name in ("worker-1", "worker-2"):
            r.mutate("nodes", None, name, _cordon)
        r.inject(
            {
                "kind": "traffic-spike",
                "target": {"namespace": "demo", "service": "sample-app"},
                "params": {"multiplier": 10},
            }
        )

        def escalated() -> rec.IncidentRecord | None:
            found = [
                i for i in r.incidents() if i.playbook == "hpa-maxed-raise" and i.state is ESCALATED
            ]
            return found[-1] if found else None

        inc = await r.until(escalated, what="the HPA incident to be escalated")
        assert not [a for a in r.all_actions() if a.action == "raise_hpa_max"], r.describe()
        reason = r.transitions(inc)[-1].reason
        assert "The HPA is at its ceiling and still wants more replicas." in reason
        assert "HPA sample-app: 4 current / 4 max replicas" in reason, reason
        assert "0 more pod(s) of 100m CPU / 128Mi fit on 0 schedulable node(s)" in reason, reason
        # never fights the HPA: its bound and the Deployment's replicas are the HPA's own
        assert r.get("horizontalpodautoscalers", "demo", "sample-app")["spec"]["maxReplicas"] == 4
        assert r.deployment()["spec"]["replicas"] <= 4


def _p50(r: Any, pod: dict[str, Any]) -> float:
    """The pod's current p50 latency in the twin: what a per-pod query would read."""
    runtime = r.h.twin.runtime.pods.get(pod["metadata"]["uid"])
    return float(runtime.current_latency_p50) if runtime is not None else 0.0


async def test_the_one_slow_pod_of_a_latency_burn_is_restarted(kh: Any) -> None:
    async with kh.run() as r:

        def serving() -> list[dict[str, Any]] | None:
            found = r.pods_of()
            return found if len(found) == 3 and all(_p50(r, p) > 0 for p in found) else None

        pods = await r.until(serving, what="three serving sample-app pods")
        slow = pods[1]["metadata"]["name"]
        r.inject(
            {
                "kind": "latency-spike",
                "target": {"namespace": "demo", "pod": slow},
                "params": {"latency_ms": 2000},
            }
        )
        await r.until(
            lambda: _p50(r, r.get("pods", "demo", slow) or pods[1]) > 1.0,
            what="the slow pod's latency to rise",
        )
        per_pod = {f"pod:{p['metadata']['name']}": round(_p50(r, p), 4) for p in r.pods_of()}
        target = Target(kind=TargetKind.DEPLOYMENT, namespace="demo", name="sample-app")
        r.h.operator.submit(
            [
                Signal(
                    id=Signal.make_id(SignalKind.SLO_BURN, target, "slo/sample-app-latency"),
                    kind=SignalKind.SLO_BURN,
                    target=target,
                    observed_at=r.h.now(),
                    subject="slo/sample-app-latency",
                    details={"slo": "sample-app-latency", "severity": "page", **per_pod},
                    source=SignalSource.SLO,
                )
            ]
        )

        def restarted() -> rec.ActionRecord | None:
            return next(
                (
                    a
                    for a in r.all_actions()
                    if a.action == "restart_pod" and a.state is not rec.ActionState.PENDING
                ),
                None,
            )

        action = await r.until(restarted, what="the slow pod to be restarted")
        assert action.state is rec.ActionState.SUCCEEDED, r.describe()
        assert action.params["pod"] == slow
        inc = r.incident()
        assert inc is not None and inc.playbook == "golden-outlier-restart"
        plan = next(p for p in r.plans(inc) if p.action == "restart_pod")
        assert f"outlier: pod {slow}:" in plan.reason, plan.reason
        # exactly that pod went; its peers kept running, and its replacement serves normally
        names = {p["metadata"]["name"] for p in r.pods_of()}
        assert slow not in names
        assert {p["metadata"]["name"] for p in pods if p["metadata"]["name"] != slow} <= names
        await r.until(
            lambda: len(r.pods_of()) == 3 and all(0 < _p50(r, p) < 1.0 for p in r.pods_of()),
            what="three pods serving at normal latency again",
        )
        assert len([a for a in r.all_actions() if a.action == "restart_pod"]) == 1


async def test_an_error_burn_after_a_config_only_rollout_rolls_the_config_back(kh: Any) -> None:
    async with kh.run() as r:
        await r.until(
            lambda: r.deployment()["status"].get("availableReplicas", 0) == 3,
            what="sample-app to be available",
        )

        def new_config(dep: dict[str, Any]) -> None:
            template = dep["spec"]["template"]
            template["metadata"].setdefault("annotations", {})["checksum/config"] = "v2"
            template["spec"]["containers"][0]["env"] = [{"name": "LOG_LEVEL", "value": "debug"}]
            dep["metadata"]["generation"] = dep["metadata"].get("generation", 1) + 1

        r.mutate("deployments", "demo", "sample-app", new_config)

        def rolled_out() -> bool:
            status = r.deployment()["status"]
            sets = [s for s in r.list("replicasets", "demo") if s["spec"].get("replicas")]
            return (
                len(r.list("replicasets", "demo")) >= 2
                and len(sets) == 1
                and (status.get("updatedReplicas") == status.get("availableReplicas") == 3)
            )

        await r.until(rolled_out, what="the config-only rollout to complete")
        assert r.image() == kh.SAMPLE_IMAGE  # the image did not change: only the config
        signal = alert_signal(
            alertname="HighErrorRate",
            labels={"namespace": "demo", "deployment": "sample-app", "severity": "critical"},
            observed_at=r.h.now(),
        )
        assert signal is not None
        r.h.operator.submit([signal])

        def rolled_back() -> rec.ActionRecord | None:
            return next(
                (
                    a
                    for a in r.all_actions()
                    if a.action == "rollback_deployment" and a.state is not rec.ActionState.PENDING
                ),
                None,
            )

        action = await r.until(rolled_back, what="the rollback")
        assert action.state is rec.ActionState.SUCCEEDED, r.describe()
        inc = r.incident()
        assert inc is not None and inc.playbook == "slo-burn-rollback"
        template = r.deployment()["spec"]["template"]
        annotations = template["metadata"].get("annotations") or {}
        assert "checksum/config" not in annotations
        env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0].get("env", [])}
        assert env.get("LOG_LEVEL") == "info"
