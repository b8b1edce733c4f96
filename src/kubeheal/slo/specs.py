"""Reading SLO specs: Sloth ``prometheus/v1`` as is, OpenSLO v1 imported, into ``SLO``.

Formats (a file may hold several YAML documents, of one format or mixed):

* Sloth ``version: prometheus/v1`` (and the same spec inside Sloth's Kubernetes resource
  ``apiVersion: sloth.slok.dev/v1, kind: PrometheusServiceLevel``): ``service``, ``labels``,
  ``slos[]`` with ``name``, ``objective``, ``description``, ``labels``, ``sli.events``
  (``error_query``, ``total_query``) or ``sli.raw`` (``error_ratio_query``), and ``alerting``
  (``name``, ``labels``, ``annotations``, ``page_alert`` / ``ticket_alert`` with ``labels``,
  ``annotations``, ``disable``). Sloth's SLI plugins are Go code and are refused, except
  kubeheal's own ``kubeheal/histogram-latency/v1`` (a latency SLI from a histogram:
  options ``metric``, ``selector``, ``threshold`` in seconds, and ``buckets`` to interpolate
  between when the threshold is not a bucket bound). Sloth specs have no period: the caller's
  default applies (30 days).
* OpenSLO ``apiVersion: openslo/v1``: ``kind: SLO`` with an inline ``indicator`` or an
  ``indicatorRef`` to a ``kind: SLI`` document of the same file; ``ratioMetric``
  (good/total, bad/total, or raw), ``thresholdMetric`` (a time-based SLI: the share of
  ``timeSliceWindow`` steps where the metric breaks ``op value``), one objective (``target``
  or ``targetPercent``), one rolling ``timeWindow``. Other kinds (Service, DataSource,
  AlertPolicy, ...) are skipped.

Every problem is an ``SloSpecError`` naming the file, the document and the field path; unknown
fields are errors. Parsing is pure (``parse_specs`` takes text); ``load_specs`` reads files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kubeheal.model.names import NameKind, name_problem, shown
from kubeheal.slo.errors import SloSpecError
from kubeheal.slo.model import (
    SLO,
    AlertPolicy,
    EventsSLI,
    RatioSLI,
    SpecFormat,
    Workload,
    has_window,
)
from kubeheal.slo.windows import (
    BASE_PERIOD_SECONDS,
    WindowError,
    alert_windows,
    decimal_text,
    format_duration,
    parse_duration,
)

__all__ = [
    "LATENCY_PLUGIN",
    "RESERVED_LABELS",
    "histogram_latency_sli",
    "load_specs",
    "parse_specs",
    "spec_files",
]

LATENCY_PLUGIN = "kubeheal/histogram-latency/v1"
"""kubeheal's own SLI plugin id for Sloth specs: latency from a Prometheus histogram."""

RESERVED_LABELS = frozenset(
    {"slo_id", "slo_service", "slo_name", "slo_severity", "slo_spec", "slo_objective",
     "slo_period", "alertname"}
)  # fmt: skip
"""Labels kubeheal sets on every generated series and alert; specs may not set them."""

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_ALERT_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
_SKIPPED_OPENSLO_KINDS = frozenset(
    {"Service", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget"}
)


# -- shared validators ---------------------------------------------------------------------


_WORKLOAD_LABELS = {
    "namespace": (NameKind.LABEL, "Namespace"),
    "deployment": (NameKind.SUBDOMAIN, "Deployment"),
    "statefulset": (NameKind.SUBDOMAIN, "StatefulSet"),
}
"""Labels that name the SLO's workload: its burn becomes a signal about that object."""


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        if not _LABEL_NAME.match(key) or key.startswith("__"):
            raise ValueError(f"{key!r} is not a valid Prometheus label name")
        if key in RESERVED_LABELS:
            raise ValueError(f"label {key!r} is set by kubeheal and cannot be given")
        if key in _WORKLOAD_LABELS and text:
            rule, kind = _WORKLOAD_LABELS[key]
            problem = name_problem(text, rule)
            if problem is not None:
                raise ValueError(f"label {key}={shown(text)} is not a valid {kind} name: {problem}")
    return value


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} must be letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit"
        )
    return value


