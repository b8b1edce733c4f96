"""``kubeheal.golden-signals``: HighLatency, HighTraffic, HighErrorRate, HighCPUSaturation,
HighMemorySaturation, on the workloads the pods belong to.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeheal.monitoring.alerts._common import (
    DEPLOY,
    NS,
    POD_INSTANCE,
    PODS,
    WORKLOAD_EXPECTED,
    WORKLOAD_INSTANCE,
    WORKLOAD_TARGET,
    Builder,
    Timing,
    container_labels,
    duration,
    limit_labels,
    mapping_series,
    pct,
    seconds,
    tiered,
)
from kubeheal.monitoring.fixtures import Value, counter, gauge, number, selector
from kubeheal.monitoring.model import (
    AlertRule,
    Category,
    ExpectedAlert,
    RecordingRule,
    RuleGroup,
    Scenario,
    Series,
    Severity,
)
from kubeheal.monitoring.promql import (
    WORKLOAD,
    indent,
    request_rate_record,
    workload_request_rate_expr,
    workload_sum,
)

__all__ = ["golden_group"]


def http_labels(pod: str, **extra: str) -> dict[str, str]:
    return {
        "namespace": NS,
        "pod": pod,
        "app": DEPLOY,
        "service": DEPLOY,
        "method": "GET",
        **extra,
    }


def requests(step: int, phases: Sequence[tuple[float, float, int]]) -> list[Series]:
    """http_requests_total of both pods: phases of (total rate, error share, steps)."""
    out: list[Series] = []
    for pod in PODS:
        ok = [(rate * (1 - err) / len(PODS), n) for rate, err, n in phases]
        bad = [(rate * err / len(PODS), n) for rate, err, n in phases]
        out.append(
            Series(
                selector("http_requests_total", http_labels(pod, status="200")), counter(step, ok)
            )
        )
        out.append(
            Series(
                selector("http_requests_total", http_labels(pod, status="500")), counter(step, bad)
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
    for pod in PODS:
        for bound in bounds:
            rates = []
            for rate, slow, n in phases:
                counted = bound >= threshold * 2 if slow else True
                rates.append((rate / len(PODS) if counted else 0.0, n))
            out.append(
                Series(
                    selector(
                        "http_request_duration_seconds_bucket",
                        http_labels(pod, le=number(bound)),
                    ),
                    counter(step, rates),
                )
            )
    return out


def _rate_timing(b: Builder, for_: int) -> Timing:
    """Warm for one rate window, fault for a rate window and `for_`."""
    return Timing.of(b.c.rate_window, for_, warm=b.c.rate_window, fault=b.c.rate_window + for_)


def _latency(b: Builder, rate_record: str) -> AlertRule:
    cfg = b.c.golden_signals.latency
    min_rps = b.c.golden_signals.min_request_rate
    t = _rate_timing(b, cfg.for_)
    rate = max(2.0, 10 * min_rps)
    limit = cfg.threshold_seconds
    quantile = number(cfg.quantile)
    bucket_rate = workload_sum(f"rate(http_request_duration_seconds_bucket[{b.w}])", "le")
    expr = (
        f"histogram_quantile({quantile},\n{indent(bucket_rate)}\n) > {number(limit)}\n"
        f"and on (namespace, {WORKLOAD})\n"
        f"{rate_record} > {number(min_rps)}"
    )
    pct_name = f"p{number(round(cfg.quantile * 100, 2))}"
    traffic = requests(t.step, [(rate, 0.0, t.total)])
    return b.alert(
        name="HighLatency",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.PERFORMANCE,
        summary=f"{pct_name} latency of {{namespace}}/{{workload}} is above {seconds(limit)}",
        description=(
            f"The {pct_name} latency of HTTP requests served by {{namespace}}/{{workload}} has "
            f"been above {seconds(limit)}{{held}} (over {b.w} windows, at more than "
            f"{number(min_rps)} requests/s)."
        ),
        target_labels=WORKLOAD_TARGET,
        instance=WORKLOAD_INSTANCE,
        remediate=True,
        scenarios=(
            t.fires(
                "fires when every request becomes slower than the threshold",
                [
                    *mapping_series(t.total),
                    *traffic,
                    *_histogram(t.step, limit, [(rate, False, t.warm), (rate, True, t.fault)]),
                ],
                ExpectedAlert(WORKLOAD_EXPECTED),
            ),
            t.quiet(
                "stays quiet while requests are fast",
                [
                    *mapping_series(t.total),
                    *traffic,
                    *_histogram(t.step, limit, [(rate, False, t.total)]),
                ],
            ),
            t.quiet(
                "stays quiet for slow requests at a trickle (below min_request_rate)",
                [
                    *mapping_series(t.total),
                    *requests(t.step, [(min_rps / 4, 0.0, t.total)]),
                    *_histogram(t.step, limit, [(min_rps / 4, True, t.total)]),
                ],
            ),
        ),
    )


def _traffic(b: Builder, rate_record: str) -> AlertRule:
    cfg = b.c.golden_signals.traffic
    min_rps = b.c.golden_signals.min_request_rate
    w = b.c.rate_window
    t = Timing.of(w, cfg.for_, warm=cfg.baseline_window + w, fault=w + cfg.for_)
    rate = max(2.0, 10 * min_rps)
    factor = number(cfg.spike_factor)
    baseline = f"avg_over_time({rate_record}[{duration(cfg.baseline_window)}] offset {b.w})"
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
            f"its average of the previous {duration(cfg.baseline_window)}{{held}}. Check that "
            "autoscaling keeps up and that the traffic is legitimate."
        ),
        target_labels=WORKLOAD_TARGET,
        instance=WORKLOAD_INSTANCE,
        scenarios=(
            t.fires(
                f"fires when traffic jumps to {number(cfg.spike_factor * 4)}x its baseline",
                [
                    *mapping_series(t.total),
                    *requests(
                        t.step,
                        [(rate, 0.0, t.warm), (rate * cfg.spike_factor * 4, 0.0, t.fault)],
                    ),
                ],
                ExpectedAlert(WORKLOAD_EXPECTED),
            ),
            t.quiet(
                "stays quiet under steady traffic",
                [*mapping_series(t.total), *requests(t.step, [(rate, 0.0, t.total)])],
            ),
        ),
    )


def _error_rate(b: Builder, rate_record: str) -> list[AlertRule]:
    cfg = b.c.golden_signals.errors
    min_rps = b.c.golden_signals.min_request_rate
    t = _rate_timing(b, cfg.for_)
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
            summary=f"{{namespace}}/{{workload}} fails more than {pct(ratio)} of its requests",
            description=(
                f"More than {pct(ratio)} of the HTTP requests served by "
                f"{{namespace}}/{{workload}} have answered 5xx{{held}} (over {b.w} windows, at "
                f"more than {number(min_rps)} requests/s)."
            ),
            target_labels=WORKLOAD_TARGET,
            instance=WORKLOAD_INSTANCE,
            scenarios=scenarios,
        )

    def failing(share: float) -> list[Series]:
        return [
            *mapping_series(t.total),
            *requests(t.step, [(rate, normal, t.warm), (rate, share, t.fault)]),
        ]

    return tiered(
        t,
        rule,
        warning=cfg.warning_ratio,
        critical=cfg.critical_ratio,
        labels=WORKLOAD_EXPECTED,
        series=failing,
        warning_name=lambda share: f"fires a warning when {share} of the requests fail",
        critical_name=lambda share: f"fires critical (and warning) when {share} fail",
        quiet=(
            t.quiet(
                f"stays quiet while {pct(normal)} of the requests fail",
                [*mapping_series(t.total), *requests(t.step, [(rate, normal, t.total)])],
            ),
            t.quiet(
                "stays quiet when every request fails at a trickle (below min_request_rate)",
                [*mapping_series(t.total), *requests(t.step, [(min_rps / 4, 1.0, t.total)])],
            ),
        ),
    )


def _cpu_saturation(b: Builder) -> AlertRule:
    cfg = b.c.golden_signals.cpu_saturation
    t = _rate_timing(b, cfg.for_)
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
        out = mapping_series(t.total)
        for pod in PODS:
            out.append(
                Series(
                    selector("container_cpu_usage_seconds_total", container_labels(pod, "app")),
                    counter(
                        t.step,
                        [(limit * app_share, n_warm), (limit * fault_share, t.total - n_warm)],
                    ),
                )
            )
            # a sidecar without a CPU limit, busy: must not count against the app's limit
            out.append(
                Series(
                    selector("container_cpu_usage_seconds_total", container_labels(pod, "sidecar")),
                    counter(t.step, [(2.0, t.total)]),
                )
            )
            # the pod's own cgroup (container=""), as cAdvisor reports it
            out.append(
                Series(
                    selector("container_cpu_usage_seconds_total", container_labels(pod, "")),
                    counter(t.step, [(2.0 + limit, t.total)]),
                )
            )
            out.append(
                Series(
                    selector(
                        "kube_pod_container_resource_limits",
                        limit_labels(pod, "app", "cpu", "core"),
                    ),
                    gauge([(limit, t.total)]),
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
        summary=f"{{namespace}}/{{workload}} uses more than {pct(cfg.ratio)} of its CPU limit",
        description=(
            f"The containers of {{namespace}}/{{workload}} have used more than "
            f"{pct(cfg.ratio)} of their CPU limits{{held}}: they are being throttled, which "
            "shows as latency."
        ),
        target_labels=WORKLOAD_TARGET,
        instance=WORKLOAD_INSTANCE,
        remediate=True,
        scenarios=(
            t.fires(
                f"fires when the app uses {pct(busy)} of its CPU limit",
                series(normal, t.warm, busy),
                ExpectedAlert(WORKLOAD_EXPECTED),
            ),
            t.quiet(
                f"stays quiet at {pct(normal)} of the limit, whatever unlimited sidecars use",
                series(normal, t.total, normal),
            ),
        ),
    )


def _memory_saturation(b: Builder) -> AlertRule:
    cfg = b.c.golden_signals.memory_saturation
    t = Timing.held(cfg.for_)
    limit = 256 * 2**20
    sel = '{container!="", container!="POD"}'
    expr = (
        "max by (namespace, pod, container) (\n"
        f"  container_memory_working_set_bytes{sel}\n"
        f"  / (container_spec_memory_limit_bytes{sel} > 0)\n"
        f") > {number(cfg.ratio)}"
    )
    pod = PODS[0]
    labels = container_labels(pod, "app")

    def series(limit_bytes: int, phases: Sequence[tuple[Value, int]]) -> list[Series]:
        return [
            Series(selector("container_memory_working_set_bytes", labels), gauge(phases)),
            Series(
                selector("container_spec_memory_limit_bytes", labels),
                gauge([(limit_bytes, t.total)]),
            ),
        ]

    normal = round(limit * cfg.ratio / 2)
    full = round(limit * (cfg.ratio + 1) / 2)
    expected = {"namespace": NS, "pod": pod, "container": "app"}
    return b.alert(
        name="HighMemorySaturation",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CAPACITY,
        summary=(
            f"Container {{container}} of {{namespace}}/{{pod}} uses more than "
            f"{pct(cfg.ratio)} of its memory limit"
        ),
        description=(
            f"The working set of container {{container}} in pod {{namespace}}/{{pod}} has been "
            f"above {pct(cfg.ratio)} of its memory limit{{held}}: it is close to being "
            "OOM-killed."
        ),
        target_labels=("namespace", "pod", "container"),
        instance=POD_INSTANCE,
        scenarios=(
            t.fires(
                f"fires when the working set reaches {pct((cfg.ratio + 1) / 2)} of the limit",
                series(limit, [(normal, t.warm), (full, t.fault)]),
                ExpectedAlert(expected),
            ),
            t.quiet(
                f"stays quiet at {pct(cfg.ratio / 2)} of the limit",
                series(limit, [(normal, t.total)]),
            ),
            t.quiet(
                "stays quiet for a container without a memory limit",
                series(0, [(full * 4, t.total)]),
            ),
        ),
    )


def golden_group(b: Builder) -> RuleGroup:
    """The golden-signal alerts and the request-rate record they share."""
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
