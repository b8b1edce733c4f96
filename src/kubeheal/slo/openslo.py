"""OpenSLO specs: ``openslo/v1`` (SLO and SLI kinds) and ``openslo/v1alpha``, into ``SLO``.

Ratio and threshold metrics, one rolling time window; v1alpha read as Sloth reads it (one
SLO per objective). Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from kubeheal.model.names import shown
from kubeheal.slo.errors import SloSpecError
from kubeheal.slo.model import SLO, AlertPolicy, EventsSLI, RatioSLI, SpecFormat, has_window
from kubeheal.slo.spec_common import (
    Annotations,
    Strict,
    check_labels,
    check_name,
    check_period,
    objective_warnings,
    scalar_text,
    to_decimal,
    workload_of,
)
from kubeheal.slo.windows import decimal_text, format_duration, parse_duration

__all__ = [
    "SKIPPED_OPENSLO_KINDS",
    "OsInlineIndicator",
    "OsMetadata",
    "OsMetricSource",
    "OsMetricSpec",
    "OsObjective",
    "OsRatioMetric",
    "OsSli",
    "OsSliSpec",
    "OsSlo",
    "OsSloSpec",
    "OsTimeWindow",
    "OsaIndicator",
    "OsaObjective",
    "OsaQuery",
    "OsaRatioMetrics",
    "OsaSlo",
    "OsaSloSpec",
    "OsaTimeWindow",
    "openslo_slo",
    "openslo_v1alpha_slos",
]

SKIPPED_OPENSLO_KINDS = frozenset(
    {"Service", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget"}
)


def _stringify_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: [scalar_text(i) for i in v] if isinstance(v, list) else scalar_text(v)
            for k, v in value.items()
        }
    return value


class OsMetadata(Strict):
    name: str
    displayName: str = ""
    labels: Annotated[dict[str, str | list[str]], BeforeValidator(_stringify_lists)] = {}
    annotations: Annotations = {}

    _name = field_validator("name")(check_name)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        check_labels({k: ",".join(v) if isinstance(v, list) else v for k, v in value.items()})
        return value


class OsMetricSource(Strict):
    metricSourceRef: str = ""
    type: str = ""
    spec: dict[str, str]

    @model_validator(mode="after")
    def _prometheus(self) -> OsMetricSource:
        if self.type and self.type.lower() != "prometheus":
            raise ValueError(f"metric source type {self.type!r} is not supported: use Prometheus")
        if not self.spec.get("query", "").strip():
            raise ValueError("spec.query (a PromQL query) is required")
        return self


class OsMetricSpec(Strict):
    metricSource: OsMetricSource


class OsRatioMetric(Strict):
    counter: bool = False
    good: OsMetricSpec | None = None
    bad: OsMetricSpec | None = None
    total: OsMetricSpec | None = None
    rawType: Literal["success", "failure"] | None = None
    raw: OsMetricSpec | None = None

    @model_validator(mode="after")
    def _shape(self) -> OsRatioMetric:
        if self.raw is not None:
            if self.good or self.bad or self.total:
                raise ValueError("a raw ratio takes no good, bad or total")
            if self.rawType is None:
                raise ValueError("rawType (success or failure) is required with raw")
            return self
        if self.total is None:
            raise ValueError("total is required (with good or bad)")
        if (self.good is None) == (self.bad is None):
            raise ValueError("give exactly one of good and bad, with total")
        return self


class OsSliSpec(Strict):
    description: str = ""
    thresholdMetric: OsMetricSpec | None = None
    ratioMetric: OsRatioMetric | None = None

    @model_validator(mode="after")
    def _one(self) -> OsSliSpec:
        if (self.thresholdMetric is None) == (self.ratioMetric is None):
            raise ValueError("give exactly one of thresholdMetric and ratioMetric")
        return self


class OsSli(Strict):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLI"]
    metadata: OsMetadata
    spec: OsSliSpec


class OsInlineIndicator(Strict):
    metadata: OsMetadata
    spec: OsSliSpec


class OsTimeWindow(Strict):
    duration: str
    isRolling: bool = True
    calendar: dict[str, str] | None = None

    @model_validator(mode="after")
    def _rolling(self) -> OsTimeWindow:
        if not self.isRolling or self.calendar is not None:
            raise ValueError(
                "calendar-aligned time windows are not supported: burn-rate alerts need a "
                "rolling window (isRolling: true)"
            )
        return self

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            parse_duration(value)
        except ValueError as e:
            raise ValueError(f"{e} (months, quarters and years are calendar units)") from e
        return value


class OsObjective(Strict):
    displayName: str = ""
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    value: float | None = None
    target: float | None = Field(None, gt=0, le=1)
    targetPercent: float | None = Field(None, gt=0, le=100)
    timeSliceTarget: float | None = None
    timeSliceWindow: str | None = None

    @model_validator(mode="after")
    def _target(self) -> OsObjective:
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("give exactly one of target (0..1) and targetPercent (0..100)")
        if (self.op is None) != (self.value is None):
            raise ValueError("op and value go together")
        return self


class OsSloSpec(Strict):
    description: str = ""
    service: str
    indicator: OsInlineIndicator | None = None
    indicatorRef: str | None = None
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    timeWindow: list[OsTimeWindow] = Field(..., min_length=1, max_length=1)
    objectives: list[OsObjective] = Field(..., min_length=1, max_length=1)
    alertPolicies: list[Any] = []

    _service = field_validator("service")(check_name)

    @model_validator(mode="after")
    def _indicator(self) -> OsSloSpec:
        if (self.indicator is None) == (self.indicatorRef is None):
            raise ValueError("give exactly one of indicator and indicatorRef")
        return self


class OsSlo(Strict):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLO"]
    metadata: OsMetadata
    spec: OsSloSpec


class OsaQuery(Strict):
    source: str
    queryType: str
    query: str

    @model_validator(mode="after")
    def _promql(self) -> OsaQuery:
        if self.source.lower() not in ("prometheus", "sloth"):
            raise ValueError(f"source {shown(self.source)} is not supported: use prometheus")
        if self.queryType.lower() != "promql":
            raise ValueError(f"queryType {shown(self.queryType)} is not supported: use promql")
        if not self.query.strip():
            raise ValueError("the query is empty")
        return self


class OsaRatioMetrics(Strict):
    good: OsaQuery
    total: OsaQuery
    incremental: bool = False


class OsaIndicator(Strict):
    thresholdMetric: OsaQuery


class OsaObjective(Strict):
    displayName: str = ""
    value: float | None = None
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    ratioMetrics: OsaRatioMetrics | None = None
    target: float = Field(..., gt=0, le=1)
    timeSliceTarget: float | None = None


_OSA_UNITS = {"Second": 1, "Minute": 60, "Hour": 3_600, "Day": 86_400, "Week": 7 * 86_400}


class OsaTimeWindow(Strict):
    unit: str
    count: int = Field(..., gt=0)
    isRolling: bool | None = None  # Sloth reads a window without it as rolling
    calendar: dict[str, str] | None = None

    @model_validator(mode="after")
    def _rolling(self) -> OsaTimeWindow:
        if self.isRolling is False or self.calendar is not None:
            raise ValueError(
                "calendar-aligned time windows are not supported: burn-rate alerts need a "
                "rolling window"
            )
        if self.unit not in _OSA_UNITS:
            raise ValueError(
                f"unit {shown(self.unit)} is not supported: use one of "
                f"{', '.join(_OSA_UNITS)} (months and quarters are calendar units)"
            )
        return self


class OsaSloSpec(Strict):
    description: str = ""
    service: str
    budgetingMethod: Literal["Occurrences", "Timeslices"]
    indicator: OsaIndicator | None = None
    objectives: list[OsaObjective] = Field(..., min_length=1)
    timeWindows: list[OsaTimeWindow] = Field([], max_length=1)

    _service = field_validator("service")(check_name)

    @model_validator(mode="after")
    def _indicator(self) -> OsaSloSpec:
        ratios = [o.ratioMetrics is not None for o in self.objectives]
        if self.indicator is not None and any(ratios):
            raise ValueError("only one of indicator and objectives[*].ratioMetrics can be set")
        if self.indicator is None and not all(ratios):
            raise ValueError(
                "every objective needs ratioMetrics (or give spec.indicator.thresholdMetric)"
            )
        return self


class OsaSlo(Strict):
    apiVersion: Literal["openslo/v1alpha"]
    kind: Literal["SLO"]
    metadata: OsMetadata
    spec: OsaSloSpec


_BAD_OP = {"lte": ">", "lt": ">=", "gte": "<", "gt": "<="}


def _window_query(query: str, counter: bool, source: str, field: str) -> str:
    """A ratioMetric query made a per-second rate over ``{{.window}}``."""
    text = query.strip()
    if has_window(text):
        return text
    if counter and re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?", text):
        return f"sum(rate({text}[{{{{.window}}}}]))"
    raise SloSpecError(
        source,
        (
            field,
            "the query must use the {{.window}} placeholder, or be a bare series selector "
            "of a counter (with counter: true) that kubeheal wraps as sum(rate(...))",
        ),
    )


def _openslo_sli(
    indicator: OsSliSpec,
    objective: OsObjective,
    method: str,
    *,
    source: str,
    field: str,
    objective_field: str,
) -> EventsSLI | RatioSLI:
    if indicator.ratioMetric is not None:
        ratio = indicator.ratioMetric
        if method != "Occurrences":
            raise SloSpecError(
                source,
                (
                    "spec.budgetingMethod",
                    f"{method} is not supported for ratioMetric: burn-rate alerts count "
                    "occurrences (use Occurrences)",
                ),
            )
        if ratio.raw is not None:
            query = ratio.raw.metricSource.spec["query"].strip()
            if not has_window(query):
                raise SloSpecError(
                    source,
                    (f"{field}.ratioMetric.raw.metricSource.spec.query", "must use {{.window}}"),
                )
            if ratio.rawType == "success":
                query = f"(1 - ({query}))"
            return RatioSLI(query)
        assert ratio.total is not None
        total = _window_query(
            ratio.total.metricSource.spec["query"],
            ratio.counter,
            source,
            f"{field}.ratioMetric.total.metricSource.spec.query",
        )
        if ratio.bad is not None:
            bad = _window_query(
                ratio.bad.metricSource.spec["query"],
                ratio.counter,
                source,
                f"{field}.ratioMetric.bad.metricSource.spec.query",
            )
            return EventsSLI(bad, total)
        assert ratio.good is not None
        good = _window_query(
            ratio.good.metricSource.spec["query"],
            ratio.counter,
            source,
            f"{field}.ratioMetric.good.metricSource.spec.query",
        )
        return EventsSLI(f"(({total}) - ({good}))", total)
    assert indicator.thresholdMetric is not None
    if objective.op is None or objective.value is None:
        raise SloSpecError(
            source,
            (f"{objective_field}.op", "a thresholdMetric needs the objective's op and value"),
        )
    step = 60
    if objective.timeSliceWindow is not None:
        try:
            step = parse_duration(objective.timeSliceWindow)
        except ValueError as e:
            raise SloSpecError(source, (f"{objective_field}.timeSliceWindow", str(e))) from e
    query = indicator.thresholdMetric.metricSource.spec["query"].strip()
    bad = f"(({query}) {_BAD_OP[objective.op]} bool {decimal_text(to_decimal(objective.value))})"
    return RatioSLI(f"avg_over_time({bad}[{{{{.window}}}}:{format_duration(step)}])")


def _labels_of(metadata: OsMetadata) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in metadata.labels.items():
        out[key] = ",".join(value) if isinstance(value, list) else value
    return out


def _camel(*parts: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", " ".join(parts))
    return "".join(w[:1].upper() + w[1:] for w in words if w) or "SLO"


def openslo_slo(
    slo: OsSlo, slis: Mapping[str, OsSli], *, source: str, prefix: str, scrape_interval: int
) -> SLO:
    spec = slo.spec
    if spec.indicator is not None:
        indicator = spec.indicator.spec
        field = "spec.indicator.spec"
    else:
        assert spec.indicatorRef is not None
        ref = slis.get(spec.indicatorRef)
        if ref is None:
            raise SloSpecError(
                source,
                (
                    f"{prefix}spec.indicatorRef",
                    f"no kind: SLI named {spec.indicatorRef!r} in this file",
                ),
            )
        indicator = ref.spec
        field = f"(SLI {spec.indicatorRef}).spec"
    objective = spec.objectives[0]
    sli = _openslo_sli(
        indicator,
        objective,
        spec.budgetingMethod,
        source=source,
        field=field,
        objective_field=f"{prefix}spec.objectives[0]",
    )
    period = parse_duration(spec.timeWindow[0].duration)
    check_period(period, source, f"{prefix}spec.timeWindow[0].duration", scrape_interval)
    if objective.targetPercent is not None:
        percent = to_decimal(objective.targetPercent)
    else:
        assert objective.target is not None
        percent = (to_decimal(objective.target) * 100).normalize()
    labels = _labels_of(slo.metadata)
    return SLO(
        service=spec.service,
        name=slo.metadata.name,
        objective=percent,
        period=period,
        sli=sli,
        description=spec.description or slo.metadata.displayName,
        labels=labels,
        alert_name=_camel(spec.service, slo.metadata.name),
        page=AlertPolicy(labels={"severity": "critical"}),
        ticket=AlertPolicy(labels={"severity": "warning"}),
        workload=workload_of(labels),
        source=source,
        spec_format=SpecFormat.OPENSLO,
        scrape_interval=scrape_interval,
        warnings=objective_warnings(percent, source, f"{prefix}spec.objectives[0]"),
    )


def openslo_v1alpha_slos(
    slo: OsaSlo, *, source: str, default_period: int, scrape_interval: int
) -> list[SLO]:
    """Sloth's reading of OpenSLO v1alpha: one SLO per objective, named ``<name>-<index>``;
    good/total ratio metrics (``{{.window}}`` queries, or bare counters with
    ``incremental: true``), or a ``thresholdMetric`` with each objective's ``op`` and
    ``value`` (time-based, one-minute slices); alerts as for OpenSLO v1."""
    spec = slo.spec
    period = default_period
    if spec.timeWindows:
        window = spec.timeWindows[0]
        period = window.count * _OSA_UNITS[window.unit]
    check_period(period, source, "spec.timeWindows[0]", scrape_interval)
    labels = _labels_of(slo.metadata)
    out: list[SLO] = []
    for i, objective in enumerate(spec.objectives):
        field = f"spec.objectives[{i}]"
        sli: EventsSLI | RatioSLI
        if objective.ratioMetrics is not None:
            if spec.budgetingMethod != "Occurrences":
                raise SloSpecError(
                    source,
                    (
                        "spec.budgetingMethod",
                        f"{spec.budgetingMethod} is not supported for ratioMetrics: burn-rate "
                        "alerts count occurrences (use Occurrences)",
                    ),
                )
            ratio = objective.ratioMetrics
            total = _window_query(
                ratio.total.query, ratio.incremental, source, f"{field}.ratioMetrics.total.query"
            )
            good = _window_query(
                ratio.good.query, ratio.incremental, source, f"{field}.ratioMetrics.good.query"
            )
            sli = EventsSLI(f"(({total}) - ({good}))", total)
        else:
            assert spec.indicator is not None
            if objective.op is None or objective.value is None:
                raise SloSpecError(
                    source, (f"{field}.op", "a thresholdMetric needs the objective's op and value")
                )
            query = spec.indicator.thresholdMetric.query.strip()
            limit = decimal_text(to_decimal(objective.value))
            bad = f"(({query}) {_BAD_OP[objective.op]} bool {limit})"
            sli = RatioSLI(f"avg_over_time({bad}[{{{{.window}}}}:1m])")
        name = f"{slo.metadata.name}-{i}"
        try:
            check_name(name)
        except ValueError as e:
            raise SloSpecError(source, ("metadata.name", str(e))) from e
        percent = (to_decimal(objective.target) * 100).normalize()
        out.append(
            SLO(
                service=spec.service,
                name=name,
                objective=percent,
                period=period,
                sli=sli,
                description=spec.description or objective.displayName or slo.metadata.displayName,
                labels=labels,
                alert_name=_camel(spec.service, name),
                page=AlertPolicy(labels={"severity": "critical"}),
                ticket=AlertPolicy(labels={"severity": "warning"}),
                workload=workload_of(labels),
                source=source,
                spec_format=SpecFormat.OPENSLO_V1ALPHA,
                scrape_interval=scrape_interval,
                warnings=objective_warnings(percent, source, f"{field}.target"),
            )
        )
    return out
