"""``kubeheal.kubernetes``: PodCrashLooping, NodeMemoryPressure, PersistentVolumeUsageHigh,
KubePodNotReady, KubeDeploymentReplicasMismatch, KubeHpaMaxedOut, NodeNotReady, on the
objects kube-state-metrics and the kubelet report.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeheal.monitoring.alerts._common import (
    DEPLOY,
    HPA_EXPECTED,
    NS,
    POD_INSTANCE,
    PODS,
    Builder,
    Condition,
    Timing,
    condition_alert,
    duration,
    hpa_series,
    one_hot,
    pct,
    tiered,
    with_hpa_target,
)
from kubeheal.monitoring.fixtures import Value, gauge, number, selector, staircase, steps
from kubeheal.monitoring.model import (
    AlertRule,
    Category,
    ExpectedAlert,
    LabelTemplate,
    RuleGroup,
    Scenario,
    Series,
    Severity,
)

__all__ = ["NODE_CONDITIONS", "kubernetes_group"]

NODE_MEMORY_PRESSURE = Condition(
    alert="NodeMemoryPressure",
    condition="MemoryPressure",
    firing=("true",),
    healthy="false",
    fault="true",
    severity=Severity.WARNING,
    category=Category.CAPACITY,
    summary="Node {node} is under memory pressure",
    description=(
        "The kubelet of node {node} has reported MemoryPressure{held}: it is evicting "
        "pods and refuses new ones."
    ),
    fires_when="fires when the kubelet reports MemoryPressure",
    quiet_when="stays quiet without memory pressure",
    remediate=True,
)
NODE_NOT_READY = Condition(
    alert="NodeNotReady",
    condition="Ready",
    firing=("false", "unknown"),
    healthy="true",
    fault="unknown",
    severity=Severity.WARNING,
    category=Category.CRITICAL,
    summary="Node {node} is not ready",
    description=(
        "Node {node} has had its Ready condition False or Unknown{held}: its pods will be "
        "evicted and nothing new is scheduled there."
    ),
    fires_when="fires when the kubelet stops reporting (Ready Unknown)",
    quiet_when="stays quiet for a ready node",
    remediate=True,
)
NODE_CONDITIONS = (NODE_MEMORY_PRESSURE, NODE_NOT_READY)


def _crash_loop(b: Builder) -> AlertRule:
    cfg = b.c.kubernetes.crash_loop
    t = Timing.of(cfg.window, cfg.for_, fault=cfg.window + cfg.for_)
    step, warm, total = t.step, t.warm, t.total
    every = max(1, steps(cfg.window, step) // (cfg.restarts + 2))
    container = {"namespace": NS, "pod": PODS[0], "uid": "uid-0", "container": "app"}
    expr = (
        "max by (namespace, pod, container) (\n"
        '  kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}\n'
        ") == 1\n"
        "or\n"
        "sum by (namespace, pod, container) (\n"
        f"  increase(kube_pod_container_status_restarts_total[{duration(cfg.window)}])\n"
        f") >= {cfg.restarts}"
    )

    # the single restart falls inside the window and long enough before the evaluation that
    # a rule firing on any restart would fire
    single_at = max(warm + 1, total - steps(cfg.for_, step) - 2)

    def restarts(crashing: bool, single: bool = False) -> Series:
        samples: list[float] = []
        count = 0
        for i in range(total + 1):
            in_fault = i > warm
            if crashing and in_fault and (i - warm) % every == 0:
                count += 1
            if single and i == single_at:
                count = 1
            samples.append(count)
        return Series(
            selector("kube_pod_container_status_restarts_total", container), staircase(samples)
        )

    def waiting(phases: Sequence[tuple[Value, int]]) -> Series:
        return Series(
            selector(
                "kube_pod_container_status_waiting_reason",
                {**container, "reason": "CrashLoopBackOff"},
            ),
            gauge(phases),
        )

    expected = ExpectedAlert({"namespace": NS, "pod": PODS[0], "container": "app"})
    return b.alert(
        name="PodCrashLooping",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="Container {container} of {namespace}/{pod} is crash-looping",
        description=(
            "Container {container} of pod {namespace}/{pod} is in CrashLoopBackOff or "
            f"restarted at least {cfg.restarts} times within {duration(cfg.window)}{{held}}."
        ),
        target_labels=("namespace", "pod", "container"),
        instance=POD_INSTANCE,
        remediate=True,
        scenarios=(
            t.fires(
                "fires for a container in CrashLoopBackOff",
                [restarts(crashing=True), waiting([(None, warm), (1, t.fault)])],
                expected,
            ),
            t.fires(
                f"fires for a container restarting every {duration(every * step)} "
                "(no back-off yet)",
                [restarts(crashing=True)],
                expected,
            ),
            t.quiet("stays quiet while the container runs", [restarts(crashing=False)]),
            t.quiet("stays quiet after a single restart", [restarts(False, single=True)]),
        ),
    )


def _volume_usage(b: Builder) -> list[AlertRule]:
    cfg = b.c.kubernetes.volume_usage
    t = Timing.held(cfg.for_)
    capacity = 100 * 2**30
    pvc = {"namespace": NS, "persistentvolumeclaim": "data-db-0"}

    def series(used: float) -> list[Series]:
        return [
            Series(
                selector("kubelet_volume_stats_capacity_bytes", pvc),
                gauge([(capacity, t.total)]),
            ),
            Series(
                selector("kubelet_volume_stats_available_bytes", pvc),
                gauge([(capacity // 2, t.warm), (round(capacity * (1 - used)), t.fault)]),
            ),
        ]

    def rule(severity: Severity, ratio: float, scenarios: Sequence[Scenario]) -> AlertRule:
        expr = (
            "max by (namespace, persistentvolumeclaim) (\n"
            "  1 - kubelet_volume_stats_available_bytes\n"
            "    / (kubelet_volume_stats_capacity_bytes > 0)\n"
            f") > {number(ratio)}"
        )
        return b.alert(
            name="PersistentVolumeUsageHigh",
            expr=expr,
            for_seconds=cfg.for_,
            severity=severity,
            category=Category.CAPACITY,
            summary=(
                "Volume of claim {namespace}/{persistentvolumeclaim} is more than "
                f"{pct(ratio)} full"
            ),
            description=(
                "The volume bound to PersistentVolumeClaim {namespace}/{persistentvolumeclaim} "
                f"has been more than {pct(ratio)} full{{held}}."
            ),
            target_labels=("namespace", "persistentvolumeclaim"),
            instance=LabelTemplate("{namespace}/{persistentvolumeclaim}"),
            scenarios=scenarios,
        )

    return tiered(
        t,
        rule,
        warning=cfg.warning_ratio,
        critical=cfg.critical_ratio,
        labels=pvc,
        series=series,
        warning_name=lambda share: f"fires a warning at {share} used",
        critical_name=lambda share: f"fires critical (and warning) at {share} used",
        quiet=(
            t.quiet(
                f"stays quiet at {pct(cfg.warning_ratio / 2)} used",
                series(cfg.warning_ratio / 2),
            ),
        ),
    )


_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
_STATUSES = ("true", "false", "unknown")


def _pod_not_ready(b: Builder) -> AlertRule:
    cfg = b.c.kubernetes.pod_not_ready
    t = Timing.held(cfg.for_)
    pod = {"namespace": NS, "pod": PODS[0], "uid": "uid-0"}
    expr = (
        "(\n"
        '  max by (namespace, pod) (kube_pod_status_ready{condition=~"false|unknown"}) == 1\n'
        "  and on (namespace, pod)\n"
        '  max by (namespace, pod) (kube_pod_status_phase{phase="Running"}) == 1\n'
        ")\n"
        "or\n"
        'max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Unknown"}) == 1'
    )

    def phase(phases: Sequence[tuple[str, int]]) -> list[Series]:
        return one_hot("kube_pod_status_phase", pod, "phase", _PHASES, phases)

    def ready(phases: Sequence[tuple[str, int]]) -> list[Series]:
        return one_hot("kube_pod_status_ready", pod, "condition", _STATUSES, phases)

    expected = ExpectedAlert({"namespace": NS, "pod": PODS[0]})
    return b.alert(
        name="KubePodNotReady",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="Pod {namespace}/{pod} is not ready",
        description="Pod {namespace}/{pod} has been running but not ready, or pending{held}.",
        target_labels=("namespace", "pod"),
        instance=POD_INSTANCE,
        scenarios=(
            t.fires(
                "fires for a running pod failing its readiness probe",
                [
                    *phase([("Running", t.total)]),
                    *ready([("true", t.warm), ("false", t.fault)]),
                ],
                expected,
            ),
            t.fires("fires for a pod stuck Pending", phase([("Pending", t.total)]), expected),
            t.quiet(
                "stays quiet for a ready pod",
                [*phase([("Running", t.total)]), *ready([("true", t.total)])],
            ),
            t.quiet(
                "stays quiet for a pod that finished (Succeeded, not ready)",
                [
                    *phase([("Running", t.warm), ("Succeeded", t.fault)]),
                    *ready([("false", t.total)]),
                ],
            ),
        ),
    )


def _replicas_mismatch(b: Builder) -> AlertRule:
    cfg = b.c.kubernetes.replicas_mismatch
    t = Timing.of(cfg.for_, cfg.rollout_window, warm=cfg.rollout_window, fault=cfg.for_)
    dep = {"namespace": NS, "deployment": DEPLOY}
    rw = duration(cfg.rollout_window)
    expr = (
        "(\n"
        "  max by (namespace, deployment) (kube_deployment_spec_replicas)\n"
        "  >\n"
        "  max by (namespace, deployment) (kube_deployment_status_replicas_available)\n"
        ")\n"
        "and on (namespace, deployment)\n"
        "(\n"
        "  max by (namespace, deployment) (\n"
        f"    changes(kube_deployment_status_replicas_updated[{rw}])\n"
        "  ) == 0\n"
        ")"
    )

    def series(available: int, updated: str) -> list[Series]:
        return [
            Series(selector("kube_deployment_spec_replicas", dep), gauge([(3, t.total)])),
            Series(
                selector("kube_deployment_status_replicas_available", dep),
                gauge([(3, t.warm), (available, t.fault)]),
            ),
            Series(selector("kube_deployment_status_replicas_updated", dep), updated),
        ]

    steady = gauge([(3, t.total)])
    rolling = staircase([3] * (t.warm + 1) + [i % 3 + 1 for i in range(t.fault)])
    return b.alert(
        name="KubeDeploymentReplicasMismatch",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="Deployment {namespace}/{deployment} has fewer available replicas than desired",
        description=(
            "Deployment {namespace}/{deployment} has had fewer available replicas than its "
            f"spec asks for{{held}}, with no rollout progress in the last {rw}."
        ),
        target_labels=("namespace", "deployment"),
        instance=LabelTemplate("{namespace}/{deployment}"),
        scenarios=(
            t.fires(
                "fires when 1 of 3 replicas is available and no rollout is in progress",
                series(1, steady),
                ExpectedAlert(dep),
            ),
            t.quiet("stays quiet with every replica available", series(3, steady)),
            t.quiet("stays quiet during a rollout (updated replicas changing)", series(2, rolling)),
        ),
    )


def _hpa_maxed_out(b: Builder) -> AlertRule:
    cfg = b.c.kubernetes.hpa_maxed_out
    t = Timing.held(cfg.for_)
    by_hpa = "max by (namespace, horizontalpodautoscaler)"
    expr = with_hpa_target(
        f"{by_hpa} (kube_horizontalpodautoscaler_status_current_replicas)\n"
        f">= {by_hpa} (kube_horizontalpodautoscaler_spec_max_replicas)\n"
        "and on (namespace, horizontalpodautoscaler)\n"
        f"{by_hpa} (kube_horizontalpodautoscaler_spec_max_replicas)\n"
        f"> {by_hpa} (kube_horizontalpodautoscaler_spec_min_replicas)"
    )
    return b.alert(
        name="KubeHpaMaxedOut",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CAPACITY,
        summary="HPA {namespace}/{horizontalpodautoscaler} is at its maximum replicas",
        description=(
            "HorizontalPodAutoscaler {namespace}/{horizontalpodautoscaler} of {workload} has "
            "been running at its maxReplicas{held}: it cannot add capacity any more."
        ),
        target_labels=("namespace", "horizontalpodautoscaler", "deployment", "statefulset"),
        instance=LabelTemplate("{namespace}/{horizontalpodautoscaler}"),
        remediate=True,
        scenarios=(
            t.fires(
                "fires when the HPA reaches maxReplicas",
                hpa_series(
                    t.total,
                    current=[(4, t.warm), (10, t.fault)],
                    min_replicas=2,
                    max_replicas=10,
                ),
                ExpectedAlert(HPA_EXPECTED),
            ),
            t.quiet(
                "stays quiet below maxReplicas",
                hpa_series(t.total, current=[(4, t.total)], min_replicas=2, max_replicas=10),
            ),
            t.quiet(
                "stays quiet for a fixed-size HPA (minReplicas = maxReplicas)",
                hpa_series(t.total, current=[(3, t.total)], min_replicas=3, max_replicas=3),
            ),
        ),
    )


def kubernetes_group(b: Builder) -> RuleGroup:
    """The alerts on Kubernetes objects."""
    k = b.c.kubernetes
    return RuleGroup(
        name="kubeheal.kubernetes",
        slug="kubeheal-kubernetes",
        title="Kubernetes resources",
        rules=(
            _crash_loop(b),
            condition_alert(b, NODE_MEMORY_PRESSURE, k.node_memory_pressure.for_),
            *_volume_usage(b),
            _pod_not_ready(b),
            _replicas_mismatch(b),
            _hpa_maxed_out(b),
            condition_alert(b, NODE_NOT_READY, k.node_not_ready.for_),
        ),
        interval=b.c.evaluation_interval,
    )
