"""What every alert builder shares: the configuration, the fixture objects, the timing of
the promtool scenarios, the fires/stays-quiet scenario builder and `condition_alert()`.

An alert module (golden, kubernetes, cost, self) holds only what makes its alerts differ:
the expression, the words, and the series that make them fire or stay quiet.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kubeheal.monitoring.config import MonitoringConfig, format_duration
from kubeheal.monitoring.fixtures import (
    Value,
    gauge,
    number,
    selector,
    step_for,
    steps,
)
from kubeheal.monitoring.model import (
    AlertRule,
    Category,
    ExpectedAlert,
    LabelTemplate,
    Scenario,
    Series,
    Severity,
)
from kubeheal.monitoring.promql import HPA_TARGET, indent

__all__ = [
    "DEPLOY",
    "HPA_EXPECTED",
    "NODE",
    "NODE_INSTANCE",
    "NS",
    "PODS",
    "POD_INSTANCE",
    "WORKLOAD_EXPECTED",
    "WORKLOAD_INSTANCE",
    "WORKLOAD_TARGET",
    "Builder",
    "Condition",
    "Timing",
    "condition_alert",
    "container_labels",
    "duration",
    "hpa_series",
    "limit_labels",
    "mapping_series",
    "one_hot",
    "pct",
    "seconds",
    "tiered",
    "with_hpa_target",
]

T = LabelTemplate
WORKLOAD_INSTANCE = T("{namespace}/{workload}")
POD_INSTANCE = T("{namespace}/{pod}")
NODE_INSTANCE = T("{node}")
WORKLOAD_TARGET = ("namespace", "deployment", "statefulset", "daemonset")

# fixture objects
NS = "demo"
DEPLOY = "web"
RS = "web-5d8f7c9b4"
PODS = ("web-5d8f7c9b4-2x7qk", "web-5d8f7c9b4-9mzrt")
NODE = "node-1"
WORKLOAD_EXPECTED = {"namespace": NS, "deployment": DEPLOY}
HPA_EXPECTED = {"namespace": NS, "horizontalpodautoscaler": DEPLOY, "deployment": DEPLOY}


def seconds(value: float) -> str:
    """A latency for people: ``250ms``, ``1.5s``."""
    if value < 1:
        return f"{number(round(value * 1000, 3))}ms"
    return f"{number(value)}s"


def pct(ratio: float) -> str:
    """A ratio as a percentage: ``0.05`` -> ``5%``."""
    return f"{number(round(ratio * 100, 4))}%"


def duration(value: int) -> str:
    """Seconds as a Prometheus duration."""
    return format_duration(value)


class Builder:
    """Shared state of one build: the configuration and the runbook URL base."""

    def __init__(self, config: MonitoringConfig) -> None:
        self.c = config
        self.w = duration(config.rate_window)

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
        """An alert; ``{held}`` in `description` becomes `` for <for>`` (nothing when 0)."""
        held = f" for {duration(for_seconds)}" if for_seconds else ""
        return AlertRule(
            name=name,
            expr=expr,
            for_seconds=for_seconds,
            severity=severity,
            category=category,
            summary=T(summary),
            description=T(description.replace("{held}", held)),
            runbook_url=self.runbook(name),
            target_labels=tuple(target_labels),
            instance=instance,
            remediate=remediate,
            scenarios=tuple(scenarios),
        )


# ---------------------------------------------------------------------------- scenarios


@dataclass(frozen=True, slots=True)
class Timing:
    """The timeline of one alert's promtool scenarios: `warm` steps of normal behaviour, then
    `fault` steps in which the alert has to fire, `step` seconds each; evaluated at the end."""

    step: int
    warm: int
    fault: int

    @classmethod
    def of(
        cls, *durations: int, fault: int, warm: int | None = None, warm_up: bool = True
    ) -> Timing:
        """`durations` (windows and `for`) choose the step; the fault phase covers `fault`
        seconds and two steps more; the warm phase covers `warm` seconds and one step more
        (None: two steps; `warm_up` False: no warm phase at all)."""
        step = step_for(*durations)
        fault_steps = steps(fault, step) + 2
        if not warm_up:
            return cls(step, 0, fault_steps)
        warm_steps = 2 if warm is None else steps(warm, step) + 1
        return cls(step, warm_steps, fault_steps)

    @classmethod
    def held(cls, for_: int) -> Timing:
        """The usual timeline of an alert on a state held for `for_`."""
        return cls.of(for_, fault=for_)

    @property
    def total(self) -> int:
        return self.warm + self.fault

    def fires(self, name: str, series: Sequence[Series], *expected: ExpectedAlert) -> Scenario:
        """A scenario in which the alert fires, with the labels of each alert expected."""
        if not expected:
            raise ValueError(f"scenario {name!r} fires but expects no alert")
        return self._scenario(name, series, expected)

    def quiet(self, name: str, series: Sequence[Series]) -> Scenario:
        """A scenario in which the alert stays quiet."""
        return self._scenario(name, series, ())

    def _scenario(
        self, name: str, series: Sequence[Series], expected: Sequence[ExpectedAlert]
    ) -> Scenario:
        return Scenario(
            name=name,
            interval=self.step,
            eval_at=self.total * self.step,
            series=tuple(series),
            expected=tuple(expected),
        )


def tiered(
    t: Timing,
    rule: Callable[[Severity, float, Sequence[Scenario]], AlertRule],
    *,
    warning: float,
    critical: float | None,
    labels: Mapping[str, str],
    series: Callable[[float], Sequence[Series]],
    warning_name: Callable[[str], str],
    critical_name: Callable[[str], str],
    quiet: Sequence[Scenario],
) -> list[AlertRule]:
    """A warning alert above the ratio `warning` and, unless `critical` is None, a critical
    one above `critical`. The warning fires halfway between its ratio and the next tier (or
    1), the critical one (with the warning) halfway between its ratio and 1; `series(share)`
    makes the fault at a share, the names say it (``warning_name("62.5%")``), `quiet` are the
    warning's quiet scenarios."""
    upper = critical if critical is not None else 1.0
    share = (warning + upper) / 2
    rules = [
        rule(
            Severity.WARNING,
            warning,
            (t.fires(warning_name(pct(share)), series(share), ExpectedAlert(labels)), *quiet),
        )
    ]
    if critical is not None:
        share = (critical + 1) / 2
        both = (ExpectedAlert(labels, Severity.WARNING), ExpectedAlert(labels, Severity.CRITICAL))
        rules.append(
            rule(
                Severity.CRITICAL,
                critical,
                (t.fires(critical_name(pct(share)), series(share), *both),),
            )
        )
    return rules