def _check_query(value: str) -> str:
    if not value.strip():
        raise ValueError("the query is empty")
    if not has_window(value):
        raise ValueError("the query must use the {{.window}} placeholder in its range selectors")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- Sloth prometheus/v1 -------------------------------------------------------------------


class SlothAlert(_Strict):
    disable: bool = False
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    _labels = field_validator("labels")(_check_labels)


class SlothAlerting(_Strict):
    name: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    page_alert: SlothAlert = SlothAlert()
    ticket_alert: SlothAlert = SlothAlert()

    _labels = field_validator("labels")(_check_labels)

    @field_validator("name")
    @classmethod
    def _alert_name(cls, value: str) -> str:
        if value and not _ALERT_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid alert name (letters, digits, '_')")
        return value


class SlothEvents(_Strict):
    error_query: str
    total_query: str

    _queries = field_validator("error_query", "total_query")(_check_query)


class SlothRaw(_Strict):
    error_ratio_query: str

    _query = field_validator("error_ratio_query")(_check_query)


class SlothPlugin(_Strict):
    id: str
    options: dict[str, str] = {}

    @field_validator("options", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, str) else str(v) for k, v in value.items()}
        return value

    @field_validator("id")
    @classmethod
    def _known(cls, value: str) -> str:
        if value != LATENCY_PLUGIN:
            raise ValueError(
                f"SLI plugin {value!r} is not supported: Sloth's SLI plugins are Go code kubeheal "
                f"cannot run. Write the queries as sli.events or sli.raw, or use kubeheal's own "
                f"plugin {LATENCY_PLUGIN!r} for latency from a histogram"
            )
        return value


class SlothSLI(_Strict):
    events: SlothEvents | None = None
    raw: SlothRaw | None = None
    plugin: SlothPlugin | None = None

    @model_validator(mode="after")
    def _one(self) -> SlothSLI:
        given = [n for n in ("events", "raw", "plugin") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of sli.events (error_query and total_query), sli.raw "
                f"(error_ratio_query) or sli.plugin; got {', '.join(given) or 'none'}"
            )
        return self


class SlothSLO(_Strict):
    name: str
    objective: float = Field(..., gt=0, lt=100)
    description: str = ""
    labels: dict[str, str] = {}
    sli: SlothSLI
    alerting: SlothAlerting = SlothAlerting()

    _name = field_validator("name")(_check_name)
    _labels = field_validator("labels")(_check_labels)

    @model_validator(mode="after")
    def _alerting_name(self) -> SlothSLO:
        both_off = self.alerting.page_alert.disable and self.alerting.ticket_alert.disable
        if not self.alerting.name and not both_off:
            raise ValueError("alerting.name is required unless both alerts are disabled")
        return self


class SlothSpec(_Strict):
    version: Literal["prometheus/v1"]
    service: str
    labels: dict[str, str] = {}
    slos: list[SlothSLO] = Field(..., min_length=1)

    _service = field_validator("service")(_check_name)
    _labels = field_validator("labels")(_check_labels)


class SlothK8sMetadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = ""
    namespace: str = ""


class SlothK8sSpec(_Strict):
    service: str
    labels: dict[str, str] = {}
    slos: list[SlothSLO] = Field(..., min_length=1)

    _service = field_validator("service")(_check_name)
    _labels = field_validator("labels")(_check_labels)


class SlothK8s(_Strict):
    apiVersion: Literal["sloth.slok.dev/v1"]
    kind: Literal["PrometheusServiceLevel"]
    metadata: SlothK8sMetadata = SlothK8sMetadata()
    spec: SlothK8sSpec


# -- OpenSLO v1 ----------------------------------------------------------------------------


class OsMetadata(_Strict):
    name: str
    displayName: str = ""
    labels: dict[str, str | list[str]] = {}
    annotations: dict[str, str] = {}

    _name = field_validator("name")(_check_name)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        _check_labels({k: ",".join(v) if isinstance(v, list) else v for k, v in value.items()})
        return value


class OsMetricSource(_Strict):
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


class OsMetricSpec(_Strict):
    metricSource: OsMetricSource


class OsRatioMetric(_Strict):
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


class OsSliSpec(_Strict):
    description: str = ""
    thresholdMetric: OsMetricSpec | None = None
    ratioMetric: OsRatioMetric | None = None

    @model_validator(mode="after")
    def _one(self) -> OsSliSpec:
        if (self.thresholdMetric is None) == (self.ratioMetric is None):
            raise ValueError("give exactly one of thresholdMetric and ratioMetric")
        return self


