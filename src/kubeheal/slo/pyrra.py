"""Pyrra ``pyrra.dev/v1alpha1`` ServiceLevelObjective resources, into ``SLO``.

Ratio, latency and bool_gauge indicators computed as Pyrra computes them, its alerting and
severities. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

from kubeheal.model.names import shown
from kubeheal.slo.errors import SloSpecError
from kubeheal.slo.model import SLO, AlertPolicy, EventsSLI, RatioSLI, SpecFormat
from kubeheal.slo.plugins import PluginError, parse_filter
from kubeheal.slo.spec_common import (
    LABEL_NAME,
    Strict,
    check_alert_name,
    check_labels,
    check_name,
    check_period,
    objective_warnings,
    workload_of,
)
from kubeheal.slo.windows import BurnTable, WindowError, alert_windows, parse_duration

__all__ = [
    "PYRRA_LABEL_PREFIX",
    "Grouping",
    "PyrraAlerting",
    "PyrraBoolGauge",
    "PyrraIndicator",
    "PyrraLatency",
    "PyrraMetadata",
    "PyrraQuery",
    "PyrraRatio",
    "PyrraSeverities",
    "PyrraSlo",
    "PyrraSpec",
    "pyrra_slo",
]

PYRRA_LABEL_PREFIX = "pyrra.dev/"
"""Pyrra copies the resource's labels with this prefix (stripped) onto its rules."""


_SELECTOR = re.compile(
    r"^\s*(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(?P<matchers>.*)\})?\s*$", re.S
)


def _check_selector(value: str) -> str:
    match = _SELECTOR.match(value)
    if match is None:
        raise ValueError(f'{shown(value)} is not a series selector like name{{label="value"}}')
    try:
        matchers = parse_filter(match["matchers"] or "")
    except PluginError as e:
        raise ValueError(str(e)) from e
    return f"{match['metric']}{{{matchers}}}"


class PyrraQuery(Strict):
    metric: str

    _metric = field_validator("metric")(_check_selector)


def _grouping(value: list[str]) -> list[str]:
    for name in value:
        if not LABEL_NAME.match(name):
            raise ValueError(f"{shown(name)} is not a valid label name")
    return value


Grouping = Annotated[list[str], AfterValidator(_grouping)]


class PyrraRatio(Strict):
    errors: PyrraQuery
    total: PyrraQuery
    grouping: Grouping = []


class PyrraLatency(Strict):
    success: PyrraQuery
    total: PyrraQuery
    grouping: Grouping = []

    @model_validator(mode="after")
    def _le(self) -> PyrraLatency:
        if 'le="' not in self.success.metric:
            raise ValueError('success.metric must select one bucket (le="...")')
        return self


class PyrraBoolGauge(Strict):
    metric: str
    grouping: Grouping = []

    _metric = field_validator("metric")(_check_selector)


class PyrraIndicator(Strict):
    ratio: PyrraRatio | None = None
    latency: PyrraLatency | None = None
    latencyNative: dict[str, Any] | None = None
    bool_gauge: PyrraBoolGauge | None = None

    @model_validator(mode="after")
    def _one(self) -> PyrraIndicator:
        if self.latencyNative is not None:
            raise ValueError("latencyNative (native histograms) is not supported")
        given = [n for n in ("ratio", "latency", "bool_gauge") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of ratio, latency and bool_gauge; got "
                f"{', '.join(given) or 'none'}"
            )
        return self


class PyrraSeverities(Strict):
    absent: str = ""
    fastBurn: str = ""
    mediumBurn: str = ""
    slowBurn: str = ""
    longTermBurn: str = ""

    @model_validator(mode="after")
    def _pairs(self) -> PyrraSeverities:
        for a, b in (("fastBurn", "mediumBurn"), ("slowBurn", "longTermBurn")):
            if getattr(self, a) and getattr(self, b) and getattr(self, a) != getattr(self, b):
                raise ValueError(
                    f"{a} and {b} must be the same: kubeheal gives the page (fast and medium) "
                    "and the ticket (slow and long-term) burns one severity each"
                )
        return self


class PyrraAlerting(Strict):
    disabled: bool = False
    burnrates: bool = True
    absent: bool = True
    name: str = ""
    absentName: str = ""
    severities: PyrraSeverities = PyrraSeverities()

    _names = field_validator("name", "absentName")(check_alert_name)


