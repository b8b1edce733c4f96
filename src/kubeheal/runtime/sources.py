"""Optional signal sources beside the watch: SLO burn, anomaly/forecast and right-sizing.

`build_sources` builds the ones the settings turn on, feeding one `SignalSink` (the
operator's target board), with the operator's metrics registry, and closes their Prometheus
clients through the caller's exit stack. It starts nothing: `kubeheal.runtime.assembly`
gives the operator the budgets and observers at construction and runs the loops among its
tasks. Each source only submits signals; every decision stays with the operator and its
guards.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from kubeheal.clients.prometheus import PrometheusClient
from kubeheal.config import Settings
from kubeheal.model.history import ErrorBudget
from kubeheal.runtime.anomaly_source import AnomalyMetrics, AnomalySource
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.runtime.rightsize_source import RightsizeSink, RightsizeSource
from kubeheal.runtime.slo_source import SloSource
from kubeheal.slo.status import SloStatus

__all__ = ["Sources", "build_sources"]

log = logging.getLogger(__name__)


@dataclass
class Sources:
    """The sources the settings enable, ready to be wired into an operator."""

    names: list[str] = field(default_factory=list)
    """One line per source (what `kubeheal run` logs)."""
    error_budgets: Callable[[], tuple[ErrorBudget, ...]] | None = None
    """The SLO source's budget facts, when the budget policy is on."""
    slo_statuses: Callable[[], list[SloStatus]] | None = None
    """The SLO source's latest status of every SLO (the web console's SLO page)."""
    observers: list[Callable[[OperatorEvent], None]] = field(default_factory=list)
    """Observers of the operator's events (anomaly, right-sizing)."""
    loops: dict[str, Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=dict)
    """Task name -> the loop to run among the operator's tasks."""


async def build_sources(
    settings: Settings,
    *,
    sink: RightsizeSink,
    registry: CollectorRegistry,
    stack: contextlib.AsyncExitStack,
) -> Sources:
    """The SLO, anomaly and right-sizing sources ``settings`` enable.

    Raises the SLO loader's error for a bad spec, before any loop runs."""
    found = Sources()
    if settings.slo.specs:
        client = await stack.enter_async_context(PrometheusClient(settings.slo.prometheus_url))
        slo = SloSource.from_settings(
            settings.slo, client=client, submit=sink.submit, stamp=sink.now
        )
        registry.register(slo.collector)
        found.slo_statuses = slo.statuses
        if settings.slo.budget_policy:
            found.error_budgets = slo.budgets
        interval = settings.slo.evaluation_interval.total_seconds()
        found.loops["slo-source"] = lambda: slo.run(interval=interval)
        found.names.append(f"slo ({len(slo.slos)} SLOs from {settings.slo.prometheus_url})")
    if settings.anomaly.enabled:
        client = await stack.enter_async_context(PrometheusClient(settings.anomaly.prometheus_url))
        anomaly = AnomalySource(
            settings=settings.anomaly,
            querier=client,
            sink=sink,
            metrics=AnomalyMetrics(registry),
        )
        found.observers.append(anomaly.on_operator_event)
        found.loops["anomaly-source"] = anomaly.run
        found.names.append(f"anomaly ({settings.anomaly.prometheus_url})")
    if settings.finops.apply_enabled:
        client = await stack.enter_async_context(PrometheusClient(settings.finops.prometheus_url))
        rightsize = RightsizeSource.from_prometheus(settings, querier=client, sink=sink)
        found.observers.append(rightsize.on_operator_event)
        found.loops["rightsize-source"] = rightsize.run
        found.names.append(
            f"rightsize (every {settings.finops.apply_interval}, {settings.finops.prometheus_url})"
        )
    return found
