"""Rules as data: alerting and recording rules, their groups and their promtool test cases.

An `AlertRule` carries, besides its PromQL, the scenarios that prove it: input series in
promtool's expanding notation and the alerts expected at the end (none for a quiet case).
Annotations and the `instance` label are `LabelTemplate`s, so the same text renders to a
Prometheus template for the rule file and to the exact string promtool expects in a test.

Pure: no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "WORKLOAD_LABELS",
    "AlertRule",
    "Category",
    "ExpectedAlert",
    "LabelTemplate",
    "RecordingRule",
    "RuleGroup",
    "Scenario",
    "Series",
    "Severity",
]

# The labels that name the workload of an alert; an alert has exactly one of them.
WORKLOAD_LABELS = ("deployment", "statefulset", "daemonset")


class Severity(enum.StrEnum):
    """How urgently a human must look (drives Alertmanager's routing)."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Category(enum.StrEnum):
    """What kind of problem an alert reports."""

    CRITICAL = "critical"
    PERFORMANCE = "performance"
    CAPACITY = "capacity"
    COST = "cost"


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Placeholders standing for several labels, of which an alert carries one.
_VIRTUAL = {"workload": WORKLOAD_LABELS}


@dataclass(frozen=True, slots=True)
class LabelTemplate:
    """Text with ``{label}`` placeholders (``{workload}``: the workload's name).

    `to_prometheus` gives the Go template of a rule file (a missing label renders empty);
    `render` gives what Prometheus will produce for concrete labels.
    """

    text: str

    def _labels_of(self, name: str) -> tuple[str, ...]:
        return _VIRTUAL.get(name, (name,))

    def to_prometheus(self) -> str:
        def replace(match: re.Match[str]) -> str:
            return "".join(f"{{{{ $labels.{n} }}}}" for n in self._labels_of(match.group(1)))

        return _PLACEHOLDER.sub(replace, self.text)

    def render(self, labels: Mapping[str, str]) -> str:
        def replace(match: re.Match[str]) -> str:
            return "".join(labels.get(n, "") for n in self._labels_of(match.group(1)))

        return _PLACEHOLDER.sub(replace, self.text)

    def label_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for match in _PLACEHOLDER.finditer(self.text):
            names.extend(self._labels_of(match.group(1)))
        return tuple(names)


@dataclass(frozen=True, slots=True)
class Series:
    """One input series of a promtool test: selector and expanding-notation values."""

    selector: str
    values: str


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    """An alert expected in a test: the labels its expression yields.

    `severity` picks the rule among rules sharing the alert name (tiers); None means the rule
    the scenario belongs to.
    """

    labels: Mapping[str, str]
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """One promtool test case of an alert: inputs sampled every `interval` seconds, and the
    alerts expected at `eval_at` seconds (none: the alert must stay quiet)."""

    name: str
    interval: int
    eval_at: int
    series: tuple[Series, ...]
    expected: tuple[ExpectedAlert, ...] = ()

    @property
    def fires(self) -> bool:
        return bool(self.expected)


@dataclass(frozen=True, slots=True)
class RecordingRule:
    """A recording rule."""

    record: str
    expr: str


@dataclass(frozen=True, slots=True)
class AlertRule:
    """An alerting rule with its labels, annotations and test scenarios.

    `target_labels` are the labels the expression yields (what kubeheal maps to a target);
    `instance` names the target in the `instance` label, so that Alertmanager's
    `equal: [alertname, instance]` inhibition compares like with like.
    """

    name: str
    expr: str
    for_seconds: int
    severity: Severity
    category: Category
    summary: LabelTemplate
    description: LabelTemplate
    runbook_url: str
    target_labels: tuple[str, ...]
    instance: LabelTemplate | None = None
    remediate: bool = False
    scenarios: tuple[Scenario, ...] = field(default=())

    def labels(self) -> dict[str, str]:
        """The rule's own labels, as written in the rule file."""
        out = {"severity": self.severity.value, "category": self.category.value}
        if self.remediate:
            out["kubeheal"] = "remediate"
        if self.instance is not None:
            out["instance"] = self.instance.to_prometheus()
        return out

    def annotations(self) -> dict[str, str]:
        return {
            "summary": self.summary.to_prometheus(),
            "description": self.description.to_prometheus(),
            "runbook_url": self.runbook_url,
        }

    def expected_labels(self, expr_labels: Mapping[str, str]) -> dict[str, str]:
        """All labels of the alert Prometheus raises for one result of the expression."""
        out = dict(expr_labels)
        out.update({"severity": self.severity.value, "category": self.category.value})
        if self.remediate:
            out["kubeheal"] = "remediate"
        if self.instance is not None:
            out["instance"] = self.instance.render(expr_labels)
        return out

    def expected_annotations(self, expr_labels: Mapping[str, str]) -> dict[str, str]:
        return {
            "summary": self.summary.render(expr_labels),
            "description": self.description.render(expr_labels),
            "runbook_url": self.runbook_url,
        }


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """A rule group, written as one rule file, one PrometheusRule and one test file per alert.

    `uses` names the groups whose recording rules this group reads (their files are loaded
    with this group's in the promtool tests).
    """

    name: str
    slug: str
    title: str
    rules: tuple[AlertRule | RecordingRule, ...]
    interval: int | None = None
    uses: tuple[str, ...] = ()

    @property
    def alerts(self) -> tuple[AlertRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, AlertRule))

    def alert_names(self) -> tuple[str, ...]:
        """Distinct alert names, in rule order."""
        return tuple(dict.fromkeys(a.name for a in self.alerts))
