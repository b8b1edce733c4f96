"""``kubeheal.cost``: OverProvisionedPods, UnusedPersistentVolumes, IneffectiveHPA: capacity
that is paid for and not used.

Pure: no I/O.
"""

from __future__ import annotations

from kubeheal.monitoring.alerts._common import (
    HPA_EXPECTED,
    PODS,
    WORKLOAD_EXPECTED,
    WORKLOAD_INSTANCE,
    WORKLOAD_TARGET,
    Builder,
    Timing,
    container_labels,
    duration,
    hpa_series,
    limit_labels,
    mapping_series,
    one_hot,
    pct,
    with_hpa_target,
)
from kubeheal.monitoring.fixtures import counter, gauge, number, selector
from kubeheal.monitoring.model import (
    AlertRule,
    Category,
    ExpectedAlert,
    LabelTemplate,
    RuleGroup,
    Series,
    Severity,
)
from kubeheal.monitoring.promql import indent, workload_sum

__all__ = ["cost_group"]


def _over_provisioned(b: Builder) -> AlertRule:
    cfg = b.c.cost.over_provisioned
    t = Timing.of(cfg.window, cfg.for_, fault=cfg.window + cfg.for_, warm_up=False)
    win = duration(cfg.window)
    sel = '{container!="", container!="POD"}'

    def ratio(usage: str, resource: str) -> str:
        used = workload_sum(f"sum by (namespace, pod) (\n  {usage}\n)")
        requested = workload_sum(
            "sum by (namespace, pod) (\n"
            f'  kube_pod_container_resource_requests{{resource="{resource}"}}\n'
            ")"
        )
        return f"{used}\n/\n{requested}"

    cpu = ratio(f"rate(container_cpu_usage_seconds_total{sel}[{win}])", "cpu")
    memory = ratio(f"avg_over_time(container_memory_working_set_bytes{sel}[{win}])", "memory")
    expr = (
        "label_replace(\n"
        f"{indent(cpu)}\n"
        f"  < {number(cfg.cpu_usage_ratio)},\n"
        '  "resource", "cpu", "", ""\n'
        ")\n"
        "or\n"
        "label_replace(\n"
        f"{indent(memory)}\n"
        f"  < {number(cfg.memory_usage_ratio)},\n"
        '  "resource", "memory", "", ""\n'
        ")"
    )
    cpu_request = 1.0
    memory_request = 2**30
    total = t.total

    def series(cpu_share: float, memory_share: float) -> list[Series]:
        out = mapping_series(total)
        for pod in PODS:
            labels = container_labels(pod, "app")
            out += [
                Series(
                    selector("container_cpu_usage_seconds_total", labels),
                    counter(t.step, [(cpu_request * cpu_share, total)]),
                ),
                Series(
                    selector("container_memory_working_set_bytes", labels),
                    gauge([(round(memory_request * memory_share), total)]),
                ),
                Series(
                    selector(
                        "kube_pod_container_resource_requests",
                        limit_labels(pod, "app", "cpu", "core"),
                    ),
                    gauge([(cpu_request, total)]),
                ),
                Series(
                    selector(
                        "kube_pod_container_resource_requests",
                        limit_labels(pod, "app", "memory", "byte"),
                    ),
                    gauge([(memory_request, total)]),
                ),
            ]
        return out

    return b.alert(
        name="OverProvisionedPods",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.INFO,
        category=Category.COST,
        summary="{namespace}/{workload} uses a small share of the {resource} it requests",
        description=(
            "The pods of {namespace}/{workload} have used less than "
            f"{pct(cfg.cpu_usage_ratio)} of their CPU requests (or "
            f"{pct(cfg.memory_usage_ratio)} of their memory requests; see the resource label) "
            f"over {win} windows{{held}}. Lower the requests (`kubeheal rightsize` suggests "
            "values) to free capacity."
        ),
        target_labels=(*WORKLOAD_TARGET, "resource"),
        instance=WORKLOAD_INSTANCE,
        scenarios=(
            t.fires(
                "fires for pods using a few percent of their CPU and memory requests",
                series(cfg.cpu_usage_ratio / 2, cfg.memory_usage_ratio / 2),
                ExpectedAlert({**WORKLOAD_EXPECTED, "resource": "cpu"}),
                ExpectedAlert({**WORKLOAD_EXPECTED, "resource": "memory"}),
            ),
            t.quiet(
                "stays quiet for pods using most of what they request",
                series((cfg.cpu_usage_ratio + 1) / 2, (cfg.memory_usage_ratio + 1) / 2),
            ),
        ),
    )