# ---------------------------------------------------------------------------- fixture series


def one_hot(
    family: str,
    base: Mapping[str, str],
    label: str,
    values: Sequence[str],
    phases: Sequence[tuple[str, int]],
) -> list[Series]:
    """A kube-state-metrics state family: one series per value of `label`, 1 on the current
    one (conditions by status, pod and volume phases)."""
    return [
        Series(
            selector(family, {**base, label: value}),
            gauge([(1 if current == value else 0, n) for current, n in phases]),
        )
        for value in values
    ]


def mapping_series(total: int) -> list[Series]:
    """kube_pod_owner/kube_replicaset_owner naming the Deployment of the fixture pods."""
    out = [
        Series(
            selector(
                "kube_pod_owner",
                {
                    "namespace": NS,
                    "pod": pod,
                    "uid": f"uid-{i}",
                    "owner_kind": "ReplicaSet",
                    "owner_name": RS,
                    "owner_is_controller": "true",
                },
            ),
            gauge([(1, total)]),
        )
        for i, pod in enumerate(PODS)
    ]
    out.append(
        Series(
            selector(
                "kube_replicaset_owner",
                {
                    "namespace": NS,
                    "replicaset": RS,
                    "owner_kind": "Deployment",
                    "owner_name": DEPLOY,
                    "owner_is_controller": "true",
                },
            ),
            gauge([(1, total)]),
        )
    )
    return out


def container_labels(pod: str, container: str, **extra: str) -> dict[str, str]:
    return {
        "namespace": NS,
        "pod": pod,
        "container": container,
        "id": f"/kubepods/burstable/pod-{pod}/{container}",
        "image": f"registry.example.com/{container}:1.0",
        "name": f"{pod}-{container}",
        **extra,
    }


def limit_labels(pod: str, container: str, resource: str, unit: str) -> dict[str, str]:
    return {
        "namespace": NS,
        "pod": pod,
        "uid": f"uid-{pod}",
        "container": container,
        "node": NODE,
        "resource": resource,
        "unit": unit,
    }


def hpa_series(
    total: int,
    *,
    current: Sequence[tuple[Value, int]],
    min_replicas: int,
    max_replicas: int,
    utilization: float | None = None,
) -> list[Series]:
    """The kube-state-metrics series of one HPA scaling the fixture Deployment."""
    hpa = {"namespace": NS, "horizontalpodautoscaler": DEPLOY}
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
                    "scaletargetref_name": DEPLOY,
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


def with_hpa_target(expr: str) -> str:
    """`expr` (by namespace, horizontalpodautoscaler) joined with the HPA's workload."""
    return (
        f"(\n{indent(expr)}\n)\n"
        "* on (namespace, horizontalpodautoscaler) group_left (deployment, statefulset)\n"
        f"{indent(HPA_TARGET)}"
    )


# ---------------------------------------------------------------------------- conditions

_STATUSES = ("true", "false", "unknown")


@dataclass(frozen=True, slots=True)
class Condition:
    """An alert on a node condition (kube_node_status_condition), as data."""

    alert: str
    condition: str
    firing: tuple[str, ...]
    """The statuses that fire (``("true",)``, ``("false", "unknown")``)."""
    healthy: str
    """The status of a healthy node."""
    fault: str
    """The status the firing scenario switches to."""
    severity: Severity
    category: Category
    summary: str
    description: str
    fires_when: str
    quiet_when: str
    remediate: bool = False


def condition_alert(b: Builder, spec: Condition, for_seconds: int) -> AlertRule:
    """The alert `spec` describes, held for `for_seconds`, with its two scenarios."""
    t = Timing.held(for_seconds)
    family = "kube_node_status_condition"
    if len(spec.firing) == 1:
        status = f'status="{spec.firing[0]}"'
    else:
        status = f'status=~"{"|".join(spec.firing)}"'
    expr = f'max by (node) (\n  {family}{{condition="{spec.condition}", {status}}}\n) == 1'
    base = {"node": NODE, "condition": spec.condition}
    return b.alert(
        name=spec.alert,
        expr=expr,
        for_seconds=for_seconds,
        severity=spec.severity,
        category=spec.category,
        summary=spec.summary,
        description=spec.description,
        target_labels=("node",),
        instance=NODE_INSTANCE,
        remediate=spec.remediate,
        scenarios=(
            t.fires(
                spec.fires_when,
                one_hot(
                    family,
                    base,
                    "status",
                    _STATUSES,
                    [(spec.healthy, t.warm), (spec.fault, t.fault)],
                ),
                ExpectedAlert({"node": NODE}),
            ),
            t.quiet(
                spec.quiet_when,
                one_hot(family, base, "status", _STATUSES, [(spec.healthy, t.total)]),
            ),
        ),
    )
