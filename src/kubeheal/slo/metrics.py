"""SLO statuses as the operator's own Prometheus metrics.

``SloCollector`` reads the latest statuses from a callable (no I/O in ``collect``: the SLO
source refreshes them in the background) and exposes, per SLO (labels ``slo``, ``service``,
``name``, and ``namespace``/``workload`` when the SLO names one):

* ``kubeheal_slo_objective_ratio``, ``kubeheal_slo_sli_ratio`` (over the period),
* ``kubeheal_slo_error_budget_remaining_ratio`` (1 untouched, <= 0 spent),
* ``kubeheal_slo_burn_rate{window}`` for every alert window and the period,
* ``kubeheal_slo_time_to_exhaustion_seconds`` (only while the budget is burning),
* ``kubeheal_slo_burn_alert{severity}`` (1 while the page / ticket condition holds),
* ``kubeheal_slo_last_evaluation_timestamp_seconds``.

Register it on the operator's registry when SLOs are configured: ``register_slo_metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubeheal.slo.status import SloStatus
from kubeheal.slo.windows import format_duration

__all__ = ["SloCollector", "register_slo_metrics"]

_BASE = ("slo", "service", "name", "namespace", "workload")


def _base(status: SloStatus) -> list[str]:
    workload = status.workload
    return [
        status.slo_id,
        status.service,
        status.name,
        workload.namespace if workload is not None else "",
        workload.name if workload is not None else "",
    ]


class SloCollector(Collector):
    """Exposes the statuses ``snapshot()`` returns (called once per scrape)."""

    def __init__(self, snapshot: Callable[[], Sequence[SloStatus]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        objective = GaugeMetricFamily(
            "kubeheal_slo_objective_ratio", "The SLO's objective as a ratio.", labels=_BASE
        )
        sli = GaugeMetricFamily(
            "kubeheal_slo_sli_ratio", "The SLI over the SLO period (good / all).", labels=_BASE
        )
        remaining = GaugeMetricFamily(
            "kubeheal_slo_error_budget_remaining_ratio",
            "Share of the period's error budget left (1 untouched, <= 0 spent).",
            labels=_BASE,
        )
        burn = GaugeMetricFamily(
            "kubeheal_slo_burn_rate",
            "Error ratio over the window divided by the budget (1 spends it exactly).",
            labels=(*_BASE, "window"),
        )
        exhaustion = GaugeMetricFamily(
            "kubeheal_slo_time_to_exhaustion_seconds",
            "Seconds until the budget is spent at the current (1h-window) burn rate.",
            labels=_BASE,
        )
        alert = GaugeMetricFamily(
            "kubeheal_slo_burn_alert",
            "1 while the page (or ticket) burn-rate condition holds.",
            labels=(*_BASE, "severity"),
        )
        evaluated = GaugeMetricFamily(
            "kubeheal_slo_last_evaluation_timestamp_seconds",
            "When the SLO was last evaluated (seconds since the epoch).",
            labels=_BASE,
        )
        for status in self._snapshot():
            base = _base(status)
            objective.add_metric(base, status.objective / 100)
            evaluated.add_metric(base, status.at)
            if status.sli is not None:
                sli.add_metric(base, status.sli)
            if status.budget_remaining is not None:
                remaining.add_metric(base, status.budget_remaining)
            for item in status.windows:
                if item.burn_rate is not None:
                    burn.add_metric([*base, format_duration(item.window)], item.burn_rate)
            if status.time_to_exhaustion is not None:
                exhaustion.add_metric(base, status.time_to_exhaustion)
            alert.add_metric([*base, "page"], 1.0 if status.page else 0.0)
            alert.add_metric([*base, "ticket"], 1.0 if status.ticket else 0.0)
        yield from (objective, sli, remaining, burn, exhaustion, alert, evaluated)

    def describe(self) -> Iterator[Metric]:
        """Nothing: the families depend on the statuses, so the registry calls ``collect``."""
        return iter(())


def register_slo_metrics(
    registry: CollectorRegistry, snapshot: Callable[[], Sequence[SloStatus]]
) -> SloCollector:
    """Register a ``SloCollector`` reading ``snapshot`` on ``registry`` and return it."""
    collector = SloCollector(snapshot)
    registry.register(collector)
    return collector