class OsSli(_Strict):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLI"]
    metadata: OsMetadata
    spec: OsSliSpec


class OsInlineIndicator(_Strict):
    metadata: OsMetadata
    spec: OsSliSpec


class OsTimeWindow(_Strict):
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


class OsObjective(_Strict):
    displayName: str = ""
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    value: float | None = None
    target: float | None = Field(None, gt=0, lt=1)
    targetPercent: float | None = Field(None, gt=0, lt=100)
    timeSliceTarget: float | None = None
    timeSliceWindow: str | None = None

    @model_validator(mode="after")
    def _target(self) -> OsObjective:
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("give exactly one of target (0..1) and targetPercent (0..100)")
        if (self.op is None) != (self.value is None):
            raise ValueError("op and value go together")
        return self


class OsSloSpec(_Strict):
    description: str = ""
    service: str
    indicator: OsInlineIndicator | None = None
    indicatorRef: str | None = None
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    timeWindow: list[OsTimeWindow] = Field(..., min_length=1, max_length=1)
    objectives: list[OsObjective] = Field(..., min_length=1, max_length=1)
    alertPolicies: list[Any] = []

    _service = field_validator("service")(_check_name)

    @model_validator(mode="after")
    def _indicator(self) -> OsSloSpec:
        if (self.indicator is None) == (self.indicatorRef is None):
            raise ValueError("give exactly one of indicator and indicatorRef")
        return self


class OsSlo(_Strict):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLO"]
    metadata: OsMetadata
    spec: OsSloSpec


# -- error reporting -----------------------------------------------------------------------


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for item in error.errors():
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = _path(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field is missing"
        message = message.removeprefix("Value error, ")
        found.append((path, message))
    return found


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: Any, source: str, prefix: str = "") -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise SloSpecError(source, _problems(e, prefix)) from e


# -- conversion to the internal model ------------------------------------------------------


def _workload(labels: Mapping[str, str]) -> Workload | None:
    namespace = labels.get("namespace", "")
    for label, kind in (("deployment", "Deployment"), ("statefulset", "StatefulSet")):
        name = labels.get(label, "")
        if namespace and name:
            return Workload(kind=kind, namespace=namespace, name=name)
    return None


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value)).normalize()


def _le_text(bound: Decimal) -> str:
    return decimal_text(bound)


def histogram_latency_sli(
    *, metric: str, threshold: Decimal, selector: str = "", buckets: Sequence[Decimal] = ()
) -> EventsSLI:
    """Events SLI "requests slower than ``threshold`` seconds" from histogram ``metric``.

    When ``threshold`` is one of ``buckets`` (or no buckets are given) the good requests are
    the ``le`` bucket; otherwise they are interpolated linearly between the two neighbouring
    bounds, as ``histogram_quantile`` does.
    """
    matchers = selector.strip().strip(",")
    sep = "," if matchers else ""

    def bucket(le: Decimal) -> str:
        return f'sum(rate({metric}_bucket{{{matchers}{sep}le="{_le_text(le)}"}}[{{{{.window}}}}]))'

    total = f"sum(rate({metric}_count{{{matchers}}}[{{{{.window}}}}]))"
    bounds = sorted(set(buckets))
    if not bounds or threshold in bounds:
        good = bucket(threshold)
    else:
        higher = [b for b in bounds if b > threshold]
        if not higher:
            raise ValueError(
                f"threshold {decimal_text(threshold)} is above the largest bucket "
                f"{decimal_text(bounds[-1])}: no bucket counts the requests under it"
            )
        hi = higher[0]
        lower = [b for b in bounds if b < threshold]
        if lower:
            lo = lower[-1]
            share = f"{decimal_text(threshold - lo)} / {decimal_text(hi - lo)}"
            good = f"({bucket(lo)} + ({bucket(hi)} - {bucket(lo)}) * {share})"
        else:
            good = f"({bucket(hi)} * {decimal_text(threshold)} / {decimal_text(hi)})"
    return EventsSLI(error_query=f"({total} - {good})", total_query=total)