class PyrraSpec(Strict):
    description: str = ""
    target: Decimal
    window: str
    indicator: PyrraIndicator
    alerting: PyrraAlerting = PyrraAlerting()
    partial_response_strategy: str = ""  # Thanos Ruler only; Prometheus ignores it
    performanceOverAccuracy: bool = False
    ruleOutput: dict[str, Any] | None = None

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @field_validator("target")
    @classmethod
    def _range(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or not 0 < value <= 100:
            raise ValueError("the target is a percentage: greater than 0, at most 100")
        return value.normalize()

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value


class PyrraMetadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    namespace: str = ""
    labels: dict[str, str] = {}

    _name = field_validator("name")(check_name)


class PyrraSlo(Strict):
    apiVersion: Literal["pyrra.dev/v1alpha1"]
    kind: Literal["ServiceLevelObjective"]
    metadata: PyrraMetadata
    spec: PyrraSpec
    status: dict[str, Any] | None = None


def _sum(query: str, grouping: Sequence[str]) -> str:
    by = f" by ({', '.join(grouping)}) " if grouping else ""
    return f"sum{by}({query})"


def _pyrra_sli(indicator: PyrraIndicator) -> EventsSLI | RatioSLI:
    """Pyrra's indicators as Pyrra computes them: rates of counters (summed by the grouping)."""
    w = "[{{.window}}]"
    if indicator.ratio is not None:
        r = indicator.ratio
        return EventsSLI(
            _sum(f"rate({r.errors.metric}{w})", r.grouping),
            _sum(f"rate({r.total.metric}{w})", r.grouping),
        )
    if indicator.latency is not None:
        lat = indicator.latency
        total = _sum(f"rate({lat.total.metric}{w})", lat.grouping)
        success = _sum(f"rate({lat.success.metric}{w})", lat.grouping)
        return EventsSLI(f"({total} - {success})", total)
    assert indicator.bool_gauge is not None
    g = indicator.bool_gauge
    return RatioSLI(
        f"1 - {_sum(f'sum_over_time({g.metric}{w})', g.grouping)} / "
        f"{_sum(f'count_over_time({g.metric}{w})', g.grouping)}"
    )


def pyrra_slo(doc: PyrraSlo, *, source: str, scrape_interval: int, table: BurnTable) -> SLO:
    spec = doc.spec
    meta = doc.metadata
    period = parse_duration(spec.window)
    check_period(period, source, "spec.window", scrape_interval)
    try:
        alert_windows(period, scrape_interval, table)
    except WindowError as e:
        raise SloSpecError(source, ("spec.window", str(e))) from e
    labels = {
        k.removeprefix(PYRRA_LABEL_PREFIX): v
        for k, v in meta.labels.items()
        if k.startswith(PYRRA_LABEL_PREFIX)
    }
    try:
        check_labels(labels)
    except ValueError as e:
        raise SloSpecError(source, ("metadata.labels", str(e))) from e
    alerting = spec.alerting
    sev = alerting.severities
    burns_off = alerting.disabled or not alerting.burnrates
    warnings: list[str] = list(objective_warnings(spec.target, source, "spec.target"))
    if spec.performanceOverAccuracy or spec.ruleOutput:
        warnings.append(
            f"{source}: spec: performanceOverAccuracy and ruleOutput change how Pyrra splits its "
            "rules; kubeheal renders its own (one group per SLO) and ignores them"
        )
    return SLO(
        service=meta.namespace or "pyrra",
        name=meta.name,
        objective=spec.target,
        period=period,
        sli=_pyrra_sli(spec.indicator),
        description=spec.description,
        labels=labels,
        alert_name=alerting.name or "ErrorBudgetBurn",
        page=AlertPolicy(labels={"severity": sev.fastBurn or "critical"}, disabled=burns_off),
        ticket=AlertPolicy(labels={"severity": sev.slowBurn or "warning"}, disabled=burns_off),
        workload=workload_of(labels),
        source=source,
        spec_format=SpecFormat.PYRRA,
        scrape_interval=scrape_interval,
        warnings=tuple(warnings),
        burn_table=table,
        absent_name=alerting.absentName or "SLOMetricAbsent",
        absent=alerting.absent and not alerting.disabled,
        absent_severity=sev.absent or "critical",
    )
