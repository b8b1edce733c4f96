"""The alerting and recording rules kubeheal ships, built from a `MonitoringConfig`.

Groups (one rule file, one PrometheusRule, tests per alert each):

* ``kubeheal.workloads``: the pod -> workload mapping other groups join on;
* ``kubeheal.golden-signals``: HighLatency, HighTraffic, HighErrorRate, HighCPUSaturation,
  HighMemorySaturation;
* ``kubeheal.kubernetes``: PodCrashLooping, NodeMemoryPressure, PersistentVolumeUsageHigh,
  KubePodNotReady, KubeDeploymentReplicasMismatch, KubeHpaMaxedOut, NodeNotReady;
* ``kubeheal.cost``: OverProvisionedPods, UnusedPersistentVolumes, IneffectiveHPA;
* ``kubeheal.self``: KubehealDown, KubehealRemediationsFailing, KubehealActionBudgetExhausted.

Every alert carries severity, category, summary/description/runbook_url, the labels that
name its target (namespace + deployment/statefulset/daemonset, pod, node, ...), an `instance`
label naming that target, and `kubeheal: remediate` when kubeheal has a playbook for it.
Each alert also carries the promtool scenarios that prove it fires and stays quiet; they
are computed from the same configuration, so they follow its thresholds and durations.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeheal.monitoring.config import MonitoringConfig, format_duration
from kubeheal.monitoring.fixtures import (
    STALE,
    Value,
    counter,
    gauge,
    number,
    selector,
    staircase,
    step_for,
    steps,
)
from kubeheal.monitoring.model import (
    AlertRule,
    Category,
    ExpectedAlert,
    LabelTemplate,
    RecordingRule,
    RuleGroup,
    Scenario,
    Series,
    Severity,
)
from kubeheal.monitoring.promql import (
    HPA_TARGET,
    WORKLOAD,
    WORKLOAD_MAPPING_RECORD,
    indent,
    request_rate_record,
    workload_mapping_expr,
    workload_request_rate_expr,
    workload_sum,
)

__all__ = ["ALERT_NAMES", "build_rule_groups"]

ALERT_NAMES = (
    "HighLatency",
    "HighTraffic",
    "HighErrorRate",
    "HighCPUSaturation",
    "HighMemorySaturation",
    "PodCrashLooping",
    "NodeMemoryPressure",
    "PersistentVolumeUsageHigh",
    "KubePodNotReady",
    "KubeDeploymentReplicasMismatch",
    "KubeHpaMaxedOut",
    "NodeNotReady",
    "OverProvisionedPods",
    "UnusedPersistentVolumes",
    "IneffectiveHPA",
    "KubehealDown",
    "KubehealRemediationsFailing",
    "KubehealActionBudgetExhausted",
)

_T = LabelTemplate
_WORKLOAD_INSTANCE = _T("{namespace}/{workload}")
_POD_INSTANCE = _T("{namespace}/{pod}")
_NODE_INSTANCE = _T("{node}")

# fixture objects
_NS = "demo"
_DEPLOY = "web"
_RS = "web-5d8f7c9b4"
_PODS = ("web-5d8f7c9b4-2x7qk", "web-5d8f7c9b4-9mzrt")
_NODE = "node-1"
_WORKLOAD_LABELS = {"namespace": _NS, "deployment": _DEPLOY}


def _seconds(value: float) -> str:
    if value < 1:
        return f"{number(round(value * 1000, 3))}ms"
    return f"{number(value)}s"


def _pct(ratio: float) -> str:
    return f"{number(round(ratio * 100, 4))}%"


def _d(seconds: int) -> str:
    return format_duration(seconds)


class _Builder:
    """Shared state of one build: the configuration and the runbook URL base."""

    def __init__(self, config: MonitoringConfig) -> None:
        self.c = config
        self.w = _d(config.rate_window)

    def runbook(self, name: str) -> str:
        return f"{self.c.runbook_base_url}#{name.lower()}"

    def alert(
        self,
        *,
        name: str,
        expr: str,
        for_seconds: int,
        severity: Severity,
        category: Category,
        summary: str,
        description: str,
        target_labels: Sequence[str],
        instance: LabelTemplate | None,
        remediate: bool = False,
        scenarios: Sequence[Scenario] = (),
    ) -> AlertRule:
        held = f" for {_d(for_seconds)}" if for_seconds else ""
        return AlertRule(
            name=name,
            expr=expr,
            for_seconds=for_seconds,
            severity=severity,
            category=category,
            summary=_T(summary),
            description=_T(description.replace("{held}", held)),
            runbook_url=self.runbook(name),
            target_labels=tuple(target_labels),
            instance=instance,
            remediate=remediate,
            scenarios=tuple(scenarios),
        )


# ---------------------------------------------------------------------------- fixture series


def _mapping_series(total: int) -> list[Series]:
    out = [
        Series(
            selector(
                "kube_pod_owner",
                {
                    "namespace": _NS,
                    "pod": pod,
                    "uid": f"uid-{i}",
                    "owner_kind": "ReplicaSet",
                    "owner_name": _RS,
                    "owner_is_controller": "true",
                },
            ),
            gauge([(1, total)]),
        )
        for i, pod in enumerate(_PODS)
    ]
    out.append(
        Series(
            selector(
                "kube_replicaset_owner",
                {
                    "namespace": _NS,
                    "replicaset": _RS,
                    "owner_kind": "Deployment",
                    "owner_name": _DEPLOY,
                    "owner_is_controller": "true",
                },
            ),
            gauge([(1, total)]),
        )
    )
    return out


def _http_labels(pod: str, **extra: str) -> dict[str, str]:
    return {
        "namespace": _NS,
        "pod": pod,
        "app": _DEPLOY,
        "service": _DEPLOY,
        "method": "GET",
        **extra,
    }


def _requests(step: int, phases: Sequence[tuple[float, float, int]]) -> list[Series]:
    """http_requests_total of both pods: phases of (total rate, error share, steps)."""
    out: list[Series] = []
    for pod in _PODS:
        ok = [(rate * (1 - err) / len(_PODS), n) for rate, err, n in phases]
        bad = [(rate * err / len(_PODS), n) for rate, err, n in phases]
        out.append(
            Series(
                selector("http_requests_total", _http_labels(pod, status="200")), counter(step, ok)
            )
        )
        out.append(
            Series(
                selector("http_requests_total", _http_labels(pod, status="500")), counter(step, bad)
            )
        )
    return out


def _histogram(
    step: int, threshold: float, phases: Sequence[tuple[float, bool, int]]
) -> list[Series]:
    """Latency buckets of both pods: phases of (total rate, slow?, steps).

    Fast requests take at most threshold/2, slow ones between threshold and 2 x threshold.
    """
    bounds = (threshold / 2, threshold, threshold * 2, float("inf"))
    out: list[Series] = []
    for pod in _PODS:
        for bound in bounds:
            rates = []
            for rate, slow, n in phases:
                counted = bound >= threshold * 2 if slow else True
                rates.append((rate / len(_PODS) if counted else 0.0, n))
            out.append(
                Series(
                    selector(
                        "http_request_duration_seconds_bucket",
                        _http_labels(pod, le=number(bound)),
                    ),
                    counter(step, rates),
                )
            )
    return out


def _scenario(
    name: str,
    step: int,
    total: int,
    series: Sequence[Series],
    expected: Sequence[ExpectedAlert] = (),
) -> Scenario:
    return Scenario(
        name=name,
        interval=step,
        eval_at=total * step,
        series=tuple(series),
        expected=tuple(expected),
    )


# ---------------------------------------------------------------------------- groups


def _workloads_group(b: _Builder) -> RuleGroup:
    return RuleGroup(
        name="kubeheal.workloads",
        slug="kubeheal-workloads",
        title="Pod to workload mapping",
        rules=(RecordingRule(WORKLOAD_MAPPING_RECORD, workload_mapping_expr()),),
        interval=b.c.evaluation_interval,
    )


def _latency(b: _Builder, rate_record: str) -> AlertRule:
    cfg = b.c.golden_signals.latency
    min_rps = b.c.golden_signals.min_request_rate
    step = step_for(b.c.rate_window, cfg.for_)
    warm = steps(b.c.rate_window, step) + 1
    fault = steps(b.c.rate_window + cfg.for_, step) + 2
    total = warm + fault
    rate = max(2.0, 10 * min_rps)
    t = cfg.threshold_seconds
    quantile = number(cfg.quantile)
    bucket_rate = workload_sum(f"rate(http_request_duration_seconds_bucket[{b.w}])", "le")
    expr = (
        f"histogram_quantile({quantile},\n{indent(bucket_rate)}\n) > {number(t)}\n"
        f"and on (namespace, {WORKLOAD})\n"
        f"{rate_record} > {number(min_rps)}"
    )
    pct = f"p{number(round(cfg.quantile * 100, 2))}"
    traffic = _requests(step, [(rate, 0.0, total)])
    return b.alert(
        name="HighLatency",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.PERFORMANCE,
        summary=f"{pct} latency of {{namespace}}/{{workload}} is above {_seconds(t)}",
        description=(
            f"The {pct} latency of HTTP requests served by {{namespace}}/{{workload}} has "
            f"been above {_seconds(t)}{{held}} (over {b.w} windows, at more than "
            f"{number(min_rps)} requests/s)."
        ),
        target_labels=("namespace", "deployment", "statefulset", "daemonset"),
        instance=_WORKLOAD_INSTANCE,
        remediate=True,
        scenarios=(
            _scenario(
                "fires when every request becomes slower than the threshold",
                step,
                total,
                [
                    *_mapping_series(total),
                    *traffic,
                    *_histogram(step, t, [(rate, False, warm), (rate, True, fault)]),
                ],
                [ExpectedAlert(_WORKLOAD_LABELS)],
            ),
            _scenario(
                "stays quiet while requests are fast",
                step,
                total,
                [*_mapping_series(total), *traffic, *_histogram(step, t, [(rate, False, total)])],
            ),
            _scenario(
                "stays quiet for slow requests at a trickle (below min_request_rate)",
                step,
                total,
                [
                    *_mapping_series(total),
                    *_requests(step, [(min_rps / 4, 0.0, total)]),
                    *_histogram(step, t, [(min_rps / 4, True, total)]),
                ],
            ),
        ),
    )


def _traffic(b: _Builder, rate_record: str) -> AlertRule:
    cfg = b.c.golden_signals.traffic
    min_rps = b.c.golden_signals.min_request_rate
    step = step_for(b.c.rate_window, cfg.for_)
    warm = steps(cfg.baseline_window + b.c.rate_window, step) + 1
    fault = steps(b.c.rate_window + cfg.for_, step) + 2
    total = warm + fault
    rate = max(2.0, 10 * min_rps)
    factor = number(cfg.spike_factor)
    baseline = f"avg_over_time({rate_record}[{_d(cfg.baseline_window)}] offset {b.w})"
    expr = f"{rate_record}\n> {factor} * {baseline}\nand {rate_record} > {number(min_rps)}"
    return b.alert(
        name="HighTraffic",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.INFO,
        category=Category.PERFORMANCE,
        summary=f"{{namespace}}/{{workload}} serves more than {factor}x its usual traffic",
        description=(
            f"The request rate of {{namespace}}/{{workload}} has been more than {factor} times "
            f"its average of the previous {_d(cfg.baseline_window)}{{held}}. Check that "
            "autoscaling keeps up and that the traffic is legitimate."
        ),
        target_labels=("namespace", "deployment", "statefulset", "daemonset"),
        instance=_WORKLOAD_INSTANCE,
        scenarios=(
            _scenario(
                f"fires when traffic jumps to {number(cfg.spike_factor * 4)}x its baseline",
                step,
                total,
                [
                    *_mapping_series(total),
                    *_requests(
                        step, [(rate, 0.0, warm), (rate * cfg.spike_factor * 4, 0.0, fault)]
                    ),
                ],
                [ExpectedAlert(_WORKLOAD_LABELS)],
            ),
            _scenario(
                "stays quiet under steady traffic",
                step,
                total,
                [*_mapping_series(total), *_requests(step, [(rate, 0.0, total)])],
            ),
        ),
    )


def _error_rate(b: _Builder, rate_record: str) -> list[AlertRule]:
    cfg = b.c.golden_signals.errors
    min_rps = b.c.golden_signals.min_request_rate
    step = step_for(b.c.rate_window, cfg.for_)
    warm = steps(b.c.rate_window, step) + 1
    fault = steps(b.c.rate_window + cfg.for_, step) + 2
    total = warm + fault
    rate = max(2.0, 10 * min_rps)
    errors = workload_sum(f'rate(http_requests_total{{status=~"5.."}}[{b.w}])')
    normal = cfg.warning_ratio / 4

    def rule(severity: Severity, ratio: float, scenarios: Sequence[Scenario]) -> AlertRule:
        expr = (
            f"{errors}\n/ {rate_record}\n> {number(ratio)}\nand {rate_record} > {number(min_rps)}"
        )
        return b.alert(
            name="HighErrorRate",
            expr=expr,
            for_seconds=cfg.for_,
            severity=severity,
            category=Category.CRITICAL,
            summary=f"{{namespace}}/{{workload}} fails more than {_pct(ratio)} of its requests",
            description=(
                f"More than {_pct(ratio)} of the HTTP requests served by "
                f"{{namespace}}/{{workload}} have answered 5xx{{held}} (over {b.w} windows, at "
                f"more than {number(min_rps)} requests/s)."
            ),
            target_labels=("namespace", "deployment", "statefulset", "daemonset"),
            instance=_WORKLOAD_INSTANCE,
            scenarios=scenarios,
        )

    upper = cfg.critical_ratio if cfg.critical_ratio is not None else 1.0
    warning_share = (cfg.warning_ratio + upper) / 2
    rules = [
        rule(
            Severity.WARNING,
            cfg.warning_ratio,
            (
                _scenario(
                    f"fires a warning when {_pct(warning_share)} of the requests fail",
                    step,
                    total,
                    [
                        *_mapping_series(total),
                        *_requests(step, [(rate, normal, warm), (rate, warning_share, fault)]),
                    ],
                    [ExpectedAlert(_WORKLOAD_LABELS)],
                ),
                _scenario(
                    f"stays quiet while {_pct(normal)} of the requests fail",
                    step,
                    total,
                    [*_mapping_series(total), *_requests(step, [(rate, normal, total)])],
                ),
                _scenario(
                    "stays quiet when every request fails at a trickle (below min_request_rate)",
                    step,
                    total,
                    [*_mapping_series(total), *_requests(step, [(min_rps / 4, 1.0, total)])],
                ),
            ),
        )
    ]
    if cfg.critical_ratio is not None:
        critical_share = (cfg.critical_ratio + 1) / 2
        rules.append(
            rule(
                Severity.CRITICAL,
                cfg.critical_ratio,
                (
                    _scenario(
                        f"fires critical (and warning) when {_pct(critical_share)} fail",
                        step,
                        total,
                        [
                            *_mapping_series(total),
                            *_requests(step, [(rate, normal, warm), (rate, critical_share, fault)]),
                        ],
                        [
                            ExpectedAlert(_WORKLOAD_LABELS, Severity.WARNING),
                            ExpectedAlert(_WORKLOAD_LABELS, Severity.CRITICAL),
                        ],
                    ),
                ),
            )
        )
    return rules


def _container_labels(pod: str, container: str, **extra: str) -> dict[str, str]:
    return {
        "namespace": _NS,
        "pod": pod,
        "container": container,
        "id": f"/kubepods/burstable/pod-{pod}/{container}",
        "image": f"registry.example.com/{container}:1.0",
        "name": f"{pod}-{container}",
        **extra,
    }


def _limit_labels(pod: str, container: str, resource: str, unit: str) -> dict[str, str]:
    return {
        "namespace": _NS,
        "pod": pod,
        "uid": f"uid-{pod}",
        "container": container,
        "node": _NODE,
        "resource": resource,
        "unit": unit,
    }


def _cpu_saturation(b: _Builder) -> AlertRule:
    cfg = b.c.golden_signals.cpu_saturation
    step = step_for(b.c.rate_window, cfg.for_)
    warm = steps(b.c.rate_window, step) + 1
    fault = steps(b.c.rate_window + cfg.for_, step) + 2
    total = warm + fault
    limit = 0.5
    usage = (
        "sum by (namespace, pod, container) (\n"
        f'  rate(container_cpu_usage_seconds_total{{container!="", container!="POD"}}[{b.w}])\n'
        ")"
    )
    limits = (
        "sum by (namespace, pod, container) (\n"
        '  kube_pod_container_resource_limits{resource="cpu"}\n'
        ")"
    )
    used = workload_sum(f"{usage}\nand on (namespace, pod, container)\n{limits}")
    allowed = workload_sum(f"{limits}\nand on (namespace, pod, container)\n{usage}")
    expr = f"{used}\n/\n{allowed}\n> {number(cfg.ratio)}"

    def series(app_share: float, n_warm: int, fault_share: float) -> list[Series]:
        out = _mapping_series(total)
        for pod in _PODS:
            out.append(
                Series(
                    selector("container_cpu_usage_seconds_total", _container_labels(pod, "app")),
                    counter(
                        step, [(limit * app_share, n_warm), (limit * fault_share, total - n_warm)]
                    ),
                )
            )
            # a sidecar without a CPU limit, busy: must not count against the app's limit
            out.append(
                Series(
                    selector(
                        "container_cpu_usage_seconds_total", _container_labels(pod, "sidecar")
                    ),
                    counter(step, [(2.0, total)]),
                )
            )
            # the pod's own cgroup (container=""), as cAdvisor reports it
            out.append(
                Series(
                    selector("container_cpu_usage_seconds_total", _container_labels(pod, "")),
                    counter(step, [(2.0 + limit, total)]),
                )
            )
            out.append(
                Series(
                    selector(
                        "kube_pod_container_resource_limits",
                        _limit_labels(pod, "app", "cpu", "core"),
                    ),
                    gauge([(limit, total)]),
                )
            )
        return out

    normal = cfg.ratio / 3
    busy = min(0.999, (cfg.ratio + 1) / 2)
    return b.alert(
        name="HighCPUSaturation",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.PERFORMANCE,
        summary=f"{{namespace}}/{{workload}} uses more than {_pct(cfg.ratio)} of its CPU limit",
        description=(
            f"The containers of {{namespace}}/{{workload}} have used more than "
            f"{_pct(cfg.ratio)} of their CPU limits{{held}}: they are being throttled, which "
            "shows as latency."
        ),
        target_labels=("namespace", "deployment", "statefulset", "daemonset"),
        instance=_WORKLOAD_INSTANCE,
        remediate=True,
        scenarios=(
            _scenario(
                f"fires when the app uses {_pct(busy)} of its CPU limit",
                step,
                total,
                series(normal, warm, busy),
                [ExpectedAlert(_WORKLOAD_LABELS)],
            ),
            _scenario(
                f"stays quiet at {_pct(normal)} of the limit, whatever unlimited sidecars use",
                step,
                total,
                series(normal, total, normal),
            ),
        ),
    )


def _memory_saturation(b: _Builder) -> AlertRule:
    cfg = b.c.golden_signals.memory_saturation
    step = step_for(cfg.for_)
    warm = 2
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    limit = 256 * 2**20
    sel = '{container!="", container!="POD"}'
    expr = (
        "max by (namespace, pod, container) (\n"
        f"  container_memory_working_set_bytes{sel}\n"
        f"  / (container_spec_memory_limit_bytes{sel} > 0)\n"
        f") > {number(cfg.ratio)}"
    )
    pod = _PODS[0]
    labels = _container_labels(pod, "app")

    def series(limit_bytes: int, phases: Sequence[tuple[Value, int]]) -> list[Series]:
        return [
            Series(selector("container_memory_working_set_bytes", labels), gauge(phases)),
            Series(
                selector("container_spec_memory_limit_bytes", labels),
                gauge([(limit_bytes, total)]),
            ),
        ]

    normal = round(limit * cfg.ratio / 2)
    full = round(limit * (cfg.ratio + 1) / 2)
    expected = {"namespace": _NS, "pod": pod, "container": "app"}
    return b.alert(
        name="HighMemorySaturation",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CAPACITY,
        summary=(
            f"Container {{container}} of {{namespace}}/{{pod}} uses more than "
            f"{_pct(cfg.ratio)} of its memory limit"
        ),
        description=(
            f"The working set of container {{container}} in pod {{namespace}}/{{pod}} has been "
            f"above {_pct(cfg.ratio)} of its memory limit{{held}}: it is close to being "
            "OOM-killed."
        ),
        target_labels=("namespace", "pod", "container"),
        instance=_POD_INSTANCE,
        scenarios=(
            _scenario(
                f"fires when the working set reaches {_pct((cfg.ratio + 1) / 2)} of the limit",
                step,
                total,
                series(limit, [(normal, warm), (full, fault)]),
                [ExpectedAlert(expected)],
            ),
            _scenario(
                f"stays quiet at {_pct(cfg.ratio / 2)} of the limit",
                step,
                total,
                series(limit, [(normal, total)]),
            ),
            _scenario(
                "stays quiet for a container without a memory limit",
                step,
                total,
                series(0, [(full * 4, total)]),
            ),
        ),
    )


def _golden_group(b: _Builder) -> RuleGroup:
    rate_record = request_rate_record(b.c.rate_window)
    rules: list[AlertRule | RecordingRule] = [
        RecordingRule(rate_record, workload_request_rate_expr(b.c.rate_window)),
        _latency(b, rate_record),
        _traffic(b, rate_record),
        *_error_rate(b, rate_record),
        _cpu_saturation(b),
        _memory_saturation(b),
    ]
    return RuleGroup(
        name="kubeheal.golden-signals",
        slug="kubeheal-golden-signals",
        title="Golden signals",
        rules=tuple(rules),
        interval=b.c.evaluation_interval,
        uses=("kubeheal-workloads",),
    )


# ---------------------------------------------------------------------------- kubernetes


def _crash_loop(b: _Builder) -> AlertRule:
    cfg = b.c.kubernetes.crash_loop
    step = step_for(cfg.window, cfg.for_)
    warm = 2
    fault = steps(cfg.window + cfg.for_, step) + 2
    total = warm + fault
    window_steps = steps(cfg.window, step)
    every = max(1, window_steps // (cfg.restarts + 2))
    container = {"namespace": _NS, "pod": _PODS[0], "uid": "uid-0", "container": "app"}
    expr = (
        "max by (namespace, pod, container) (\n"
        '  kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}\n'
        ") == 1\n"
        "or\n"
        "sum by (namespace, pod, container) (\n"
        f"  increase(kube_pod_container_status_restarts_total[{_d(cfg.window)}])\n"
        f") >= {cfg.restarts}"
    )

    # the single restart falls inside the window and long enough before the evaluation that
    # a rule firing on any restart would fire
    single_at = max(warm + 1, total - steps(cfg.for_, step) - 2)

    def restarts(crashing: bool, single: bool = False) -> str:
        samples: list[float] = []
        count = 0
        for i in range(total + 1):
            in_fault = i > warm
            if crashing and in_fault and (i - warm) % every == 0:
                count += 1
            if single and i == single_at:
                count = 1
            samples.append(count)
        return staircase(samples)

    def waiting(phases: Sequence[tuple[Value, int]]) -> Series:
        return Series(
            selector(
                "kube_pod_container_status_waiting_reason",
                {**container, "reason": "CrashLoopBackOff"},
            ),
            gauge(phases),
        )

    restarts_name = "kube_pod_container_status_restarts_total"
    expected = [ExpectedAlert({"namespace": _NS, "pod": _PODS[0], "container": "app"})]
    return b.alert(
        name="PodCrashLooping",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="Container {container} of {namespace}/{pod} is crash-looping",
        description=(
            "Container {container} of pod {namespace}/{pod} is in CrashLoopBackOff or "
            f"restarted at least {cfg.restarts} times within {_d(cfg.window)}{{held}}."
        ),
        target_labels=("namespace", "pod", "container"),
        instance=_POD_INSTANCE,
        remediate=True,
        scenarios=(
            _scenario(
                "fires for a container in CrashLoopBackOff",
                step,
                total,
                [
                    Series(selector(restarts_name, container), restarts(crashing=True)),
                    waiting([(None, warm), (1, fault)]),
                ],
                expected,
            ),
            _scenario(
                f"fires for a container restarting every {_d(every * step)} (no back-off yet)",
                step,
                total,
                [Series(selector(restarts_name, container), restarts(crashing=True))],
                expected,
            ),
            _scenario(
                "stays quiet while the container runs",
                step,
                total,
                [Series(selector(restarts_name, container), restarts(crashing=False))],
            ),
            _scenario(
                "stays quiet after a single restart",
                step,
                total,
                [Series(selector(restarts_name, container), restarts(False, single=True))],
            ),
        ),
    )


def _condition_series(
    family: str, base: dict[str, str], phases: Sequence[tuple[str, int]]
) -> list[Series]:
    """A kube-state-metrics condition: one series per status, 1 on the current one."""
    return [
        Series(
            selector(family, {**base, "status": status}),
            gauge([(1 if current == status else 0, n) for current, n in phases]),
        )
        for status in ("true", "false", "unknown")
    ]


def _node_memory_pressure(b: _Builder) -> AlertRule:
    cfg = b.c.kubernetes.node_memory_pressure
    step = step_for(cfg.for_)
    warm = 2
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    expr = (
        "max by (node) (\n"
        '  kube_node_status_condition{condition="MemoryPressure", status="true"}\n'
        ") == 1"
    )
    base = {"node": _NODE, "condition": "MemoryPressure"}
    return b.alert(
        name="NodeMemoryPressure",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CAPACITY,
        summary="Node {node} is under memory pressure",
        description=(
            "The kubelet of node {node} has reported MemoryPressure{held}: it is evicting "
            "pods and refuses new ones."
        ),
        target_labels=("node",),
        instance=_NODE_INSTANCE,
        remediate=True,
        scenarios=(
            _scenario(
                "fires when the kubelet reports MemoryPressure",
                step,
                total,
                _condition_series(
                    "kube_node_status_condition", base, [("false", warm), ("true", fault)]
                ),
                [ExpectedAlert({"node": _NODE})],
            ),
            _scenario(
                "stays quiet without memory pressure",
                step,
                total,
                _condition_series("kube_node_status_condition", base, [("false", total)]),
            ),
        ),
    )


def _volume_usage(b: _Builder) -> list[AlertRule]:
    cfg = b.c.kubernetes.volume_usage
    step = step_for(cfg.for_)
    warm = 2
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    capacity = 100 * 2**30
    pvc = {"namespace": _NS, "persistentvolumeclaim": "data-db-0"}
    expected = {"namespace": _NS, "persistentvolumeclaim": "data-db-0"}

    def series(used: float) -> list[Series]:
        return [
            Series(
                selector("kubelet_volume_stats_capacity_bytes", pvc), gauge([(capacity, total)])
            ),
            Series(
                selector("kubelet_volume_stats_available_bytes", pvc),
                gauge([(capacity // 2, warm), (round(capacity * (1 - used)), fault)]),
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
                f"{_pct(ratio)} full"
            ),
            description=(
                "The volume bound to PersistentVolumeClaim {namespace}/{persistentvolumeclaim} "
                f"has been more than {_pct(ratio)} full{{held}}."
            ),
            target_labels=("namespace", "persistentvolumeclaim"),
            instance=_T("{namespace}/{persistentvolumeclaim}"),
            scenarios=scenarios,
        )

    upper = cfg.critical_ratio if cfg.critical_ratio is not None else 1.0
    warn_use = (cfg.warning_ratio + upper) / 2
    rules = [
        rule(
            Severity.WARNING,
            cfg.warning_ratio,
            (
                _scenario(
                    f"fires a warning at {_pct(warn_use)} used",
                    step,
                    total,
                    series(warn_use),
                    [ExpectedAlert(expected)],
                ),
                _scenario(
                    f"stays quiet at {_pct(cfg.warning_ratio / 2)} used",
                    step,
                    total,
                    series(cfg.warning_ratio / 2),
                ),
            ),
        )
    ]
    if cfg.critical_ratio is not None:
        crit_use = (cfg.critical_ratio + 1) / 2
        rules.append(
            rule(
                Severity.CRITICAL,
                cfg.critical_ratio,
                (
                    _scenario(
                        f"fires critical (and warning) at {_pct(crit_use)} used",
                        step,
                        total,
                        series(crit_use),
                        [
                            ExpectedAlert(expected, Severity.WARNING),
                            ExpectedAlert(expected, Severity.CRITICAL),
                        ],
                    ),
                ),
            )
        )
    return rules


def _pod_not_ready(b: _Builder) -> AlertRule:
    cfg = b.c.kubernetes.pod_not_ready
    step = step_for(cfg.for_)
    warm = 2
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    pod = {"namespace": _NS, "pod": _PODS[0], "uid": "uid-0"}
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
        return [
            Series(
                selector("kube_pod_status_phase", {**pod, "phase": name}),
                gauge([(1 if current == name else 0, n) for current, n in phases]),
            )
            for name in ("Pending", "Succeeded", "Failed", "Unknown", "Running")
        ]

    def ready(phases: Sequence[tuple[str, int]]) -> list[Series]:
        return [
            Series(
                selector("kube_pod_status_ready", {**pod, "condition": status}),
                gauge([(1 if current == status else 0, n) for current, n in phases]),
            )
            for status in ("true", "false", "unknown")
        ]

    expected = [ExpectedAlert({"namespace": _NS, "pod": _PODS[0]})]
    return b.alert(
        name="KubePodNotReady",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="Pod {namespace}/{pod} is not ready",
        description="Pod {namespace}/{pod} has been running but not ready, or pending{held}.",
        target_labels=("namespace", "pod"),
        instance=_POD_INSTANCE,
        scenarios=(
            _scenario(
                "fires for a running pod failing its readiness probe",
                step,
                total,
                [
                    *phase([("Running", total)]),
                    *ready([("true", warm), ("false", fault)]),
                ],
                expected,
            ),
            _scenario(
                "fires for a pod stuck Pending",
                step,
                total,
                phase([("Pending", total)]),
                expected,
            ),
            _scenario(
                "stays quiet for a ready pod",
                step,
                total,
                [*phase([("Running", total)]), *ready([("true", total)])],
            ),
            _scenario(
                "stays quiet for a pod that finished (Succeeded, not ready)",
                step,
                total,
                [*phase([("Running", warm), ("Succeeded", fault)]), *ready([("false", total)])],
            ),
        ),
    )


def _replicas_mismatch(b: _Builder) -> AlertRule:
    cfg = b.c.kubernetes.replicas_mismatch
    step = step_for(cfg.for_, cfg.rollout_window)
    warm = steps(cfg.rollout_window, step) + 1
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    dep = {"namespace": _NS, "deployment": _DEPLOY}
    rw = _d(cfg.rollout_window)
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
            Series(selector("kube_deployment_spec_replicas", dep), gauge([(3, total)])),
            Series(
                selector("kube_deployment_status_replicas_available", dep),
                gauge([(3, warm), (available, fault)]),
            ),
            Series(selector("kube_deployment_status_replicas_updated", dep), updated),
        ]

    steady = gauge([(3, total)])
    rolling = staircase([3] * (warm + 1) + [i % 3 + 1 for i in range(fault)])
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
        instance=_T("{namespace}/{deployment}"),
        scenarios=(
            _scenario(
                "fires when 1 of 3 replicas is available and no rollout is in progress",
                step,
                total,
                series(1, steady),
                [ExpectedAlert(dep)],
            ),
            _scenario(
                "stays quiet with every replica available",
                step,
                total,
                series(3, steady),
            ),
            _scenario(
                "stays quiet during a rollout (updated replicas changing)",
                step,
                total,
                series(2, rolling),
            ),
        ),
    )


def _hpa_series(
    total: int,
    *,
    current: Sequence[tuple[Value, int]],
    min_replicas: int,
    max_replicas: int,
    utilization: float | None = None,
) -> list[Series]:
    hpa = {"namespace": _NS, "horizontalpodautoscaler": _DEPLOY}
    out = [
        Series(
            selector("kube_horizontalpodautoscaler_status_current_replicas", hpa), gauge(current)
        ),
        Series(
            selector("kube_horizontalpodautoscaler_spec_min_replicas", hpa),
            gauge([(min_replicas, total)]),
        ),
        Series(
            selector("kube_horizontalpodautoscaler_spec_max_replicas", hpa),
            gauge([(max_replicas, total)]),
        ),
        Series(
            selector(
                "kube_horizontalpodautoscaler_info",
                {
                    **hpa,
                    "scaletargetref_api_version": "apps/v1",
                    "scaletargetref_kind": "Deployment",
                    "scaletargetref_name": _DEPLOY,
                },
            ),
            gauge([(1, total)]),
        ),
    ]
    if utilization is not None:
        metric = {"metric_name": "cpu", "metric_target_type": "utilization"}
        out.append(
            Series(
                selector("kube_horizontalpodautoscaler_spec_target_metric", {**hpa, **metric}),
                gauge([(70, total)]),
            )
        )
        out.append(
            Series(
                selector("kube_horizontalpodautoscaler_status_target_metric", {**hpa, **metric}),
                gauge([(utilization, total)]),
            )
        )
    return out


def _with_hpa_target(expr: str) -> str:
    return (
        f"(\n{indent(expr)}\n)\n"
        "* on (namespace, horizontalpodautoscaler) group_left (deployment, statefulset)\n"
        f"{indent(HPA_TARGET)}"
    )


_HPA_EXPECTED = {"namespace": _NS, "horizontalpodautoscaler": _DEPLOY, "deployment": _DEPLOY}


def _hpa_maxed_out(b: _Builder) -> AlertRule:
    cfg = b.c.kubernetes.hpa_maxed_out
    step = step_for(cfg.for_)
    warm = 2
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    by_hpa = "max by (namespace, horizontalpodautoscaler)"
    expr = _with_hpa_target(
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
        instance=_T("{namespace}/{horizontalpodautoscaler}"),
        remediate=True,
        scenarios=(
            _scenario(
                "fires when the HPA reaches maxReplicas",
                step,
                total,
                _hpa_series(
                    total, current=[(4, warm), (10, fault)], min_replicas=2, max_replicas=10
                ),
                [ExpectedAlert(_HPA_EXPECTED)],
            ),
            _scenario(
                "stays quiet below maxReplicas",
                step,
                total,
                _hpa_series(total, current=[(4, total)], min_replicas=2, max_replicas=10),
            ),
            _scenario(
                "stays quiet for a fixed-size HPA (minReplicas = maxReplicas)",
                step,
                total,
                _hpa_series(total, current=[(3, total)], min_replicas=3, max_replicas=3),
            ),
        ),
    )


def _node_not_ready(b: _Builder) -> AlertRule:
    cfg = b.c.kubernetes.node_not_ready
    step = step_for(cfg.for_)
    warm = 2
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    expr = (
        "max by (node) (\n"
        '  kube_node_status_condition{condition="Ready", status=~"false|unknown"}\n'
        ") == 1"
    )
    base = {"node": _NODE, "condition": "Ready"}
    return b.alert(
        name="NodeNotReady",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="Node {node} is not ready",
        description=(
            "Node {node} has had its Ready condition False or Unknown{held}: its pods will be "
            "evicted and nothing new is scheduled there."
        ),
        target_labels=("node",),
        instance=_NODE_INSTANCE,
        remediate=True,
        scenarios=(
            _scenario(
                "fires when the kubelet stops reporting (Ready Unknown)",
                step,
                total,
                _condition_series(
                    "kube_node_status_condition", base, [("true", warm), ("unknown", fault)]
                ),
                [ExpectedAlert({"node": _NODE})],
            ),
            _scenario(
                "stays quiet for a ready node",
                step,
                total,
                _condition_series("kube_node_status_condition", base, [("true", total)]),
            ),
        ),
    )


def _kubernetes_group(b: _Builder) -> RuleGroup:
    return RuleGroup(
        name="kubeheal.kubernetes",
        slug="kubeheal-kubernetes",
        title="Kubernetes resources",
        rules=(
            _crash_loop(b),
            _node_memory_pressure(b),
            *_volume_usage(b),
            _pod_not_ready(b),
            _replicas_mismatch(b),
            _hpa_maxed_out(b),
            _node_not_ready(b),
        ),
        interval=b.c.evaluation_interval,
    )


# ---------------------------------------------------------------------------- cost


def _over_provisioned(b: _Builder) -> AlertRule:
    cfg = b.c.cost.over_provisioned
    step = step_for(cfg.window, cfg.for_)
    total = steps(cfg.window + cfg.for_, step) + 2
    win = _d(cfg.window)
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

    def series(cpu_share: float, memory_share: float) -> list[Series]:
        out = _mapping_series(total)
        for pod in _PODS:
            labels = _container_labels(pod, "app")
            out += [
                Series(
                    selector("container_cpu_usage_seconds_total", labels),
                    counter(step, [(cpu_request * cpu_share, total)]),
                ),
                Series(
                    selector("container_memory_working_set_bytes", labels),
                    gauge([(round(memory_request * memory_share), total)]),
                ),
                Series(
                    selector(
                        "kube_pod_container_resource_requests",
                        _limit_labels(pod, "app", "cpu", "core"),
                    ),
                    gauge([(cpu_request, total)]),
                ),
                Series(
                    selector(
                        "kube_pod_container_resource_requests",
                        _limit_labels(pod, "app", "memory", "byte"),
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
            f"{_pct(cfg.cpu_usage_ratio)} of their CPU requests (or "
            f"{_pct(cfg.memory_usage_ratio)} of their memory requests; see the resource label) "
            f"over {win} windows{{held}}. Lower the requests (`kubeheal rightsize` suggests "
            "values) to free capacity."
        ),
        target_labels=("namespace", "deployment", "statefulset", "daemonset", "resource"),
        instance=_WORKLOAD_INSTANCE,
        scenarios=(
            _scenario(
                "fires for pods using a few percent of their CPU and memory requests",
                step,
                total,
                series(cfg.cpu_usage_ratio / 2, cfg.memory_usage_ratio / 2),
                [
                    ExpectedAlert({**_WORKLOAD_LABELS, "resource": "cpu"}),
                    ExpectedAlert({**_WORKLOAD_LABELS, "resource": "memory"}),
                ],
            ),
            _scenario(
                "stays quiet for pods using most of what they request",
                step,
                total,
                series((cfg.cpu_usage_ratio + 1) / 2, (cfg.memory_usage_ratio + 1) / 2),
            ),
        ),
    )


def _unused_volumes(b: _Builder) -> AlertRule:
    cfg = b.c.cost.unused_volumes
    step = step_for(cfg.for_)
    total = steps(cfg.for_, step) + 2
    expr = (
        "max by (persistentvolume) (\n"
        '  kube_persistentvolume_status_phase{phase=~"Available|Released"}\n'
        ") == 1"
    )

    def phase(current: str) -> list[Series]:
        return [
            Series(
                selector(
                    "kube_persistentvolume_status_phase",
                    {"persistentvolume": "pv-orphan", "phase": name},
                ),
                gauge([(1 if name == current else 0, total)]),
            )
            for name in ("Pending", "Available", "Bound", "Released", "Failed")
        ]

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
        instance=_T("{persistentvolume}"),
        scenarios=(
            _scenario(
                "fires for a Released volume",
                step,
                total,
                phase("Released"),
                [ExpectedAlert({"persistentvolume": "pv-orphan"})],
            ),
            _scenario("stays quiet for a Bound volume", step, total, phase("Bound")),
        ),
    )


def _ineffective_hpa(b: _Builder) -> AlertRule:
    cfg = b.c.cost.ineffective_hpa
    step = step_for(cfg.for_)
    total = steps(cfg.for_, step) + 2
    by_hpa = "max by (namespace, horizontalpodautoscaler)"
    by_metric = "max by (namespace, horizontalpodautoscaler, metric_name)"
    utilization = '{metric_target_type="utilization"}'
    expr = _with_hpa_target(
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
            f"stayed at its minReplicas with every metric below {_pct(cfg.utilization_ratio)} "
            "of its target{held}: minReplicas is higher than the load needs."
        ),
        target_labels=("namespace", "horizontalpodautoscaler", "deployment", "statefulset"),
        instance=_T("{namespace}/{horizontalpodautoscaler}"),
        scenarios=(
            _scenario(
                f"fires at minReplicas 3 with utilization {number(low)} against a target of 70",
                step,
                total,
                _hpa_series(
                    total,
                    current=[(3, total)],
                    min_replicas=3,
                    max_replicas=10,
                    utilization=low,
                ),
                [ExpectedAlert(_HPA_EXPECTED)],
            ),
            _scenario(
                "stays quiet for an HPA scaling above its minimum",
                step,
                total,
                _hpa_series(
                    total, current=[(5, total)], min_replicas=3, max_replicas=10, utilization=60
                ),
            ),
            _scenario(
                "stays quiet for an idle HPA with minReplicas 1",
                step,
                total,
                _hpa_series(
                    total, current=[(1, total)], min_replicas=1, max_replicas=10, utilization=low
                ),
            ),
        ),
    )


def _cost_group(b: _Builder) -> RuleGroup:
    return RuleGroup(
        name="kubeheal.cost",
        slug="kubeheal-cost",
        title="Cost",
        rules=(_over_provisioned(b), _unused_volumes(b), _ineffective_hpa(b)),
        interval=b.c.evaluation_interval,
        uses=("kubeheal-workloads",),
    )


# ---------------------------------------------------------------------------- kubeheal itself


def _kubeheal_down(b: _Builder) -> AlertRule:
    cfg = b.c.kubeheal.down
    job = b.c.kubeheal.job
    step = step_for(cfg.for_)
    warm = 2
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    up = selector("up", {"job": job, "instance": "10.0.0.7:8080"})
    return b.alert(
        name="KubehealDown",
        expr=f'absent(up{{job="{job}"}} == 1)',
        for_seconds=cfg.for_,
        severity=Severity.CRITICAL,
        category=Category.CRITICAL,
        summary="kubeheal is down",
        description=(
            f"No kubeheal instance (job {job}) has answered Prometheus' scrapes{{held}}: "
            "nothing is being remediated automatically."
        ),
        target_labels=(),
        instance=None,
        scenarios=(
            _scenario(
                "fires when kubeheal's target is down",
                step,
                total,
                [Series(up, gauge([(1, warm), (0, fault)]))],
                [ExpectedAlert({})],
            ),
            _scenario(
                "fires when kubeheal's target disappears",
                step,
                total,
                [Series(up, gauge([(1, warm), (STALE, fault)]))],
                [ExpectedAlert({})],
            ),
            _scenario(
                "stays quiet while kubeheal is up",
                step,
                total,
                [Series(up, gauge([(1, total)]))],
            ),
        ),
    )


def _remediations_failing(b: _Builder) -> AlertRule:
    cfg = b.c.kubeheal.remediations_failing
    job = b.c.kubeheal.job
    step = step_for(cfg.window, cfg.for_)
    warm = steps(cfg.window, step) + 1
    fault = steps(cfg.window + cfg.for_, step) + 2
    total = warm + fault
    win = _d(cfg.window)
    failed = f'kubeheal_actions_total{{job="{job}", outcome="failed"}}'
    finished = f'kubeheal_actions_total{{job="{job}", outcome=~"succeeded|failed"}}'
    expr = (
        f"sum by (job) (increase({failed}[{win}])) >= {cfg.min_failures}\n"
        "and\n"
        f"sum by (job) (increase({failed}[{win}]))\n"
        f"  / sum by (job) (increase({finished}[{win}]))\n"
        f"  > {number(cfg.ratio)}"
    )
    base = {"job": job, "instance": "10.0.0.7:8080", "action": "restart_pod"}
    failure_rate = 2 * cfg.min_failures / cfg.window

    def series(ok: Sequence[tuple[float, int]], bad: str) -> list[Series]:
        return [
            Series(
                selector("kubeheal_actions_total", {**base, "outcome": "succeeded"}),
                counter(step, ok),
            ),
            Series(selector("kubeheal_actions_total", {**base, "outcome": "failed"}), bad),
        ]

    few = staircase(
        [0.0] * (warm + 1) + [float(min(i, cfg.min_failures - 1)) for i in range(1, fault + 1)]
    )
    success_rate = 4 * cfg.min_failures / cfg.window
    return b.alert(
        name="KubehealRemediationsFailing",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="Most of kubeheal's remediations fail",
        description=(
            f"More than {_pct(cfg.ratio)} of kubeheal's actions failed over the last {win} "
            f"(at least {cfg.min_failures}){{held}}: check its RBAC, the API server and the "
            "ledger (`kubeheal report`)."
        ),
        target_labels=("job",),
        instance=None,
        scenarios=(
            _scenario(
                f"fires when every action fails, {2 * cfg.min_failures} per {win}",
                step,
                total,
                series(
                    [(success_rate, warm), (0.0, fault)],
                    counter(step, [(0.0, warm), (failure_rate, fault)]),
                ),
                [ExpectedAlert({"job": job})],
            ),
            _scenario(
                "stays quiet while actions succeed",
                step,
                total,
                series([(success_rate, total)], gauge([(1, total)])),
            ),
            _scenario(
                f"stays quiet for {cfg.min_failures - 1} failure(s) and no success "
                "(below min_failures)",
                step,
                total,
                series([(0.0, total)], few),
            ),
        ),
    )


def _budget_exhausted(b: _Builder) -> AlertRule:
    cfg = b.c.kubeheal.budget_exhausted
    job = b.c.kubeheal.job
    step = step_for(cfg.window, cfg.for_)
    warm = steps(cfg.window, step) + 1
    fault = steps(cfg.for_, step) + 2
    total = warm + fault
    win = _d(cfg.window)
    guards = 'guard=~"budget_global|budget_namespace"'
    expr = (
        "sum by (job, guard) (\n"
        f'  increase(kubeheal_guard_blocks_total{{job="{job}", {guards}}}[{win}])\n'
        ") > 0"
    )
    base = {"job": job, "instance": "10.0.0.7:8080"}

    def blocks(guard: str, jump: bool) -> Series:
        samples = [1.0] * (warm + 1) + [2.0 if jump else 1.0] * fault
        return Series(
            selector("kubeheal_guard_blocks_total", {**base, "guard": guard}),
            staircase(samples),
        )

    return b.alert(
        name="KubehealActionBudgetExhausted",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="kubeheal's action budget ({guard}) is exhausted",
        description=(
            "kubeheal's circuit breaker {guard} has blocked remediations within the last "
            f"{win}{{held}}: problems are escalated to humans instead of being fixed. Look for "
            "a storm of incidents (`kubeheal report`)."
        ),
        target_labels=("job", "guard"),
        instance=None,
        scenarios=(
            _scenario(
                "fires when the namespace budget blocks a plan",
                step,
                total,
                [blocks("budget_namespace", jump=True), blocks("cooldown", jump=False)],
                [ExpectedAlert({"job": job, "guard": "budget_namespace"})],
            ),
            _scenario(
                "stays quiet when other guards (cooldown) block plans",
                step,
                total,
                [blocks("budget_namespace", jump=False), blocks("cooldown", jump=True)],
            ),
        ),
    )


def _self_group(b: _Builder) -> RuleGroup:
    return RuleGroup(
        name="kubeheal.self",
        slug="kubeheal-self",
        title="kubeheal's own health",
        rules=(_kubeheal_down(b), _remediations_failing(b), _budget_exhausted(b)),
        interval=b.c.evaluation_interval,
    )


def build_rule_groups(config: MonitoringConfig | None = None) -> tuple[RuleGroup, ...]:
    """Every rule group kubeheal ships, for `config` (defaults when None)."""
    b = _Builder(config if config is not None else MonitoringConfig())
    return (
        _workloads_group(b),
        _golden_group(b),
        _kubernetes_group(b),
        _cost_group(b),
        _self_group(b),
    )