def _latency_plugin(plugin: SlothPlugin, source: str, field: str) -> EventsSLI:
    options = dict(plugin.options)
    problems: list[tuple[str, str]] = []
    known = {"metric", "selector", "threshold", "buckets"}
    for key in sorted(set(options) - known):
        problems.append((f"{field}.options.{key}", "unknown option"))
    metric = options.get("metric", "")
    if not _METRIC_NAME.match(metric):
        problems.append((f"{field}.options.metric", "the histogram's metric name is required"))
    try:
        threshold = Decimal(options.get("threshold", ""))
    except InvalidOperation:
        threshold = Decimal(0)
    if not threshold.is_finite() or threshold <= 0:
        problems.append((f"{field}.options.threshold", "a positive number of seconds is required"))
    buckets: list[Decimal] = []
    raw_buckets = options.get("buckets", "")
    try:
        buckets = [Decimal(b) for b in raw_buckets.split(",") if b.strip()]
    except InvalidOperation:
        problems.append((f"{field}.options.buckets", "comma-separated bucket bounds expected"))
    selector = options.get("selector", "")
    if "{" in selector or "}" in selector:
        problems.append((f"{field}.options.selector", "give label matchers without braces"))
    if problems:
        raise SloSpecError(source, problems)
    try:
        return histogram_latency_sli(
            metric=metric, threshold=threshold, selector=selector, buckets=buckets
        )
    except ValueError as e:
        raise SloSpecError(source, (f"{field}.options.threshold", str(e))) from e


def _check_period(period: int, source: str, field: str) -> None:
    try:
        alert_windows(period)
    except WindowError as e:
        raise SloSpecError(source, (field, str(e))) from e


def _sloth_slos(
    *,
    service: str,
    spec_labels: Mapping[str, str],
    slos: Sequence[SlothSLO],
    source: str,
    prefix: str,
    period: int,
    spec_format: SpecFormat,
) -> list[SLO]:
    out: list[SLO] = []
    for i, item in enumerate(slos):
        field = f"{prefix}slos[{i}]"
        labels = {**spec_labels, **item.labels}
        sli: EventsSLI | RatioSLI
        if item.sli.events is not None:
            sli = EventsSLI(item.sli.events.error_query, item.sli.events.total_query)
        elif item.sli.raw is not None:
            sli = RatioSLI(item.sli.raw.error_ratio_query)
        else:
            assert item.sli.plugin is not None
            sli = _latency_plugin(item.sli.plugin, source, f"{field}.sli.plugin")
        alerting = item.alerting
        out.append(
            SLO(
                service=service,
                name=item.name,
                objective=_decimal(item.objective),
                period=period,
                sli=sli,
                description=item.description,
                labels=labels,
                alert_name=alerting.name,
                alert_labels=dict(alerting.labels),
                alert_annotations=dict(alerting.annotations),
                page=AlertPolicy(
                    labels=dict(alerting.page_alert.labels),
                    annotations=dict(alerting.page_alert.annotations),
                    disabled=alerting.page_alert.disable,
                ),
                ticket=AlertPolicy(
                    labels=dict(alerting.ticket_alert.labels),
                    annotations=dict(alerting.ticket_alert.annotations),
                    disabled=alerting.ticket_alert.disable,
                ),
                workload=_workload(labels),
                source=source,
                spec_format=spec_format,
            )
        )
    return out


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
    bad = f"(({query}) {_BAD_OP[objective.op]} bool {decimal_text(_decimal(objective.value))})"
    return RatioSLI(f"avg_over_time({bad}[{{{{.window}}}}:{format_duration(step)}])")


def _labels_of(metadata: OsMetadata) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in metadata.labels.items():
        out[key] = ",".join(value) if isinstance(value, list) else value
    return out


def _camel(*parts: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", " ".join(parts))
    return "".join(w[:1].upper() + w[1:] for w in words if w) or "SLO"


def _openslo_slo(slo: OsSlo, slis: Mapping[str, OsSli], *, source: str, prefix: str) -> SLO:
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
    _check_period(period, source, f"{prefix}spec.timeWindow[0].duration")
    if objective.targetPercent is not None:
        percent = _decimal(objective.targetPercent)
    else:
        assert objective.target is not None
        percent = (_decimal(objective.target) * 100).normalize()
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
        workload=_workload(labels),
        source=source,
        spec_format=SpecFormat.OPENSLO,
    )


