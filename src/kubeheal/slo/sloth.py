"""Sloth specs: ``prometheus/v1`` files and the ``sloth.slok.dev/v1`` resource, into ``SLO``.

The models (snake_case for the file, camelCase for the Kubernetes resource), the SLI plugins
(kubeheal's histogram latency, Sloth's documented ones) and the SLO-plugin chains' info
labels. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from kubeheal.model.names import shown
from kubeheal.slo.errors import SloSpecError
from kubeheal.slo.model import SLO, AlertPolicy, EventsSLI, RatioSLI, SpecFormat
from kubeheal.slo.plugins import (
    SLI_PLUGINS,
    SLO_PLUGIN_INFO_LABELS,
    SLO_PLUGINS_NO_EFFECT,
    PluginError,
    sli_from_plugin,
)
from kubeheal.slo.spec_common import (
    METRIC_NAME,
    Annotations,
    Camel,
    Labels,
    Strict,
    check_alert_name,
    check_labels,
    check_name,
    check_query,
    objective_warnings,
    stringify,
    to_decimal,
    workload_of,
)
from kubeheal.slo.windows import decimal_text

__all__ = [
    "LATENCY_PLUGIN",
    "K8sAlert",
    "K8sAlerting",
    "K8sEvents",
    "K8sRaw",
    "K8sSLI",
    "K8sSLO",
    "SloPlugin",
    "SloPlugins",
    "SlothAlert",
    "SlothAlerting",
    "SlothEvents",
    "SlothK8s",
    "SlothK8sMetadata",
    "SlothK8sSpec",
    "SlothPlugin",
    "SlothRaw",
    "SlothSLI",
    "SlothSLO",
    "SlothSpec",
    "histogram_latency_sli",
    "sloth_slos",
]

LATENCY_PLUGIN = "kubeheal/histogram-latency/v1"
"""kubeheal's own SLI plugin id for Sloth specs: latency from a Prometheus histogram."""


class SlothAlert(Strict):
    disable: bool = False
    labels: Labels = {}
    annotations: Annotations = {}


class SlothAlerting(Strict):
    name: str = ""
    labels: Labels = {}
    annotations: Annotations = {}
    page_alert: SlothAlert = SlothAlert()
    ticket_alert: SlothAlert = SlothAlert()

    _name = field_validator("name")(check_alert_name)


class SlothEvents(Strict):
    error_query: str
    total_query: str

    _queries = field_validator("error_query", "total_query")(check_query)


class SlothRaw(Strict):
    error_ratio_query: str

    _query = field_validator("error_ratio_query")(check_query)


class SlothPlugin(Strict):
    id: str
    options: Annotated[dict[str, str], BeforeValidator(stringify)] = {}

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


class SlothSLI(Strict):
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


class SloPlugin(Strict):
    id: str
    config: dict[str, Any] = {}
    priority: int = 0


class SloPlugins(Strict):
    override_previous: bool = Field(False, alias="overridePrevious")
    chain: list[SloPlugin] = []


class SlothSLO(Strict):
    name: str
    objective: float = Field(..., gt=0, le=100)
    description: str = ""
    labels: Labels = {}
    plugins: SloPlugins = SloPlugins()
    sli: SlothSLI
    alerting: SlothAlerting = SlothAlerting()

    _name = field_validator("name")(check_name)

    @model_validator(mode="after")
    def _alerting_name(self) -> SlothSLO:
        both_off = self.alerting.page_alert.disable and self.alerting.ticket_alert.disable
        if not self.alerting.name and not both_off:
            raise ValueError("alerting.name is required unless both alerts are disabled")
        return self


class SlothSpec(Strict):
    version: Literal["prometheus/v1"]
    service: str
    labels: Labels = {}
    slo_plugins: SloPlugins = SloPlugins()
    slos: list[SlothSLO] = Field(..., min_length=1)

    _service = field_validator("service")(check_name)


class SlothK8sMetadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = ""
    namespace: str = ""


class K8sAlert(Camel, SlothAlert):
    pass


class K8sAlerting(Camel, SlothAlerting):
    page_alert: K8sAlert = K8sAlert()
    ticket_alert: K8sAlert = K8sAlert()


class K8sEvents(Camel, SlothEvents):
    pass


class K8sRaw(Camel, SlothRaw):
    pass


class K8sSLI(Camel, SlothSLI):
    events: K8sEvents | None = None
    raw: K8sRaw | None = None


class K8sSLO(Camel, SlothSLO):
    sli: K8sSLI
    alerting: K8sAlerting = K8sAlerting()


class SlothK8sSpec(Camel):
    service: str
    labels: Labels = {}
    slo_plugins: SloPlugins = SloPlugins()
    slos: list[K8sSLO] = Field(..., min_length=1)

    _service = field_validator("service")(check_name)


class SlothK8s(Strict):
    apiVersion: Literal["sloth.slok.dev/v1"]
    kind: Literal["PrometheusServiceLevel"]
    metadata: SlothK8sMetadata = SlothK8sMetadata()
    spec: SlothK8sSpec
    status: dict[str, Any] | None = None  # as `kubectl get -o yaml` prints it; ignored


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
    if not METRIC_NAME.match(metric):
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
        added = stringify(raw)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in added.items()):
            raise SloSpecError(source, (f"{field}.config.labels", "label values must be text"))
        try:
            labels.update(check_labels(added))
        except ValueError as e:
            raise SloSpecError(source, (f"{field}.config.labels", str(e))) from e
    return labels


def sloth_slos(
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
        objective = to_decimal(item.objective)
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
                workload=workload_of(labels),
                source=source,
                spec_format=spec_format,
                scrape_interval=scrape_interval,
                info_labels=info,
                warnings=objective_warnings(objective, source, f"{field}.objective"),
            )
        )
    return out
