"""Rendering SLOs into Prometheus rules: SLI recordings, metadata, burn-rate alerts.

For each SLO, a rule group ``kubeheal-slo-<id>`` whose rules run in this order (so the
alerts read the recordings of the same evaluation), and a group ``kubeheal-slo-<id>-period``
for the period ratio and the two metadata series that read it, evaluated every
``RenderOptions.period_interval`` (4m): the ratio over the whole period is most of the cost of
an SLO's rules (docs/benchmarks.md), no alert reads it, and it moves by a hair a minute:

* **SLI recordings** ``slo:sli_error:ratio_rate<w>`` for every alert window ``w`` and the
  period (error ratio 0..1); for events SLIs also ``slo:sli_total:rate<w>`` for the short
  windows, which the minimum-traffic guard reads. An events ratio is
  ``(errors or total * 0) / total``, so a service without a single error yet (whose error
  series does not exist) reads 0, not "no data".
* **Metadata** ``slo:objective:ratio``, ``slo:error_budget:ratio``, ``slo:time_period:days``,
  ``slo:current_burn_rate:ratio``, ``slo:period_burn_rate:ratio``,
  ``slo:period_error_budget_remaining:ratio`` and ``kubeheal_slo_info``.
* **Alerts**: the page and the ticket alert (one name, ``slo_severity`` telling them apart,
  as Sloth does), each an ``or`` of the multi-window conditions of ``kubeheal.slo.windows``
  with thresholds written as exact decimals raised by a relative tolerance of one billionth
  (``0.0144000000144``, never ``14.4 * 0.000999...``: burning exactly 14.4x never fires), and
  the guard ``total events in the short window >= min_events`` (events SLIs); plus
  ``<name>SLIAbsent`` when the SLI has no data at all for ``absent_for`` (not when both alerts
  are disabled, nor with ``absent_alerts`` off), labelled as the ticket alert (the page alert
  when the ticket is disabled).

An objective of 100 % leaves a budget of 0: every threshold is 0 (any error pages) and the burn
rates read +Inf on any error, 0 without.

Every generated series carries ``slo_id``, ``slo_service`` and ``slo_name`` and the spec's
labels. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubeheal.slo.model import SLO, AlertPolicy, EventsSLI, RatioSLI, SpecFormat, fill_window
from kubeheal.slo.windows import (
    AlertWindows,
    BurnCondition,
    BurnTable,
    alert_threshold,
    decimal_text,
    format_duration,
)

__all__ = [
    "PERIOD_INTERVAL",
    "PERIOD_METRICS",
    "RenderOptions",
    "absent_alert",
    "absent_alert_name",
    "absent_labels",
    "alert_expr",
    "alert_groups",
    "alert_name",
    "camel_name",
    "check_unique",
    "period_rule",
    "prometheus_rule",
    "ratio_expr",
    "ratio_metric",
    "render_groups",
    "rule_count",
    "rule_file",
    "series_labels",
    "threshold",
    "total_expr",
    "total_metric",
]

Rule = dict[str, Any]
Group = dict[str, Any]

PERIOD_INTERVAL = 240
"""Default interval of the period group (4m): a fraction of the cost of the 30-day ratio at
a 1m (or 30s) global interval, and under Prometheus' 5m lookback, so an instant query always
finds the period series (measured in docs/benchmarks.md)."""

PERIOD_METRICS = ("slo:period_burn_rate:ratio", "slo:period_error_budget_remaining:ratio")
"""The metadata recordings that read the period ratio (they go with it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderOptions:
    """Knobs of rendering that are not part of a spec."""

    min_events: int = 20
    """Events the short window of a burn-rate condition needs before it may fire (events
    SLIs); 0 turns the minimum-traffic guard off."""
    absent_alerts: bool = True
    """Render ``<name>SLIAbsent`` alerts (never for an SLO whose page and ticket alerts are
    both disabled)."""
    absent_for: int = 600
    """Seconds the SLI must be absent before ``<name>SLIAbsent`` fires (the CLI's
    ``--absent-for 0`` sets ``absent_alerts`` off instead)."""
    period_interval: int = PERIOD_INTERVAL
    """Seconds between evaluations of the period group (the period ratio, burn rate and
    budget remaining, which no alert reads); 0 keeps them in the SLO's group, evaluated at
    Prometheus' global interval."""


def camel_name(*parts: str) -> str:
    """``("sample-app", "error-rate")`` -> ``SampleAppErrorRate``."""
    words: list[str] = []
    for part in parts:
        words += [w for w in "".join(c if c.isalnum() else " " for c in part).split() if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "SLO"
    return name if not name[0].isdigit() else f"SLO{name}"


def ratio_metric(window: int) -> str:
    """The recorded error ratio over ``window`` seconds: ``slo:sli_error:ratio_rate5m``."""
    return f"slo:sli_error:ratio_rate{format_duration(window)}"


def total_metric(window: int) -> str:
    """The recorded total events rate over ``window`` seconds: ``slo:sli_total:rate5m``."""
    return f"slo:sli_total:rate{format_duration(window)}"


def _selector(slo: SLO) -> str:
    return f'{{slo_id="{slo.id}"}}'


def series_labels(slo: SLO) -> dict[str, str]:
    """Labels of every recorded series of ``slo``: the spec's, then kubeheal's ids."""
    labels = dict(sorted(slo.labels.items()))
    labels.update(slo_id=slo.id, slo_name=slo.name, slo_service=slo.service)
    return labels


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def ratio_expr(sli: EventsSLI | RatioSLI, window: int) -> str:
    """The error ratio of ``sli`` over ``window`` seconds, from the SLI's own queries."""
    text = format_duration(window)
    if isinstance(sli, RatioSLI):
        return fill_window(sli.error_ratio_query.strip(), text)
    errors = fill_window(sli.error_query.strip(), text)
    total = fill_window(sli.total_query.strip(), text)
    return f"(\n{_indent(f'({errors})')}\n  or\n{_indent(f'({total}) * 0')}\n)\n/\n({total})"


def total_expr(sli: EventsSLI, window: int) -> str:
    """The total events rate of ``sli`` over ``window`` seconds."""
    return fill_window(sli.total_query.strip(), format_duration(window))


def _guarded(slo: SLO, options: RenderOptions) -> bool:
    return isinstance(slo.sli, EventsSLI) and options.min_events > 0


def threshold(slo: SLO, condition: BurnCondition) -> Decimal:
    """The error ratio a condition must exceed: factor x budget with the relative tolerance
    of ``alert_threshold``, exactly."""
    return alert_threshold(condition.factor, slo.budget)


def alert_expr(slo: SLO, conditions: Sequence[BurnCondition], *, guard_events: int | None) -> str:
    """The ``or`` of ``conditions`` over the recorded ratios (and totals, when guarded)."""
    sel = _selector(slo)
    parts: list[str] = []
    for cond in conditions:
        limit = decimal_text(threshold(slo, cond))
        lines = [
            f"({ratio_metric(cond.short)}{sel} > {limit})",
            "and",
            f"({ratio_metric(cond.long)}{sel} > {limit})",
        ]
        if guard_events is not None:
            lines += ["and", f"({total_metric(cond.short)}{sel} * {cond.short} >= {guard_events})"]
        parts.append("(\n" + _indent("\n".join(lines)) + "\n)")
    return "\nor\n".join(parts)


def _sli_rules(slo: SLO, windows: AlertWindows, options: RenderOptions) -> list[Rule]:
    labels = series_labels(slo)
    rules: list[Rule] = []
    for window in (*windows.windows, slo.period):
        rules.append(
            {"record": ratio_metric(window), "expr": ratio_expr(slo.sli, window), "labels": labels}
        )
    if _guarded(slo, options):
        assert isinstance(slo.sli, EventsSLI)
        for window in windows.short_windows:
            rules.append(
                {
                    "record": total_metric(window),
                    "expr": total_expr(slo.sli, window),
                    "labels": labels,
                }
            )
    return rules


def _meta_rules(slo: SLO, windows: AlertWindows) -> list[Rule]:
    labels = series_labels(slo)
    sel = _selector(slo)
    budget = decimal_text(slo.budget)
    days = decimal_text(Decimal(slo.period) / 86_400)
    info = {
        **labels,
        **slo.info_labels,
        "slo_objective": decimal_text(slo.objective),
        "slo_period": format_duration(slo.period),
        "slo_spec": slo.spec_format.value,
        "slo_burn_table": slo.burn_table.value,
    }
    if slo.budget:
        current = f"{ratio_metric(windows.windows[0])}{sel} / {budget}"
        period = f"{ratio_metric(slo.period)}{sel} / {budget}"
    else:  # objective 100 %: +Inf on any error, 0 without (never NaN)
        current = "({0} > 0) / 0 or {0} * 0".format(f"{ratio_metric(windows.windows[0])}{sel}")
        period = "({0} > 0) / 0 or {0} * 0".format(f"{ratio_metric(slo.period)}{sel}")
    return [
        {
            "record": "slo:objective:ratio",
            "expr": f"vector({decimal_text(slo.objective_ratio)})",
            "labels": labels,
        },
        {"record": "slo:error_budget:ratio", "expr": f"vector({budget})", "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({days})", "labels": labels},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": current,
            "labels": labels,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": period,
            "labels": labels,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{sel}",
            "labels": labels,
        },
        {"record": "kubeheal_slo_info", "expr": "vector(1)", "labels": info},
    ]


def _describe(slo: SLO, conditions: Sequence[BurnCondition]) -> str:
    parts = [
        f"{decimal_text(c.factor)}x over {format_duration(c.long)} and {format_duration(c.short)}"
        for c in conditions
    ]
    return (
        f"SLO {slo.id} ({decimal_text(slo.objective)}% over {format_duration(slo.period)}): "
        f"the error budget burns at {' or '.join(parts)} its sustainable rate."
    )


def alert_name(slo: SLO) -> str:
    """The name of the page and ticket alerts."""
    return slo.alert_name or camel_name(slo.service, slo.name)


def absent_alert_name(slo: SLO) -> str:
    """The name of the alert on an absent SLI."""
    return slo.absent_name or f"{alert_name(slo)}SLIAbsent"


def alert_groups(
    slo: SLO, windows: AlertWindows
) -> list[tuple[str, AlertPolicy, tuple[BurnCondition, ...], dict[str, str]]]:
    """The alerts of ``slo``: ``(severity, policy, conditions, extra labels)`` each. The
    Workbook's table has one alert per severity (an ``or`` of its conditions); Pyrra's one per
    condition, told apart by its ``long`` and ``short`` labels as Pyrra does."""
    out: list[tuple[str, AlertPolicy, tuple[BurnCondition, ...], dict[str, str]]] = []
    for severity, policy, conditions in (
        ("page", slo.page, windows.page),
        ("ticket", slo.ticket, windows.ticket),
    ):
        if policy.disabled:
            continue
        if slo.burn_table is BurnTable.PYRRA:
            for cond in conditions:
                extra = {"long": format_duration(cond.long), "short": format_duration(cond.short)}
                out.append((severity, policy, (cond,), extra))
        else:
            out.append((severity, policy, conditions, {}))
    return out


def absent_alert(slo: SLO, options: RenderOptions) -> bool:
    """Whether ``slo`` gets a ``<name>SLIAbsent`` alert: asked for, and some alert enabled
    (or the spec asks for it by itself, as Pyrra's ``alerting.absent`` does)."""
    if slo.absent is not None:
        return options.absent_alerts and slo.absent
    return options.absent_alerts and not (slo.page.disabled and slo.ticket.disabled)


def absent_labels(slo: SLO) -> dict[str, str]:
    """Labels of ``<name>SLIAbsent``: the series', the alerting's, then the ticket alert's (the
    page alert's when the ticket is disabled, so its ``severity`` routes it)."""
    policy = slo.ticket if not slo.ticket.disabled else slo.page
    labels = {
        **series_labels(slo),
        **slo.alert_labels,
        **policy.labels,
        **({"severity": slo.absent_severity} if slo.absent_severity else {}),
        "slo_severity": "ticket",
    }
    return dict(sorted(labels.items()))


def _alert_rules(slo: SLO, windows: AlertWindows, options: RenderOptions) -> list[Rule]:
    guard = options.min_events if _guarded(slo, options) else None
    rules: list[Rule] = []
    for severity, policy, conditions, extra in alert_groups(slo, windows):
        labels = {**slo.alert_labels, **policy.labels, **extra, "slo_severity": severity}
        if slo.spec_format is SpecFormat.PYRRA:  # Pyrra's alerts share one name: keep them apart
            labels["slo_id"] = slo.id
        annotations = {
            "summary": (
                f"{{{{$labels.slo_service}}}} {{{{$labels.slo_name}}}}: the error budget "
                f"burns too fast ({severity})"
            ),
            "description": _describe(slo, conditions),
            **slo.alert_annotations,
            **policy.annotations,
        }
        rule: Rule = {
            "alert": alert_name(slo),
            "expr": alert_expr(slo, conditions, guard_events=guard),
        }
        if conditions[0].hold:
            rule["for"] = format_duration(conditions[0].hold)
        rule["labels"] = dict(sorted(labels.items()))
        rule["annotations"] = annotations
        rules.append(rule)
    if absent_alert(slo, options):
        labels = absent_labels(slo)
        rules.append(
            {
                "alert": absent_alert_name(slo),
                "expr": f"absent({ratio_metric(windows.windows[0])}{_selector(slo)})",
                "for": format_duration(options.absent_for),
                "labels": labels,
                "annotations": {
                    "summary": f"SLO {slo.id}: its SLI has no data",
                    "description": (
                        f"The SLI of {slo.id} returned nothing for "
                        f"{format_duration(options.absent_for)}: its metrics are missing "
                        "(renamed, not scraped, or the service is gone), so its burn-rate "
                        "alerts cannot fire."
                    ),
                },
            }
        )
    return rules


def period_rule(rule: Rule, slo: SLO) -> bool:
    """Whether ``rule`` (of ``slo``) belongs to the period group."""
    return rule.get("record") in (ratio_metric(slo.period), *PERIOD_METRICS)


def render_groups(slo: SLO, options: RenderOptions | None = None) -> list[Group]:
    """The rule groups of ``slo``: ``kubeheal-slo-<id>`` with the windows' recordings, the
    metadata and the alerts (one group, so the alerts read the recordings of the same
    evaluation: Prometheus runs the rules of a group in order), then
    ``kubeheal-slo-<id>-period`` with the period ratio and what reads it, every
    ``period_interval`` (the 30-day ratio is most of the cost of an SLO's rules, and no alert
    reads it); with ``period_interval`` 0, one group."""
    opts = options or RenderOptions()
    windows = slo.windows
    rules = [
        *_sli_rules(slo, windows, opts),
        *_meta_rules(slo, windows),
        *_alert_rules(slo, windows, opts),
    ]
    name = f"kubeheal-slo-{slo.id}"
    if not opts.period_interval:
        return [{"name": name, "rules": rules}]
    return [
        {"name": name, "rules": [r for r in rules if not period_rule(r, slo)]},
        {
            "name": f"{name}-period",
            "interval": format_duration(opts.period_interval),
            "rules": [r for r in rules if period_rule(r, slo)],
        },
    ]


def check_unique(slos: Sequence[SLO]) -> None:
    """``ValueError`` when two SLOs share an id (their series would collide)."""
    seen: dict[str, str] = {}
    for slo in slos:
        if slo.id in seen:
            raise ValueError(
                f"SLO id {slo.id!r} is defined twice ({seen[slo.id] or '?'} and "
                f"{slo.source or '?'}): service and name must be unique"
            )
        seen[slo.id] = slo.source


def rule_file(slos: Sequence[SLO], options: RenderOptions | None = None) -> dict[str, Any]:
    """A Prometheus rule file (``{"groups": [...]}``) for ``slos``."""
    check_unique(slos)
    groups: list[Group] = []
    for slo in slos:
        groups += render_groups(slo, options)
    return {"groups": groups}


def prometheus_rule(
    slos: Sequence[SLO],
    *,
    name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    options: RenderOptions | None = None,
    rules: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The same rules as a prometheus-operator ``PrometheusRule`` resource (``rules``: the
    rule file of ``slos`` when already rendered)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {
        "app.kubernetes.io/managed-by": "kubeheal",
        "app.kubernetes.io/component": "slo",
        **(labels or {}),
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": rules if rules is not None else rule_file(slos, options),
    }


def rule_count(slo: SLO, options: RenderOptions | None = None) -> int:
    """How many rules ``slo`` renders to."""
    return sum(len(group["rules"]) for group in render_groups(slo, options))