def _documents(text: str, source: str) -> list[Any]:
    try:
        return [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except yaml.YAMLError as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(e, "problem", None) or str(e)
        raise SloSpecError(source, ("", f"not valid YAML{where}: {problem}")) from e


def parse_specs(text: str, *, source: str, default_period: int = BASE_PERIOD_SECONDS) -> list[SLO]:
    """Every SLO in the YAML ``text`` (one or more documents); ``source`` names it in errors.

    ``default_period`` (seconds) applies to Sloth specs, which carry no period.
    """
    docs = _documents(text, source)
    if not docs:
        raise SloSpecError(source, ("", "the file holds no SLO spec"))
    multi = len(docs) > 1
    slos: list[SLO] = []
    openslo_slos: list[tuple[str, OsSlo]] = []
    slis: dict[str, OsSli] = {}
    for index, doc in enumerate(docs):
        where = f"{source} (document {index + 1})" if multi else source
        if not isinstance(doc, dict):
            raise SloSpecError(where, ("", "a spec document must be a mapping"))
        if "version" in doc:
            if doc["version"] != "prometheus/v1":
                raise SloSpecError(
                    where,
                    ("version", f"unsupported version {doc['version']!r}: use prometheus/v1"),
                )
            _check_period(default_period, where, "(default period)")
            spec = _validate(SlothSpec, doc, where)
            slos += _sloth_slos(
                service=spec.service,
                spec_labels=spec.labels,
                slos=spec.slos,
                source=where,
                prefix="",
                period=default_period,
                spec_format=SpecFormat.SLOTH,
            )
            continue
        api = doc.get("apiVersion")
        kind = doc.get("kind")
        if api == "sloth.slok.dev/v1":
            _check_period(default_period, where, "(default period)")
            k8s = _validate(SlothK8s, doc, where)
            slos += _sloth_slos(
                service=k8s.spec.service,
                spec_labels=k8s.spec.labels,
                slos=k8s.spec.slos,
                source=where,
                prefix="spec.",
                period=default_period,
                spec_format=SpecFormat.SLOTH_K8S,
            )
            continue
        if api == "openslo/v1":
            if kind in _SKIPPED_OPENSLO_KINDS:
                continue
            if kind == "SLI":
                sli = _validate(OsSli, doc, where)
                slis[sli.metadata.name] = sli
                continue
            if kind == "SLO":
                name = (
                    doc.get("metadata", {}).get("name")
                    if isinstance(doc.get("metadata"), dict)
                    else None
                )
                label = f"{where} (SLO {name})" if multi and name else where
                openslo_slos.append((label, _validate(OsSlo, doc, label)))
                continue
            raise SloSpecError(where, ("kind", f"unknown OpenSLO kind {kind!r}"))
        if isinstance(api, str) and api.startswith("openslo/"):
            raise SloSpecError(
                where, ("apiVersion", f"unsupported OpenSLO version {api!r}: use openslo/v1")
            )
        raise SloSpecError(
            where,
            (
                "",
                "not an SLO spec: expected version: prometheus/v1 (Sloth), apiVersion: "
                "sloth.slok.dev/v1 or apiVersion: openslo/v1",
            ),
        )
    for label, os_slo in openslo_slos:
        slos.append(_openslo_slo(os_slo, slis, source=label, prefix=""))
    if not slos:
        raise SloSpecError(source, ("", "the file holds no SLO (only other kinds)"))
    return slos


def spec_files(paths: Iterable[Path]) -> list[Path]:
    """The spec files named by ``paths``: files as given, directories' ``*.yaml``/``*.yml``."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            found.append(path)
    return found


def load_specs(paths: Iterable[Path], *, default_period: int = BASE_PERIOD_SECONDS) -> list[SLO]:
    """Read every SLO of ``paths`` (files or directories); ids must be unique across them."""
    slos: list[SLO] = []
    seen: dict[str, str] = {}
    for path in spec_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SloSpecError(str(path), ("", f"cannot read: {e.strerror or e}")) from e
        for slo in parse_specs(text, source=str(path), default_period=default_period):
            if slo.id in seen:
                raise SloSpecError(
                    slo.source,
                    ("", f"SLO {slo.id!r} is defined twice (also in {seen[slo.id]})"),
                )
            seen[slo.id] = slo.source
            slos.append(slo)
    return slos
