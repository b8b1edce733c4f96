"""Optional signal sources beside the watch: SLO burn, anomaly/forecast and right-sizing.

`attach_sources` starts the ones the settings turn on, with the operator's tasks (so
`Operator.stop` stops them) and its metrics registry, and closes their Prometheus clients
through the caller's exit stack. Each source only submits signals; every decision stays with
the operator and its guards.
"""

from __future__ import annotations

import contextlib
import logging

from kubeheal.clients.prometheus import PrometheusClient
from kubeheal.runtime.anomaly_source import AnomalyMetrics, AnomalySource
from kubeheal.runtime.operator import Operator
from kubeheal.runtime.rightsize_source import RightsizeSource
from kubeheal.runtime.slo_source import SloSource

__all__ = ["attach_sources"]

log = logging.getLogger(__name__)


async def attach_sources(operator: Operator, *, stack: contextlib.AsyncExitStack) -> list[str]:
    """Start the SLO, anomaly and right-sizing sources the settings enable; return their names.

    Raises the SLO loader's error for a bad spec, before anything is started."""
    settings = operator.settings
    started: list[str] = []
    if settings.slo.specs:
        client = await stack.enter_async_context(PrometheusClient(settings.slo.prometheus_url))
        slo = SloSource.from_settings(settings.slo, client=client, submit=operator.submit)
        operator.metrics.registry.register(slo.collector)
        if settings.slo.budget_policy:
            operator.error_budgets = slo.budgets
        interval = settings.slo.evaluation_interval.total_seconds()
        operator.tasks.spawn("slo-source", slo.run(interval=interval))
        started.append(f"slo ({len(slo.slos)} SLOs from {settings.slo.prometheus_url})")
    if settings.anomaly.enabled:
        client = await stack.enter_async_context(PrometheusClient(settings.anomaly.prometheus_url))
        anomaly = AnomalySource(
            settings=settings.anomaly,
            querier=client,
            sink=operator,
            metrics=AnomalyMetrics(operator.metrics.registry),
        )
        operator.add_observer(anomaly.on_operator_event)
        operator.tasks.spawn("anomaly-source", anomaly.run())
        started.append(f"anomaly ({settings.anomaly.prometheus_url})")
    if settings.finops.apply_enabled:
        client = await stack.enter_async_context(PrometheusClient(settings.finops.prometheus_url))
        rightsize = RightsizeSource.from_prometheus(settings, querier=client, sink=operator)
        operator.add_observer(rightsize.on_operator_event)
        operator.tasks.spawn("rightsize-source", rightsize.run())
        started.append(
            f"rightsize (every {settings.finops.apply_interval}, {settings.finops.prometheus_url})"
        )
    for name in started:
        log.info("signal source started: %s", name)
    return started