_PV_PHASES = ("Pending", "Available", "Bound", "Released", "Failed")


def _unused_volumes(b: Builder) -> AlertRule:
    cfg = b.c.cost.unused_volumes
    t = Timing.of(cfg.for_, fault=cfg.for_, warm_up=False)
    expr = (
        "max by (persistentvolume) (\n"
        '  kube_persistentvolume_status_phase{phase=~"Available|Released"}\n'
        ") == 1"
    )

    def phase(current: str) -> list[Series]:
        return one_hot(
            "kube_persistentvolume_status_phase",
            {"persistentvolume": "pv-orphan"},
            "phase",
            _PV_PHASES,
            [(current, t.total)],
        )

    return b.alert(
        name="UnusedPersistentVolumes",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.INFO,
        category=Category.COST,
        summary="PersistentVolume {persistentvolume} is not bound to any claim",
        description=(
            "PersistentVolume {persistentvolume} has been Available or Released{held}: "
            "its storage is paid for and unused. Delete it or reclaim its data."
        ),
        target_labels=("persistentvolume",),
        instance=LabelTemplate("{persistentvolume}"),
        scenarios=(
            t.fires(
                "fires for a Released volume",
                phase("Released"),
                ExpectedAlert({"persistentvolume": "pv-orphan"}),
            ),
            t.quiet("stays quiet for a Bound volume", phase("Bound")),
        ),
    )


def _ineffective_hpa(b: Builder) -> AlertRule:
    cfg = b.c.cost.ineffective_hpa
    t = Timing.of(cfg.for_, fault=cfg.for_, warm_up=False)
    by_hpa = "max by (namespace, horizontalpodautoscaler)"
    by_metric = "max by (namespace, horizontalpodautoscaler, metric_name)"
    utilization = '{metric_target_type="utilization"}'
    expr = with_hpa_target(
        f"{by_hpa} (kube_horizontalpodautoscaler_status_current_replicas)\n"
        f"<= {by_hpa} (kube_horizontalpodautoscaler_spec_min_replicas)\n"
        "and on (namespace, horizontalpodautoscaler)\n"
        f"{by_hpa} (kube_horizontalpodautoscaler_spec_min_replicas) > 1\n"
        "and on (namespace, horizontalpodautoscaler)\n"
        f"{by_hpa} (\n"
        f"  {by_metric} (kube_horizontalpodautoscaler_status_target_metric{utilization})\n"
        f"  / {by_metric} (kube_horizontalpodautoscaler_spec_target_metric{utilization})\n"
        f") < {number(cfg.utilization_ratio)}"
    )
    low = 70 * cfg.utilization_ratio / 2
    return b.alert(
        name="IneffectiveHPA",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.INFO,
        category=Category.COST,
        summary="HPA {namespace}/{horizontalpodautoscaler} never scales below its minReplicas",
        description=(
            "HorizontalPodAutoscaler {namespace}/{horizontalpodautoscaler} of {workload} has "
            f"stayed at its minReplicas with every metric below {pct(cfg.utilization_ratio)} "
            "of its target{held}: minReplicas is higher than the load needs."
        ),
        target_labels=("namespace", "horizontalpodautoscaler", "deployment", "statefulset"),
        instance=LabelTemplate("{namespace}/{horizontalpodautoscaler}"),
        scenarios=(
            t.fires(
                f"fires at minReplicas 3 with utilization {number(low)} against a target of 70",
                hpa_series(
                    t.total,
                    current=[(3, t.total)],
                    min_replicas=3,
                    max_replicas=10,
                    utilization=low,
                ),
                ExpectedAlert(HPA_EXPECTED),
            ),
            t.quiet(
                "stays quiet for an HPA scaling above its minimum",
                hpa_series(
                    t.total, current=[(5, t.total)], min_replicas=3, max_replicas=10, utilization=60
                ),
            ),
            t.quiet(
                "stays quiet for an idle HPA with minReplicas 1",
                hpa_series(
                    t.total,
                    current=[(1, t.total)],
                    min_replicas=1,
                    max_replicas=10,
                    utilization=low,
                ),
            ),
        ),
    )


def cost_group(b: Builder) -> RuleGroup:
    """The alerts on unused capacity."""
    return RuleGroup(
        name="kubeheal.cost",
        slug="kubeheal-cost",
        title="Cost",
        rules=(_over_provisioned(b), _unused_volumes(b), _ineffective_hpa(b)),
        interval=b.c.evaluation_interval,
        uses=("kubeheal-workloads",),
    )
