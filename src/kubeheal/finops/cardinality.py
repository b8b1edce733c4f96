"""What monitoring costs: a cardinality report from Prometheus' TSDB status, with fixes.

From ``/api/v1/status/tsdb`` (the head block: series per metric name, distinct values per
label name, series per label pair) the report lists the metrics and labels that hold the most
series, estimates their memory (about 4 KiB per active series, a rule of thumb for
Prometheus 2.x heads), and suggests concrete ``metric_relabel_configs``: drop whole families
known to be rarely used (histogram buckets nobody queries, cAdvisor's per-task and per-device
series), and drop labels with one value per object that no query needs. Metrics referenced by
a loaded rule are never suggested for dropping; the caveat is said instead.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import yaml

from kubeheal.clients.prometheus import TsdbStatus

__all__ = [
    "BYTES_PER_SERIES",
    "CardinalityReport",
    "LabelFinding",
    "MetricFinding",
    "cardinality_report",
    "metric_names_in",
    "relabel_yaml",
]

BYTES_PER_SERIES = 4096
"""Rule-of-thumb head memory of one active series (labels, chunks, index)."""

# Families that are large and rarely queried, with why (drop them unless a query needs them).
_KNOWN_DROPPABLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), why)
    for pattern, why in (
        (
            r"^apiserver_request_(sli_)?duration_seconds_bucket$",
            "API server latency buckets: one series per verb, resource, scope and bucket",
        ),
        (r"^apiserver_response_sizes_bucket$", "API server response size buckets"),
        (r"^etcd_request_duration_seconds_bucket$", "etcd latency buckets per operation and type"),
        (r"^rest_client_request_duration_seconds_bucket$", "client-go latency buckets"),
        (r"^workqueue_.*_bucket$", "controller work-queue latency buckets"),
        (r"^container_tasks_state$", "cAdvisor task states: five series per container"),
        (r"^container_memory_failures_total$", "cAdvisor page-fault counters per scope and type"),
        (r"^container_blkio_device_usage_total$", "cAdvisor block I/O per device and operation"),
        (r"^container_fs_.*$", "cAdvisor per-device filesystem series"),
        (r"^kube_pod_labels$|^kube_.*_annotations$", "kube-state-metrics label/annotation copies"),
    )
)
# Labels with one value per object that dashboards and rules rarely need.
_KNOWN_LABELS = {
    "id": "cAdvisor cgroup path (one per container instance)",
    "name": "cAdvisor container id",
    "image_id": "image digest",
    "container_id": "runtime container id",
    "uid": "object uid",
    "pod_ip": "pod IP",
}
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True, slots=True)
class MetricFinding:
    """A metric family among the largest, and what to do about it."""

    name: str
    series: int
    share: float
    memory_bytes: int
    suggestion: str
    drop: bool
    used_by_rules: bool


@dataclass(frozen=True, slots=True)
class LabelFinding:
    """A label with many distinct values, and whether dropping it is suggested."""

    name: str
    values: int
    memory_bytes: int
    suggestion: str
    drop: bool


@dataclass(frozen=True, slots=True)
class CardinalityReport:
    """The largest metrics and labels of the head block, and the relabel rules suggested."""

    total_series: int
    metrics: tuple[MetricFinding, ...]
    labels: tuple[LabelFinding, ...]

    @property
    def droppable_series(self) -> int:
        return sum(m.series for m in self.metrics if m.drop)

    @property
    def droppable_memory_bytes(self) -> int:
        return self.droppable_series * BYTES_PER_SERIES


def metric_names_in(expressions: Iterable[str]) -> set[str]:
    """Every identifier in PromQL expressions (a superset of the metric names they read)."""
    names: set[str] = set()
    for expr in expressions:
        names.update(_NAME.findall(expr))
    return names


def _base(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def cardinality_report(
    status: TsdbStatus, *, used: Iterable[str] = (), min_share: float = 0.02
) -> CardinalityReport:
    """The report (see the module docstring); `used` holds names read by rules/dashboards."""
    used_names = set(used)
    total = max(status.num_series, 1)
    metrics: list[MetricFinding] = []
    for name, series in status.series_count_by_metric_name:
        share = series / total
        in_rules = name in used_names or _base(name) in used_names
        reason = next((why for pattern, why in _KNOWN_DROPPABLE if pattern.match(name)), None)
        drop = False
        if in_rules:
            suggestion = "read by a loaded rule: keep (or cut labels/buckets the rule ignores)"
        elif reason is not None:
            suggestion = f"drop: {reason}"
            drop = True
        elif name.endswith("_bucket") and share >= min_share:
            suggestion = (
                "histogram buckets no rule reads: drop them (keep _sum and _count for averages) "
                "or keep fewer `le` boundaries"
            )
            drop = True
        elif share >= min_share:
            suggestion = "large: check whether any dashboard or query reads it"
        else:
            suggestion = "ok"
        metrics.append(
            MetricFinding(
                name=name,
                series=series,
                share=share,
                memory_bytes=series * BYTES_PER_SERIES,
                suggestion=suggestion,
                drop=drop,
                used_by_rules=in_rules,
            )
        )
    memory_by_label = dict(status.memory_in_bytes_by_label_name)
    labels: list[LabelFinding] = []
    for name, values in status.label_value_count_by_label_name:
        why = _KNOWN_LABELS.get(name)
        drop = why is not None and name not in used_names
        if why is None:
            suggestion = "many values: keep unless no query groups or filters by it"
        elif drop:
            suggestion = (
                f"labeldrop: {why}; drop it only where the remaining labels still tell "
                "series apart (cAdvisor: after dropping the cgroup-hierarchy series with "
                'container="")'
            )
        else:
            suggestion = f"{why}; referenced by a rule: keep"
        labels.append(
            LabelFinding(
                name=name,
                values=values,
                memory_bytes=int(memory_by_label.get(name, 0)),
                suggestion=suggestion,
                drop=drop,
            )
        )
    return CardinalityReport(
        total_series=status.num_series, metrics=tuple(metrics), labels=tuple(labels)
    )


def relabel_yaml(report: CardinalityReport, *, extra_drop: Sequence[str] = ()) -> str:
    """``metric_relabel_configs`` implementing the report's drop suggestions."""
    configs: list[dict[str, object]] = []
    drop = sorted({m.name for m in report.metrics if m.drop} | set(extra_drop))
    if drop:
        configs.append(
            {
                "source_labels": ["__name__"],
                "regex": "|".join(re.escape(name) for name in drop),
                "action": "drop",
            }
        )
    labels = sorted(label.name for label in report.labels if label.drop)
    if any(name in ("id", "name") for name in labels):
        configs.append(
            {
                "source_labels": ["__name__", "container"],
                "regex": "container_.+;",
                "action": "drop",
            }
        )
    if labels:
        configs.append({"regex": "|".join(labels), "action": "labeldrop"})
    if not configs:
        return "# nothing to drop\nmetric_relabel_configs: []\n"
    header = (
        f"# Suggested by kubeheal: {report.droppable_series} series "
        f"(~{report.droppable_memory_bytes / 2**20:.0f} MiB of head memory) from dropped "
        "families, plus the labels below.\n"
        "# Add under each scrape job that exposes them; check dashboards before applying.\n"
    )
    return header + yaml.safe_dump({"metric_relabel_configs": configs}, sort_keys=False)
