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

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from kubeheal.config.errors import field_problems
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
from kubeheal.slo.plugins import (
    SLI_PLUGINS,
    SLO_PLUGIN_INFO_LABELS,
    SLO_PLUGINS_NO_EFFECT,
    PluginError,
    parse_filter,
    sli_from_plugin,
)
from kubeheal.slo.windows import (
    BASE_PERIOD_SECONDS,
    DEFAULT_SCRAPE_INTERVAL,
    BurnTable,
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

PYRRA_LABEL_PREFIX = "pyrra.dev/"
"""Pyrra copies the resource's labels with this prefix (stripped) onto its rules."""

LATENCY_PLUGIN = "kubeheal/histogram-latency/v1"
"""kubeheal's own SLI plugin id for Sloth specs: latency from a Prometheus histogram."""

RESERVED_LABELS = frozenset(
    {"slo_id", "slo_service", "slo_name", "slo_severity", "slo_spec", "slo_objective",
     "slo_period", "slo_burn_table", "alertname"}
)  # fmt: skip
"""Labels kubeheal sets on every generated series and alert; specs may not set them."""

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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
        if _CONTROL.search(text):
            raise ValueError(f"label {key!r}: control characters are not allowed in its value")
        if key in _WORKLOAD_LABELS and text:
            rule, kind = _WORKLOAD_LABELS[key]
            problem = name_problem(text, rule)
            if problem is not None:
                raise ValueError(f"label {key}={shown(text)} is not a valid {kind} name: {problem}")
    return value


def _check_annotations(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        if not _LABEL_NAME.match(key):
            raise ValueError(f"{key!r} is not a valid annotation name")
        if _CONTROL.search(text.replace("\n", "").replace("\t", "")):
            raise ValueError(
                f"annotation {key!r}: control characters (other than newline and tab) are "
                "not allowed in its value"
            )
    return value


def _scalar_text(value: Any) -> Any:
    """A YAML scalar as the string Sloth and Prometheus make of it (``tier: 2`` -> ``"2"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scalar_text(v) for k, v in value.items()}
    return value


Labels = Annotated[dict[str, str], BeforeValidator(_stringify), AfterValidator(_check_labels)]
"""Prometheus labels from a spec: numbers and booleans read as their text."""
Annotations = Annotated[
    dict[str, str], BeforeValidator(_stringify), AfterValidator(_check_annotations)
]


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} must be letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit"
        )
    return value


def _check_alert_name(value: str) -> str:
    # Prometheus takes any string as an alert name (it is the alertname label's value).
    if value and not value.strip():
        raise ValueError("the alert name is blank")
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed in an alert name")
    return value


def _check_query(value: str) -> str:
    if not value.strip():
        raise ValueError("the query is empty")
    if not has_window(value):
        raise ValueError("the query must use the {{.window}} placeholder in its range selectors")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Camel(BaseModel):
    """Sloth's Kubernetes resource: the same fields, spelled as its CRD spells them."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel)


# -- Sloth prometheus/v1 and sloth.slok.dev/v1 ---------------------------------------------


class SlothAlert(_Strict):
    disable: bool = False
    labels: Labels = {}
    annotations: Annotations = {}


class SlothAlerting(_Strict):
    name: str = ""
    labels: Labels = {}
    annotations: Annotations = {}
    page_alert: SlothAlert = SlothAlert()
    ticket_alert: SlothAlert = SlothAlert()

    _name = field_validator("name")(_check_alert_name)


class SlothEvents(_Strict):
    error_query: str
    total_query: str

    _queries = field_validator("error_query", "total_query")(_check_query)


class SlothRaw(_Strict):
    error_ratio_query: str

    _query = field_validator("error_ratio_query")(_check_query)


class SlothPlugin(_Strict):
    id: str
    options: Annotated[dict[str, str], BeforeValidator(_stringify)] = {}

    @field_validator("id")
    @classmethod
    def _known(cls, value: str) -> str:
        if value != LATENCY_PLUGIN and value not in SLI_PLUGINS:
            known = ", ".join([LATENCY_PLUGIN, *sorted(SLI_PLUGINS)])
            raise ValueError(
                f"SLI plugin {shown(value)} is not supported (Sloth's plugins are Go code; "
                f"kubeheal implements these from their documented queries: {known}). Write "
                "the queries as sli.events or sli.raw otherwise"
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
                "give exactly one of sli.events (error and total queries), sli.raw "
                f"(error ratio query) or sli.plugin; got {', '.join(given) or 'none'}"
            )
        return self


class SloPlugin(_Strict):
    id: str
    config: dict[str, Any] = {}
    priority: int = 0


class SloPlugins(_Strict):
    override_previous: bool = Field(False, alias="overridePrevious")
    chain: list[SloPlugin] = []


class SlothSLO(_Strict):
    name: str
    objective: float = Field(..., gt=0, le=100)
    description: str = ""
    labels: Labels = {}
    plugins: SloPlugins = SloPlugins()
    sli: SlothSLI
    alerting: SlothAlerting = SlothAlerting()

    _name = field_validator("name")(_check_name)

    @model_validator(mode="after")
    def _alerting_name(self) -> SlothSLO:
        both_off = self.alerting.page_alert.disable and self.alerting.ticket_alert.disable
        if not self.alerting.name and not both_off:
            raise ValueError("alerting.name is required unless both alerts are disabled")
        return self


class SlothSpec(_Strict):
    version: Literal["prometheus/v1"]
    service: str
    labels: Labels = {}
    slo_plugins: SloPlugins = SloPlugins()
    slos: list[SlothSLO] = Field(..., min_length=1)

    _service = field_validator("service")(_check_name)


class SlothK8sMetadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = ""
    namespace: str = ""


class K8sAlert(_Camel, SlothAlert):
    pass


class K8sAlerting(_Camel, SlothAlerting):
    page_alert: K8sAlert = K8sAlert()
    ticket_alert: K8sAlert = K8sAlert()


class K8sEvents(_Camel, SlothEvents):
    pass


class K8sRaw(_Camel, SlothRaw):
    pass


class K8sSLI(_Camel, SlothSLI):
    events: K8sEvents | None = None
    raw: K8sRaw | None = None


class K8sSLO(_Camel, SlothSLO):
    sli: K8sSLI
    alerting: K8sAlerting = K8sAlerting()


class SlothK8sSpec(_Camel):
    service: str
    labels: Labels = {}
    slo_plugins: SloPlugins = SloPlugins()
    slos: list[K8sSLO] = Field(..., min_length=1)

    _service = field_validator("service")(_check_name)


class SlothK8s(_Strict):
    apiVersion: Literal["sloth.slok.dev/v1"]
    kind: Literal["PrometheusServiceLevel"]
    metadata: SlothK8sMetadata = SlothK8sMetadata()
    spec: SlothK8sSpec
    status: dict[str, Any] | None = None  # as `kubectl get -o yaml` prints it; ignored


_SPELLINGS = {
    "error_query": "errorQuery",
    "total_query": "totalQuery",
    "error_ratio_query": "errorRatioQuery",
    "page_alert": "pageAlert",
    "ticket_alert": "ticketAlert",
    "slo_plugins": "sloPlugins",
}
_SPELLINGS |= {v: k for k, v in _SPELLINGS.items()}
"""Sloth's file format spells these in snake_case, its Kubernetes resource in camelCase."""


# -- OpenSLO v1 ----------------------------------------------------------------------------


def _stringify_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: [_scalar_text(i) for i in v] if isinstance(v, list) else _scalar_text(v)
            for k, v in value.items()
        }
    return value


class OsMetadata(_Strict):
    name: str
    displayName: str = ""
    labels: Annotated[dict[str, str | list[str]], BeforeValidator(_stringify_lists)] = {}
    annotations: Annotations = {}

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


# -- OpenSLO v1alpha (what Sloth's OpenSLO examples use) -----------------------------------


class OsaQuery(_Strict):
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


class OsaRatioMetrics(_Strict):
    good: OsaQuery
    total: OsaQuery
    incremental: bool = False


class OsaIndicator(_Strict):
    thresholdMetric: OsaQuery


class OsaObjective(_Strict):
    displayName: str = ""
    value: float | None = None
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    ratioMetrics: OsaRatioMetrics | None = None
    target: float = Field(..., gt=0, le=1)
    timeSliceTarget: float | None = None


_OSA_UNITS = {"Second": 1, "Minute": 60, "Hour": 3_600, "Day": 86_400, "Week": 7 * 86_400}


class OsaTimeWindow(_Strict):
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


class OsaSloSpec(_Strict):
    description: str = ""
    service: str
    budgetingMethod: Literal["Occurrences", "Timeslices"]
    indicator: OsaIndicator | None = None
    objectives: list[OsaObjective] = Field(..., min_length=1)
    timeWindows: list[OsaTimeWindow] = Field([], max_length=1)

    _service = field_validator("service")(_check_name)

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


class OsaSlo(_Strict):
    apiVersion: Literal["openslo/v1alpha"]
    kind: Literal["SLO"]
    metadata: OsMetadata
    spec: OsaSloSpec


# -- error reporting -----------------------------------------------------------------------


def _problems(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for problem in field_problems(error):
        path = problem.field
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        message = problem.message
        if problem.kind == "extra_forbidden":
            message = "unknown field"
            last = problem.loc[-1] if problem.loc else ""
            if isinstance(last, str) and last in _SPELLINGS:
                message += f" (this format spells it {_SPELLINGS[last]})"
        elif problem.kind == "missing":
            message = "required field is missing"
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


def _check_period(period: int, source: str, field: str, scrape_interval: int) -> None:
    try:
        alert_windows(period, scrape_interval)
    except WindowError as e:
        raise SloSpecError(source, (field, str(e))) from e


def _sli_plugin(plugin: SlothPlugin, source: str, field: str) -> EventsSLI | RatioSLI:
    if plugin.id == LATENCY_PLUGIN:
        return _latency_plugin(plugin, source, field)
    try:
        return sli_from_plugin(SLI_PLUGINS[plugin.id], plugin.options)
    except PluginError as e:
        where = f"{field}.options.{e.option}" if e.option else f"{field}.options"
        raise SloSpecError(source, (where, str(e))) from e


def _info_labels(chains: Sequence[tuple[str, SloPlugins]], source: str) -> dict[str, str]:
    """The labels Sloth's SLO-plugin chains add to the info series (the only declarative
    effect kubeheal renders); unsupported plugins are refused naming the supported ones."""
    steps: list[tuple[int, int, str, SloPlugin]] = []
    for field, plugins in chains:
        if plugins.override_previous:
            steps = []  # Sloth's defaults are kubeheal's renderer itself: always kept
        for i, plugin in enumerate(plugins.chain):
            steps.append((plugin.priority, len(steps), f"{field}.chain[{i}]", plugin))
    supported = ", ".join(sorted({*SLO_PLUGINS_NO_EFFECT, SLO_PLUGIN_INFO_LABELS}))
    labels: dict[str, str] = {}
    for _priority, _order, field, plugin in sorted(steps, key=lambda s: (s[0], s[1])):
        if plugin.id in SLO_PLUGINS_NO_EFFECT:
            continue
        if plugin.id != SLO_PLUGIN_INFO_LABELS:
            raise SloSpecError(
                source,
                (
                    f"{field}.id",
                    f"SLO plugin {shown(plugin.id)} is not supported; kubeheal reads: {supported}",
                ),
            )
        config = dict(plugin.config)
        metric = config.pop("metricName", "")
        raw = config.pop("labels", None)
        if config:
            raise SloSpecError(source, (f"{field}.config.{sorted(config)[0]}", "unknown field"))
        if metric not in ("", "sloth_slo_info", "kubeheal_slo_info"):
            raise SloSpecError(
                source,
                (
                    f"{field}.config.metricName",
                    "kubeheal's info series is kubeheal_slo_info (Sloth's sloth_slo_info)",
                ),
            )
        if not isinstance(raw, dict) or not raw:
            raise SloSpecError(source, (f"{field}.config.labels", "at least one label is required"))
        added = _stringify(raw)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in added.items()):
            raise SloSpecError(source, (f"{field}.config.labels", "label values must be text"))
        try:
            labels.update(_check_labels(added))
        except ValueError as e:
            raise SloSpecError(source, (f"{field}.config.labels", str(e))) from e
    return labels


def _objective_warnings(objective: Decimal, source: str, field: str) -> tuple[str, ...]:
    if objective < 100:
        return ()
    return (
        f"{source}: {field}: an objective of 100% leaves no error budget: any error pages, "
        "and the burn rates read +Inf",
    )


def _sloth_slos(
    *,
    service: str,
    spec_labels: Mapping[str, str],
    spec_plugins: SloPlugins,
    slos: Sequence[SlothSLO],
    source: str,
    prefix: str,
    period: int,
    scrape_interval: int,
    spec_format: SpecFormat,
) -> list[SLO]:
    group_field = f"{prefix}sloPlugins" if spec_format is SpecFormat.SLOTH_K8S else "slo_plugins"
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
            sli = _sli_plugin(item.sli.plugin, source, f"{field}.sli.plugin")
        info = _info_labels(
            [(group_field, spec_plugins), (f"{field}.plugins", item.plugins)], source
        )
        objective = _decimal(item.objective)
        alerting = item.alerting
        out.append(
            SLO(
                service=service,
                name=item.name,
                objective=objective,
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
                scrape_interval=scrape_interval,
                info_labels=info,
                warnings=_objective_warnings(objective, source, f"{field}.objective"),
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


def _openslo_slo(
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
    _check_period(period, source, f"{prefix}spec.timeWindow[0].duration", scrape_interval)
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
        scrape_interval=scrape_interval,
        warnings=_objective_warnings(percent, source, f"{prefix}spec.objectives[0]"),
    )


def _openslo_v1alpha(
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
    _check_period(period, source, "spec.timeWindows[0]", scrape_interval)
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
            limit = decimal_text(_decimal(objective.value))
            bad = f"(({query}) {_BAD_OP[objective.op]} bool {limit})"
            sli = RatioSLI(f"avg_over_time({bad}[{{{{.window}}}}:1m])")
        name = f"{slo.metadata.name}-{i}"
        try:
            _check_name(name)
        except ValueError as e:
            raise SloSpecError(source, ("metadata.name", str(e))) from e
        percent = (_decimal(objective.target) * 100).normalize()
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
                workload=_workload(labels),
                source=source,
                spec_format=SpecFormat.OPENSLO_V1ALPHA,
                scrape_interval=scrape_interval,
                warnings=_objective_warnings(percent, source, f"{field}.target"),
            )
        )
    return out


# -- Pyrra pyrra.dev/v1alpha1 --------------------------------------------------------------

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


class PyrraQuery(_Strict):
    metric: str

    _metric = field_validator("metric")(_check_selector)


def _grouping(value: list[str]) -> list[str]:
    for name in value:
        if not _LABEL_NAME.match(name):
            raise ValueError(f"{shown(name)} is not a valid label name")
    return value


Grouping = Annotated[list[str], AfterValidator(_grouping)]


class PyrraRatio(_Strict):
    errors: PyrraQuery
    total: PyrraQuery
    grouping: Grouping = []


class PyrraLatency(_Strict):
    success: PyrraQuery
    total: PyrraQuery
    grouping: Grouping = []

    @model_validator(mode="after")
    def _le(self) -> PyrraLatency:
        if 'le="' not in self.success.metric:
            raise ValueError('success.metric must select one bucket (le="...")')
        return self


class PyrraBoolGauge(_Strict):
    metric: str
    grouping: Grouping = []

    _metric = field_validator("metric")(_check_selector)


class PyrraIndicator(_Strict):
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


class PyrraSeverities(_Strict):
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


class PyrraAlerting(_Strict):
    disabled: bool = False
    burnrates: bool = True
    absent: bool = True
    name: str = ""
    absentName: str = ""
    severities: PyrraSeverities = PyrraSeverities()

    _names = field_validator("name", "absentName")(_check_alert_name)


class PyrraSpec(_Strict):
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

    _name = field_validator("name")(_check_name)


class PyrraSlo(_Strict):
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


def _pyrra_slo(doc: PyrraSlo, *, source: str, scrape_interval: int, table: BurnTable) -> SLO:
    spec = doc.spec
    meta = doc.metadata
    period = parse_duration(spec.window)
    _check_period(period, source, "spec.window", scrape_interval)
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
        _check_labels(labels)
    except ValueError as e:
        raise SloSpecError(source, ("metadata.labels", str(e))) from e
    alerting = spec.alerting
    sev = alerting.severities
    burns_off = alerting.disabled or not alerting.burnrates
    warnings: list[str] = list(_objective_warnings(spec.target, source, "spec.target"))
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
        workload=_workload(labels),
        source=source,
        spec_format=SpecFormat.PYRRA,
        scrape_interval=scrape_interval,
        warnings=tuple(warnings),
        burn_table=table,
        absent_name=alerting.absentName or "SLOMetricAbsent",
        absent=alerting.absent and not alerting.disabled,
        absent_severity=sev.absent or "critical",
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


def parse_specs(
    text: str,
    *,
    source: str,
    default_period: int = BASE_PERIOD_SECONDS,
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL,
    pyrra_table: BurnTable = BurnTable.PYRRA,
) -> list[SLO]:
    """Every SLO in the YAML ``text`` (one or more documents); ``source`` names it in errors.

    ``default_period`` (seconds) applies to Sloth specs, which carry no period (and to
    OpenSLO v1alpha ones without ``timeWindows``); ``scrape_interval`` (seconds) floors the
    alert windows of every SLO at four scrapes; ``pyrra_table`` is the multi-burn table of
    Pyrra's resources (Pyrra's own by default, or the Workbook's).
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
                    (
                        "version",
                        f"unsupported version {shown(str(doc['version']))}: use prometheus/v1",
                    ),
                )
            _check_period(default_period, where, "(default period)", scrape_interval)
            spec = _validate(SlothSpec, doc, where)
            slos += _sloth_slos(
                service=spec.service,
                spec_labels=spec.labels,
                spec_plugins=spec.slo_plugins,
                slos=spec.slos,
                source=where,
                prefix="",
                period=default_period,
                scrape_interval=scrape_interval,
                spec_format=SpecFormat.SLOTH,
            )
            continue
        api = doc.get("apiVersion")
        kind = doc.get("kind")
        name = (
            doc.get("metadata", {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        )
        label = f"{where} (SLO {name})" if multi and isinstance(name, str) else where
        if api == "sloth.slok.dev/v1":
            _check_period(default_period, where, "(default period)", scrape_interval)
            k8s = _validate(SlothK8s, doc, where)
            slos += _sloth_slos(
                service=k8s.spec.service,
                spec_labels=k8s.spec.labels,
                spec_plugins=k8s.spec.slo_plugins,
                slos=k8s.spec.slos,
                source=where,
                prefix="spec.",
                period=default_period,
                scrape_interval=scrape_interval,
                spec_format=SpecFormat.SLOTH_K8S,
            )
            continue
        if api == "pyrra.dev/v1alpha1":
            slos.append(
                _pyrra_slo(
                    _validate(PyrraSlo, doc, label),
                    source=label,
                    scrape_interval=scrape_interval,
                    table=pyrra_table,
                )
            )
            continue
        if api == "openslo/v1alpha":
            if kind in _SKIPPED_OPENSLO_KINDS:
                continue
            if kind != "SLO":
                raise SloSpecError(
                    where, ("kind", f"unknown OpenSLO v1alpha kind {shown(str(kind))}")
                )
            slos += _openslo_v1alpha(
                _validate(OsaSlo, doc, label),
                source=label,
                default_period=default_period,
                scrape_interval=scrape_interval,
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
                openslo_slos.append((label, _validate(OsSlo, doc, label)))
                continue
            raise SloSpecError(where, ("kind", f"unknown OpenSLO kind {shown(str(kind))}"))
        if isinstance(api, str) and api.startswith("openslo/"):
            raise SloSpecError(
                where,
                (
                    "apiVersion",
                    f"unsupported OpenSLO version {shown(api)}: use openslo/v1 or openslo/v1alpha",
                ),
            )
        raise SloSpecError(
            where,
            (
                "",
                "not an SLO spec: expected version: prometheus/v1 (Sloth), apiVersion: "
                "sloth.slok.dev/v1, openslo/v1, openslo/v1alpha or pyrra.dev/v1alpha1",
            ),
        )
    for label, os_slo in openslo_slos:
        slos.append(
            _openslo_slo(os_slo, slis, source=label, prefix="", scrape_interval=scrape_interval)
        )
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


def load_specs(
    paths: Iterable[Path],
    *,
    default_period: int = BASE_PERIOD_SECONDS,
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL,
    pyrra_table: BurnTable = BurnTable.PYRRA,
) -> list[SLO]:
    """Read every SLO of ``paths`` (files or directories); ids must be unique across them."""
    slos: list[SLO] = []
    seen: dict[str, str] = {}
    for path in spec_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SloSpecError(str(path), ("", f"cannot read: {e.strerror or e}")) from e
        for slo in parse_specs(
            text,
            source=str(path),
            default_period=default_period,
            scrape_interval=scrape_interval,
            pyrra_table=pyrra_table,
        ):
            if slo.id in seen:
                raise SloSpecError(
                    slo.source,
                    ("", f"SLO {slo.id!r} is defined twice (also in {seen[slo.id]})"),
                )
            seen[slo.id] = slo.source
            slos.append(slo)
    return slos
